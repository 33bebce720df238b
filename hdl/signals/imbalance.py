"""The imbalance signal: a threshold with hysteresis on one slot's order-book metric."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import PriceFields, OrderSignal, Side, SignalReason


__all__ = ["ImbalanceState", "ImbalanceSignal"]


class ImbalanceState(enum.Enum, shape=2):
    """Where a slot's metric last crossed: FLAT re-arms both directions."""
    FLAT  = 0
    LONG  = 1
    SHORT = 2


class ImbalanceSignal(wiring.Component):
    """The imbalance rule of ``host/model/signals.py`` for one PRICE update (combinational).

    The metric is ``update.imbalance``, or ``microprice - mid`` when ``metric_select`` is set
    (both Q16). Reaching ``+enter`` when not LONG proposes a buy at the best ask and goes
    LONG; reaching ``-enter`` when not SHORT a sell at the best bid and goes SHORT; LONG falls
    back to FLAT below ``+exit``, SHORT above ``-exit``. Size ``min(size, touch size)``.
    Nothing is proposed and the state stays when ``enable`` is low or the update is one-sided.
    """

    update:        In(PriceFields)
    enable:        In(1)    # imb_enable
    metric_select: In(1)    # imb_metric
    enter:         In(32)   # imb_enter
    exit:          In(32)   # imb_exit
    size:          In(32)   # imb_qty
    state:         In(ImbalanceState)

    propose:       Out(1)
    order:         Out(OrderSignal)
    next_state:    Out(ImbalanceState)

    def elaborate(self, platform):
        m = Module()
        update, state = self.update, self.state

        metric = Signal(signed(50))
        m.d.comb += metric.eq(Mux(self.metric_select, update.microprice - update.mid,
                                  update.imbalance))
        long, short = state == ImbalanceState.LONG, state == ImbalanceState.SHORT

        m.d.comb += [
            self.next_state.eq(state),
            self.order.slot.eq(update.slot),
            self.order.reason.eq(SignalReason.IMBALANCE),
        ]
        with m.If(self.enable & update.two_sided):
            with m.If((metric >= self.enter) & ~long):
                m.d.comb += [
                    self.next_state.eq(ImbalanceState.LONG),
                    self.propose.eq(1),
                    self.order.side.eq(Side.BID),
                    self.order.price.eq(update.ask_price),
                    self.order.qty.eq(Mux(self.size < update.ask_qty, self.size,
                                          update.ask_qty)),
                ]
            with m.Elif((metric <= -self.enter) & ~short):
                m.d.comb += [
                    self.next_state.eq(ImbalanceState.SHORT),
                    self.propose.eq(1),
                    self.order.side.eq(Side.ASK),
                    self.order.price.eq(update.bid_price),
                    self.order.qty.eq(Mux(self.size < update.bid_qty, self.size,
                                          update.bid_qty)),
                ]
            with m.Elif(long & (metric < self.exit) | short & (metric > -self.exit)):
                m.d.comb += self.next_state.eq(ImbalanceState.FLAT)
        return m
