"""A pipelined unsigned divider: ``floor(numerator / denominator)`` in a fixed number of stages."""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["PipelinedDivider"]


class PipelinedDivider(wiring.Component):
    """Restoring long division, ``quotient_width`` steps spread over ``stages`` pipeline stages.

    The caller guarantees ``numerator < denominator << quotient_width`` (every use in the
    pricing kernel does, by construction: a weight ``a * 2**16 / (a + b)`` is at most 2**16; a
    VWAP is at most the highest price in its window); under that condition the result is exact.
    A zero denominator gives an all-ones quotient, which the callers never use.

    Timing: operands presented in the cycle ``advance`` is high enter stage 1; the quotient is
    on ``quotient`` ``stages`` advances later. Every stage moves only when ``advance`` is high,
    so the divider follows the stalls of the pipeline it sits in. Work per cycle is
    ``ceil(quotient_width / stages)`` subtract-and-compare steps.
    """

    def __init__(self, numerator_width, denominator_width, quotient_width, stages):
        if not 1 <= stages <= quotient_width:
            raise ValueError(f"stages must be 1..{quotient_width}, not {stages}")
        if numerator_width < quotient_width:
            raise ValueError("the numerator must be at least as wide as the quotient")
        self.numerator_width = numerator_width
        self.denominator_width = denominator_width
        self.quotient_width = quotient_width
        self.stages = stages
        super().__init__({
            "advance":     In(1),
            "numerator":   In(numerator_width),
            "denominator": In(denominator_width),
            "quotient":    Out(quotient_width),
        })

    def elaborate(self, platform):
        m = Module()
        qw, dw = self.quotient_width, self.denominator_width
        steps = -(-qw // self.stages)
        # The partial remainder stays below the denominator, so it fits dw bits (+1 while
        # shifted in); the numerator's low qw bits are fed in one per step.
        remainder = self.numerator[qw:]
        low = self.numerator[:qw]
        denominator = self.denominator
        quotient = Signal(qw)
        done = 0
        for stage in range(self.stages):
            count = min(steps, qw - done)
            quotient_bits = Signal(count, name=f"bits{stage}")
            for step in range(count):
                bit = qw - 1 - (done + step)
                # a signal per step keeps the expression a chain, not a tree doubling each step
                shifted = Signal(dw + 1, name=f"shifted{bit}")
                m.d.comb += [shifted.eq(Cat(low[bit], remainder)),
                             quotient_bits[count - 1 - step].eq(shifted >= denominator)]
                remainder = Mux(quotient_bits[count - 1 - step], shifted - denominator,
                                shifted)[:dw]
            top = qw - done
            quotient = Cat(quotient[:top - count], quotient_bits, quotient[top:])
            done += count
            remainder_r = Signal(dw, name=f"remainder{stage}")
            low_r = Signal(qw, name=f"low{stage}")
            denominator_r = Signal(dw, name=f"denominator{stage}")
            quotient_r = Signal(qw, name=f"quotient{stage}")
            with m.If(self.advance):
                m.d.sync += [remainder_r.eq(remainder), low_r.eq(low),
                             denominator_r.eq(denominator), quotient_r.eq(quotient)]
            remainder, low, denominator, quotient = remainder_r, low_r, denominator_r, quotient_r
        m.d.comb += self.quotient.eq(quotient)
        return m
