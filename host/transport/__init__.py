"""Byte pipes to a tickforge core: the golden model in-process, the native simulation, a board.

Code above a transport sends input bytes and iterates decoded events; it never knows which of
them it talks to.
"""

import dataclasses

from ...hdl.layouts import LINK_MAX_PAYLOAD
from .base import Transport, TransportError
from .model import ModelTransport


__all__ = ["Transport", "TransportError", "ModelTransport", "open_transport", "TARGETS",
           "target_config"]


TARGETS = ("model", "sim", "rtl", "board", "board=PORT", "board:NAME=PORT")
"""``model``: the golden model in-process. ``sim``: the board's gateware (link and core, one
byte a beat) in the native simulation, spoken to over a loopback socket in the board's exact
protocol. ``board``: a board on the one USB serial port attached. ``rtl``: the core alone in the native simulation at its full width, fed raw (the
fastest way to run the RTL over a day). ``board=PORT``: a board on a serial port (a device, or
any pyserial URL such as ``socket://127.0.0.1:9000``), ``board=PORT@BAUD`` to set the rate;
``board:NAME=PORT`` for a board built by ``tickforge bitstream NAME``: its configuration and
baud rate (see ``bitstreams/boards.py``)."""

DEFAULT_BAUD = 3_000_000


def target_config(target, config):
    """The core configuration a target runs: the link's targets take one byte a beat; a named
    board runs the configuration it was built with."""
    if target.startswith("board:"):
        return _named_board(target).config
    if target in ("sim", "board") or target.startswith("board="):
        return dataclasses.replace(config, width=1)
    return config


def _named_board(target):
    from ...bitstreams.boards import board
    return board(target.removeprefix("board:").partition("=")[0])


def open_transport(target, config):
    """The transport for a target name as the command line gives it (see :data:`TARGETS`)."""
    config = target_config(target, config)
    if target == "model":
        return ModelTransport(config)
    if target == "rtl":
        from .sim import SimTransport
        return SimTransport(config)
    if target == "sim":
        from .link import open_native
        return open_native(config)
    if target == "board":
        target = f"board={_the_usb_serial_port()}"
    if target.startswith(("board=", "board:")):
        from .link import LinkTransport, SerialPipe
        default_baud, max_payload = DEFAULT_BAUD, LINK_MAX_PAYLOAD
        if target.startswith("board:"):   # the board's baud rate and frame size
            entry = _named_board(target)
            default_baud = entry.baud
            max_payload = entry.max_payload
        port, _, baud = target.partition("=")[2].partition("@")
        if not port:
            raise ValueError("board=PORT needs a port, e.g. board=/dev/ttyUSB1")
        try:
            rate = int(baud) if baud else default_baud
        except ValueError:
            raise ValueError(f"board=PORT@BAUD: {baud!r} is not a baud rate") from None
        return LinkTransport(config, SerialPipe(port, rate), max_payload=max_payload)
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")


def _the_usb_serial_port():
    """The device of the only USB serial port attached; a clear error for none or several."""
    from serial.tools.list_ports import comports
    ports = sorted(port.device for port in comports() if port.vid is not None)
    if len(ports) != 1:
        found = f"found {', '.join(ports)}" if ports else "found none"
        raise ValueError(f"--target board looks for the one USB serial port attached and "
                         f"{found}; name it: board=/dev/ttyUSB1 (or board:NAME=PORT)")
    return ports[0]
