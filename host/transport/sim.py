"""The RTL as a transport: the core verilated into the native "board in software"."""

import queue

from ...hdl.core import Core
from ...sim.native import NativeSim
from ..protocol import event_codec
from .base import Transport


__all__ = ["SimTransport", "core_simulator"]


class SimTransport(Transport):
    """Streams bytes into a native simulation of :class:`~tickforge.hdl.core.Core` and decodes
    the events it emits. The first use of a configuration builds the simulator (cached after).

    ``idle`` and ``backpressure`` are probabilities of a cycle with no input offered and with
    the output not taken, drawn from ``seed``: verification runs use them, benchmarks do not.
    """

    def __init__(self, config, *, idle=0.0, backpressure=0.0, seed=None):
        super().__init__(config)
        self.simulator = core_simulator(config)
        self._codec = event_codec(config.exported_levels)
        self._chunks = queue.Queue(maxsize=64)
        self._run = self.simulator.run(iter(self._chunks.get, None), idle=idle,
                                       backpressure=backpressure, seed=seed)

    def send(self, data):
        self._chunks.put(bytes(data))

    def finish(self):
        self._chunks.put(None)

    def events(self):
        yield from self._run.decoded(self._codec)
        self.stats = {"target": "sim", **self._run.stats,
                      "build_seconds": self.simulator.native_build.seconds}

    def close(self):
        self._run.close()


def core_simulator(config):
    """The native simulator of :class:`~tickforge.hdl.core.Core` for ``config`` (built on
    first use, found again without converting the design)."""
    return NativeSim.from_recipe(f"Core({config!r})", lambda: Core(config), "core")
