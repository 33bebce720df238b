"""The parameter registers and the output filter against the golden model."""

import random

from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.control import ParamStore, EventFilter
from tickforge.hdl.layouts import EventKind, EVENT_BODY
from tickforge.hdl.params import PARAMS, PARAM_BY_NAME, EventMask, Scope, param_count
from tickforge.host.model.core import CoreModel
from tickforge.host.model.events import EventFactory
from tickforge.host.model.params import ParamStore as ParamModel

from support.streams import to_fields

CONFIG = CoreConfig(symbols=3, exported_levels=4, tracked_levels=6, order_sets=4)
TAGS = {"body": ("kind", EVENT_BODY)}
VWAP_WINDOW = PARAM_BY_NAME["vwap_window"].number


def _random_write(rng, events):
    param = rng.choice(PARAMS)
    index = rng.choice([0, rng.randrange(param_count(param, CONFIG) + 1), 255])
    value = rng.choice([param.minimum, param.maximum, param.maximum + 1, param.default,
                        rng.randrange(param.maximum + 2), rng.randrange(1 << 64)])
    value %= 1 << 64  # what the 8-byte wire field can carry
    if rng.random() < 0.05:
        number = rng.randrange(1 << 16)  # mostly not a parameter
    else:
        number = param.number
    return events.Event(kind=EventKind.CONFIG, seq=0, t_in=0, t_out=0, timestamp=0,
                        body=events.ConfigFields(parameter=number, index=index, value=value))


def test_param_store_takes_what_the_model_takes_and_waits_for_idle_kernels(seed):
    rng = random.Random(seed)
    events = EventFactory(CONFIG)
    writes = [_random_write(rng, events) for _ in range(400)]
    model = ParamModel(CONFIG)
    dut = ParamStore(CONFIG)

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for write in writes:
            ctx.set(dut.i.payload, to_fields(write, TAGS))
            ctx.set(dut.i.valid, 1)
            busy = rng.randrange(3)
            for _ in range(busy):  # kernels busy: the write must wait
                ctx.set(dut.downstream_idle, 0)
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                assert not ready
            ctx.set(dut.downstream_idle, 1)
            _, _, ready, restart = await ctx.tick().sample(dut.i.ready, dut.restart_vwap)
            assert ready
            errors = model.errors
            assert model.process(write) == []
            written = model.errors == errors
            assert ctx.get(dut.errors) == model.errors, f"error count differs after {write.body}"
            assert restart == (written and write.body.parameter == VWAP_WINDOW)
            params = ctx.get(dut.params)
            for param in PARAMS:
                register = getattr(params, param.name)
                for index in range(param_count(param, CONFIG)):
                    got = register if param.scope == Scope.GLOBAL else register[index]
                    assert got == model.value(param.name, index), param.name
        assert model.errors > 20

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def test_event_filter_sends_only_what_the_mask_allows(seed):
    rng = random.Random(seed)
    model = CoreModel(CONFIG)
    events = EventFactory(CONFIG)
    dut = EventFilter(CONFIG)
    kinds = list(EventKind)

    async def testbench(ctx):
        for _ in range(300):
            mask = rng.choice([EventMask.ALL, 0, rng.randrange(256)])
            model.params.write(0, 0, mask)
            kind = rng.choice(kinds)
            event = events.Event(kind=kind, seq=rng.randrange(99), t_in=0, t_out=0,
                                 timestamp=0, body=None)
            ctx.set(dut.event_mask, mask)
            ctx.set(dut.i.payload, {"kind": kind, "seq": event.seq})
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.o.ready, rng.randrange(2))
            sent = model.output(event) == [event]
            assert ctx.get(dut.o.valid) == sent, (kind, mask)
            assert ctx.get(dut.i.ready) == (ctx.get(dut.o.ready) or not sent)

    sim = Simulator(dut)  # combinational: no clock
    sim.add_testbench(testbench)
    sim.run()
