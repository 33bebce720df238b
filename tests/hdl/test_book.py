"""The order book kernel against the golden model, in the Amaranth simulator."""

import random
from dataclasses import replace

import pytest
from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import MessageKind, Side, ParsedMessage, PARSED_BODY, EventKind
from tickforge.hdl.book.book import OrderBook
from tickforge.host.model.book import BookModel
from tickforge.host.protocol import PARSED, event_codec

from support.streams import to_fields, drive, collect, as_int, cycle_counter


_Parsed = PARSED.records["Parsed"]
_Order = PARSED.records["OrderFields"]
_Directory = PARSED.records["DirectoryFields"]
_Status = PARSED.records["status"]
_ParserCounters = PARSED.records["ParserCounters"]
_Config = PARSED.records["ConfigFields"]

SMALL = CoreConfig(width=8, symbols=3, order_sets=8, order_ways=2, tracked_levels=4,
                   exported_levels=3)


def random_messages(rng, config, count, locates=(7, 8, 9, 7, 8, 9, 10)):
    """A message mix that reaches every rule: duplicates, full sets, unknown references,
    overexecutions, levels past the tracked depth, saturating quantities, bad slots."""
    live = []
    messages = []
    prices = [100 + i for i in range(3 * config.tracked_levels)]

    def order(**fields):
        base = dict(ref=0, new_ref=0, side=Side.BID, shares=0, price=0, has_price=0, printable=0)
        base.update(fields)
        return _Order(**base)

    def scripted():
        """A prologue that raises every flag and counter once, whatever the seed."""
        top = (1 << 32) - 1
        yield MessageKind.SUBSCRIBE, 7, 0
        yield MessageKind.SUBSCRIBE, 8, 1
        yield MessageKind.SUBSCRIBE, 9, 2
        yield MessageKind.SUBSCRIBE, 9, config.symbols + 5                 # config error
        yield MessageKind.LEVEL, 7, order(side=Side.BID, price=100, shares=top)
        yield MessageKind.ADD, 7, order(ref=1, side=Side.BID, price=100, shares=5)  # overflow
        yield MessageKind.EXECUTE, 7, order(ref=999, shares=1)            # unknown reference
        yield MessageKind.ADD, 7, order(ref=1, side=Side.ASK, price=100, shares=5)  # duplicate
        yield MessageKind.CANCEL, 7, order(ref=1, shares=10)              # overexecution
        for price in range(101, 101 + config.tracked_levels + 1):         # level dropped
            yield MessageKind.LEVEL, 8, order(side=Side.ASK, price=price, shares=3)
        yield MessageKind.ADD, 8, order(ref=2, side=Side.BID, price=90, shares=10)
        yield MessageKind.LEVEL, 8, order(side=Side.BID, price=90, shares=0)
        yield MessageKind.DELETE, 8, order(ref=2)                         # level missing
        for way in range(config.order_ways + 1):                          # table full
            yield MessageKind.ADD, 9, order(ref=3 + way * config.order_sets, side=Side.BID,
                                            price=95, shares=1)
        yield MessageKind.ADD, 99, order(ref=50, side=Side.BID, price=95, shares=1)  # unsubscribed

    for kind, locate, body in scripted():
        messages.append(_Parsed(kind=kind, seq=len(messages), t_in=0, locate=locate,
                                timestamp=len(messages), body=body))
    for seq in range(len(messages), count):
        roll = rng.random()
        locate = rng.choice(locates)
        ref = rng.choice(live) if live and rng.random() < 0.8 else rng.randrange(1, 40)
        if roll < 0.01:
            kind, body = MessageKind.SUBSCRIBE, rng.choice([0, 1, 2, 2, config.symbols + 1])
        elif roll < 0.40:
            ref = rng.randrange(1, 40)
            kind, body = MessageKind.ADD, order(
                ref=ref, side=rng.choice(list(Side)), price=rng.choice(prices),
                shares=rng.choice([1, 100, 1 << 31, rng.randrange(1, 1 << 32)]))
            live.append(ref)
        elif roll < 0.52:
            kind, body = MessageKind.EXECUTE, order(
                ref=ref, shares=rng.choice([0, 1, 50, 5000]), printable=rng.randrange(2),
                has_price=int(rng.random() < 0.3), price=rng.choice(prices))
        elif roll < 0.62:
            kind, body = MessageKind.CANCEL, order(ref=ref, shares=rng.choice([1, 30, 1 << 31]))
        elif roll < 0.72:
            kind, body = MessageKind.DELETE, order(ref=ref)
        elif roll < 0.80:
            new_ref = rng.randrange(1, 40)
            kind, body = MessageKind.REPLACE, order(ref=ref, new_ref=new_ref,
                                                    price=rng.choice(prices),
                                                    shares=rng.randrange(1, 500))
            live.append(new_ref)
        elif roll < 0.88:
            kind, body = MessageKind.LEVEL, order(side=rng.choice(list(Side)),
                                                  price=rng.choice(prices),
                                                  shares=rng.choice([0, 1, 77, (1 << 32) - 1]))
        elif roll < 0.91:
            kind, body = MessageKind.TRADE, order(side=rng.choice(list(Side)),
                                                  price=rng.choice(prices), shares=9, printable=1)
        elif roll < 0.94:
            kind, body = MessageKind.DIRECTORY, _Directory(stock=b"AMZN    ", round_lot_size=100)
        elif roll < 0.95:
            kind, body = MessageKind.SYSTEM, ord("O")
        elif roll < 0.96:
            kind, body = MessageKind.FILL, order(side=rng.choice(list(Side)), shares=7,
                                                 price=rng.choice(prices))
        elif roll < 0.97:
            kind, body = MessageKind.CONFIG, _Config(parameter=rng.randrange(1 << 16),
                                                     index=rng.randrange(256),
                                                     value=rng.randrange(1 << 64))
        else:
            kind, body = MessageKind.STATUS, _Status(
                tag=seq, parser=_ParserCounters(*(rng.randrange(1 << 32) for _ in range(5))))
        messages.append(_Parsed(kind=kind, seq=seq, t_in=rng.randrange(1 << 32), locate=locate,
                                timestamp=rng.randrange(1 << 48),
                                body=body))
    return messages


def untimed(event):
    return event._replace(t_out=0)


def run_book(config, messages, *, idle=0.0, backpressure=0.0, seed=0):
    model = BookModel(config)
    expected = [e for e in (model.process(m) for m in messages) if e is not None]
    dut = OrderBook(config)
    codec = event_codec(config.exported_levels)
    tags = {"body": ("kind", PARSED_BODY)}
    result = {}

    async def source(ctx):
        await drive(ctx, dut.i, [to_fields(m, tags) for m in messages], idle=idle,
                    rng=random.Random(seed))

    async def sink(ctx):
        result["events"] = await collect(ctx, dut.o, len(expected), backpressure=backpressure,
                                         rng=random.Random(seed + 1))
        for _ in range(20):  # nothing more may come out
            assert not ctx.get(dut.o.valid)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    got = [codec.decode(raw) for raw in result["events"]]
    return expected, got, model


@pytest.mark.parametrize("width", [8, 1])   # 1: the two-cycle stages of a board's book
@pytest.mark.parametrize("idle,backpressure", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (0.4, 0.4)])
def test_book_matches_model_on_random_messages(width, idle, backpressure, seed):
    config = replace(SMALL, width=width)
    messages = random_messages(random.Random(seed), config, 1500)
    expected, got, model = run_book(config, messages, idle=idle, backpressure=backpressure,
                                    seed=seed)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        assert untimed(have) == want, f"seq {want.seq}"
    counters = model.counters  # the mix really reached every rule
    for name in ("unsubscribed", "unknown_refs", "duplicate_refs", "table_full", "level_drops",
                 "level_misses", "overexecutions", "qty_overflows", "config_errors"):
        assert counters[name] > 0, name


@pytest.mark.parametrize("width", [8, 1])
def test_one_slot_book_matches_model(width, seed):
    """With one slot the sides are registers read in place, not RAMs; at width 1 the book also
    holds its message and keeps its sides in a SerialSides (the iCEBreaker's book): the same
    events, under back-pressure too."""
    config = replace(SMALL, width=width, symbols=1)
    messages = random_messages(random.Random(seed), config, 1500, locates=(7, 7, 7, 8))
    expected, got, model = run_book(config, messages, idle=0.2, backpressure=0.4, seed=seed)
    assert [untimed(event) for event in got] == expected
    counters = model.counters  # the one slot really was subscribed, filled and overrun
    for name in ("unsubscribed", "unknown_refs", "duplicate_refs", "table_full", "level_drops",
                 "level_misses", "overexecutions", "config_errors"):
        assert counters[name] > 0, name


@pytest.mark.parametrize("width,match,interval,latency", [(8, 1, 1, 3), (1, 2, 3, 6)])
def test_book_throughput_and_latency(width, match, interval, latency):
    """A message every cycle, each event 3 cycles after its message; at width 1 (a two-cycle
    match, a three-cycle update) a message every 3 cycles at most, 6 cycles after it (7 when
    the update ahead holds it)."""
    config = CoreConfig(width=width, symbols=2, order_sets=64, order_ways=2, tracked_levels=8,
                        exported_levels=4)
    rng = random.Random(3)
    messages = [_Parsed(kind=MessageKind.SUBSCRIBE, seq=0, t_in=0, locate=5, timestamp=0,
                        body=0)]
    for ref in range(1, 120):
        kind = rng.choice([MessageKind.ADD, MessageKind.ADD, MessageKind.EXECUTE,
                           MessageKind.CANCEL, MessageKind.DELETE, MessageKind.LEVEL])
        body = _Order(ref=ref if kind == MessageKind.ADD else rng.randrange(1, ref + 1),
                      new_ref=0, side=rng.choice(list(Side)), shares=rng.randrange(1, 300),
                      price=rng.randrange(100, 110), has_price=0, printable=1)
        messages.append(_Parsed(kind=kind, seq=len(messages), t_in=0, locate=5,
                                timestamp=len(messages), body=body))
    model = BookModel(config)
    expected = {e.seq: e for e in (model.process(m) for m in messages) if e is not None}
    dut = OrderBook(config)
    codec = event_codec(config.exported_levels)
    accepted = {}
    waits = []
    events = []

    async def source(ctx):
        ctx.set(dut.o.ready, 1)
        for message in messages:
            ctx.set(dut.i.payload, to_fields(message, {"body": ("kind", PARSED_BODY)}))
            ctx.set(dut.i.valid, 1)
            # the first message finds the book idle, the second waits for the first's match,
            # each later one for the update ahead of it
            wait = 1 if message.seq == 0 else match if message.seq == 1 else interval
            for waited in range(wait):
                _, _, ready, now, o_valid, o_payload = await ctx.tick().sample(
                    dut.i.ready, dut.now, dut.o.valid, dut.o.payload)
                if o_valid:
                    events.append(codec.decode(as_int(o_payload)))
                assert ready or waited < wait - 1, f"seq {message.seq} not taken in {wait} cycles"
                if ready:
                    waits.append(waited + 1)
                    break
            accepted[message.seq] = now
        ctx.set(dut.i.valid, 0)
        for _ in range(latency + 1):
            _, _, o_valid, o_payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if o_valid:
                events.append(codec.decode(as_int(o_payload)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_testbench(source)
    sim.run()
    assert max(waits[2:]) == interval   # the bound is reached, not only kept
    assert [e.seq for e in events] == sorted(expected)
    for event in events:
        assert event._replace(t_out=0) == expected[event.seq]
        # a message taken as the one ahead leaves the match waits there while that one's
        # update takes its longer stage
        took = event.t_out - accepted[event.seq]
        assert latency <= took <= latency + interval - match, f"latency of seq {event.seq}"
    assert events[0].t_out - accepted[0] == latency   # the first finds the book idle


@pytest.mark.parametrize("width", [1, 8])
def test_input_ready_waits_on_output_ready_only_at_width_8(width, seed):
    """At width 1 (the boards') ``i.ready`` follows the book's registers alone: the ready chain
    from the link stops at the book. At width 8 it passes through, for one message a cycle."""
    config = replace(SMALL, width=width)
    messages = random_messages(random.Random(seed), config, 400)
    dut = OrderBook(config)
    rng = random.Random(seed)
    tags = {"body": ("kind", PARSED_BODY)}
    seen = {"dependent": 0, "stalled": 0}

    async def testbench(ctx):
        pending = list(messages)
        while pending:
            ctx.set(dut.i.payload, to_fields(pending[0], tags))
            ctx.set(dut.i.valid, 1)
            readies = set()
            for o_ready in (0, 1):
                ctx.set(dut.o.ready, o_ready)
                readies.add(ctx.get(dut.i.ready))
            seen["dependent"] += len(readies) > 1
            o_ready = rng.random() < 0.5
            ctx.set(dut.o.ready, o_ready)
            seen["stalled"] += ctx.get(dut.o.valid) and not o_ready
            if ctx.get(dut.i.ready):
                pending.pop(0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen["stalled"] > 100            # the output really held the book back
    assert (seen["dependent"] > 0) == (width == 8)
