"""Golden model of the pricing kernel: per-symbol metrics after every book change or trade.

All metrics are integers. Prices are the book's integer price units; ``Q16`` means a value
in those units times 2**16 (16 fraction bits). Every division rounds toward minus infinity
(floor), every right shift is arithmetic; the gateware computes the same bits.

For each BOOK or TRADE event of a slot the kernel updates that slot and emits one PRICE:

- ``bid_price, bid_qty, ask_price, ask_qty``: the best level of each side (0 when empty);
  ``two_sided`` when both exist, ``crossed`` when two-sided with bid >= ask.
- ``spread = ask - bid``; ``mid = (bid + ask) << 15`` (Q16, exact);
  ``microprice = (bid << 16) + spread * w``, ``w = floor(bid_qty * 2**16 / (bid_qty + ask_qty))``:
  the size-weighted mid, leaning to the ask when bids are heavy. All 0 unless two-sided.
- ``imbalance = 2 * floor(B * 2**16 / (B + A)) - 2**16`` (Q16, -1..+1), B and A the
  quantities of the best ``imbalance_levels`` levels of each side; 0 when both are empty.
- ``vwap = floor(sum(p*q) * 2**16 / sum(q))`` (Q16) over the last ``vwap_window`` trades of
  the slot (executions E/C that are printable, and P/Q trades); ``vwap_valid`` once one trade
  is in the window. Writing ``vwap_window`` empties every window.
- ``ema`` (Q16) of the mid: the first two-sided update sets it to the mid, each later one
  does ``ema += (mid - ema) >> ema_shift``. ``vol`` (Q16): ``vol += (|mid - last mid| - vol)
  >> vol_shift`` on each two-sided update after the first; both stay put while one-sided.
- ``trade_price, trade_qty``: the trade this update carries (0 if none).

A CLEAR (the slot was subscribed anew) forgets everything about the slot.
"""

from collections import deque

from ...hdl.layouts import EventKind, Side


__all__ = ["PricingModel", "SlotPricing", "PriceUpdate", "ratio_q16"]


class _Side:
    __slots__ = ("price", "qty", "depth_qty")

    def __init__(self):
        self.price = self.qty = self.depth_qty = 0


class SlotPricing:
    """What the kernel remembers of one slot."""

    def __init__(self):
        self.bid = _Side()
        self.ask = _Side()
        self.ema = 0
        self.last_mid = 0
        self.vol = 0
        self.seen_two_sided = False
        self.trades = deque()
        self.sum_pq = 0
        self.sum_q = 0


class PriceUpdate:
    """One PRICE result; field names are those of the PRICE event body."""

    __slots__ = ("slot", "two_sided", "crossed", "vwap_valid", "bid_price", "bid_qty",
                 "ask_price", "ask_qty", "spread", "mid", "microprice", "imbalance", "vwap",
                 "ema", "vol", "trade_price", "trade_qty")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields[name])

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}


def ratio_q16(part, other):
    """floor(part * 2**16 / (part + other)): a weight in 0..2**16, as the gateware divides."""
    total = part + other
    return (part << 16) // total if total else 0


class PricingModel:
    def __init__(self, config, params, events):
        self.config = config
        self.params = params
        self.events = events
        self.slots = [SlotPricing() for _ in range(config.symbols)]

    def process(self, event):
        """The events that leave the kernel for one that enters it."""
        kind = event.kind
        if kind == EventKind.CLEAR:
            self.clear(event.body)
            return [event]
        body = event.body
        if kind == EventKind.BOOK:
            update = self.book(body.slot, body.side == Side.BID,
                               [(level.price, level.quantity) for level in body.levels],
                               body.depth, body.trade_price, body.trade_qty)
        elif kind == EventKind.TRADE:
            update = self.trade(body.slot, body.price, body.quantity)
        else:
            return [event]
        price = self.events.derived(event, EventKind.PRICE,
                                    self.events.PriceFields(**update.as_dict()))
        return [event, price]

    def clear(self, slot):
        self.slots[slot] = SlotPricing()

    def restart_vwap(self):
        for state in self.slots:
            state.trades.clear()
            state.sum_pq = state.sum_q = 0

    def book(self, slot, side_is_bid, levels, depth, trade_price, trade_qty):
        """A BOOK event: one side's exported levels (price, quantity pairs) after a change."""
        state = self.slots[slot]
        side = state.bid if side_is_bid else state.ask
        if depth:
            side.price, side.qty = levels[0]
        else:
            side.price = side.qty = 0
        count = self.params.value("imbalance_levels", slot)
        side.depth_qty = sum(quantity for _, quantity in levels[:count])
        return self._update(slot, trade_price, trade_qty)

    def trade(self, slot, price, quantity):
        """A TRADE event (a print against no displayed order)."""
        return self._update(slot, price, quantity)

    def _update(self, slot, trade_price, trade_qty):
        state = self.slots[slot]
        if trade_qty:
            window = self.params.value("vwap_window")
            if len(state.trades) == window:
                old_price, old_qty = state.trades.popleft()
                state.sum_pq -= old_price * old_qty
                state.sum_q -= old_qty
            state.trades.append((trade_price, trade_qty))
            state.sum_pq += trade_price * trade_qty
            state.sum_q += trade_qty
        bid, ask = state.bid, state.ask
        two_sided = bool(bid.qty and ask.qty)
        spread = mid = microprice = 0
        if two_sided:
            spread = ask.price - bid.price
            mid = (bid.price + ask.price) << 15
            microprice = (bid.price << 16) + spread * ratio_q16(bid.qty, ask.qty)
            if state.seen_two_sided:
                state.ema += (mid - state.ema) >> self.params.value("ema_shift")
                state.vol += (abs(mid - state.last_mid) - state.vol) >> \
                    self.params.value("vol_shift")
            else:
                state.ema = mid
                state.seen_two_sided = True
            state.last_mid = mid
        both = bid.depth_qty + ask.depth_qty
        imbalance = 2 * ratio_q16(bid.depth_qty, ask.depth_qty) - (1 << 16) if both else 0
        vwap = (state.sum_pq << 16) // state.sum_q if state.sum_q else 0
        return PriceUpdate(
            slot=slot, two_sided=int(two_sided), crossed=int(two_sided and bid.price >= ask.price),
            vwap_valid=int(state.sum_q > 0), bid_price=bid.price, bid_qty=bid.qty,
            ask_price=ask.price, ask_qty=ask.qty, spread=spread, mid=mid,
            microprice=microprice, imbalance=imbalance, vwap=vwap, ema=state.ema, vol=state.vol,
            trade_price=trade_price if trade_qty else 0, trade_qty=trade_qty)
