"""The pricing kernel against the golden model's pricing stage, in the Amaranth simulator.

Every test replays what ``record_stage`` saw enter the model's parameter stage: CONFIG events
are applied the way the parameter registers apply them (once the kernel is idle, with a
``restart_vwap`` pulse for an accepted ``vwap_window`` write), every other event is driven
into the kernel, and every event out is compared with the model's, ``t_out`` aside.
"""

import random
from dataclasses import replace

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, EVENT_BODY, event_layout
from tickforge.hdl.params import PARAMS, Scope, param_count
from tickforge.hdl.pricing.pricing import Pricing
from tickforge.host.bench import lobster_stream
from tickforge.host.feeds.binance import BinanceCapture, BinanceToItch
from tickforge.host.model.params import ParamStore
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.protocol import encode, event_codec
from tickforge.host.codec import encoder

from support.stages import config_writes, record_stage
from support.streams import cycle_counter


LOBSTER = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
BINANCE_SPOT = BUNDLED_DATA / "binance" / "spot" / "btcusdt_20240808_lines1-10000.gz"
SMALL = CoreConfig(symbols=3, order_sets=64, order_ways=2, tracked_levels=8, exported_levels=4)
BYTE_WIDE = replace(SMALL, width=1)   # a board's core: stage 1 in three cycles, 8 divider stages
U32 = (1 << 32) - 1
_TAGS = {"body": ("kind", EVENT_BODY)}


# --- input streams ---------------------------------------------------------------------------

def first_units(stream, count):
    """The first ``count`` units of a unit stream."""
    offset = 0
    for _ in range(count):
        offset += 2 + int.from_bytes(stream[offset:offset + 2], "big")
    return stream[:offset]


def binance_stream(path, units):
    """The first ``units`` units a replay of a Binance capture sends (prelude included)."""
    capture = BinanceCapture([path])
    converter = BinanceToItch(capture.venues)
    out = list(converter.prelude())
    for step in converter.convert(capture.records()):
        out.extend(step.units)
        if len(out) >= units:
            break
    return b"".join(out[:units])


def edge_case_stream(rng, config, count):
    """A scripted prologue that reaches every rule of the model, then a random mix."""
    level = lambda locate, side, price, qty: encode(
        "l", stock_locate=locate, side=side, price=price, quantity=qty)
    trade = lambda locate, price, shares: encode(
        "P", stock_locate=locate, buy_sell_indicator=b"B", shares=shares, price=price)
    units = [config_writes({"ema_shift": 1, "vol_shift": 15, "vwap_window": 3,
                            ("imbalance_levels", 0): 1,
                            ("imbalance_levels", 1): config.exported_levels,
                            ("imbalance_levels", 2): 2})]
    units += [encode("s", stock_locate=locate, slot=locate - 1) for locate in (1, 2, 3)]
    units += [trade(1, 500, 7), trade(1, 501, 0)]                      # trades, no book
    units += [level(1, b"B", 100 + i, 10 * i + 1) for i in range(6)]   # bids only
    units += [level(1, b"S", 110, 5), level(1, b"S", 104, 3)]          # two-sided
    units += [level(1, b"S", 102, 9), level(1, b"B", 102, 4)]          # crossed
    units += [level(1, b"B", 100 + i, 0) for i in range(6)]            # bids emptied
    units += [level(1, b"S", p, 0) for p in (102, 104, 110)]           # empty book
    units += [level(2, b"B", U32, U32), level(2, b"S", U32, U32),      # extremes
              level(2, b"B", 1, U32), level(2, b"S", U32 - 1, 1)]
    units += [config_writes({"vwap_window": 64})]
    units += [trade(2, U32 - i % 3, U32 - i % 5) for i in range(70)]  # a full 64-trade window
    units += [config_writes({"ema_shift": 15, "vol_shift": 1, "vwap_window": 1})]
    units += [trade(2, 3, 1), trade(2, U32, 2), level(2, b"B", 2, 3)]
    units += [encode("s", stock_locate=2, slot=1), level(2, b"S", 9, 9)]   # CLEAR, fresh slot
    units += [config_writes({"vwap_window": 0, ("imbalance_levels", 0): config.exported_levels
                             + 1})]                                    # refused: no restart
    units += [encode("A", stock_locate=3, order_reference_number=1, buy_sell_indicator=b"B",
                     shares=50, price=200),
              encode("A", stock_locate=3, order_reference_number=2, buy_sell_indicator=b"S",
                     shares=40, price=201),
              encode("E", stock_locate=3, order_reference_number=1, executed_shares=20),
              encode("C", stock_locate=3, order_reference_number=2, executed_shares=5,
                     printable=b"Y", execution_price=199),
              encode("C", stock_locate=3, order_reference_number=2, executed_shares=5,
                     printable=b"N", execution_price=198),
              encode("Q", stock_locate=3, shares=9, cross_price=202)]

    refs = [3]
    for _ in range(count):
        locate = rng.choice([1, 2, 3, 3, 4])                           # 4: not subscribed
        roll = rng.random()
        price = rng.choice([1, U32, rng.randrange(990, 1010)])
        qty = rng.choice([0, 1, U32, rng.randrange(1, 1000)])
        side = rng.choice([b"B", b"S"])
        if roll < 0.45:
            units.append(level(locate, side, price, qty))
        elif roll < 0.60:
            units.append(trade(locate, price, qty))
        elif roll < 0.70:
            refs.append(refs[-1] + 1)
            units.append(encode("A", stock_locate=locate, order_reference_number=refs[-1],
                                buy_sell_indicator=side, shares=max(qty, 1), price=price))
        elif roll < 0.80:
            units.append(encode("E", stock_locate=locate, order_reference_number=rng.choice(refs),
                                executed_shares=rng.choice([1, 10, U32])))
        elif roll < 0.84:
            units.append(encode("s", stock_locate=locate, slot=rng.randrange(config.symbols + 1)))
        elif roll < 0.92:
            name = rng.choice(["vwap_window", "ema_shift", "vol_shift", "imbalance_levels"])
            param = next(p for p in PARAMS if p.name == name)
            value = rng.choice([param.minimum, param.maximum, param.maximum + 1,
                                rng.randrange(param.minimum, param.maximum + 1)])
            index = rng.randrange(config.symbols) if param.scope == Scope.SLOT else 0
            units.append(config_writes({(name, index): value}))
        else:
            units.append(rng.choice([
                encode("R", stock_locate=locate, stock=b"AMZN    ", round_lot_size=100),
                encode("S", event_code=b"O"), encode("y", tag=rng.randrange(1 << 32)),
                encode("f", stock_locate=locate, side=side, shares=qty, price=price)]))
    return b"".join(units)


def recorded(config, data):
    """(events entering the parameter stage, events the pricing stage emits), with ``t_in``
    made distinct per message so the kernel is seen to carry it."""
    _, at_params = record_stage(config, data, "params")
    _, at_pricing = record_stage(config, data, "pricing")
    stamp = lambda event: event._replace(t_in=(event.seq * 2654435761 + 12345) % (1 << 32))
    return ([stamp(event) for event, _ in at_params],
            [stamp(out) for _, outs in at_pricing for out in outs])


# --- the bench -------------------------------------------------------------------------------

def param_values(store, config):
    return {param.name: store.value(param.name) if param.scope == Scope.GLOBAL
            else [store.value(param.name, index) for index in range(param_count(param, config))]
            for param in PARAMS}


def run_pricing(config, inputs, expected_count, *, idle=0.0, gap=0, backpressure=0.0, seed=0,
                divider_stages=None):
    """Drive ``inputs`` (CONFIG events applied as the parameter registers would) into a
    :class:`Pricing`; return the events it emitted (decoded), the ``now`` at which each input
    event was taken (by seq) and the ``now`` at which each output was first offered. Before
    each event the input idles ``gap`` cycles, then more with probability ``idle`` each."""
    dut = Pricing(config, divider_stages=divider_stages)
    codec = event_codec(config.exported_levels)
    pack = encoder(event_layout(config.exported_levels), _TAGS)
    i_payload, o_payload = dut.i.payload.as_value(), dut.o.payload.as_value()
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)
    store = ParamStore(config)
    restarts = []
    store.on_write["vwap_window"] = lambda: restarts.append(True)
    taken_at, offered_at, received = {}, [], []

    async def source(ctx):
        ctx.set(dut.params, param_values(store, config))
        for event in inputs:
            if event.kind == EventKind.CONFIG:
                ctx.set(dut.i.valid, 0)
                while not ctx.get(dut.idle):
                    await ctx.tick()
                store.process(event)
                ctx.set(dut.params, param_values(store, config))
                ctx.set(dut.restart_vwap, bool(restarts))
                await ctx.tick()
                ctx.set(dut.restart_vwap, 0)
                restarts.clear()
                continue
            ctx.set(dut.i.valid, 0)
            for _ in range(gap):
                await ctx.tick()
            while idle and rng_in.random() < idle:
                await ctx.tick()
            ctx.set(i_payload, pack(event))
            ctx.set(dut.i.valid, 1)
            while True:
                _, _, ready, now = await ctx.tick().sample(dut.i.ready, dut.now)
                if ready:
                    taken_at.setdefault(event.seq, now)
                    break
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        held = None    # the payload offered and not taken last cycle
        cycles = 0
        while len(received) < expected_count:
            valid_before = ctx.get(dut.o.valid)
            ready = not (backpressure and rng_out.random() < backpressure)
            ctx.set(dut.o.ready, ready)
            assert ctx.get(dut.o.valid) == valid_before, "o.valid depends on o.ready"
            _, _, valid, payload, now, idle_now = await ctx.tick().sample(
                dut.o.valid, o_payload, dut.now, dut.idle)
            assert not (valid and idle_now), "idle while an event waits at the output"
            cycles += 1
            assert cycles < 50 * expected_count + 1000, f"stuck after {len(received)} events"
            if held is not None:
                assert valid and payload == held, "o changed before it was taken"
            elif valid:
                offered_at.append(now)
            if valid:
                held = None if ready else payload
                if ready:
                    received.append(payload)
        ctx.set(dut.o.ready, 1)
        for _ in range(2 * dut.price_latency + 10):   # nothing more comes out, it goes idle
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "an event more than the model's"
        assert ctx.get(dut.idle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return [codec.decode(raw) for raw in received], taken_at, offered_at


def check_against_model(config, expected, got, offered_at):
    """Every event as the model's (decoded both through the same codec), stamped when offered."""
    codec = event_codec(config.exported_levels)
    pack = encoder(event_layout(config.exported_levels), _TAGS)
    assert len(got) == len(expected)
    for index, (model_event, have, offered) in enumerate(zip(expected, got, offered_at)):
        want = codec.decode(pack(model_event))
        assert have.t_out == offered, f"event {index}: t_out is not the cycle it was offered"
        assert have._replace(t_out=0) == want, \
            f"event {index} (seq {want.seq}, {want.kind.name}):\n got  {have}\n want {want}"


def check(config, data, *, seed, idle=0.0, backpressure=0.0, divider_stages=None):
    inputs, expected = recorded(config, data)
    got, _, offered_at = run_pricing(config, inputs, len(expected), idle=idle,
                                     backpressure=backpressure, seed=seed,
                                     divider_stages=divider_stages)
    check_against_model(config, expected, got, offered_at)
    return expected


# --- tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("idle,backpressure", [(0.0, 0.0), (0.3, 0.4)])
def test_pricing_matches_model_on_lobster(idle, backpressure, seed):
    stream, _ = lobster_stream(LOBSTER)
    expected = check(CoreConfig(), first_units(stream, 1200), seed=seed, idle=idle,
                     backpressure=backpressure)
    prices = [e.body for e in expected if e.kind == EventKind.PRICE]
    assert sum(p.two_sided for p in prices) > 1000 and any(p.vwap_valid for p in prices)


def test_pricing_matches_model_on_binance(seed):
    expected = check(CoreConfig(), binance_stream(BINANCE_SPOT, 700), seed=seed, idle=0.2,
                     backpressure=0.3)
    prices = [e.body for e in expected if e.kind == EventKind.PRICE]
    assert any(p.two_sided for p in prices) and any(p.trade_qty for p in prices)


@pytest.mark.parametrize("config,divider_stages,idle,backpressure", [
    (SMALL, 3, 0.0, 0.0), (SMALL, 3, 0.3, 0.5), (SMALL, 1, 0.1, 0.2), (SMALL, 5, 0.2, 0.2),
    (BYTE_WIDE, None, 0.0, 0.0), (BYTE_WIDE, None, 0.2, 0.3)], ids=[
    "3-stages", "3-stages-stalls", "1-stage", "5-stages", "byte-wide", "byte-wide-stalls"])
def test_pricing_matches_model_on_edge_cases(config, divider_stages, idle, backpressure, seed):
    data = edge_case_stream(random.Random(seed), config, 700)
    expected = check(config, data, seed=seed, idle=idle, backpressure=backpressure,
                     divider_stages=divider_stages)
    prices = [e.body for e in expected if e.kind == EventKind.PRICE]
    kinds = {e.kind for e in expected}
    reached = {   # the stream really reached every rule
        "one-sided": any(p.bid_qty and not p.ask_qty for p in prices),
        "empty": any(not p.bid_qty and not p.ask_qty for p in prices),
        "crossed": any(p.crossed for p in prices),
        "imbalance -1": any(p.imbalance == -(1 << 16) for p in prices),
        "imbalance +1": any(p.imbalance == 1 << 16 for p in prices),
        "huge vwap": any(p.vwap == U32 << 16 for p in prices),
        "huge trade": any(p.trade_qty == U32 and p.trade_price == U32 for p in prices),
        "zero trade": any(p.trade_qty == 0 and not p.two_sided for p in prices),
        "vol": any(p.vol for p in prices),
        "clear": EventKind.CLEAR in kinds,
        "pass-through": {EventKind.DIRECTORY, EventKind.SYSTEM, EventKind.STATUS,
                         EventKind.FILL} <= kinds,
    }
    assert all(reached.values()), [name for name, hit in reached.items() if not hit]


def latency_stream(events):
    """A subscription, then book changes, trades and pass-through events on slot 0."""
    units = [encode("s", stock_locate=1, slot=0)]
    for i in range(events):
        units.append([encode("l", stock_locate=1, side=b"BS"[i % 2:i % 2 + 1],
                             price=1000 + (i % 2) * 10 + i % 5, quantity=1 + i),
                      encode("P", stock_locate=1, buy_sell_indicator=b"B", shares=3, price=1004),
                      encode("R", stock_locate=1, stock=b"AMZN    ", round_lot_size=1)][i % 3])
    return b"".join(units)


@pytest.mark.parametrize("config,divider_stages,price_latency", [
    (SMALL, 1, 3), (SMALL, 3, 5), (BYTE_WIDE, None, 12)])
def test_pricing_latency(config, divider_stages, price_latency):
    """An event is offered 2 cycles after it is taken, a PRICE ``divider_stages + 2`` (at width
    1, 8 stages and two more cycles of stage 1)."""
    inputs, expected = recorded(config, latency_stream(30))
    got, taken_at, offered_at = run_pricing(config, inputs, len(expected), gap=30,
                                            divider_stages=divider_stages)
    check_against_model(config, expected, got, offered_at)
    assert Pricing(config, divider_stages=divider_stages).price_latency == price_latency
    for event in got:
        latency = event.t_out - taken_at[event.seq]
        if event.kind == EventKind.PRICE:
            assert latency == price_latency, f"PRICE of seq {event.seq}"
        else:
            assert latency == 2, f"{event.kind.name} of seq {event.seq}"


def throughput_stream():
    """Book changes and trades of one slot, then pass-through events."""
    units = [encode("s", stock_locate=1, slot=0)]
    units += [encode("l", stock_locate=1, side=b"BS"[i % 2:i % 2 + 1], price=1000 + 20 * (i % 2)
                     + i % 7, quantity=i + 1) for i in range(60)]
    units += [encode("P", stock_locate=1, buy_sell_indicator=b"S", shares=i + 1, price=1010)
              for i in range(40)]
    units += [encode("R", stock_locate=7, stock=b"AMZN    ", round_lot_size=i) for i in range(60)]
    return b"".join(units)


def test_byte_wide_pricing_takes_a_book_or_trade_every_3_cycles():
    """At width 1 stage 1 takes three cycles and nothing is taken meanwhile: full rate in, a
    BOOK or TRADE is taken exactly every 3 cycles, no sooner (the state would be stale) and no
    later."""
    inputs, expected = recorded(BYTE_WIDE, throughput_stream())
    got, taken_at, offered_at = run_pricing(BYTE_WIDE, inputs, len(expected))
    check_against_model(BYTE_WIDE, expected, got, offered_at)
    priced = [taken_at[event.seq] for event in inputs
              if event.kind in (EventKind.BOOK, EventKind.TRADE)]
    assert {later - earlier for earlier, later in zip(priced, priced[1:])} == {3}


def test_pricing_throughput():
    """Full rate in, always ready out: a BOOK or TRADE every 2 cycles with the output busy every
    cycle once the first PRICE is out; other events one per cycle."""
    inputs, expected = recorded(SMALL, throughput_stream())
    got, taken_at, offered_at = run_pricing(SMALL, inputs, len(expected))
    check_against_model(SMALL, expected, got, offered_at)

    priced = [event.seq for event in inputs if event.kind in (EventKind.BOOK, EventKind.TRADE)]
    others = [event.seq for event in inputs if event.kind == EventKind.DIRECTORY]
    assert taken_at[priced[-1]] - taken_at[priced[0]] <= 2 * (len(priced) - 1)
    steady = others[10:]   # once the queue holds no more PRICEs
    assert taken_at[steady[-1]] - taken_at[steady[0]] == len(steady) - 1
    first_price = next(i for i, e in enumerate(got) if e.kind == EventKind.PRICE)
    busy = offered_at[first_price:]
    assert busy == list(range(busy[0], busy[0] + len(busy))), "the output idled"


def test_pricing_rejects_bad_divider_stages():
    for stages in (0, 18, 2.0):
        with pytest.raises(ValueError, match="divider_stages"):
            Pricing(SMALL, divider_stages=stages)


def test_pricing_converts_to_verilog():
    text = verilog.convert(Pricing(CoreConfig()), name="pricing")
    for port in ("i__payload", "o__ready", "restart_vwap", "idle", "now"):
        assert port in text
