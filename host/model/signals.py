"""Golden model of the signal kernels: orders proposed from each PRICE update.

Each PRICE update of a two-sided slot may propose orders (CANDIDATE events), always in this
order:

1. Imbalance (``imb_enable``). The metric is the imbalance, or microprice - mid
   (``imb_metric``), both Q16. The slot is FLAT, LONG or SHORT: reaching ``+imb_enter`` when not
   LONG proposes a buy at the best ask and goes LONG; reaching ``-imb_enter`` when not SHORT
   proposes a sell at the best bid and goes SHORT; LONG falls back to FLAT once the metric is
   below ``+imb_exit``, SHORT once it is above ``-imb_exit`` (hysteresis). Size
   ``min(imb_qty, size at the touch)``.
2. Market-making quotes (``mm_enable``), in the Avellaneda–Stoikov spirit: reservation price
   ``r = microprice - mm_skew * inventory``, half spread
   ``h = mm_half_spread + (mm_vol_mult * vol >> 8)`` (all Q16); bid quote ``(r - h) >> 16``,
   at most best ask - 1; ask quote ``ceil((r + h) / 2**16)``, at least best bid + 1. A side is
   proposed (bid first, then ask) when its quote is positive and differs from the side's live
   quote (price or size ``mm_qty``), or there is none.
3. Cross-venue arbitrage (``arb_asset`` of the updated slot, ``arb_enable`` of that asset).
   Over the asset's two-sided venues: the best net bid ``bid - arb_fee`` (venue i) and the best
   net ask ``ask + arb_fee`` (venue k), lowest slot on ties. If i != k and the net bid exceeds
   the net ask by more than ``arb_transfer``: size ``q = min(bid_qty_i * unit_i,
   ask_qty_k * unit_k, arb_max_qty)`` in the asset's common unit (``arb_unit`` per venue);
   propose a buy of ``q // unit_k`` on k at its ask, then a sell of ``q // unit_i`` on i at its
   bid, if both legs are non-zero and differ from the last pair proposed for the asset. Once
   no such pair exists, the next one is proposed again.

The kernel keeps each slot's best bid and ask from the PRICE updates it has seen, and reads
the risk gate's inventory and live quotes as they stand after every earlier message (the
gateware holds a PRICE update until the gate has finished the previous one). A CLEAR forgets
the slot's imbalance state and top of book.
"""

from ...hdl.layouts import EventKind, Side, SignalReason
from ...hdl.params import NO_ASSET, ASSETS


__all__ = ["Top", "SignalModel"]


_FLAT, _LONG, _SHORT = 0, 1, 2
_U32 = (1 << 32) - 1


class Top:
    """A slot's best bid and ask as the last PRICE update gave them (0 when empty)."""
    __slots__ = ("bid_price", "bid_qty", "ask_price", "ask_qty")

    def __init__(self, update=None):
        self.bid_price = update.bid_price if update else 0
        self.bid_qty = update.bid_qty if update else 0
        self.ask_price = update.ask_price if update else 0
        self.ask_qty = update.ask_qty if update else 0

    @property
    def two_sided(self):
        return bool(self.bid_qty and self.ask_qty)


class SignalModel:
    def __init__(self, config, params, risk, events):
        self.config, self.params, self.risk, self.events = config, params, risk, events
        self.imbalance_state = [_FLAT] * config.symbols
        self.tops = [Top() for _ in range(config.symbols)]
        self.last_arbitrage = [None] * ASSETS

    def process(self, event):
        if event.kind == EventKind.CLEAR:
            self.imbalance_state[event.body] = _FLAT
            self.tops[event.body] = Top()
            return [event]
        if event.kind != EventKind.PRICE:
            return [event]
        update = event.body
        self.tops[update.slot] = Top(update)
        out = [event]
        if update.two_sided:
            for slot, side, price, qty, reason in self._proposals(update):
                out.append(self.events.derived(event, EventKind.CANDIDATE, self.events.OrderSignal(
                    slot=slot, side=side, price=price, qty=qty, reason=reason)))
        return out

    def _proposals(self, u):
        yield from self._imbalance(u)
        yield from self._quotes(u)
        yield from self._arbitrage(u)

    def _imbalance(self, u):
        p, slot = self.params, u.slot
        if not p.value("imb_enable", slot):
            return
        metric = u.imbalance if p.value("imb_metric", slot) == 0 else u.microprice - u.mid
        enter, exit_, size = (p.value("imb_enter", slot), p.value("imb_exit", slot),
                              p.value("imb_qty", slot))
        state = self.imbalance_state[slot]
        if metric >= enter and state != _LONG:
            self.imbalance_state[slot] = _LONG
            yield slot, Side.BID, u.ask_price, min(size, u.ask_qty), SignalReason.IMBALANCE
        elif metric <= -enter and state != _SHORT:
            self.imbalance_state[slot] = _SHORT
            yield slot, Side.ASK, u.bid_price, min(size, u.bid_qty), SignalReason.IMBALANCE
        elif state == _LONG and metric < exit_ or state == _SHORT and metric > -exit_:
            self.imbalance_state[slot] = _FLAT

    def _quotes(self, u):
        p, slot = self.params, u.slot
        if not p.value("mm_enable", slot):
            return
        reservation = u.microprice - p.value("mm_skew", slot) * self.risk.inventory[slot]
        half = p.value("mm_half_spread", slot) + ((p.value("mm_vol_mult", slot) * u.vol) >> 8)
        size = p.value("mm_qty", slot)
        bid = min((reservation - half) >> 16, u.ask_price - 1)
        ask = max(-((-(reservation + half)) >> 16), u.bid_price + 1)
        for side, price in ((Side.BID, bid), (Side.ASK, ask)):
            if 0 < price <= _U32 and self.risk.live[slot][side.value] != (price, size):
                yield slot, side, price, size, SignalReason.QUOTE

    def _arbitrage(self, u):
        p = self.params
        asset = p.value("arb_asset", u.slot)
        if asset == NO_ASSET or not p.value("arb_enable", asset):
            return
        best_bid = best_ask = None
        for slot, top in enumerate(self.tops):
            if p.value("arb_asset", slot) != asset or not top.two_sided:
                continue
            fee = p.value("arb_fee", slot)
            net_bid, net_ask = top.bid_price - fee, top.ask_price + fee
            if best_bid is None or net_bid > best_bid[0]:
                best_bid = (net_bid, slot)
            if best_ask is None or net_ask < best_ask[0]:
                best_ask = (net_ask, slot)
        if best_bid is None or best_bid[1] == best_ask[1] or \
                best_bid[0] - best_ask[0] <= p.value("arb_transfer", asset):
            self.last_arbitrage[asset] = None
            return
        sell_slot, buy_slot = best_bid[1], best_ask[1]
        sell, buy = self.tops[sell_slot], self.tops[buy_slot]
        sell_unit, buy_unit = p.value("arb_unit", sell_slot), p.value("arb_unit", buy_slot)
        size = min(sell.bid_qty * sell_unit, buy.ask_qty * buy_unit, p.value("arb_max_qty", asset))
        legs = ((buy_slot, Side.BID, buy.ask_price, size // buy_unit, SignalReason.ARBITRAGE),
                (sell_slot, Side.ASK, sell.bid_price, size // sell_unit, SignalReason.ARBITRAGE))
        if legs[0][3] and legs[1][3] and legs != self.last_arbitrage[asset]:
            self.last_arbitrage[asset] = legs
            yield from legs
