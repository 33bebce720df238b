"""Market-making quotes around a reservation price skewed by inventory."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import PriceFields, Side


__all__ = ["LiveQuote", "QuoteSignal"]


class LiveQuote(data.Struct):
    """One of our resting quotes, as the risk gate keeps it."""
    valid: 1
    price: 32
    qty:   32


class QuoteSignal(wiring.Component):
    """The quote rule of ``host/model/signals.py`` for one PRICE update, in two steps.

    Take (the cycle ``take`` is high): registers ``mm_skew * inventory`` and
    ``mm_vol_mult * vol`` and the slot's live quotes, the state the risk gate holds now.
    From the next cycle on, combinationally from ``update`` (which the caller then holds):
    reservation ``r = microprice - skew term``, half spread ``h = half_spread + (vol term >>
    8)``; bid ``min((r - h) >> 16, best ask - 1)``, ask ``max(ceil((r + h) / 2**16), best bid
    + 1)``. ``propose[side]`` when enabled, two-sided, the price is in 1..2**32-1 and it or
    ``size`` differs from the side's live quote (or there is none).
    """

    take:        In(1)
    inventory:   In(signed(32))  # sampled at take
    skew:        In(32)          # mm_skew, sampled at take
    vol_mult:    In(16)          # mm_vol_mult, sampled at take
    vol:         In(48)          # the update's vol, sampled at take
    live:        In(data.ArrayLayout(LiveQuote, 2))  # sampled at take

    update:      In(PriceFields)
    enable:      In(1)           # mm_enable
    half_spread: In(32)          # mm_half_spread
    size:        In(32)          # mm_qty

    propose:     Out(data.ArrayLayout(1, 2))   # [side.value]
    price:       Out(data.ArrayLayout(32, 2))  # [side.value]

    def elaborate(self, platform):
        m = Module()
        update = self.update

        skew_term = Signal(signed(64))
        vol_term = Signal(64)
        live = Signal.like(self.live)
        with m.If(self.take):
            m.d.sync += [skew_term.eq(self.skew * self.inventory),
                         vol_term.eq(self.vol_mult * self.vol),
                         live.eq(self.live)]

        reservation = Signal(signed(66))
        half = Signal(57)
        m.d.comb += [reservation.eq(update.microprice - skew_term),
                     half.eq(self.half_spread + (vol_term >> 8))]
        below = Signal(signed(68))
        above = Signal(signed(68))
        m.d.comb += [below.eq((reservation - half) >> 16),
                     above.eq((reservation + half + 0xFFFF) >> 16)]  # ceil
        ask_limit = update.ask_price - 1
        bid_limit = update.bid_price + 1
        quote = [Signal(signed(68), name="bid_quote"), Signal(signed(68), name="ask_quote")]
        m.d.comb += [quote[Side.BID.value].eq(Mux(below < ask_limit, below, ask_limit)),
                     quote[Side.ASK.value].eq(Mux(above > bid_limit, above, bid_limit))]

        for side in Side:
            price, held = quote[side.value], live[side.value]
            in_range = (price > 0) & (price <= (1 << 32) - 1)
            differs = ~held.valid | (held.price != price) | (held.qty != self.size)
            m.d.comb += [
                self.price[side.value].eq(price),
                self.propose[side.value].eq(self.enable & update.two_sided & in_range & differs),
            ]
        return m
