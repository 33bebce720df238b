"""The tickforge core: the kernels between the host link's byte stream and its event stream."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import CoreConfig
from .layouts import EventKind, StatusCounters, input_beat_layout, event_layout
from .parser.itch import ITCHParser
from .book.book import OrderBook
from .control import ParamStore, EventFilter
from .pricing.pricing import Pricing
from .signals.kernels import SignalKernels
from .risk.gate import RiskGate


__all__ = ["Core"]


_READ_BY_NO_LATER_KERNEL = (EventKind.BOOK, EventKind.TRADE, EventKind.DIRECTORY,
                            EventKind.SYSTEM)
"""Once priced, these only go to the host: when masked they can be dropped right there."""


class Core(wiring.Component):
    """Feed bytes in, events out, through every kernel in the order data flows::

        i → ITCHParser → OrderBook → ParamStore → Pricing → (EventFilter) → SignalKernels
          → RiskGate → EventFilter → o

    A free-running cycle counter stamps every message when its last byte arrives (``t_in``)
    and every event when a kernel offers it (``t_out``; the last kernel's stamp is the one
    that leaves), so the host measures latency in hardware cycles. Each kernel's docstring
    gives its latency and throughput; the path's latency is their sum. Back-pressure on ``o``
    stalls the kernels one after another back to ``i``; nothing is dropped. Parameter writes
    wait until every kernel after the parameter store is idle; the signal kernels wait for the
    risk gate before each price update, so inventory and live quotes are never stale.

    ``counters_port`` (one slot at width 1, no trading: a small part's core): the parser's and
    the book's counters come out live on ``counters: Out(StatusCounters)``, and each STATUS
    event leaves them at 0 for the link's :class:`~tickforge.hdl.link.counters.StatusBank` to
    fill in, so they cost no register upper bits nor multiplexer here. This core changes no
    counter while it offers an event, so the bank's snapshot is the event's.
    """

    def __init__(self, config=CoreConfig(), *, counters_port=False):
        if counters_port and (config.trading or config.symbols != 1 or config.width != 1):
            raise ValueError("Core: only a one-slot byte-wide core without trading kernels "
                             "leaves its counters to the link (counters_port)")
        self.config = config
        self.counters_port = counters_port
        super().__init__({
            "i": In(stream.Signature(input_beat_layout(config.width))),
            "o": Out(stream.Signature(event_layout(config.exported_levels))),
            **({"counters": Out(StatusCounters)} if counters_port else {}),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        now = Signal(32)
        m.d.sync += now.eq(now + 1)

        m.submodules.parser = parser = ITCHParser(cfg.width, counters_port=self.counters_port)
        m.submodules.book = book = OrderBook(cfg, counters_port=self.counters_port)
        if self.counters_port:
            m.d.comb += [self.counters.parser.eq(parser.counters),
                         self.counters.book.eq(book.counters)]
        m.submodules.params = params = ParamStore(cfg)
        m.submodules.output = output = EventFilter(cfg)
        m.d.comb += [parser.now.eq(now), book.now.eq(now),
                     output.event_mask.eq(params.params.event_mask)]
        stages = [parser, book, params]
        if cfg.trading:
            stages += self._trading_kernels(m, now, params)
        stages.append(output)

        wiring.connect(m, wiring.flipped(self.i), parser.i)
        for upstream, downstream in zip(stages, stages[1:]):
            wiring.connect(m, upstream.o, downstream.i)
        wiring.connect(m, output.o, wiring.flipped(self.o))
        if not cfg.trading:
            m.d.comb += params.downstream_idle.eq(1)  # nothing after the store holds events
        return m

    def _trading_kernels(self, m, now, params):
        cfg = self.config
        m.submodules.pricing = pricing = Pricing(cfg)
        m.submodules.priced = priced = EventFilter(cfg, decides=_READ_BY_NO_LATER_KERNEL)
        m.submodules.signals = signals = SignalKernels(cfg)
        m.submodules.risk = risk = RiskGate(cfg)
        m.d.comb += priced.event_mask.eq(params.params.event_mask)
        for kernel in (pricing, signals, risk):
            m.d.comb += [kernel.now.eq(now), kernel.params.eq(params.params)]
        m.d.comb += [
            # every event already past the store leaves with the parameters it was computed
            # with, the output filter's event_mask included
            params.downstream_idle.eq(pricing.idle & signals.idle & risk.idle & ~risk.o.valid),
            pricing.restart_vwap.eq(params.restart_vwap),
            signals.inventory.eq(risk.inventory),
            signals.live.eq(risk.live),
            signals.risk_idle.eq(risk.idle),
            risk.param_errors.eq(params.errors),
        ]
        return [pricing, priced, signals, risk]
