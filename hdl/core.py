"""The tickforge core: the kernels between the host link's byte stream and its event stream."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import CoreConfig
from .layouts import input_beat_layout, event_layout
from .parser.itch import ITCHParser
from .book.book import OrderBook


__all__ = ["Core"]


class Core(wiring.Component):
    """Feed bytes in, events out: ``i`` → :class:`ITCHParser` → :class:`OrderBook` → ``o``.

    A free-running cycle counter stamps every message when its last byte arrives (``t_in``)
    and every event when it is offered (``t_out``), so the host measures latency in hardware
    cycles. Latency and throughput are those of the stages in series (see their docstrings);
    back-pressure on ``o`` stalls the book, then the parser, then ``i``; nothing is dropped.
    """

    def __init__(self, config=CoreConfig()):
        self.config = config
        super().__init__({
            "i": In(stream.Signature(input_beat_layout(config.width))),
            "o": Out(stream.Signature(event_layout(config.exported_levels))),
        })

    def elaborate(self, platform):
        m = Module()
        now = Signal(32)
        m.d.sync += now.eq(now + 1)

        m.submodules.parser = parser = ITCHParser(self.config.width)
        m.submodules.book = book = OrderBook(self.config)
        m.d.comb += [parser.now.eq(now), book.now.eq(now)]
        wiring.connect(m, wiring.flipped(self.i), parser.i)
        wiring.connect(m, parser.o, book.i)
        wiring.connect(m, book.o, wiring.flipped(self.o))
        return m
