"""The two ends of the kernel chain after the book: the parameter registers, and the output
filter that decides which events the host sees."""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import CoreConfig
from .layouts import EventKind, event_layout
from .params import (PARAMS, Scope, SENT_KINDS, params_layout, params_init, param_count,
                     param_limit)


__all__ = ["ParamStore", "EventFilter"]

class ParamStore(wiring.Component):
    """Keeps every run-time parameter in a register and takes the CONFIG events out of the
    stream, applying each once every kernel after it is idle (``downstream_idle``), so no
    event already on its way is computed with a parameter the model had not yet written.

    A write to an unknown parameter, an index past its slots or assets, or a value outside its
    range changes nothing and counts in ``errors``. Writing ``vwap_window`` pulses
    ``restart_vwap`` in the same cycle. Other events pass straight through (no register, no
    latency); back-pressure passes straight back.
    """

    def __init__(self, config=CoreConfig()):
        self.config = config
        super().__init__({
            "i":               In(stream.Signature(event_layout(config.exported_levels))),
            "o":               Out(stream.Signature(event_layout(config.exported_levels))),
            "params":          Out(params_layout(config), init=params_init(config)),
            "errors":          Out(32),
            "restart_vwap":    Out(1),
            "downstream_idle": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        event = self.i.payload
        is_config = event.kind == EventKind.CONFIG
        applying = self.i.valid & is_config & self.downstream_idle
        m.d.comb += [
            self.o.payload.eq(event),
            self.o.valid.eq(self.i.valid & ~is_config),
            self.i.ready.eq(Mux(is_config, self.downstream_idle, self.o.ready)),
        ]

        write = event.body.config
        accepted = Signal()
        with m.If(applying):
            with m.Switch(write.parameter):
                for param in PARAMS:
                    with m.Case(param.number):
                        fits = (write.value >= param.minimum) & \
                               (write.value <= param_limit(param, cfg))
                        register = getattr(self.params, param.name)
                        if param.scope == Scope.GLOBAL:
                            with m.If((write.index == 0) & fits):
                                m.d.comb += accepted.eq(1)
                                m.d.sync += register.eq(write.value)
                        else:
                            for index in range(param_count(param, cfg)):
                                with m.If((write.index == index) & fits):
                                    m.d.comb += accepted.eq(1)
                                    m.d.sync += register[index].eq(write.value)
                        if param.name == "vwap_window":
                            m.d.comb += self.restart_vwap.eq(accepted)
            with m.If(~accepted):
                m.d.sync += self.errors.eq(self.errors + 1)
        return m


class EventFilter(wiring.Component):
    """Drops the event kinds ``event_mask`` turns off. Combinational: no latency, back-pressure
    passes through.

    As the last stage (``decides``: every kind) it also drops the kernels' internal events
    (CONFIG, CLEAR, CANDIDATE). Earlier in the chain it decides only ``decides``, kinds no later
    kernel reads (book updates, once priced), so masked events stop taking the later kernels'
    cycles; the host sees the same events either way.
    """

    def __init__(self, config=CoreConfig(), decides=None):
        self.config = config
        self.decides = SENT_KINDS if decides is None else \
            {kind: SENT_KINDS[kind] for kind in decides}
        self.last = decides is None
        super().__init__({
            "i":          In(stream.Signature(event_layout(config.exported_levels))),
            "o":          Out(stream.Signature(event_layout(config.exported_levels))),
            "event_mask": In(8),
        })

    def elaborate(self, platform):
        m = Module()
        kind = self.i.payload.kind
        sent = Signal(init=not self.last)  # kinds it does not decide: internal or passed on
        with m.Switch(kind):
            for event_kind, bit in self.decides.items():
                with m.Case(event_kind):
                    m.d.comb += sent.eq((self.event_mask & bit).any())
        m.d.comb += [
            self.o.payload.eq(self.i.payload),
            self.o.valid.eq(self.i.valid & sent),
            self.i.ready.eq(self.o.ready | ~sent),
        ]
        return m
