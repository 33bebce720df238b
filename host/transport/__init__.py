"""Byte pipes to a tickforge core: the golden model in-process, the native simulation, a board.

Code above a transport sends input bytes and iterates decoded events; it never knows which of
them it talks to.
"""

from .base import Transport, TransportError
from .model import ModelTransport


__all__ = ["Transport", "TransportError", "ModelTransport", "open_transport", "TARGETS"]


TARGETS = ("model", "sim")


def open_transport(target, config):
    """The transport for a target name as the command line gives it."""
    if target == "model":
        return ModelTransport(config)
    if target == "sim":
        from .sim import SimTransport
        return SimTransport(config)
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
