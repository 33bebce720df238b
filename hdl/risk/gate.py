"""The pre-trade risk gate: checks proposed orders, keeps inventory and live quotes, makes the
paper fills."""

from amaranth.hdl import Module, Signal, Mux, Cat, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import (EventKind, Side, SignalReason, RejectReason, FillSource, FillFields,
                       event_layout)
from ..params import params_layout
from ..signals.kernels import live_quotes_layout
from .checks import TopOfBook, RateWindow, SlotLimits, OrderChecks


__all__ = ["RiskGate"]


INVENTORY_LIMIT = (1 << 31) - 1
"""Inventory saturates at ±INVENTORY_LIMIT (the model's ``_INVENTORY_LIMIT``)."""


def _pick(m, array, slot, name):
    """``array[slot]`` of a per-slot array, or 0 for a slot past its end."""
    value = Signal(array.shape().elem_shape, name=name)
    with m.Switch(slot):
        for index in range(array.shape().length):
            with m.Case(index):
                m.d.comb += value.eq(array[index])
    return value


def _saturated(m, total, name):
    """``total`` clamped to ±INVENTORY_LIMIT."""
    value = Signal(signed(32), name=name)
    m.d.comb += value.eq(Mux(total > INVENTORY_LIMIT, INVENTORY_LIMIT,
                             Mux(total < -INVENTORY_LIMIT, -INVENTORY_LIMIT, total)))
    return value


class RiskGate(wiring.Component):
    """The last kernel before the output: lets through only the orders the limits allow, and
    keeps what the signal kernels need to know of our trading (inventory, live quotes). The
    rules, bit for bit apart from ``t_out``, are the golden model's (``host/model/risk.py``):

    - PRICE passes on, updates the slot's top of book (for the collar) and, with
      ``paper_fills``, is followed by the FILLs of the live quotes its trade printed through
      (bid first), which end those quotes;
    - CANDIDATE is checked (:class:`OrderChecks`); accepted, it leaves as a SIGNAL, followed
      by a TAKER FILL with ``paper_fills`` unless it is a quote; rejected, it leaves nothing and
      counts by reason. A quote, accepted or rejected, sets or clears its side's live quote;
    - FILL (from the host) leaves with the slot's inventory after it;
    - STATUS leaves with ``body.status.risk`` filled in (``param_errors`` from the port);
    - CLEAR ends the slot's live quotes and top of book, and goes no further;
    - every other event passes unchanged.

    Every effect of an event on the state (inventory, live quotes, top of book, rate
    windows, counters) lands on the clock edge that takes it, and the FILLs that follow it are
    computed then too and queued (at most two). So ``idle`` is always high: ``inventory`` and
    ``live`` reflect every event taken from the cycle after it is taken. (Events still on
    their way to ``i`` are not taken: a kernel waiting for ``idle`` waits for its own output
    to empty too.)

    Latency: an event is offered 1 cycle after it is taken (``t_out = now + 1``).
    Throughput: 1 event/cycle while ``o`` is ready; an event with follow-on FILLs takes a
    cycle per event it emits (up to 3). Events that leave nothing (CLEAR, a rejected order)
    take a cycle.
    Back-pressure: ``o`` holds its event until taken and ``i`` is not ready until the output
    register is free and no FILL is queued; nothing is dropped. ``params`` are read on the
    cycle an event is taken.
    Bad input: an event naming a slot past ``symbols`` (the book and the signal kernels never
    make one) sees an empty slot whose limits are all 0 (so an order on it is rejected, by QTY
    unless the kill switch is on) and changes no slot's state; it is otherwise handled as any
    other (a host FILL on it leaves with inventory ±qty). Counters wrap at 2**32.
    """

    def __init__(self, config: CoreConfig):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"RiskGate needs a CoreConfig, not {config!r}")
        self.config = config
        events = event_layout(config.exported_levels)
        super().__init__({
            "i":            In(stream.Signature(events)),
            "o":            Out(stream.Signature(events)),
            "now":          In(32),
            "params":       In(params_layout(config)),
            "param_errors": In(32),
            "inventory":    Out(data.ArrayLayout(signed(32), config.symbols)),
            "live":         Out(live_quotes_layout(config)),
            "idle":         Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        symbols = self.config.symbols
        params = self.params
        event = self.i.payload
        kind = event.kind
        update, order, host_fill = event.body.price, event.body.order, event.body.fill

        tops = Signal(data.ArrayLayout(TopOfBook, symbols))
        rates = Signal(data.ArrayLayout(RateWindow, symbols))
        rejected = Signal(data.ArrayLayout(32, len(RejectReason)))  # by RejectReason value
        accepted_count = Signal(32)
        fill_count = Signal(32)

        # --- hand-shake: one event in while nothing waits to go out --------------------------
        queued = Signal(data.ArrayLayout(FillFields, 2))   # FILLs that follow the event in o
        queued_valid = Signal(2)
        o_free = ~self.o.valid | self.o.ready
        m.d.comb += [self.i.ready.eq(o_free & ~queued_valid.any()), self.idle.eq(1)]
        take = self.i.valid & self.i.ready

        # --- the event's slot and that slot's state --------------------------------------------
        slot = Signal(8)
        with m.Switch(kind):
            with m.Case(EventKind.PRICE):
                m.d.comb += slot.eq(update.slot)
            with m.Case(EventKind.CANDIDATE):
                m.d.comb += slot.eq(order.slot)
            with m.Case(EventKind.FILL):
                m.d.comb += slot.eq(host_fill.slot)
            with m.Case(EventKind.CLEAR):
                m.d.comb += slot.eq(event.body.slot)
        inventory = _pick(m, self.inventory, slot, "inventory")
        live = _pick(m, self.live, slot, "live")
        live_bid, live_ask = live[Side.BID.value], live[Side.ASK.value]
        limits = Signal(SlotLimits)
        for name in SlotLimits.members:
            m.d.comb += limits[name].eq(_pick(m, params[name], slot, name))

        # --- the fills: a host fill, a taker's or the bid quote's, then the ask quote's --------
        paper = params.paper_fills
        is_candidate = kind == EventKind.CANDIDATE
        is_quote = order.reason == SignalReason.QUOTE
        trade_printed = (kind == EventKind.PRICE) & paper & (update.trade_qty != 0)
        bid_filled = trade_printed & live_bid.valid & (update.trade_price < live_bid.price)
        ask_filled = trade_printed & live_ask.valid & (update.trade_price > live_ask.price)

        m.submodules.checks = checks = OrderChecks()
        accepted = is_candidate & checks.passed
        taker_filled = accepted & ~is_quote & paper
        first_fills = (kind == EventKind.FILL) | taker_filled | bid_filled

        first = Signal(FillFields)  # inventory: the slot's after it
        with m.Switch(kind):
            with m.Case(EventKind.PRICE):
                m.d.comb += [first.side.eq(Side.BID), first.price.eq(live_bid.price),
                             first.qty.eq(live_bid.qty), first.source.eq(FillSource.QUOTE)]
            with m.Case(EventKind.FILL):
                m.d.comb += first.eq(host_fill)
            with m.Default():
                m.d.comb += [first.side.eq(order.side), first.price.eq(order.price),
                             first.qty.eq(order.qty), first.source.eq(FillSource.TAKER)]
        first_total = Signal(signed(34))   # also the position the checks judge an order by
        m.d.comb += [
            first.slot.eq(slot),
            first_total.eq(Mux(first.side == Side.BID, inventory + first.qty,
                               inventory - first.qty)),
            first.inventory.eq(Mux(first_fills, _saturated(m, first_total, "first_saturated"),
                                   inventory)),
        ]
        second = Signal(FillFields)
        second_total = Signal(signed(34))
        m.d.comb += [
            second.slot.eq(slot), second.side.eq(Side.ASK), second.price.eq(live_ask.price),
            second.qty.eq(live_ask.qty), second.source.eq(FillSource.QUOTE),
            second_total.eq(first.inventory - live_ask.qty),
            second.inventory.eq(Mux(ask_filled, _saturated(m, second_total, "second_saturated"),
                                    first.inventory)),
        ]

        m.d.comb += [
            checks.order.eq(order),
            checks.timestamp.eq(event.timestamp),
            checks.kill.eq(params.kill),
            checks.limits.eq(limits),
            checks.top.eq(_pick(m, tops, slot, "top")),
            checks.position_after.eq(first_total),
            checks.rate.eq(_pick(m, rates, slot, "rate")),
        ]

        # --- state: every effect lands on the edge that takes the event -------------------------
        with m.If(take):
            for index in range(symbols):
                with m.If(slot == index):
                    with m.If(first_fills | ask_filled):
                        m.d.sync += self.inventory[index].eq(second.inventory)
                    with m.Switch(kind):
                        with m.Case(EventKind.PRICE):
                            m.d.sync += [
                                tops[index].two_sided.eq((update.bid_qty != 0) &
                                                         (update.ask_qty != 0)),
                                tops[index].bid_price.eq(update.bid_price),
                                tops[index].ask_price.eq(update.ask_price),
                            ]
                            with m.If(bid_filled):
                                m.d.sync += self.live[index][Side.BID.value].eq(0)
                            with m.If(ask_filled):
                                m.d.sync += self.live[index][Side.ASK.value].eq(0)
                        with m.Case(EventKind.CANDIDATE):
                            with m.If(is_quote):
                                for side in Side:
                                    with m.If(order.side == side):
                                        quote = self.live[index][side.value]
                                        m.d.sync += quote.eq(0)
                                        with m.If(accepted):
                                            m.d.sync += [quote.valid.eq(1),
                                                         quote.price.eq(order.price),
                                                         quote.qty.eq(order.qty)]
                            with m.If(accepted):
                                m.d.sync += rates[index].eq(checks.rate_after)
                        with m.Case(EventKind.CLEAR):
                            m.d.sync += [self.live[index].eq(0), tops[index].eq(0)]
            with m.If(is_candidate & ~checks.passed):
                for reason in RejectReason:
                    with m.If(checks.reason == reason):
                        m.d.sync += rejected[reason.value].eq(rejected[reason.value] + 1)
            m.d.sync += [
                accepted_count.eq(accepted_count + accepted),
                fill_count.eq(fill_count + first_fills + ask_filled),
            ]

        # --- output: the event itself, then the queued FILLs -----------------------------------
        out = self.o.payload
        emits = ~(kind == EventKind.CLEAR) & ~(is_candidate & ~checks.passed)
        with m.If(take):
            m.d.sync += [
                queued[0].eq(first), queued[1].eq(second),
                queued_valid.eq(Cat(taker_filled | bid_filled, ask_filled)),
                self.o.valid.eq(emits),
                out.eq(event), out.t_out.eq(self.now + 1),
            ]
            with m.Switch(kind):
                with m.Case(EventKind.CANDIDATE):
                    m.d.sync += out.kind.eq(EventKind.SIGNAL)
                with m.Case(EventKind.FILL):
                    m.d.sync += out.body.fill.inventory.eq(first.inventory)
                with m.Case(EventKind.STATUS):
                    risk = out.body.status.risk
                    m.d.sync += [risk[reason.name.lower()].eq(rejected[reason.value])
                                 for reason in RejectReason]
                    m.d.sync += [risk.accepted.eq(accepted_count), risk.fills.eq(fill_count),
                                 risk.param_errors.eq(self.param_errors)]
        with m.Elif(o_free & queued_valid.any()):
            m.d.sync += [self.o.valid.eq(1), out.kind.eq(EventKind.FILL),
                         out.t_out.eq(self.now + 1), out.body.eq(0)]
            with m.If(queued_valid[0]):
                m.d.sync += [out.body.fill.eq(queued[0]), queued_valid[0].eq(0)]
            with m.Else():
                m.d.sync += [out.body.fill.eq(queued[1]), queued_valid[1].eq(0)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
