"""The signal kernels: imbalance, market-making quotes and cross-venue arbitrage, behind one
event stream between the pricing kernel and the risk gate."""

from amaranth.hdl import Module, Signal, Cat, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import EventKind, OrderSignal, PriceFields, Side, SignalReason, event_layout
from ..params import ASSETS, params_layout
from .arbitrage import ArbitrageSignal, TopOfBook
from .imbalance import ImbalanceSignal, ImbalanceState
from .quotes import LiveQuote, QuoteSignal


__all__ = ["LiveQuote", "live_quotes_layout", "SignalKernels", "ARBITRAGE_DIVIDER_STAGES"]


def live_quotes_layout(config):
    """Our resting quotes, indexed ``[slot][side.value]``."""
    return data.ArrayLayout(data.ArrayLayout(LiveQuote, 2), config.symbols)


ARBITRAGE_DIVIDER_STAGES = 4
"""Pipeline stages of the arbitrage leg dividers: 8 subtract-and-compare steps per cycle."""


class _PriceCause(data.Struct):
    """What a CANDIDATE copies from the PRICE event it was proposed for."""
    seq:       32
    t_in:      32
    timestamp: 48


class SignalKernels(wiring.Component):
    """Proposes orders from PRICE updates, as ``host/model/signals.py`` does, bit for bit.

    Every event passes from ``i`` to ``o`` unchanged but for ``t_out`` (``now + 1`` in the
    cycle it is loaded), in order. A PRICE of a two-sided slot is followed by its CANDIDATE
    events, in the model's order: imbalance (:class:`ImbalanceSignal`), bid and ask quotes
    (:class:`QuoteSignal`), the buy and sell legs of an arbitrage (:class:`ArbitrageSignal`);
    each carries the PRICE's seq, t_in and timestamp. Every PRICE sets its slot's top of book
    (for the arbitrage search); a CLEAR forgets the slot's top of book and imbalance state.

    Sequencing. The model proposes from the risk gate's state after every earlier event, so a
    PRICE is taken only when ``o`` is empty and ``risk_idle`` is high; ``inventory`` and
    ``live`` are read in that cycle and no other. No event is taken while a PRICE's candidates
    are being worked out or wait to leave. ``params`` must hold while the kernel is not
    ``idle``.

    Latency (cycles from the cycle an event is taken to the cycle it is offered on ``o``,
    i.e. ``t_out - take cycle``): 1 for every event that passes; 2 for a PRICE's first
    candidate, one more per later imbalance or quote candidate; ``4 +
    ARBITRAGE_DIVIDER_STAGES`` (8) for an arbitrage buy leg and one more for its sell leg
    (the legs' sizes are divisions). Add a cycle for every cycle ``o`` is not ready.

    Throughput: one passing event per cycle. After a PRICE the next event is taken in the
    cycle its last candidate is offered, at the earliest 2 cycles after the PRICE (so a PRICE
    with k imbalance and quote candidates holds the input max(2, k + 1) cycles, and one with
    an arbitrage pair ``5 + ARBITRAGE_DIVIDER_STAGES``); the search that finds no pair costs
    nothing. A PRICE itself is taken only once ``o`` is empty and ``risk_idle`` is high.

    Back-pressure: while ``o`` is not ready its event stays put and nothing is taken; nothing
    is dropped. ``o.valid`` never depends on ``o.ready``; ``i.ready`` depends on the kind of
    the event offered (only a PRICE waits for the risk gate).

    Bad input. A one-sided PRICE proposes nothing and leaves the imbalance state as it was
    (it still sets the top of book). Sizes of 0 at the touch cannot propose an imbalance
    order of 0 (a two-sided book has both sizes); arbitrage legs that divide to 0 are not
    proposed. Quotes outside 1..2**32-1 (negative reservation prices, huge skews) are not
    proposed; quotes are clamped to the touch (bid below the best ask, ask above the best
    bid). All arithmetic is exact at every parameter's extreme (widths in the sub-kernels).
    A CLEAR of a slot past ``symbols`` changes nothing and passes.
    """

    def __init__(self, config: CoreConfig):
        self.config = config
        events = stream.Signature(event_layout(config.exported_levels))
        super().__init__({
            "i":         In(events),
            "o":         Out(events),
            "now":       In(32),
            "params":    In(params_layout(config)),
            "inventory": In(data.ArrayLayout(signed(32), config.symbols)),
            "live":      In(live_quotes_layout(config)),
            "risk_idle": In(1),
            "idle":      Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, p = self.config, self.params
        incoming, event = self.i.payload, self.o.payload

        m.submodules.imbalance = imbalance = ImbalanceSignal()
        m.submodules.quotes = quotes = QuoteSignal()
        m.submodules.arbitrage = arbitrage = ArbitrageSignal(cfg, ARBITRAGE_DIVIDER_STAGES)

        # --- per slot: what earlier events left --------------------------------------------------
        tops = Signal(data.ArrayLayout(TopOfBook, cfg.symbols))
        imbalance_states = Signal(data.ArrayLayout(ImbalanceState, cfg.symbols))

        # --- the PRICE update being worked on ----------------------------------------------------
        cause = Signal(_PriceCause)
        update = Signal(PriceFields)
        imbalance_state = Signal(ImbalanceState)   # its slot's, as taken
        evaluating = Signal()                      # the cycle after the take
        pending = Signal(5)                        # candidates proposed, not yet loaded into o

        # --- taking an event ---------------------------------------------------------------------
        busy = evaluating | pending.any() | arbitrage.busy
        o_free = ~self.o.valid | self.o.ready
        is_price = incoming.kind == EventKind.PRICE
        m.d.comb += [
            self.i.ready.eq(~busy & o_free & (~is_price | ~self.o.valid & self.risk_idle)),
            self.idle.eq(~self.o.valid & ~busy),
        ]
        take = self.i.valid & self.i.ready
        taken = incoming.body.price
        m.d.sync += evaluating.eq(0)
        with m.If(take & is_price):
            m.d.sync += [
                cause.seq.eq(incoming.seq), cause.t_in.eq(incoming.t_in),
                cause.timestamp.eq(incoming.timestamp),
                update.eq(taken),
                imbalance_state.eq(imbalance_states[taken.slot]),
                evaluating.eq(1),
                tops[taken.slot].eq(Cat(taken.bid_price, taken.bid_qty, taken.ask_price,
                                        taken.ask_qty)),
            ]
        with m.If(take & (incoming.kind == EventKind.CLEAR) & (incoming.body.slot < cfg.symbols)):
            m.d.sync += [tops[incoming.body.slot].eq(0),
                         imbalance_states[incoming.body.slot].eq(ImbalanceState.FLAT)]
        m.d.comb += [
            quotes.take.eq(take & is_price),
            quotes.inventory.eq(self.inventory[taken.slot]),
            quotes.live.eq(self.live[taken.slot]),
            quotes.skew.eq(p.mm_skew[taken.slot]),
            quotes.vol_mult.eq(p.mm_vol_mult[taken.slot]),
            quotes.vol.eq(taken.vol),
        ]

        # --- evaluating: the kernels on the update -----------------------------------------------
        slot = update.slot
        asset = p.arb_asset[slot]
        m.d.comb += [
            imbalance.update.eq(update),
            imbalance.enable.eq(p.imb_enable[slot]),
            imbalance.metric_select.eq(p.imb_metric[slot]),
            imbalance.enter.eq(p.imb_enter[slot]),
            imbalance.exit.eq(p.imb_exit[slot]),
            imbalance.size.eq(p.imb_qty[slot]),
            imbalance.state.eq(imbalance_state),

            quotes.update.eq(update),
            quotes.enable.eq(p.mm_enable[slot]),
            quotes.half_spread.eq(p.mm_half_spread[slot]),
            quotes.size.eq(p.mm_qty[slot]),

            arbitrage.start.eq(evaluating & update.two_sided & (asset < ASSETS) &
                               p.arb_enable[asset[:3]]),
            arbitrage.asset.eq(asset),
            arbitrage.tops.eq(tops),
            arbitrage.params.eq(p),
        ]
        with m.If(evaluating):
            m.d.sync += imbalance_states[slot].eq(imbalance.next_state)

        quote_orders = []
        for side in Side:
            order = Signal(OrderSignal, name=f"quote_{side.name.lower()}")
            m.d.comb += [order.slot.eq(slot), order.side.eq(side),
                         order.price.eq(quotes.price[side.value]), order.qty.eq(p.mm_qty[slot]),
                         order.reason.eq(SignalReason.QUOTE)]
            quote_orders.append(order)
        candidates = [imbalance.order, *quote_orders, arbitrage.legs[0], arbitrage.legs[1]]
        fresh = Cat(evaluating & imbalance.propose,
                    evaluating & quotes.propose[Side.BID.value],
                    evaluating & quotes.propose[Side.ASK.value],
                    arbitrage.propose, arbitrage.propose)

        # --- the output: the first candidate waiting, else the event taken -----------------------
        offer = Signal(5)
        first = Signal(OrderSignal)
        rest = Signal(5)
        m.d.comb += offer.eq(pending | fresh)
        with m.Switch(offer):
            for index, candidate in enumerate(candidates):
                with m.Case("-" * (4 - index) + "1" + "0" * index):
                    m.d.comb += [first.eq(candidate), rest.eq(offer & ~(1 << index))]
        m.d.sync += pending.eq(offer)
        with m.If(o_free):
            with m.If(offer.any()):
                m.d.sync += [
                    self.o.valid.eq(1), event.kind.eq(EventKind.CANDIDATE),
                    event.seq.eq(cause.seq), event.t_in.eq(cause.t_in),
                    event.t_out.eq(self.now + 1), event.timestamp.eq(cause.timestamp),
                    event.body.eq(0), event.body.order.eq(first),
                    pending.eq(rest),
                ]
            with m.Elif(take):
                m.d.sync += [self.o.valid.eq(1), event.eq(incoming),
                             event.t_out.eq(self.now + 1)]
            with m.Else():
                m.d.sync += self.o.valid.eq(0)
        return m
