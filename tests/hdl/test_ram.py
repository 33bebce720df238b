"""CollisionFreeMemory's promise is checked in simulation: a read of the address written in the
same cycle fails, whichever part of a row a write port with a granularity writes."""

import pytest
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.ram import CollisionFreeMemory


@pytest.mark.parametrize("ways,enable", [(1, 0b1), (2, 0b01), (2, 0b10), (2, 0b11)])
@pytest.mark.parametrize("collide", [True, False])
def test_a_read_of_the_written_address_fails_the_simulation(ways, enable, collide):
    memory = CollisionFreeMemory(shape=data.ArrayLayout(8, ways), depth=4, init=[])
    write = memory.write_port(granularity=1)
    read = memory.read_port()

    async def testbench(ctx):
        ctx.set(write.addr, 1)
        ctx.set(write.en, enable)
        ctx.set(read.addr, 1 if collide else 2)
        ctx.set(read.en, 1)
        await ctx.tick()
        await ctx.tick()

    sim = Simulator(memory)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    if collide:
        with pytest.raises(AssertionError, match="read the address written in the same cycle"):
            sim.run()
    else:
        sim.run()
