"""The deframer against a naive model built from the host's frame reader: the same frames
accepted, the same counts, whatever garbage, damage, gaps and back-pressure come with them."""

import random

import pytest
from amaranth.sim import Simulator

from tickforge.hdl.layouts import FrameKind
from tickforge.hdl.link.framing import Deframer
from tickforge.host.link import FrameReader, encode_frame

MAX_PAYLOAD = 200
RING = 512


def model(stream, max_payload=MAX_PAYLOAD):
    """What the deframer must do with ``stream``, given room enough: frames as the host's
    reader finds them, only the expected seq applied."""
    reader = FrameReader(max_payload, kinds=(FrameKind.DATA,))
    frames = reader.feed(stream)
    expected, played, out_of_order = 0, [], 0
    for frame in frames:
        if frame.seq == expected:
            played.append(frame.payload)
            expected = (expected + 1) & 0xFFFF
        else:
            out_of_order += 1
    counters = {"frames": len(played), "crc_errors": reader.crc_errors,
                "header_errors": reader.header_errors, "out_of_order": out_of_order,
                "skipped_bytes": reader.skipped_bytes, "expected": expected,
                "acked": (expected - 1) & 0xFFFF, "dropped": 0, "overruns": 0}
    return played, counters


COUNTERS = ("frames", "crc_errors", "header_errors", "out_of_order", "skipped_bytes",
            "expected", "acked", "dropped", "overruns")


def run(stream, *, rng, gap=2.0, pause=None, backpressure=0.0, stall=None, ring=RING,
        queue_frames=8, drained=lambda cycle: True, tail=400, collision_free=False):
    """Feed ``stream`` one byte per ``gap`` cycles on average (1: every cycle), waiting
    ``pause(position)`` cycles before the byte at ``position`` if given; hold ``o`` randomly
    (``backpressure``) and on the cycles ``stall(cycle)`` says; return the payloads played, the
    control requests seen and the counters at the end. ``collision_free`` builds the ring
    that asserts it is never read where it is written (the simulator raises if it is)."""
    dut = Deframer(ring_bytes=ring, max_payload=MAX_PAYLOAD, queue_frames=queue_frames,
                   collision_free=collision_free)
    played, controls, counters = [], [], {}

    idles = []
    for position in range(len(stream)):
        idle = 0
        while gap > 1 and rng.random() >= 1 / gap:
            idle += 1
        idles.append(idle + (pause(position) if pause else 0))

    async def bench(ctx):
        position, cycle, quiet = 0, 0, 0
        idle = idles[0] if idles else 0
        current = None
        while quiet < tail:
            offer = position < len(stream) and idle == 0
            idle = max(0, idle - 1)
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, stream[position] if offer else 0)
            held = (stall is not None and stall(cycle)) or rng.random() < backpressure
            ctx.set(dut.o.ready, not held)
            ctx.set(dut.drained, drained(cycle))
            ack, nack = ctx.get(dut.control.ack), ctx.get(dut.control.nack)
            ctx.set(dut.control.taken, ack | nack)
            if ack | nack:
                controls.append(("NACK" if nack else "ACK", ctx.get(dut.expected),
                                 ctx.get(dut.acked), cycle))
            _, _, valid, payload, ready = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                  dut.o.ready)
            if offer:
                position += 1
                idle = idles[position] if position < len(stream) else 0
            if valid and ready:
                assert payload.count == 1
                if payload.first:
                    current = bytearray()
                    played.append(current)
                assert current is not None, "a byte before any first beat"
                current.append(payload.data[0])
            busy = offer or valid or ack or nack or position < len(stream)
            quiet = 0 if busy else quiet + 1
            cycle += 1
        for name in COUNTERS:
            counters[name] = ctx.get(getattr(dut, name))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return [bytes(p) for p in played], controls, counters


def frames(rng, count, first_seq=0, sizes=(0, 1, 7, 40, MAX_PAYLOAD)):
    return [encode_frame(FrameKind.DATA, first_seq + n,
                         rng.randbytes(rng.choice(sizes)), MAX_PAYLOAD) for n in range(count)]


def check(stream, rng, **options):
    want_played, want = model(stream)
    played, controls, counters = run(stream, rng=rng, **options)
    assert played == [p for p in want_played if p], "payloads played"
    assert counters == want
    return controls, counters


def test_good_frames_back_to_back_play_in_order_and_are_acked(seed):
    rng = random.Random(seed)
    stream = b"".join(frames(rng, 24))
    controls, counters = check(stream, rng)
    assert counters["frames"] == 24 and counters["skipped_bytes"] == 0
    assert controls and all(kind == "ACK" for kind, *_ in controls)
    assert controls[-1][2] == 23, "the last ACK covers the last frame"


@pytest.mark.parametrize("collision_free", [False, True])
def test_frames_at_one_byte_per_cycle_between_pauses(seed, collision_free):
    rng = random.Random(seed)
    stream = b"".join(frames(rng, 6, sizes=(MAX_PAYLOAD,)))
    frame = len(stream) // 6
    check(stream, rng, gap=1, pause=lambda position: 300 if position % frame == 0 else 0,
          collision_free=collision_free)


@pytest.mark.parametrize("collision_free", [False, True])
def test_garbage_damage_gaps_and_bad_headers_are_dropped_and_nacked(seed, collision_free):
    rng = random.Random(seed)
    good = frames(rng, 30)
    pieces = []
    seq = 0
    for frame in good:
        roll = rng.random()
        if roll < 0.15:                                          # garbage before it
            pieces.append(rng.randbytes(rng.randrange(1, 60)))
        elif roll < 0.25:                                        # a damaged copy first
            damaged = bytearray(frame)
            damaged[rng.randrange(2, len(damaged))] ^= 1 << rng.randrange(8)
            pieces.append(bytes(damaged))
        elif roll < 0.32:                                        # a frame from the future
            pieces.append(encode_frame(FrameKind.DATA, seq + 5, b"future", MAX_PAYLOAD))
        elif roll < 0.38:                                        # a duplicate of the last
            pieces.append(pieces[-1] if pieces else b"")
        elif roll < 0.44:                                        # a kind the host never sends
            pieces.append(encode_frame(FrameKind.ACK, seq, b"x", MAX_PAYLOAD))
        elif roll < 0.50:                                        # a length over the maximum
            pieces.append(bytes([0xA5, 0x5A, 0x44, 0, seq, 0xFF, 0xFF]) + rng.randbytes(9))
        pieces.append(frame)
        seq += 1
    stream = b"".join(pieces)
    controls, counters = check(stream, rng, gap=2.5, collision_free=collision_free)
    assert counters["frames"] == 30
    assert counters["crc_errors"] and counters["out_of_order"] and counters["header_errors"]
    assert any(kind == "NACK" for kind, *_ in controls)


def test_a_false_sync_in_garbage_does_not_swallow_the_frames_after_it(seed):
    """A5 5A in garbage with a plausible length covers the next real frames; hunting again
    right after the false sync finds them."""
    rng = random.Random(seed)
    real = frames(rng, 3, sizes=(20,))
    false_start = bytes([0xA5, 0x5A, 0x44, 0x00, 0x00, 0x00, 150])   # claims 150 bytes
    stream = rng.randbytes(5) + false_start + b"".join(real) + rng.randbytes(150)
    controls, counters = check(stream, rng)
    assert counters["frames"] == 3 and counters["crc_errors"] == 1
    assert controls[0][0] == "ACK" or any(kind == "NACK" for kind, *_ in controls)


def test_a_full_play_queue_drops_in_order_frames_and_they_are_nacked(seed):
    rng = random.Random(seed)
    stream = b"".join(frames(rng, 12, sizes=(3,)))
    played, controls, counters = run(stream, rng=rng, queue_frames=2,
                                     stall=lambda cycle: cycle < 400)
    assert counters["dropped"] > 0
    assert counters["frames"] + counters["dropped"] + counters["out_of_order"] == 12
    # what was played is exactly the first frames, in order, none damaged or skipped
    want_played, _ = model(stream)
    assert played == want_played[:counters["frames"]]
    assert any(kind == "NACK" and expected == counters["frames"]
               for kind, expected, *_ in controls)


@pytest.mark.parametrize("collision_free", [False, True])
def test_a_full_ring_loses_bytes_and_never_plays_a_damaged_frame(seed, collision_free):
    rng = random.Random(seed)
    sent = frames(rng, 10, sizes=(MAX_PAYLOAD,))
    stream = b"".join(sent)
    played, controls, counters = run(stream, rng=rng, gap=1.5,
                                     stall=lambda cycle: cycle < 1200,
                                     collision_free=collision_free)
    assert counters["overruns"] > 0 and counters["crc_errors"] > 0
    want_played, _ = model(stream)
    assert played == want_played[:counters["frames"]], "only whole frames, in order"
    assert counters["frames"] < 10


def test_barrier_is_acked_only_once_drained(seed):
    rng = random.Random(seed)
    stream = b"".join(frames(rng, 3, sizes=(10,))) + encode_frame(FrameKind.DATA, 3, b"")
    played, controls, counters = run(stream, rng=rng, drained=lambda cycle: cycle >= 1000,
                                     tail=1500)
    acks = {acked: cycle for kind, _, acked, cycle in controls if kind == "ACK"}
    assert counters["acked"] == 3 and acks[2] < 1000 <= acks[3]
    assert len(played) == 3


@pytest.mark.parametrize("backpressure", [0.3, 0.7])
def test_backpressure_from_the_core_loses_nothing(seed, backpressure):
    rng = random.Random(seed)
    stream = b"".join(frames(rng, 12, sizes=(1, 40, 120)))
    check(stream, rng, gap=6, backpressure=backpressure)
