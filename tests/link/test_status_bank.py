"""The status bank against the registers it stands in for: every STATUS event that passes
carries the core's counters as they were while it was offered (the core holds them still until
the event's last byte is taken), every other bit of every event passes untouched, and the
counts carry across the wraps of the low bits the bank reads, and across a reset."""

import random

import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.book.book import OrderBook
from tickforge.hdl.config import CoreConfig
from tickforge.hdl.core import Core
from tickforge.hdl.layouts import EventKind, StatusCounters
from tickforge.hdl.link.counters import StatusBank, status_span
from tickforge.hdl.link.events import event_sizes
from tickforge.hdl.link.top import Link, connect_core
from tickforge.hdl.parser.itch import ITCHParser

LEVELS = 1
FIRST_BIT, BITS = status_span(LEVELS)
COUNT = BITS // 32
SIZES = event_sizes(LEVELS)
KINDS = [EventKind.STATUS, EventKind.BOOK, EventKind.TRADE, EventKind.SYSTEM]


def events(rng, count):
    """Events as the serializer sends them, as ints: random bits in their size, the kind in the
    low nibble, a STATUS event's counters left at 0 (the core leaves them to the bank)."""
    for _ in range(count):
        kind = rng.choice(KINDS)
        size = SIZES[kind]
        value = (rng.getrandbits(8 * size) & ~0xF) | kind.value
        if kind == EventKind.STATUS:
            value &= ~(((1 << BITS) - 1) << FIRST_BIT)
        yield kind, size, value


class Live:
    """The core's counters: they step at random between events, in bursts of 2 a cycle (the
    parser's ``messages`` can move that fast), and hold still while an event is offered."""

    def __init__(self, rng):
        self.rng, self.values = rng, [0] * COUNT

    def step(self):
        for n in range(COUNT):
            if self.rng.random() < (0.9 if n == 0 else 0.2):
                self.values[n] = (self.values[n] + self.rng.choice((1, 2))) % (1 << 32)

    @property
    def packed(self):
        return sum(value << (32 * n) for n, value in enumerate(self.values))


def run(seed, *, count=80, backpressure=0.3, gap=(0, 300), reset_after=None):
    """Pass ``count`` events through a bank, the counters moving between them; return each
    event sent, received, and the counters it should carry."""
    rng = random.Random(seed)
    sent = list(events(rng, count))
    live = Live(rng)
    reset = Signal()
    bank = StatusBank(LEVELS)
    top = Module()
    top.submodules.bank = ResetInserter(reset)(bank)
    received, carried = [], []

    async def bench(ctx):
        cycle = 0
        for number, (kind, size, value) in enumerate(sent):
            if number == reset_after:
                ctx.set(reset, 1)
                await ctx.tick()
                ctx.set(reset, 0)
                live.values = [0] * COUNT
            for _ in range(rng.randrange(*gap)):   # the core works on the next message
                live.step()
                ctx.set(bank.live.as_value(), live.packed)
                await ctx.tick()
            carried.append(live.packed)
            ctx.set(bank.live.as_value(), live.packed)
            raw = value.to_bytes(size, "little")
            at, out = 0, []
            while len(out) < size:
                cycle += 1
                assert cycle < 500_000, "the bank stalled"
                ctx.set(bank.i.valid, at < size)
                if at < size:
                    ctx.set(bank.i.payload, {"data": raw[at], "first": at == 0,
                                             "last": at == size - 1, "size": size})
                ready = rng.random() >= backpressure
                ctx.set(bank.o.ready, ready)
                _, _, i_ready, o_valid, o_payload = await ctx.tick().sample(
                    bank.i.ready, bank.o.valid, bank.o.payload)
                if at < size and i_ready:
                    at += 1
                if o_valid and ready:
                    assert o_payload.first == (len(out) == 0)
                    assert o_payload.last == (len(out) == size - 1)
                    out.append(o_payload.data)
            ctx.set(bank.i.valid, 0)
            received.append(int.from_bytes(bytes(out), "little"))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return sent, received, carried


def named(counters):
    """Each counter of a packed StatusCounters, by name."""
    return {f"{group}.{name}": (counters >> (outer.offset + inner.offset)) & 0xFFFFFFFF
            for group, outer in data.Layout.cast(StatusCounters)
            for name, inner in data.Layout.cast(outer.shape)}


def check(sent, received, carried):
    statuses = 0
    for (kind, size, value), got, counters in zip(sent, received, carried, strict=True):
        if kind != EventKind.STATUS:
            assert got == value, f"a {kind.name} event was changed"
            continue
        statuses += 1
        mask = ((1 << BITS) - 1) << FIRST_BIT
        assert got & ~mask == value, "a STATUS event's bits outside its counters were changed"
        shown = (got >> FIRST_BIT) & ((1 << BITS) - 1)
        assert shown == counters, f"the counters read {named(shown)}, not {named(counters)}"
    assert statuses >= 10


def test_every_status_event_carries_the_counters_and_the_rest_passes_untouched(seed):
    sent, received, carried = run(seed)
    check(sent, received, carried)
    # the low bits the bank reads wrapped many times: the carries were folded into RAM
    assert max(carried) >> 6


def test_status_events_back_to_back_and_a_reset(seed):
    check(*run(seed, gap=(0, 3), reset_after=40, backpressure=0.5))


@pytest.mark.parametrize("make", [
    lambda: Core(CoreConfig(width=1, symbols=2, trading=False), counters_port=True),
    lambda: Core(CoreConfig(width=1, symbols=1, trading=True), counters_port=True),
    lambda: OrderBook(CoreConfig(width=8, symbols=1), counters_port=True),
    lambda: ITCHParser(8, counters_port=True),
])
def test_only_a_core_that_holds_its_counters_still_leaves_them_to_the_link(make):
    """A pipelined book or a wide parser moves its counters while a STATUS event waits, so the
    bank's snapshot would not be the event's: such a core is refused, with a message."""
    with pytest.raises(ValueError, match="counters"):
        make()


@pytest.mark.parametrize("bank", [True, False])
def test_a_link_and_its_core_agree_on_who_keeps_the_status_counters(bank):
    """A bank beside a core that fills in its own counters (or a core that leaves them to a link
    with no bank) would send STATUS events with zero counters: wiring them is refused."""
    config = CoreConfig(width=1, symbols=1, trading=False)
    m = Module()
    link, core = Link(LEVELS, status_bank=bank), Core(config, counters_port=not bank)
    with pytest.raises(ValueError, match="status_bank=True needs a Core\\(counters_port=True\\)"):
        connect_core(m, link, core)
    connect_core(m, Link(LEVELS, status_bank=bank), Core(config, counters_port=bank))
