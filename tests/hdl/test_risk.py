"""The risk gate against the golden model, in the Amaranth simulator: a real-data slice with
every limit reached, and for each limit a seeded random order flow showing that no order beyond
it gets through. Every event out is compared with the model's (apart from ``t_out``), and
``inventory`` and ``live`` after every event taken."""

import io
import random
from itertools import islice
from typing import NamedTuple

import pytest
from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import (EventKind, EVENT_BODY, Side, SignalReason, RejectReason,
                                   FillSource, FillFields, PriceFields, event_layout)
from tickforge.hdl.params import PARAMS, PARAM_BY_NAME, Scope, param_count
from tickforge.hdl.risk import RiskGate
from tickforge.hdl.signals.kernels import LiveQuote
from tickforge.host.bench import lobster_stream
from tickforge.host.feeds.itch import iter_units
from tickforge.host.model.core import CoreModel
from tickforge.host.model.events import EventFactory
from tickforge.host.model.params import ParamStore
from tickforge.host.model.risk import RiskModel
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.protocol import WIRE, encode, event_codec
from tickforge.host.codec import encoder

from support.stages import config_writes
from support.streams import cycle_counter


CONFIG = CoreConfig(symbols=3, exported_levels=2)
LOBSTER = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
CODEC = event_codec(CONFIG.exported_levels)
EVENTS = EventFactory(CONFIG)
U32 = (1 << 32) - 1
INVENTORY_LIMIT = (1 << 31) - 1


# --- what the gate must do: the model's risk stage, event by event ---------------------------

class Step(NamedTuple):
    """One event into the gate: what it must emit, the parameters it is checked against, and
    what ``inventory`` and ``live`` must show once it is taken (as raw bits)."""
    event: tuple
    out: list
    params: dict
    param_errors: int
    inventory: int
    live: int


_QUOTE = data.Layout.cast(LiveQuote)


def _state_bits(risk):
    """The model's inventory and live quotes as the raw bits of the gate's ports (packed by
    hand: ``Layout.const`` would take most of the test's time)."""
    inventory = 0
    for slot, value in enumerate(risk.inventory):
        inventory |= (value & U32) << (32 * slot)
    live = 0
    for position, quote in enumerate(side for sides in risk.live for side in sides):
        if quote:
            bits = (1 << _QUOTE["valid"].offset | quote[0] << _QUOTE["price"].offset |
                    quote[1] << _QUOTE["qty"].offset)
            live |= bits << (_QUOTE.size * position)
    return inventory, live


def _params_port(store):
    """The parameter registers as the gate's ``params`` port takes them."""
    return {param.name: store.value(param.name) if param.scope == Scope.GLOBAL
            else [store.value(param.name, index) for index in range(param_count(param, CONFIG))]
            for param in PARAMS}


def record_risk(data_bytes):
    """Run the whole model on ``data_bytes`` and record every event that entered its risk stage
    and what it emitted (as ``support.stages.record_stage``), with the parameters it was
    checked against and the state after it, which ``record_stage`` does not keep."""
    model = CoreModel(CONFIG)
    steps = []
    params = None
    apply_params, check = model.params.process, model.risk.process

    def params_stage(event):
        nonlocal params
        if event.kind == EventKind.CONFIG:
            params = None
        return apply_params(event)

    def risk_stage(event):
        nonlocal params
        params = params or _params_port(model.params)
        out = check(event)
        steps.append(Step(event, out, params, model.params.errors, *_state_bits(model.risk)))
        return out
    model.params.process, model.risk.process = params_stage, risk_stage
    model.feed(data_bytes)
    return model, steps


# --- driving the gate ---------------------------------------------------------------------------

_pack_event = encoder(event_layout(CONFIG.exported_levels), {"body": ("kind", EVENT_BODY)})


def _signed_fields(layout):
    return [(name, Shape.cast(field.shape).width) for name, field in data.Layout.cast(layout)
            if not isinstance(field.shape, type) and Shape.cast(field.shape).signed]


_SIGNED_FIELDS = {EventKind.FILL: _signed_fields(FillFields),
                  EventKind.PRICE: _signed_fields(PriceFields)}


def _as_signed(value, width):
    sign = 1 << (width - 1)
    return ((value & (2 * sign - 1)) ^ sign) - sign


def untimed(event):
    """A decoded event without ``t_out``, its signed fields read as signed (``BitCodec`` gives
    their raw bits, the model negative numbers)."""
    fields = _SIGNED_FIELDS.get(event.kind)
    if fields:
        event = event._replace(body=event.body._replace(**{
            name: _as_signed(getattr(event.body, name), width) for name, width in fields}))
    return event._replace(t_out=0)


def run_gate(steps, *, idle=0.0, backpressure=0.0, seed=0):
    """Feed every step's event to a RiskGate, its parameters set as the model had them, with
    random idle and back-pressure; check the stream rules, and ``idle``, ``inventory`` and
    ``live`` after every event taken. Returns the events it emitted, :func:`untimed`."""
    dut = RiskGate(CONFIG)
    expected = sum(len(step.out) for step in steps)
    result = {}

    def check_state(ctx, step):
        if step is None:
            return
        assert ctx.get(dut.idle)
        assert ctx.get(dut.inventory.as_value()) == step.inventory, \
            f"inventory after {step.event}"
        assert ctx.get(dut.live.as_value()) == step.live, f"live quotes after {step.event}"

    async def source(ctx):
        rng = random.Random(seed)
        params = previous = None
        for step in steps:
            if step.params is not params:
                params = step.params
                ctx.set(dut.params, params)
            ctx.set(dut.param_errors, step.param_errors)
            while idle and rng.random() < idle:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
                check_state(ctx, previous)
            ctx.set(dut.i.payload.as_value(), _pack_event(step.event))
            ctx.set(dut.i.valid, 1)
            taken = False
            while not taken:   # not ``until``: left open by a failing sink, it breaks the report
                _, _, taken = await ctx.tick().sample(dut.i.ready)
            check_state(ctx, step)
            previous = step
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        rng = random.Random(seed + 1)
        received, waiting, cycles = [], None, 0
        while len(received) < expected:
            ready = not (backpressure and rng.random() < backpressure)
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            cycles += 1
            assert cycles < 4 * (len(steps) + expected) + 100, \
                f"the gate stalled after {len(received)} of {expected} events"
            if waiting is not None:
                assert valid, "valid fell before the transfer"
                assert payload == waiting, "payload changed while waiting for ready"
            if valid and ready:
                received.append(payload)
                waiting = None
            elif valid:
                waiting = payload
        ctx.set(dut.o.ready, 1)
        for _ in range(8):  # nothing more may come out
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "an event the model does not emit"
        result["events"] = received

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return [untimed(CODEC.decode(raw)) for raw in result["events"]]


def per_step(steps, got):
    """``got`` cut into each step's events, checked against what the model emitted."""
    assert len(got) == sum(len(step.out) for step in steps)
    position = 0
    for step in steps:
        have = got[position:position + len(step.out)]
        position += len(step.out)
        assert have == step.out, f"after {step.event}"
        yield step, have


# --- real data: a LOBSTER slice with the signal kernels on and every limit reached -----------

def lobster_scenario(messages):
    """The first ``messages`` units of the AMZN slice (~$224; ITCH price units of 1e-4 $,
    spreads of 10-50 cents at this open) with imbalance orders and quotes on, paper fills, and
    limits each of which rejects some orders; spliced in: host fills (two saturating the
    inventory each way), status requests, a refused parameter write, the kill switch on for
    a while, and a re-subscription that clears live quotes."""
    stream, _ = lobster_stream(LOBSTER)
    units = list(islice(iter_units(io.BytesIO(stream)), messages))
    subscribe = units[0]
    locate = WIRE[b"s"].unpack(subscribe[2:]).stock_locate

    def fill(side, shares, price=2_240_000):
        return encode("f", stock_locate=locate, side=side, shares=shares, price=price)

    setup = config_writes({
        "paper_fills": 1,
        ("imb_enable", 0): 1, ("imb_qty", 0): 400, ("imb_enter", 0): 1 << 15,
        ("mm_enable", 0): 1, ("mm_half_spread", 0): 300 << 16, ("mm_skew", 0): 1 << 12,
        ("max_order_qty", 0): 200, ("max_notional", 0): 2_238_000 * 150,
        ("collar", 0): 1500, ("max_position", 0): 400,
        ("rate_max", 0): 30, ("rate_shift", 0): 30,   # 30 orders per ~1.07 s
    })
    spliced = {
        messages // 10: [fill(b"B", 150), encode("y", tag=1)],
        messages // 5: [encode("c", parameter=999, index=0, value=1)],
        messages // 4: [fill(b"B", U32), fill(b"B", U32), encode("y", tag=2)],
        messages // 4 + 50: [fill(b"S", U32), fill(b"S", U32), fill(b"B", INVENTORY_LIMIT)],
        messages // 3: [config_writes({"kill": 1})],
        messages // 3 + 100: [config_writes({"kill": 0}), encode("y", tag=3)],
        messages * 2 // 3: [subscribe],
        messages - 1: [encode("y", tag=4)],
    }
    out = [subscribe, setup]
    for position, unit in enumerate(units[1:], 1):
        out.extend(spliced.get(position, []))
        out.append(unit)
    return b"".join(out)


@pytest.fixture(scope="module")
def lobster():
    return record_risk(lobster_scenario(1800))


def test_lobster_scenario_reaches_every_rule(lobster):
    model, steps = lobster
    assert all(model.risk.rejects[reason] for reason in RejectReason), model.risk.rejects
    emitted = [event for step in steps for event in step.out]
    fills = [event.body for event in emitted if event.kind == EventKind.FILL]
    assert {fill.source for fill in fills} == set(FillSource)
    assert {INVENTORY_LIMIT, -INVENTORY_LIMIT} <= {fill.inventory for fill in fills}
    assert any(event.kind == EventKind.STATUS and event.body.risk.param_errors
               for event in emitted)
    assert any(step.event.kind == EventKind.CLEAR and before.live != step.live
               for before, step in zip(steps, steps[1:])), "no CLEAR ended a live quote"


@pytest.mark.parametrize("idle,backpressure", [(0.0, 0.0), (0.3, 0.5)])
def test_gate_matches_model_on_lobster(lobster, idle, backpressure, seed):
    _, steps = lobster
    got = run_gate(steps, idle=idle, backpressure=backpressure, seed=seed)
    for _ in per_step(steps, got):
        pass


def test_gate_offers_each_event_one_cycle_after_taking_it(lobster):
    """With ``o`` always ready the gate takes an event every cycle except one per FILL it
    queued, and offers an event's first output the cycle after taking it."""
    _, steps = lobster
    steps = steps[:1500]
    dut = RiskGate(CONFIG)
    taken, offered = [], []   # cycle of each event taken; (cycle, event) of each offered

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        params = None
        for _ in range(2 * (len(steps) + expected)):
            if len(taken) == len(steps) and len(offered) == expected:
                break
            if len(taken) < len(steps):
                step = steps[len(taken)]
                if step.params is not params:
                    params = step.params
                    ctx.set(dut.params, params)
                ctx.set(dut.param_errors, step.param_errors)
                ctx.set(dut.i.payload.as_value(), _pack_event(step.event))
            else:
                ctx.set(dut.i.valid, 0)
            _, _, now, ready, valid, payload = await ctx.tick().sample(
                dut.now, dut.i.ready, dut.o.valid, dut.o.payload.as_value())
            if ready and len(taken) < len(steps):
                taken.append(now)
            if valid:
                offered.append((now, CODEC.decode(payload)))

    expected = sum(len(step.out) for step in steps)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(cycle_counter(dut.now))
    sim.add_testbench(bench)
    sim.run()

    queued_fills = sum(max(0, len(step.out) - 1) for step in steps[:-1])
    assert queued_fills
    assert taken[-1] - taken[0] + 1 == len(steps) + queued_fills
    assert [untimed(event) for _, event in offered] == [e for step in steps for e in step.out]
    position = 0
    for cycle, step in zip(taken, steps):
        for index in range(len(step.out)):
            now, event = offered[position + index]
            assert now == event.t_out == cycle + 1 + index, f"timing of {step.event}"
        position += len(step.out)


# --- random order flows: no order beyond a limit gets through ---------------------------------

LOOSE = {"max_order_qty": U32, "max_notional": (1 << 64) - 1, "collar": U32,
         "max_position": INVENTORY_LIMIT, "rate_max": 0xFFFF}
"""Limits that let every order through, so only the limit under test rejects."""

REASON = {"kill": RejectReason.KILL, "max_order_qty": RejectReason.QTY,
          "max_notional": RejectReason.NOTIONAL, "collar": RejectReason.COLLAR,
          "max_position": RejectReason.POSITION, "rate_max": RejectReason.RATE}


class RandomFlow:
    """Seeded random events for the gate, run through the model as they are made so the limit
    under test can be set right at the edge of the order about to be checked."""

    def __init__(self, rng, limit):
        self.rng, self.limit = rng, limit
        self.store = ParamStore(CONFIG)
        self.risk = RiskModel(CONFIG, self.store, EVENTS)
        self.steps = []
        self.params = None
        self.timestamp = 0
        self.write("paper_fills", 0, 1)
        for slot in range(CONFIG.symbols):
            for name, value in LOOSE.items():
                if name != limit:
                    self.write(name, slot, value)
            self.write("rate_shift", slot, rng.randrange(3, 8))

    def write(self, name, index, value):
        assert self.store.write(PARAM_BY_NAME[name].number, index, value)
        self.params = None

    def emit(self, kind, body):
        self.timestamp += self.rng.choice([0, 1, 3, 10, 40, 200])
        event = EVENTS.Event(kind=kind, seq=len(self.steps), t_in=self.rng.randrange(1 << 32),
                             t_out=0, timestamp=self.timestamp, body=body)
        self.params = self.params or _params_port(self.store)
        out = self.risk.process(event)
        self.steps.append(Step(event, out, self.params, self.store.errors,
                               *_state_bits(self.risk)))

    def run(self, count):
        rng = self.rng
        for _ in range(count):
            roll, slot = rng.random(), rng.randrange(CONFIG.symbols)
            if roll < 0.25:
                self.emit(EventKind.PRICE, self.price_update(slot))
            elif roll < 0.80:
                order = self.order(slot)
                self.tighten(order)
                self.emit(EventKind.CANDIDATE, order)
            elif roll < 0.86:
                self.emit(EventKind.FILL, EVENTS.FillFields(
                    slot=slot, side=rng.choice(list(Side)), price=rng.randrange(1 << 32),
                    qty=rng.choice([1, 100, 1 << 20, INVENTORY_LIMIT, U32]),
                    source=FillSource.HOST, inventory=0))
            elif roll < 0.90:
                self.emit(EventKind.STATUS, self.status())
            elif roll < 0.92:
                self.emit(EventKind.CLEAR, slot)
            elif roll < 0.93:
                self.refused_write()
            else:
                self.emit(EventKind.TRADE, EVENTS.trade(slot=slot, side=rng.choice(list(Side)),
                                                        price=rng.randrange(1 << 32),
                                                        quantity=rng.randrange(1 << 32)))
        self.emit(EventKind.STATUS, self.status())
        return self

    def refused_write(self):
        """A parameter write the store refuses, as the parameter stage sees it."""
        self.store.process(EVENTS.Event(
            kind=EventKind.CONFIG, seq=0, t_in=0, t_out=0, timestamp=0,
            body=EVENTS.ConfigFields(parameter=999, index=0, value=0)))

    def price_update(self, slot):
        rng = self.rng
        bid = rng.randrange(900, 1100)
        ask = bid + rng.randrange(0, 30)
        bid_qty, ask_qty = rng.randrange(1, 500), rng.randrange(1, 500)
        if rng.random() < 0.1:
            bid_qty, ask_qty = rng.choice([(0, ask_qty), (bid_qty, 0), (0, 0)])
        trade_price = trade_qty = 0
        if rng.random() < 0.4:
            quotes = [quote[0] for quote in self.risk.live[slot] if quote]
            trade_qty = rng.randrange(1, 300)
            if quotes and rng.random() < 0.5:   # at or one off a live quote: the edges
                trade_price = rng.choice(quotes) + rng.choice([-1, 0, 1])
            else:
                trade_price = rng.randrange(bid - 20, ask + 20)
        return EVENTS.PriceFields(
            slot=slot, two_sided=int(bool(bid_qty and ask_qty)), crossed=0, vwap_valid=0,
            bid_price=bid, bid_qty=bid_qty, ask_price=ask, ask_qty=ask_qty,
            spread=ask - bid, mid=(bid + ask) << 15, microprice=rng.randrange(1 << 48),
            imbalance=rng.randrange(-(1 << 16), (1 << 16) + 1), vwap=0, ema=0, vol=0,
            trade_price=trade_price, trade_qty=trade_qty)

    def order(self, slot):
        rng = self.rng
        top = self.risk.tops[slot]
        if top.two_sided and rng.random() < 0.9:
            price = max(0, rng.randrange(top.bid_price - 40, top.ask_price + 40))
        else:
            price = rng.choice([rng.randrange(1, 2000), U32])
        qty = rng.choice([0, 1, rng.randrange(1, 200), rng.randrange(1, 3000), U32])
        reason = rng.choice([SignalReason.QUOTE, SignalReason.QUOTE, SignalReason.IMBALANCE,
                             SignalReason.ARBITRAGE])
        return EVENTS.OrderSignal(slot=slot, side=rng.choice(list(Side)), price=price, qty=qty,
                                  reason=reason)

    def tighten(self, order):
        """Now and then set the limit under test at (or one off) the edge of ``order``."""
        rng = self.rng
        if self.limit == "kill":
            if rng.random() < 0.1:
                self.write("kill", 0, 1 - self.store.value("kill"))
            return
        if rng.random() > 0.3:
            return
        slot, edge = order.slot, rng.choice([-1, 0, 0, 1])
        top = self.risk.tops[slot]
        delta = order.qty if order.side == Side.BID else -order.qty
        value = {
            "max_order_qty": order.qty + edge,
            "max_notional": order.price * order.qty + edge,
            "collar": abs(2 * order.price - top.bid_price - top.ask_price) // 2 + edge,
            "max_position": abs(self.risk.inventory[slot] + delta) + edge,
            "rate_max": rng.randrange(0, 6),
        }[self.limit]
        maximum = PARAM_BY_NAME[self.limit].maximum
        self.write(self.limit, slot, min(max(value, 0), maximum))

    def status(self):
        rng = self.rng
        return EVENTS.status(
            tag=rng.randrange(1 << 32),
            parser=EVENTS.ParserCounters(*(rng.randrange(1 << 32) for _ in range(5))),
            book=EVENTS.BookCounters(*(rng.randrange(1 << 32) for _ in range(9))),
            risk=EVENTS.RiskCounters(*(rng.randrange(1 << 32) for _ in range(9))))


def assert_within_limit(limit, steps, got):
    """Every SIGNAL the gate let out respects ``limit``, judged from the gate's own output and
    the inputs, not from the model."""
    tops, inventory, window_counts = {}, [0] * CONFIG.symbols, {}
    signals = 0
    for step, out in per_step(steps, got):
        event, params = step.event, step.params
        if event.kind == EventKind.PRICE:
            update = event.body
            tops[update.slot] = (update.bid_qty and update.ask_qty, update.bid_price,
                                 update.ask_price)
        elif event.kind == EventKind.CLEAR:
            tops.pop(event.body, None)
        for emitted in out:
            if emitted.kind == EventKind.FILL:
                inventory[emitted.body.slot] = emitted.body.inventory
            if emitted.kind != EventKind.SIGNAL:
                continue
            signals += 1
            order = emitted.body
            slot, bound = order.slot, params[limit]
            if limit == "kill":
                assert not bound
            elif limit == "max_order_qty":
                assert 0 < order.qty <= bound[slot]
            elif limit == "max_notional":
                assert order.price * order.qty <= bound[slot]
            elif limit == "collar":
                two_sided, bid, ask = tops.get(slot, (0, 0, 0))
                assert two_sided and abs(2 * order.price - bid - ask) <= 2 * bound[slot]
            elif limit == "max_position":
                delta = order.qty if order.side == Side.BID else -order.qty
                assert abs(inventory[slot] + delta) <= bound[slot]
            elif limit == "rate_max":
                window = (slot, event.timestamp >> params["rate_shift"][slot])
                assert window_counts.get(window, 0) < bound[slot]
                window_counts[window] = window_counts.get(window, 0) + 1
    return signals


@pytest.mark.parametrize("limit", list(REASON))
def test_gate_never_passes_an_order_beyond(limit, seed):
    flow = RandomFlow(random.Random(seed), limit).run(1200)
    got = run_gate(flow.steps, idle=0.2, backpressure=0.3, seed=seed)
    signals = assert_within_limit(limit, flow.steps, got)
    assert signals >= 20 and flow.risk.rejects[REASON[limit]] >= 20, "a vacuous flow"


def test_gate_changes_no_state_for_a_slot_past_symbols():
    """No model to compare with (it would fail on such a slot): the gate's documented rule."""
    store = ParamStore(CONFIG)
    params = _params_port(store)
    slot = CONFIG.symbols + 2
    order = EVENTS.OrderSignal(slot=slot, side=Side.BID, price=100, qty=5,
                               reason=SignalReason.QUOTE)
    fill = EVENTS.FillFields(slot=slot, side=Side.ASK, price=100, qty=7,
                             source=FillSource.HOST, inventory=0)
    update = EVENTS.PriceFields(slot=slot, two_sided=1, crossed=0, vwap_valid=0, bid_price=99,
                                bid_qty=1, ask_price=101, ask_qty=1, spread=2, mid=0,
                                microprice=0, imbalance=0, vwap=0, ema=0, vol=0,
                                trade_price=50, trade_qty=1)
    status = EVENTS.status(tag=1, parser=EVENTS.ParserCounters(*[0] * 5),
                           book=EVENTS.BookCounters(*[0] * 9),
                           risk=EVENTS.RiskCounters(*[0] * 9))

    def event(kind, body):
        return EVENTS.Event(kind=kind, seq=0, t_in=0, t_out=0, timestamp=0, body=body)

    counted = status._replace(risk=status.risk._replace(qty=1, fills=1))
    steps = [Step(event(kind, body), out, params, 0, 0, 0) for kind, body, out in [
        (EventKind.PRICE, update, [event(EventKind.PRICE, update)]),
        (EventKind.CANDIDATE, order, []),
        (EventKind.FILL, fill, [event(EventKind.FILL, fill._replace(inventory=-7))]),
        (EventKind.CLEAR, slot, []),
        (EventKind.STATUS, status, [event(EventKind.STATUS, counted)]),
    ]]
    for _ in per_step(steps, run_gate(steps)):
        pass


def test_gate_converts_to_verilog():
    text = verilog.convert(RiskGate(CONFIG), name="risk_gate")
    for port in ("i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready",
                 "now", "params", "param_errors", "inventory", "live", "idle"):
        assert f" {port}" in text, port
