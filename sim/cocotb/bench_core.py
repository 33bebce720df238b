"""cocotb bench of the shipped :class:`~tickforge.hdl.core.Core`: bytes in, events out, scored
against ``CoreModel``.

Every event is compared with the model's field by field; ``t_in`` must be the cycle the
message's last byte went in and ``t_out`` the cycle the event was first offered, both on the
core's own counter, and no event may come out sooner than the 4 cycles parser and book take.
Each run ends with a status request whose event must carry the model's every counter.
Beats are full (``width`` bytes) but for the last of a frame, as the host link sends them.

Needs ``tests/hdl`` on the Python path (input generators shared with the Amaranth-simulator
tests); the runner in ``tests/cocotb`` puts it there.
"""

import cocotb
from amaranth.lib import data

from parser_bench import Frame, beats_of, frames_of

from ...hdl.layouts import EventKind, event_layout, input_beat_layout
from ...host.model.core import CoreModel
from ...host.protocol import encode
from .tb import TB, check_events, settings
from .traffic import byte_beats, damaged_frames, itch_units, lobster_units, mixed_units


LOBSTER_UNITS = 1800
ITCH_UNITS = 200
BAD_UNITS = 1500
MIN_LATENCY = 4  # parser 1 cycle, book 3


async def run_core(dut, frames_for):
    """Reset, send the frames ``frames_for(rng)`` makes and a status request, score the events;
    return the model (its counters say what the input held)."""
    run_settings = settings()
    config = run_settings.config
    tb = TB(dut, run_settings, drives_now=False)
    assert len(dut.i__payload) == data.Layout.cast(input_beat_layout(config.width)).size, \
        f"the build is not a core of width {config.width}"
    assert len(dut.o__payload) == event_layout(config.exported_levels).size, \
        f"the build does not export {config.exported_levels} levels"
    model = CoreModel(config)
    expected = []

    def on_transfer(beat, cycle):
        expected.extend(event._replace(t_in=cycle) for event in model.feed(beat.data, beat.first))

    tb.source.on_transfer = on_transfer
    await tb.reset()
    tag = tb.rng.randrange(1 << 32)
    frames = frames_for(tb.rng) + [Frame(encode("y", tag=tag))]
    beats = byte_beats(beats_of(frames, config.width, None, beat_bytes=config.width),
                       config.width)
    tb.source.send(beats)
    await tb.source.drained()
    await tb.sink.settle(len(expected))

    got = check_events(expected, tb.sink.received, config.exported_levels)
    for index, event in enumerate(got):
        assert event.t_out - event.t_in >= MIN_LATENCY, \
            f"event {index} (seq {event.seq}): out {event.t_out - event.t_in} cycles after in"

    status = got[-1]
    assert status.kind == EventKind.STATUS and status.body.tag == tag, \
        f"the last event is not the status requested (tag {tag}): {status}"
    assert status.body.parser._asdict() == model.parser.counters, "parser counters"
    assert status.body.book._asdict() == model.book.counters, "book counters"
    latencies = sorted(event.t_out - event.t_in for event in got)
    tb.log.info("%d frames, %d bytes in %d beats, %d events in %d cycles, latency min %d "
                "median %d max %d; status %s", len(frames), sum(len(beat.data) for beat in beats),
                len(beats), len(got), tb.cycle(), latencies[0], latencies[len(latencies) // 2],
                latencies[-1], status.body)
    return model


@cocotb.test()
async def real_data(dut):
    """Real order flow on a subscribed book, then real NASDAQ directory and system messages."""
    units = lobster_units()[:LOBSTER_UNITS] + itch_units()[:ITCH_UNITS]
    await run_core(dut, lambda rng: frames_of(rng, units))


@cocotb.test()
async def bad_input(dut):
    """Real order flow among bad units, spoilt fields and messages for unsubscribed books, in
    frames cut short or with garbage inside; the subscription goes first, in a frame alone."""
    def frames_for(rng):
        subscription, *flow = lobster_units()[:LOBSTER_UNITS]
        units = mixed_units(rng, BAD_UNITS, keep=flow[:BAD_UNITS // 2])
        return [Frame(subscription)] + damaged_frames(rng, units, truncate=0.1, garbage=0.1)

    model = await run_core(dut, frames_for)
    for counter in ("skipped", "length_errors", "truncated", "bad_fields"):
        assert model.parser.counters[counter] > 0, f"the input never reached {counter}"
    for counter in ("unsubscribed", "unknown_refs"):
        assert model.book.counters[counter] > 0, f"the input never reached {counter}"
