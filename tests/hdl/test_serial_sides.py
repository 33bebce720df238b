"""The one-slot book's byte-serial sides against the golden model's level rules, over random
sequences of steps on both sides (so full, empty and saturated sides all arise)."""

import random

import pytest
from amaranth.sim import Simulator

from tickforge.hdl.book.levels import LevelOp
from tickforge.hdl.book.serial import SerialSides
from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import Side
from tickforge.host.model.book import BookModel


@pytest.mark.parametrize("tracked,exported,steps", [(2, 1, 600), (3, 3, 600), (5, 2, 600),
                                                    (16, 1, 3000)])   # the last: the boards'
def test_serial_sides_match_model(tracked, exported, steps, seed):
    rng = random.Random(seed)
    dut = SerialSides(tracked, exported)
    model = BookModel(CoreConfig(tracked_levels=tracked, exported_levels=exported))
    sides = {Side.BID: [], Side.ASK: []}
    prices = [1000 + i for i in range(tracked + 2)] + [0x01020304, 0xFFFFFFFF, 0]
    quantities = [0, 1, 7, 0x0100, 0xFFFFFF00, (1 << 32) - 1]
    seen = {"level_dropped": 0, "level_missing": 0, "qty_overflow": 0, "full": 0}

    async def step(ctx, **inputs):
        for name, value in inputs.items():
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycles = 0
        while not ctx.get(dut.done):
            await ctx.tick()
            cycles += 1
            assert cycles < 20 * tracked + 16 * exported + 40, f"no done after {inputs}"

    async def testbench(ctx):
        for _ in range(steps):
            side = rng.choice(list(Side))
            if rng.random() < 0.005:
                await step(ctx, clear=1, changes=0, side=side)
                sides[Side.BID].clear()
                sides[Side.ASK].clear()
                assert ctx.get(dut.count) == 0
                continue
            changes = rng.random() < 0.9
            op = rng.choices(list(LevelOp), weights=[5, 2, 3])[0]   # ADD, REMOVE, SET: sides fill
            levels = sides[side]
            price = rng.choice(prices + [level[0] for level in levels] * 2)
            quantity = rng.choice(quantities + [level[1] for level in levels])
            before = [list(level) for level in levels]
            flags = set()
            if changes:
                flags = model.apply_level_op(levels, side, op, price, quantity)
            await step(ctx, clear=0, changes=changes, side=side, op=op, price=price,
                       quantity=quantity)
            context = f"{side} {op} price={price} qty={quantity} changes={changes} " \
                      f"before={before}"
            shown = levels[:exported] + [[0, 0]] * (exported - len(levels[:exported]))
            got = ctx.get(dut.levels)
            assert [[level.price, level.quantity] for level in got] == shown, context
            assert ctx.get(dut.count) == len(levels), context
            for flag, port in (("level_dropped", dut.dropped), ("level_missing", dut.missing),
                               ("qty_overflow", dut.overflow)):
                assert ctx.get(port) == (flag in flags), context
                seen[flag] += flag in flags
            seen["full"] += len(levels) == tracked

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert all(seen.values()), seen   # every rule was reached
