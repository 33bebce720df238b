"""The book-side step, combinational and in two cycles, against the golden model's level
rules."""

import random

import pytest
from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import Side
from tickforge.hdl.book.levels import SideUpdate, LevelOp
from tickforge.host.model.book import BookModel


def _random_side(rng, side, tracked, prices):
    count = rng.randint(0, tracked)
    chosen = sorted(rng.sample(prices, count), reverse=(side == Side.BID))
    return [[price, rng.choice([1, rng.randrange(1, 1 << 32), (1 << 32) - 1])]
            for price in chosen]


@pytest.mark.parametrize("two_cycle", [False, True], ids=["comb", "two_cycle"])
@pytest.mark.parametrize("tracked", [2, 5, 16])
def test_side_update_matches_model(tracked, two_cycle, seed):
    rng = random.Random(seed)
    dut = SideUpdate(tracked, two_cycle=two_cycle)
    model = BookModel(CoreConfig(tracked_levels=tracked, exported_levels=2))
    prices = list(range(1000, 1000 + 3 * tracked))
    cases = 400

    async def testbench(ctx):
        for _ in range(cases):
            side = rng.choice(list(Side))
            levels = _random_side(rng, side, tracked, prices)
            op = rng.choice(list(LevelOp))
            price = rng.choice(prices + [levels[0][0]] * 3 if levels else prices)
            quantity = rng.choice([0, 1, rng.randrange(1 << 32), (1 << 32) - 1] +
                                  [levels[0][1]] * 2 if levels else [0, 5])
            padded = levels + [[0, 0]] * (tracked - len(levels))
            ctx.set(dut.side, side)
            ctx.set(dut.op, op)
            ctx.set(dut.price, price)
            ctx.set(dut.quantity, quantity)
            ctx.set(dut.before, {"count": len(levels),
                                 "levels": [{"price": p, "quantity": q} for p, q in padded]})
            if two_cycle:   # the comparisons are registered: the result follows a cycle later
                await ctx.tick()
            expected = [list(level) for level in levels]
            flags = model.apply_level_op(expected, side, op, price, quantity)
            after = ctx.get(dut.after)
            got = [[after.levels[i].price, after.levels[i].quantity] for i in range(tracked)]
            context = f"{side} {op} price={price} qty={quantity} before={levels}"
            assert after.count == len(expected), context
            assert got == expected + [[0, 0]] * (tracked - len(expected)), context
            assert ctx.get(dut.dropped) == ("level_dropped" in flags), context
            assert ctx.get(dut.missing) == ("level_missing" in flags), context
            assert ctx.get(dut.overflow) == ("qty_overflow" in flags), context

    sim = Simulator(dut)
    if two_cycle:
        sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
