"""Cross-venue arbitrage: buy an asset on the venue with the lowest net ask, sell it on the
one with the highest net bid."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import OrderSignal, Side, SignalReason
from ..params import ASSETS, params_layout
from ..pricing.divider import PipelinedDivider


__all__ = ["TopOfBook", "ArbitragePair", "ArbitrageSignal"]


class TopOfBook(data.Struct):
    """A slot's best bid and ask as its last PRICE update gave them (0 when empty)."""
    bid_price: 32
    bid_qty:   32
    ask_price: 32
    ask_qty:   32


class ArbitragePair(data.Struct):
    """The last pair of legs proposed for an asset: the same pair is not proposed twice."""
    valid: 1
    legs:  data.ArrayLayout(OrderSignal, 2)   # buy leg, sell leg


class _Best:
    """One entry of the venue search: a net price and the slot it belongs to."""

    def __init__(self, valid, value, slot):
        self.valid, self.value, self.slot = valid, value, slot


def _reduce(m, entries, better, name):
    """The best of ``entries`` by ``better(challenger, holder)``, the lowest slot on ties: a
    balanced tree whose every node keeps its left (lower-slot) entry unless the right one is
    strictly better."""
    level = 0
    while len(entries) > 1:
        merged = []
        for index in range(0, len(entries) - 1, 2):
            left, right = entries[index], entries[index + 1]
            take_right = ~left.valid | right.valid & better(right.value, left.value)
            node = _Best(Signal(name=f"{name}{level}_{index}_valid"),
                         Signal(signed(34), name=f"{name}{level}_{index}_value"),
                         Signal(8, name=f"{name}{level}_{index}_slot"))
            m.d.comb += [node.valid.eq(left.valid | right.valid),
                         node.value.eq(Mux(take_right, right.value, left.value)),
                         node.slot.eq(Mux(take_right, right.slot, left.slot))]
            merged.append(node)
        if len(entries) % 2:
            merged.append(entries[-1])
        entries = merged
        level += 1
    return entries[0]


class ArbitrageSignal(wiring.Component):
    """The arbitrage rule of ``host/model/signals.py`` for one asset, after a PRICE update.

    Search (the cycle ``start`` is high): over the slots whose ``arb_asset`` is ``asset`` and
    whose ``tops`` are two-sided, the best net bid ``bid - arb_fee`` (sell venue) and the best
    net ask ``ask + arb_fee`` (buy venue), lowest slot on ties, as a comparator tree. Without
    two distinct venues whose edge beats ``arb_transfer`` the asset's last pair is forgotten
    and nothing follows. Size (next cycle): ``q = min(bid_qty * unit, ask_qty * unit,
    arb_max_qty)``. Divide: ``q // unit`` for each leg in two :class:`PipelinedDivider` s of
    ``divider_stages`` stages. Decide (``decided`` high for one cycle, ``2 + divider_stages``
    cycles after ``start``): ``propose`` when both legs are non-zero and differ from the
    asset's last pair, which they then become.

    ``asset``, ``tops`` and ``params`` must hold from ``start`` until ``decided``; ``legs``
    hold from ``decided`` until the next ``start``. ``busy`` while sizing or dividing.
    """

    def __init__(self, config: CoreConfig, divider_stages=4):
        self.config = config
        self.divider_stages = divider_stages
        super().__init__({
            "start":   In(1),
            "asset":   In(range(ASSETS)),
            "tops":    In(data.ArrayLayout(TopOfBook, config.symbols)),
            "params":  In(params_layout(config)),
            "busy":    Out(1),
            "decided": Out(1),
            "propose": Out(1),
            "legs":    Out(data.ArrayLayout(OrderSignal, 2)),   # buy leg, sell leg
        })

    def elaborate(self, platform):
        m = Module()
        p, tops, asset = self.params, self.tops, self.asset

        # --- search: the best venues to sell on and to buy on ------------------------------------
        bids, asks = [], []
        for slot in range(self.config.symbols):
            top = tops[slot]
            member = Signal(name=f"venue{slot}")
            net_bid = Signal(signed(34), name=f"net_bid{slot}")
            net_ask = Signal(signed(34), name=f"net_ask{slot}")
            m.d.comb += [member.eq((p.arb_asset[slot] == asset) & (top.bid_qty != 0) &
                                   (top.ask_qty != 0)),
                         net_bid.eq(top.bid_price - p.arb_fee[slot]),
                         net_ask.eq(top.ask_price + p.arb_fee[slot])]
            bids.append(_Best(member, net_bid, slot))
            asks.append(_Best(member, net_ask, slot))
        sell = _reduce(m, bids, lambda challenger, holder: challenger > holder, "best_bid")
        buy = _reduce(m, asks, lambda challenger, holder: challenger < holder, "best_ask")
        profitable = (sell.valid & (sell.slot != buy.slot) &
                      (sell.value - buy.value > p.arb_transfer[asset]))

        sell_slot = Signal(8)
        buy_slot = Signal(8)
        sizing = Signal()
        dividing = Signal()
        countdown = Signal(range(self.divider_stages + 1))
        last = Signal(data.ArrayLayout(ArbitragePair, ASSETS))
        m.d.sync += sizing.eq(0)
        with m.If(self.start):
            m.d.sync += [sell_slot.eq(sell.slot), buy_slot.eq(buy.slot), sizing.eq(profitable)]
            with m.If(~profitable):
                m.d.sync += last[asset].valid.eq(0)

        # --- size: the smaller side, in the asset's common unit ----------------------------------
        sell_top, buy_top = tops[sell_slot], tops[buy_slot]
        sell_unit, buy_unit = p.arb_unit[sell_slot], p.arb_unit[buy_slot]
        sell_amount = Signal(64)
        buy_amount = Signal(64)
        size = Signal(32)
        m.d.comb += [sell_amount.eq(sell_top.bid_qty * sell_unit),
                     buy_amount.eq(buy_top.ask_qty * buy_unit)]
        smaller = Mux(sell_amount < buy_amount, sell_amount, buy_amount)
        with m.If(sizing):
            m.d.sync += [size.eq(Mux(smaller < p.arb_max_qty[asset], smaller,
                                     p.arb_max_qty[asset])),
                         dividing.eq(1), countdown.eq(self.divider_stages)]

        # --- divide: each leg in its venue's unit ------------------------------------------------
        legs_qty = []
        for leg, unit in (("buy", buy_unit), ("sell", sell_unit)):
            divider = PipelinedDivider(32, 32, 32, self.divider_stages)
            m.submodules[f"{leg}_divider"] = divider
            m.d.comb += [divider.advance.eq(1), divider.numerator.eq(size),
                         divider.denominator.eq(unit)]
            legs_qty.append(divider.quotient)
        with m.If(dividing & (countdown != 0)):
            m.d.sync += countdown.eq(countdown - 1)

        # --- decide ------------------------------------------------------------------------------
        buy_leg, sell_leg = self.legs[0], self.legs[1]
        m.d.comb += [
            buy_leg.slot.eq(buy_slot), buy_leg.side.eq(Side.BID),
            buy_leg.price.eq(buy_top.ask_price), buy_leg.qty.eq(legs_qty[0]),
            buy_leg.reason.eq(SignalReason.ARBITRAGE),
            sell_leg.slot.eq(sell_slot), sell_leg.side.eq(Side.ASK),
            sell_leg.price.eq(sell_top.bid_price), sell_leg.qty.eq(legs_qty[1]),
            sell_leg.reason.eq(SignalReason.ARBITRAGE),
            self.decided.eq(dividing & (countdown == 0)),
            self.busy.eq(sizing | dividing),
        ]
        previous = last[asset]
        new = (legs_qty[0] != 0) & (legs_qty[1] != 0) & \
            (~previous.valid | (previous.legs.as_value() != self.legs.as_value()))
        m.d.comb += self.propose.eq(self.decided & new)
        with m.If(self.decided):
            m.d.sync += dividing.eq(0)
            with m.If(new):
                m.d.sync += [previous.valid.eq(1), previous.legs.eq(self.legs)]
        return m
