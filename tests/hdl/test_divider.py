"""The pipelined divider against Python's floor division."""

import random

import pytest
from amaranth.sim import Simulator

from tickforge.hdl.pricing.divider import PipelinedDivider


@pytest.mark.parametrize("widths,stages", [((48, 33, 17), 1), ((48, 33, 17), 4),
                                           ((86, 39, 48), 5), ((20, 8, 12), 12)])
def test_divider_is_exact_and_pipelined(widths, stages, seed):
    numerator_width, denominator_width, quotient_width = widths
    rng = random.Random(seed)
    dut = PipelinedDivider(numerator_width, denominator_width, quotient_width, stages)
    cases = []
    for _ in range(300):
        denominator = rng.choice([1, 2, rng.randrange(1, 1 << denominator_width),
                                  (1 << denominator_width) - 1])
        limit = min(1 << numerator_width, denominator << quotient_width)
        numerator = rng.choice([0, limit - 1, rng.randrange(limit)])
        cases.append((numerator, denominator))

    async def testbench(ctx):
        results = []
        in_flight = []
        queue = cases + [(0, 1)] * stages   # the padding pushes the last cases out
        while queue:
            advance = rng.random() < 0.7    # stalls must hold every stage
            numerator, denominator = queue[0]
            ctx.set(dut.advance, advance)
            ctx.set(dut.numerator, numerator)
            ctx.set(dut.denominator, denominator)
            if advance:
                if len(in_flight) == stages:
                    results.append((in_flight.pop(0), ctx.get(dut.quotient)))
                in_flight.append(queue.pop(0))
            await ctx.tick()
        for (numerator, denominator), quotient in results:
            assert quotient == numerator // denominator, (numerator, denominator)
        assert len(results) == len(cases)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
