"""The counter bank against the registers it stands in for: every ACK and NACK that passes
carries the link's counters as they were while its snapshot was taken (each counter a value it
had between the frame's kind byte and its payload); every other byte passes untouched; a reset
starts the counts again."""

import random

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.layouts import FrameKind, LinkCounters
from tickforge.hdl.link.counters import CounterBank
from tickforge.hdl.link.framing import COUNTER_BYTES

FIELDS = {name: field.width for name, field in data.Layout.cast(LinkCounters)}
COUNTERS = [name for name, width in FIELDS.items() if width == 32]
CONTROL = (FrameKind.ACK.value, FrameKind.NACK.value)


def bodies(rng, count):
    """Frame bodies as the framer sends them: DATA with any payload, ACK and NACK with a
    payload of zeros for the bank to fill."""
    for _ in range(count):
        kind = rng.choice([FrameKind.DATA.value, *CONTROL])
        header = [kind] + [rng.randrange(256) for _ in range(4)]
        if kind == FrameKind.DATA.value:
            yield header + [rng.randrange(256) for _ in range(rng.randrange(1, 40))]
        else:
            yield header + [0] * COUNTER_BYTES


class Live:
    """The counters as the deframer and framer keep them: each steps at random, and in bursts
    as fast as any can move: ``event_stalls`` by 1 and ``skipped_bytes`` by 2 every cycle."""

    def __init__(self, rng):
        self.rng = rng
        self.reset()

    def reset(self):
        self.values = {name: 0 for name in FIELDS}
        self.values.update(ring_bytes=512, queue_frames=2)
        self.stalling = self.skipping = False

    def step(self):
        rng, values = self.rng, self.values
        for name in COUNTERS:
            if name == "event_stalls":
                self.stalling ^= rng.random() < 0.05
                moved = self.stalling
            elif name == "skipped_bytes" and (self.skipping or rng.random() < 0.02):
                self.skipping = rng.random() < 0.97    # bursts of some 30 cycles
                moved = 2
            else:
                moved = rng.random() < 0.1 and (2 if name == "skipped_bytes" and
                                                rng.random() < 0.5 else 1)
            values[name] = (values[name] + moved) % (1 << 32)
        for name in ("expected", "acked", "tx_next", "tx_closed", "tx_acked"):
            if rng.random() < 0.05:
                values[name] = (values[name] + 1) % (1 << 16)


def decode(payload):
    raw = int.from_bytes(bytes(payload), "little")
    fields, offset = {}, 0
    for name, width in FIELDS.items():
        fields[name] = (raw >> offset) & ((1 << width) - 1)
        offset += width
    return fields


def run(seed, *, count=60, backpressure=0.3, reset_after=None):
    """Pass ``count`` bodies through a bank (reset once, between bodies, after
    ``reset_after`` of them); return the bodies in and out with what each snapshot may hold."""
    rng = random.Random(seed)
    sent = list(bodies(rng, count))
    live = Live(rng)
    reset = Signal()
    bank = CounterBank()
    top = Module()
    top.submodules.bank = ResetInserter(reset)(bank)
    received, windows = [], []

    async def bench(ctx):
        history = []              # live values, cycle by cycle
        body, at = 0, 0           # the byte offered on i
        out, first_byte = [], None
        kind_cycle = None
        cycle = 0
        reset_done = reset_after is None
        while len(received) < count:
            cycle += 1
            assert cycle < 200_000, "the bank stalled"
            pause = not reset_done and body == reset_after   # wait for the output to drain
            offering = body < count and not pause
            ctx.set(bank.live, dict(live.values))
            ctx.set(bank.i.valid, offering)
            if offering:
                ctx.set(bank.i.payload, {"data": sent[body][at],
                                         "last": at == len(sent[body]) - 1})
            ready = rng.random() >= backpressure
            ctx.set(bank.o.ready, ready)
            _, _, i_ready, o_valid, o_payload = await ctx.tick().sample(
                bank.i.ready, bank.o.valid, bank.o.payload)
            history.append(dict(live.values))
            if offering and i_ready:
                if at == 0 and sent[body][0] in CONTROL:
                    kind_cycle = len(history) - 1
                at += 1
                if at == len(sent[body]):
                    body, at = body + 1, 0
            if o_valid and ready:
                out.append(o_payload.data)
                if len(out) == 6:
                    first_byte = len(history) - 1
                if o_payload.last:
                    received.append(out)
                    if out[0] in CONTROL:
                        windows.append(history[kind_cycle:first_byte + 1])
                    out = []
            live.step()
            if pause and len(received) == body:   # everything out: reset bank and counters
                ctx.set(reset, 1)
                await ctx.tick()
                ctx.set(reset, 0)
                live.reset()
                reset_done = True

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return sent, received, windows


def check(sent, received, windows):
    snapshots = iter(windows)
    controls = 0
    for body_in, body_out in zip(sent, received, strict=True):
        assert len(body_out) == len(body_in)
        if body_in[0] not in CONTROL:
            assert body_out == body_in, "a data frame was changed"
            continue
        controls += 1
        assert body_out[:5] == body_in[:5], "a control frame's header was changed"
        snapshot, window = decode(body_out[5:]), next(snapshots)
        for name, value in snapshot.items():
            had = {values[name] for values in window}
            assert value in had, f"{name} = {value}, never that between kind and payload: {had}"
    assert controls >= 10


def test_every_control_frame_carries_the_counters_and_data_passes_untouched(seed):
    check(*run(seed))


def test_a_reset_starts_the_counts_again(seed):
    sent, received, windows = run(seed, reset_after=30)
    check(sent, received, windows)
    assert any(window[-1]["frames"] for window in windows), "the counters did count"
