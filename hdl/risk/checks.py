"""The pre-trade checks of one order, as pure logic so the gate can check an order per cycle."""

from amaranth.hdl import Module, Signal, Mux, Cat, unsigned, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import OrderSignal, RejectReason
from ..params import PARAM_BY_NAME


__all__ = ["TopOfBook", "RateWindow", "SlotLimits", "OrderChecks"]


class TopOfBook(data.Struct):
    """A slot's best bid and ask as the last PRICE update gave them: what the collar needs."""
    two_sided: 1
    bid_price: 32
    ask_price: 32


class RateWindow(data.Struct):
    """A slot's current rate window (``timestamp >> rate_shift``) and the orders accepted in it.
    An order is only accepted below ``rate_max`` (at most 0xFFFF), so 16 bits hold the count."""
    window: 48
    count:  PARAM_BY_NAME["rate_max"].width


SlotLimits = data.StructLayout({
    name: unsigned(PARAM_BY_NAME[name].width)
    for name in ("max_order_qty", "max_notional", "collar", "max_position", "rate_max",
                 "rate_shift")})
"""The per-slot risk parameters of one slot, as the parameter registers hold them."""


class OrderChecks(wiring.Component):
    """Which check, if any, rejects ``order``: the first to fail in :class:`RejectReason` order
    (the golden model's ``RiskModel._first_failure``, exact integer arithmetic throughout).

    ``position_after`` is the slot's inventory after the order would fill, before saturation
    (the gate computes it anyway for the paper fill). ``rate_after`` is the slot's rate window
    once the order is accepted. Combinational: no latency, no state.
    """

    order:          In(OrderSignal)
    timestamp:      In(48)
    kill:           In(1)
    limits:         In(SlotLimits)
    top:            In(TopOfBook)
    position_after: In(signed(34))
    rate:           In(RateWindow)
    passed:         Out(1)
    reason:         Out(RejectReason)   # the first failing check, when not ``passed``
    rate_after:     Out(RateWindow)

    def elaborate(self, platform):
        m = Module()
        order, limits, top = self.order, self.limits, self.top

        # COLLAR: |2*price - (bid + ask)| > 2*collar, both sides kept unsigned
        twice_price = Signal(33)
        book_sum = Signal(33)
        distance = Signal(33)
        m.d.comb += [
            twice_price.eq(order.price << 1),
            book_sum.eq(top.bid_price + top.ask_price),
            distance.eq(Mux(twice_price >= book_sum, twice_price - book_sum,
                            book_sum - twice_price)),
        ]

        window = Signal(48)
        count = Signal.like(self.rate.count)
        m.d.comb += [
            window.eq(self.timestamp >> limits.rate_shift),
            count.eq(Mux(window == self.rate.window, self.rate.count, 0)),
        ]

        fails = {
            RejectReason.KILL:     self.kill,
            RejectReason.QTY:      (order.qty == 0) | (order.qty > limits.max_order_qty),
            RejectReason.NOTIONAL: order.price * order.qty > limits.max_notional,
            RejectReason.COLLAR:   ~top.two_sided | (distance > (limits.collar << 1)),
            RejectReason.POSITION: abs(self.position_after) > limits.max_position,
            RejectReason.RATE:     count >= limits.rate_max,
        }
        for position, reason in enumerate(RejectReason):
            with (m.If if position == 0 else m.Elif)(fails[reason]):
                m.d.comb += self.reason.eq(reason)
        m.d.comb += [
            self.passed.eq(~Cat(fails.values()).any()),
            self.rate_after.window.eq(window),
            self.rate_after.count.eq(count + 1),
        ]
        return m
