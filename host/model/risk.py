"""Golden model of the pre-trade risk gate, the inventory and the paper fills.

The gate checks each proposed order (CANDIDATE) in turn and the first failing check rejects
it, counted by reason: KILL (the kill switch), QTY (0 or more than ``max_order_qty``), NOTIONAL
(price * qty over ``max_notional``), COLLAR (the order's slot is not two-sided, or
``|2*price - (bid + ask)| > 2*collar``), POSITION (``|inventory ± qty|`` over ``max_position``),
RATE (``rate_max`` orders already accepted in the window ``timestamp >> rate_shift`` of the
exchange's clock). An accepted order leaves as a SIGNAL; a rejected one never leaves. An
accepted quote becomes its side's live quote; a rejected quote leaves the side without one.

Fills and inventory. A host fill (FILL from an ``f`` message) moves the slot's inventory. With
``paper_fills`` the gate fills our orders itself: an accepted taker (imbalance, arbitrage) at
once at its price; a live quote when a trade on its slot prints strictly through it (below a
bid, above an ask), which ends the quote. A PRICE update's quote fills come before the orders
proposed from it. Inventory saturates at ±(2**31 - 1). Every fill leaves as a FILL event.

The gate keeps each slot's best bid and ask from the PRICE updates it has seen (for the
collar). A STATUS event gets the gate's counters; a CLEAR ends the slot's live quotes and top
of book (not its inventory) and goes no further.
"""

from ...hdl.layouts import EventKind, Side, SignalReason, RejectReason, FillSource
from .signals import Top


__all__ = ["RiskModel"]


_INVENTORY_LIMIT = (1 << 31) - 1


class RiskModel:
    def __init__(self, config, params, events):
        self.config, self.params, self.events = config, params, events
        self.inventory = [0] * config.symbols
        self.live = [[None, None] for _ in range(config.symbols)]  # (price, qty) per side
        self.tops = [Top() for _ in range(config.symbols)]
        self._rate_window = [0] * config.symbols
        self._rate_count = [0] * config.symbols
        self.rejects = dict.fromkeys(RejectReason, 0)
        self.accepted = 0
        self.fills = 0

    def process(self, event):
        kind, body = event.kind, event.body
        if kind == EventKind.CLEAR:
            self.live[body] = [None, None]
            self.tops[body] = Top()
            return []
        if kind == EventKind.PRICE:
            self.tops[body.slot] = Top(body)
            return [event] + self._quote_fills(event)
        if kind == EventKind.CANDIDATE:
            return self._check(event)
        if kind == EventKind.FILL:
            return [self._fill(event, body.slot, body.side, body.price, body.qty, body.source)]
        if kind == EventKind.STATUS:
            counters = self.events.RiskCounters(
                **{reason.name.lower(): count for reason, count in self.rejects.items()},
                accepted=self.accepted, fills=self.fills, param_errors=self.params.errors)
            return [event._replace(body=body._replace(risk=counters))]
        return [event]

    def _fill(self, cause, slot, side, price, qty, source):
        delta = qty if side == Side.BID else -qty
        self.inventory[slot] = max(-_INVENTORY_LIMIT,
                                   min(_INVENTORY_LIMIT, self.inventory[slot] + delta))
        self.fills += 1
        return self.events.derived(cause, EventKind.FILL, self.events.FillFields(
            slot=slot, side=side, price=price, qty=qty, source=source,
            inventory=self.inventory[slot]))

    def _quote_fills(self, cause):
        update = cause.body
        if not (self.params.value("paper_fills") and update.trade_qty):
            return []
        fills = []
        live = self.live[update.slot]
        bid, ask = live
        if bid is not None and update.trade_price < bid[0]:
            fills.append(self._fill(cause, update.slot, Side.BID, *bid, FillSource.QUOTE))
            live[0] = None
        if ask is not None and update.trade_price > ask[0]:
            fills.append(self._fill(cause, update.slot, Side.ASK, *ask, FillSource.QUOTE))
            live[1] = None
        return fills

    def _check(self, event):
        order = event.body
        reason = self._first_failure(order, event.timestamp)
        if reason is not None:
            self.rejects[reason] += 1
            if order.reason == SignalReason.QUOTE:
                self.live[order.slot][order.side.value] = None
            return []
        self.accepted += 1
        window = event.timestamp >> self.params.value("rate_shift", order.slot)
        if window != self._rate_window[order.slot]:
            self._rate_window[order.slot], self._rate_count[order.slot] = window, 0
        self._rate_count[order.slot] += 1
        out = [self.events.derived(event, EventKind.SIGNAL, order)]
        if order.reason == SignalReason.QUOTE:
            self.live[order.slot][order.side.value] = (order.price, order.qty)
        elif self.params.value("paper_fills"):
            out.append(self._fill(event, order.slot, order.side, order.price, order.qty,
                                  FillSource.TAKER))
        return out

    def _first_failure(self, order, timestamp):
        p, slot = self.params, order.slot
        if p.value("kill"):
            return RejectReason.KILL
        if order.qty == 0 or order.qty > p.value("max_order_qty", slot):
            return RejectReason.QTY
        if order.price * order.qty > p.value("max_notional", slot):
            return RejectReason.NOTIONAL
        top = self.tops[slot]
        if not top.two_sided or abs(2 * order.price - top.bid_price - top.ask_price) > \
                2 * p.value("collar", slot):
            return RejectReason.COLLAR
        delta = order.qty if order.side == Side.BID else -order.qty
        if abs(self.inventory[slot] + delta) > p.value("max_position", slot):
            return RejectReason.POSITION
        window = timestamp >> p.value("rate_shift", slot)
        count = self._rate_count[slot] if window == self._rate_window[slot] else 0
        if count >= p.value("rate_max", slot):
            return RejectReason.RATE
        return None
