"""The signal kernels against the golden model's signals stage, in the Amaranth simulator.

Every test drives :class:`SignalKernels` with the events that entered the model's signals
stage and scores every event it emits against what the model emitted (``t_out`` aside). The
model proposes from the risk gate's inventory and live quotes as they stood when it took each
PRICE; a stand-in risk gate presents exactly those values, but only while they are true (every
earlier event has left the kernel and the gate is idle), and random values otherwise, so a
kernel that reads them at the wrong moment fails.
"""

import bisect
import glob
import random
from unittest import mock

import pytest
from amaranth.back import verilog
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, Side, SignalReason, EVENT_BODY, event_layout
from tickforge.hdl.params import (PARAMS, PARAM_BY_NAME, Scope, NO_ASSET, ASSETS, param_count,
                                   params_layout)
from tickforge.hdl.signals.kernels import (SignalKernels, ARBITRAGE_DIVIDER_STAGES,
                                           live_quotes_layout)
from tickforge.host.bench import lobster_stream
from tickforge.host.feeds.binance import BinanceCapture, BinanceToItch
from tickforge.host.model.events import EventFactory
from tickforge.host.model.params import ParamStore
from tickforge.host.model.signals import SignalModel
from tickforge.host.paths import REPO
from tickforge.host.protocol import event_codec
from tickforge.host.codec import encoder

from support.stages import config_writes, record_stage
from support.streams import cycle_counter


LOBSTER = REPO / "tests/data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
BINANCE = sorted(glob.glob(str(REPO / "tests/data/binance/*/*0808*.gz")))

SMALL = CoreConfig(symbols=4, order_sets=256, order_ways=2, tracked_levels=4, exported_levels=3)
_U32 = (1 << 32) - 1


# --- values as raw bits, fast (``Layout.const`` is far too slow for every event of a run) --------

class Step:
    """One event into the signals stage: what came out, and the parameters and risk state the
    stage read (the risk state only for a PRICE)."""
    __slots__ = ("event", "outs", "params", "inventory", "live")

    def __init__(self, event, outs, params, inventory=None, live=None):
        self.event, self.outs, self.params = event, outs, params
        self.inventory, self.live = inventory, live


def param_values(store):
    """Every parameter of a ParamStore as the ``params`` port takes it."""
    return {param.name: store.value(param.name) if param.scope == Scope.GLOBAL else
            [store.value(param.name, index) for index in range(param_count(param, store.config))]
            for param in PARAMS}


def risk_state(risk):
    """A risk gate's inventory and live quotes, as :func:`encoder` takes them for the
    ``inventory`` and ``live`` ports."""
    live = [[{"valid": 1, "price": quote[0], "qty": quote[1]} if quote else
             {"valid": 0, "price": 0, "qty": 0} for quote in sides] for sides in risk.live]
    return list(risk.inventory), live


def record(config, stream):
    """Run the whole model on the unit ``stream``; the signals stage's steps. Steps under
    the same parameters share one ``params`` dict."""
    snapshots = []
    process = SignalModel.process

    def snapshot(self, event):
        params = param_values(self.params)
        if snapshots and snapshots[-1][0] == params:
            params = snapshots[-1][0]
        state = risk_state(self.risk) if event.kind == EventKind.PRICE else (None, None)
        snapshots.append((params, *state))
        return process(self, event)

    with mock.patch.object(SignalModel, "process", snapshot):
        _, seen = record_stage(config, stream, "signals")
    return [Step(event, outs, *state) for (event, outs), state in zip(seen, snapshots)]


# --- the kernel in the simulator -----------------------------------------------------------------

def _stamp(event):
    """A recognisable t_in per message (the model leaves it 0), to see it passed through."""
    return event._replace(t_in=(event.seq * 2654435761 + 12345) & _U32, t_out=0)


def run_kernel(config, steps, *, idle=0.0, backpressure=0.0, risk_delay=0, seed=0):
    """Drive ``steps`` through the kernel with random idle input cycles, back-pressure and
    risk gate delays; returns (expected, got) decoded events, ``t_out`` cleared."""
    codec = event_codec(config.exported_levels)
    event_bits = encoder(event_layout(config.exported_levels), {"body": ("kind", EVENT_BODY)})
    params_bits = encoder(params_layout(config))
    inventory_bits = encoder(data.ArrayLayout(signed(32), config.symbols))
    live_bits = encoder(live_quotes_layout(config))

    # through the codec both ways, as the kernel's events are (it reads signed fields as
    # unsigned ones)
    expected = [codec.decode(event_bits(_stamp(out))) for step in steps for out in step.outs]
    inputs = [event_bits(_stamp(step.event)) for step in steps]
    params_by_id = {id(step.params): step.params for step in steps}
    params_by_id = {key: params_bits(value) for key, value in params_by_id.items()}
    params = [params_by_id[id(step.params)] for step in steps]
    price_positions = [index for index, event in enumerate(expected)
                       if event.kind == EventKind.PRICE]
    risk_states = [(inventory_bits(step.inventory), live_bits(step.live))
                   for step in steps if step.event.kind == EventKind.PRICE]
    assert len(risk_states) == len(price_positions)
    dut = SignalKernels(config)
    got = []
    sent = []   # set once the source has sent everything

    async def source(ctx):
        rng = random.Random(seed)
        applied = None
        for event, wanted in zip(inputs, params):
            if wanted != applied:   # parameters change only while the kernel holds nothing
                ctx.set(dut.i.valid, 0)
                await ctx.tick().until(dut.idle)
                ctx.set(dut.params.as_value(), wanted)
                applied = wanted
            while idle and rng.random() < idle:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), event)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        sent.append(True)

    async def risk_gate(ctx):
        """Busy for 1 to ``1 + risk_delay`` cycles after each event it receives; presents a
        PRICE's recorded state once everything before that PRICE has left and it is idle."""
        rng = random.Random(seed + 1)
        left = 0        # events taken from the kernel
        wait = 0        # cycles until the gate is idle again
        shown = None    # the PRICE whose state is presented, or None for random values
        while True:
            ctx.set(dut.risk_idle, wait == 0)
            upcoming = bisect.bisect_left(price_positions, left)
            true = (wait == 0 and upcoming < len(risk_states) and
                    price_positions[upcoming] == left)
            if true and shown != upcoming:
                inventory, live = risk_states[upcoming]
                ctx.set(dut.inventory.as_value(), inventory)
                ctx.set(dut.live.as_value(), live)
                shown = upcoming
            elif not true and shown is not None:
                ctx.set(dut.inventory.as_value(), rng.getrandbits(len(dut.inventory.as_value())))
                ctx.set(dut.live.as_value(), rng.getrandbits(len(dut.live.as_value())))
                shown = None
            _, _, valid, ready = await ctx.tick().sample(dut.o.valid, dut.o.ready)
            if valid and ready:
                left += 1
                wait = 1 + rng.randrange(risk_delay + 1)
            elif wait:
                wait -= 1

    async def sink(ctx):
        """Takes every event, with random back-pressure; checks the stream rules: an offered
        event stays offered, unchanged, until taken."""
        rng = random.Random(seed + 2)
        waiting = None
        quiet = 0   # cycles the kernel has been idle since the source finished
        for _ in range(40 * len(expected) + 1000):
            if len(got) == len(expected) or quiet == 20:
                break
            ready = not (backpressure and rng.random() < backpressure)
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload, idle_now = await ctx.tick().sample(
                dut.o.valid, dut.o.payload.as_value(), dut.idle)
            quiet = quiet + 1 if sent and idle_now else 0
            if waiting is not None:
                assert valid and payload == waiting, "an offered event was withdrawn or changed"
            waiting = None
            if valid:
                if ready:
                    got.append(codec.decode(payload))
                else:
                    waiting = payload
        ctx.set(dut.o.ready, 1)
        for _ in range(ARBITRAGE_DIVIDER_STAGES + 10):   # nothing more may come out
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "an event the model did not emit"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_process(risk_gate)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return expected, [event._replace(t_out=0) for event in got]


def assert_matches(expected, got):
    for index, (want, have) in enumerate(zip(expected, got)):
        assert have == want, f"event {index} (seq {want.seq}): got {have}, want {want}"
    assert len(got) == len(expected), f"{len(got)} events, want {len(expected)}"


# --- real data -----------------------------------------------------------------------------------

def lobster_steps(messages):
    """The first ``messages`` LOBSTER units with imbalance and quotes on, and paper fills."""
    stream, _ = lobster_stream(LOBSTER)
    units, offset = [], 0
    while offset < len(stream) and len(units) < messages:
        length = int.from_bytes(stream[offset:offset + 2], "big")
        units.append(stream[offset:offset + 2 + length])
        offset += 2 + length
    settings = {"paper_fills": 1,
                ("imb_enable", 0): 1, ("imb_enter", 0): 3 << 14, ("imb_exit", 0): 1 << 14,
                ("imb_qty", 0): 100,
                ("mm_enable", 0): 1, ("mm_half_spread", 0): 300 << 16,   # 3 cents
                ("mm_vol_mult", 0): 512, ("mm_skew", 0): 1 << 14,        # 1/4 unit per share
                ("mm_qty", 0): 100}
    return record(SMALL, config_writes(settings) + b"".join(units))


# (units, idle input cycles, back-pressure, most risk gate cycles per event)
REAL_DATA_RUNS = [(3000, 0.0, 0.0, 0), (1000, 0.3, 0.4, 3)]


@pytest.mark.parametrize("units,idle,backpressure,risk_delay", REAL_DATA_RUNS)
def test_lobster_imbalance_and_quotes(units, idle, backpressure, risk_delay, seed):
    steps = lobster_steps(units)
    expected, got = run_kernel(SMALL, steps, idle=idle, backpressure=backpressure,
                               risk_delay=risk_delay, seed=seed)
    proposed = {(e.body.reason, e.body.side) for e in expected if e.kind == EventKind.CANDIDATE}
    assert {(SignalReason.QUOTE, Side.BID), (SignalReason.QUOTE, Side.ASK)} <= proposed
    assert any(reason == SignalReason.IMBALANCE for reason, _ in proposed)
    assert_matches(expected, got)


def binance_steps(units):
    """The first ``units`` units of the three BTC venues (COIN-M, spot, USD-M in slots 0..2),
    arbitrage on among them: quantities in 1e-6 BTC (a COIN-M contract is 100 USD, about
    0.00175 BTC at the day's price)."""
    capture = BinanceCapture(BINANCE)
    converter = BinanceToItch(capture.venues, levels=2, tracked_levels=SMALL.tracked_levels)
    stream = converter.prelude()
    for step in converter.convert(capture.records()):
        stream.extend(step.units)
        if len(stream) >= units:
            break
    asset = 3
    settings = {"paper_fills": 1, ("arb_enable", asset): 1, ("arb_max_qty", asset): 50_000,
                ("arb_transfer", asset): 200}
    for slot, (unit, fee) in enumerate([(1754, 300), (1, 100), (1000, 200)]):
        settings.update({("arb_asset", slot): asset, ("arb_unit", slot): unit,
                         ("arb_fee", slot): fee})
    return record(SMALL, config_writes(settings) + b"".join(stream[:units]))


@pytest.mark.parametrize("units,idle,backpressure,risk_delay", REAL_DATA_RUNS)
def test_binance_arbitrage(units, idle, backpressure, risk_delay, seed):
    steps = binance_steps(units)
    expected, got = run_kernel(SMALL, steps, idle=idle, backpressure=backpressure,
                               risk_delay=risk_delay, seed=seed)
    legs = [e.body for e in expected if e.kind == EventKind.CANDIDATE]
    assert len(legs) >= 10 and {leg.slot for leg in legs} == {0, 1, 2}
    assert_matches(expected, got)


# --- synthetic edge cases ------------------------------------------------------------------------

class _RiskStandIn:
    """What the signals model reads of the risk gate, moved the way the gate would move it:
    quotes accepted or not, fills, inventories up to the limits."""

    def __init__(self, config, rng):
        self.rng = rng
        self.inventory = [0] * config.symbols
        self.live = [[None, None] for _ in range(config.symbols)]

    def before_price(self, slot):
        rng = self.rng
        if rng.random() < 0.3:
            self.inventory[slot] = rng.choice([0, 1, -1, 250, -250, (1 << 31) - 1,
                                               -(1 << 31) + 1, rng.randrange(-(1 << 31), 1 << 31)])
        for side in Side:
            if rng.random() < 0.05:   # a fill ends the quote
                self.live[slot][side.value] = None

    def after(self, candidates):
        for order in candidates:
            if order.reason == SignalReason.QUOTE:
                accepted = self.rng.random() < 0.8
                self.live[order.slot][order.side.value] = \
                    (order.price, order.qty) if accepted else None


def _random_params(rng, store, config):
    """A regime of parameters, each drawn from its extremes and values that make rules meet."""
    writes = {}
    for slot in range(config.symbols):
        enter = rng.choice([0, 1, 1 << 15, 1 << 16, 1 << 20, _U32])
        writes.update({
            ("imb_enable", slot): rng.randrange(2), ("imb_metric", slot): rng.randrange(2),
            ("imb_enter", slot): enter,
            ("imb_exit", slot): rng.choice([0, enter // 2, enter, _U32]),
            ("imb_qty", slot): rng.choice([1, 100, _U32]),
            ("mm_enable", slot): rng.randrange(2),
            ("mm_half_spread", slot): rng.choice([0, 1, 1 << 16, 3 << 16, rng.randrange(1 << 32),
                                                  _U32]),
            ("mm_vol_mult", slot): rng.choice([0, 256, 0xFFFF]),
            ("mm_skew", slot): rng.choice([0, 1, 1 << 12, 1 << 16, _U32]),
            ("mm_qty", slot): rng.choice([1, 100, _U32]),
            ("arb_asset", slot): rng.choice([0, 0, 1, NO_ASSET]),
            ("arb_fee", slot): rng.choice([0, 0, 1, 3, _U32]),
            ("arb_unit", slot): rng.choice([1, 1, 2, 3, 1000, _U32]),
        })
    for asset in range(ASSETS):
        writes.update({
            ("arb_enable", asset): int(rng.random() < 0.8),
            ("arb_transfer", asset): rng.choice([0, 0, 1, 5, _U32]),
            ("arb_max_qty", asset): rng.choice([1, 7, 100, _U32]),
        })
    for (name, index), value in writes.items():
        assert store.write(PARAM_BY_NAME[name].number, index, value)


def _random_update(rng, store, slot):
    """A PRICE update near the slot's thresholds and near other venues' prices (ties), with
    one-sided and crossed books and extreme prices, sizes and volatilities now and then."""
    def side_qty():
        return rng.choice([0, 1, 2, 7, 100, 5000, _U32])
    bid_qty, ask_qty = side_qty(), side_qty()
    if rng.random() < 0.7:
        bid_qty, ask_qty = bid_qty or 5, ask_qty or 9
    bid = rng.choice([0, 1, _U32 - 1, *range(995, 1005)]) if bid_qty else 0
    ask = (rng.choice([0, 1, _U32, bid + 1, bid + 2, bid, bid - 1, bid + 7]) if ask_qty else 0)
    ask = min(max(ask, 0), _U32)
    two_sided = int(bool(bid_qty and ask_qty))
    mid = (bid + ask) << 15 if two_sided else 0
    enter, exit_ = store.value("imb_enter", slot), store.value("imb_exit", slot)
    metric = rng.choice([enter, enter - 1, -enter, 1 - enter, exit_, exit_ - 1, -exit_,
                         1 - exit_, 0, rng.randrange(-(1 << 16), (1 << 16) + 1)])
    imbalance = min(max(metric, -(1 << 16)), 1 << 16) if rng.random() < 0.8 else \
        rng.randrange(-(1 << 16), (1 << 16) + 1)
    microprice = min(max(mid + metric, 0), (1 << 48) - 1) if rng.random() < 0.8 else \
        rng.choice([0, (1 << 48) - 1, rng.randrange(1 << 48)])
    vol = rng.choice([0, 1 << 16, rng.randrange(1 << 30), (1 << 48) - 1])
    return dict(slot=slot, two_sided=two_sided, crossed=int(two_sided and bid >= ask),
                vwap_valid=rng.randrange(2), bid_price=bid, bid_qty=bid_qty, ask_price=ask,
                ask_qty=ask_qty, spread=ask - bid if two_sided else 0, mid=mid,
                microprice=microprice, imbalance=imbalance, vwap=rng.randrange(1 << 48),
                ema=rng.randrange(1 << 48), vol=vol, trade_price=rng.randrange(1 << 32),
                trade_qty=rng.randrange(2))


def synthetic_steps(config, count, rng):
    """Random events straight into the signals model, with a stand-in risk gate. A quarter of
    the updates repeat one of the slot's last three, so quotes and arbitrage pairs recur."""
    events = EventFactory(config)
    store = ParamStore(config)
    risk = _RiskStandIn(config, rng)
    model = SignalModel(config, store, risk, events)
    recent = [[] for _ in range(config.symbols)]
    steps = []
    params = None
    for seq in range(count):
        if params is None or rng.random() < 0.01:
            _random_params(rng, store, config)
            params = param_values(store)
        roll = rng.random()
        header = dict(seq=seq, t_in=0, t_out=0, timestamp=rng.randrange(1 << 48))
        if roll < 0.8:
            slot = rng.randrange(config.symbols)
            if recent[slot] and rng.random() < 0.25:
                update = rng.choice(recent[slot])
            else:
                update = events.PriceFields(**_random_update(rng, store, slot))
                recent[slot] = [update, *recent[slot][:2]]
            event = events.Event(kind=EventKind.PRICE, **header, body=update)
            risk.before_price(slot)
            inventory, live = risk_state(risk)
        else:
            inventory = live = None
            if roll < 0.85:
                event = events.Event(kind=EventKind.CLEAR, **header,
                                     body=rng.randrange(config.symbols))
            elif roll < 0.95:
                event = events.Event(kind=EventKind.TRADE, **header, body=events.trade(
                    slot=rng.randrange(config.symbols), side=rng.choice(list(Side)),
                    price=rng.randrange(1 << 32), quantity=rng.randrange(1 << 32)))
            else:
                event = events.Event(kind=EventKind.SYSTEM, **header,
                                     body=events.system(code=b"Q"))
        outs = model.process(event)
        risk.after([out.body for out in outs if out.kind == EventKind.CANDIDATE])
        steps.append(Step(event, outs, params, inventory, live))
    return steps


@pytest.mark.parametrize("idle,backpressure,risk_delay", [(0.0, 0.0, 0), (0.3, 0.5, 3)])
def test_synthetic_edge_cases(idle, backpressure, risk_delay, seed):
    steps = synthetic_steps(SMALL, 2500, random.Random(seed))
    expected, got = run_kernel(SMALL, steps, idle=idle, backpressure=backpressure,
                               risk_delay=risk_delay, seed=seed)
    candidates = [e.body for e in expected if e.kind == EventKind.CANDIDATE]
    for reason in SignalReason:   # every rule proposed something
        assert any(order.reason == reason for order in candidates), reason
    assert_matches(expected, got)


# --- latency, throughput, conversion -------------------------------------------------------------

def test_latency_and_throughput():
    """Passing events: taken one per cycle, offered 1 cycle after they are taken. A PRICE's
    first candidate: 2 cycles, then one per cycle; arbitrage legs ``4 + stages`` and ``5 +
    stages`` cycles; the next event is taken as the last candidate is offered."""
    config = SMALL
    events = EventFactory(config)
    store = ParamStore(config)
    for (name, index), value in {("imb_enable", 0): 1, ("mm_enable", 0): 1,
                                 ("mm_half_spread", 0): 1 << 16, ("arb_asset", 0): 0,
                                 ("arb_asset", 1): 0, ("arb_enable", 0): 1}.items():
        store.write(PARAM_BY_NAME[name].number, index, value)
    risk = _RiskStandIn(config, random.Random(0))
    model = SignalModel(config, store, risk, events)

    def price(seq, slot, bid, ask):
        return events.Event(kind=EventKind.PRICE, seq=seq, t_in=0, t_out=0, timestamp=seq,
                            body=events.PriceFields(**{
                                **_random_update(random.Random(seq), store, slot),
                                "two_sided": 1, "bid_price": bid, "bid_qty": 10,
                                "ask_price": ask, "ask_qty": 10, "mid": (bid + ask) << 15,
                                "microprice": (bid + ask) << 15, "imbalance": 1 << 16, "vol": 0}))

    def trade(seq):
        return events.Event(kind=EventKind.TRADE, seq=seq, t_in=0, t_out=0, timestamp=seq,
                            body=events.trade(slot=0, side=Side.BID, price=seq, quantity=1))

    inputs = [price(0, 1, 1000, 1002), *(trade(seq) for seq in range(1, 6)),
              price(6, 0, 1005, 1007), *(trade(seq) for seq in range(7, 10))]
    codec = event_codec(config.exported_levels)
    event_bits = encoder(event_layout(config.exported_levels), {"body": ("kind", EVENT_BODY)})
    expected = [codec.decode(event_bits(out)) for event in inputs
                for out in model.process(event)]   # the codec's view of signed fields
    reasons = [e.body.reason for e in expected if e.kind == EventKind.CANDIDATE]
    assert reasons == [SignalReason.IMBALANCE, SignalReason.QUOTE, SignalReason.QUOTE,
                       SignalReason.ARBITRAGE, SignalReason.ARBITRAGE]

    dut = SignalKernels(config)
    taken = []     # cycle each input was taken
    offered = []   # (event, cycle it was first offered)

    async def testbench(ctx):
        ctx.set(dut.params.as_value(), encoder(params_layout(config))(param_values(store)))
        ctx.set(dut.risk_idle, 1)
        ctx.set(dut.o.ready, 1)
        pending = list(inputs)
        for cycle in range(60):
            ctx.set(dut.now, cycle)
            if pending:
                ctx.set(dut.i.payload.as_value(), event_bits(pending[0]))
            ctx.set(dut.i.valid, bool(pending))
            _, _, ready, valid, payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value())
            if pending and ready:
                taken.append(cycle)
                pending.pop(0)
            if valid:
                offered.append((codec.decode(payload), cycle))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert [event._replace(t_out=0) for event, _ in offered] == expected
    for event, cycle in offered:
        assert event.t_out == cycle, "t_out is the cycle the event is offered"
    take_of = {event.seq: cycle for event, cycle in zip(inputs, taken)}
    latency = [(event.kind, cycle - take_of[event.seq]) for event, cycle in offered]
    stages = ARBITRAGE_DIVIDER_STAGES
    assert latency == [
        (EventKind.PRICE, 1), *[(EventKind.TRADE, 1)] * 5,
        (EventKind.PRICE, 1), (EventKind.CANDIDATE, 2), (EventKind.CANDIDATE, 3),
        (EventKind.CANDIDATE, 4), (EventKind.CANDIDATE, 4 + stages),
        (EventKind.CANDIDATE, 5 + stages), *[(EventKind.TRADE, 1)] * 3]
    trades = [take_of[seq] for seq in range(1, 6)]
    assert trades == list(range(trades[0], trades[0] + 5)), "one passing event per cycle"
    assert take_of[1] - take_of[0] == 2, "a PRICE without candidates holds the input 2 cycles"
    assert take_of[7] - take_of[6] == 5 + stages, "... with an arbitrage pair 5 + stages"


def test_converts_to_verilog():
    text = verilog.convert(SignalKernels(SMALL), name="signal_kernels")
    for port in ("i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready",
                 "risk_idle", "idle"):
        assert port in text
