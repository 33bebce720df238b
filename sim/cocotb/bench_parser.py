"""cocotb bench of :class:`~tickforge.hdl.parser.ITCHParser`, scored against ``ParserModel``.

Every parsed message is compared with the model's field by field, ``t_in`` against the cycle the
unit's last byte went in; its unused bits must be 0, and it must be offered the cycle after that
byte (the parser's documented latency). Beats carry 1..width bytes at random, grouped in frames
whose first beat is marked ``first``.

Needs ``tests/hdl`` on the Python path (input generators shared with the Amaranth-simulator
tests); the runner in ``tests/cocotb`` puts it there.
"""

import cocotb
from amaranth.lib import data

from parser_bench import bad_unit, beats_of, frames_of

from ...hdl.layouts import input_beat_layout
from ...host.model.parser import ParserModel
from ...host.protocol import PARSED
from .bits import parsed_bits
from .tb import TB, check_in_order, settings
from .traffic import byte_beats, damaged_frames, itch_units, lobster_units, mixed_units, take


REAL_BYTES_PER_LANE = 9_000
"""Input bytes of a real-data run per byte of beat width: some thousands of cycles either way."""
BAD_UNITS_PER_LANE = 200
LONG_BYTES_PER_LANE = 400
"""Longest unit of a bad-input run per byte of beat width (two such units in each run)."""


async def run_parser(dut, frames_for):
    """Reset, send the frames ``frames_for(rng, width)`` makes, score the output; return the
    model (its counters say what the input held)."""
    run_settings = settings()
    tb = TB(dut, run_settings, drives_now=True)
    width = run_settings.config.width
    assert len(dut.i__payload) == data.Layout.cast(input_beat_layout(width)).size, \
        f"the build is not a parser of width {width}"
    model = ParserModel()
    expected = []

    def on_transfer(beat, cycle):
        expected.extend(record._replace(t_in=cycle) for record in model.feed(beat.data, beat.first))

    tb.source.on_transfer = on_transfer
    await tb.reset()
    frames = frames_for(tb.rng, width)
    beats = byte_beats(beats_of(frames, width, tb.rng), width)
    tb.source.send(beats)
    await tb.source.drained()
    await tb.sink.settle(len(expected))

    received = tb.sink.received
    got = [PARSED.decode(item.bits) for item in received]
    check_in_order("parsed message", [record._replace(t_in=0) for record in expected],
                   [record._replace(t_in=0) for record in got])
    for index, (want, have, item) in enumerate(zip(expected, got, received)):
        assert have.t_in == want.t_in, (f"parsed message {index} (seq {want.seq}): t_in is "
                                        f"{have.t_in}, its last byte went in at {want.t_in}")
        assert item.bits == parsed_bits(want), f"parsed message {index}: unused bits not 0"
        assert item.offered_at == want.t_in + 1, (
            f"parsed message {index}: offered at cycle {item.offered_at}, its last byte went "
            f"in at {want.t_in}: latency is 1 cycle")
    tb.log.info("%d frames, %d bytes in %d beats, %d messages out in %d cycles; counters %s",
                len(frames), sum(len(beat.data) for beat in beats), len(beats), len(got),
                tb.cycle(), model.counters)
    return model


def real_frames(rng, width):
    budget = REAL_BYTES_PER_LANE * width
    return frames_of(rng, take(itch_units(), budget * 3 // 10)
                     + take(lobster_units(), budget * 7 // 10))


def bad_frames(rng, width):
    long_units = [bad_unit(rng, "long", long_limit=LONG_BYTES_PER_LANE * width)
                  for _ in range(2)]
    units = mixed_units(rng, BAD_UNITS_PER_LANE * width, keep=long_units)
    return damaged_frames(rng, units, truncate=0.1, garbage=0.1)


@cocotb.test()
async def real_data(dut):
    """Real NASDAQ ITCH, then LOBSTER order flow converted to ITCH."""
    await run_parser(dut, real_frames)


@cocotb.test()
async def bad_input(dut):
    """Valid messages among bad units of every kind, in frames cut short or with garbage."""
    model = await run_parser(dut, bad_frames)
    for counter in ("skipped", "length_errors", "truncated", "bad_fields"):
        assert model.counters[counter] > 0, f"the input never reached {counter}"
