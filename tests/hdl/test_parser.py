"""ITCHParser gateware against ParserModel, in the Amaranth simulator, at every width.

Every run checks each parsed message bit for bit (t_in included: the cycle its last byte was
transferred), that none is lost or extra, and that o's payload holds still until taken.
Randomness is seeded per test (the seed is printed); set TICKFORGE_SEED to replay a stream.
"""

import random

import pytest
from amaranth.back import verilog

from tickforge.hdl.layouts import WIRE_MESSAGES, MessageKind
from tickforge.hdl.parser import ITCHParser
from tickforge.hdl.parser.decode import DECODINGS
from tickforge.host.paths import BUNDLED_DATA

from parser_bench import (BAD_KINDS, EMPTY_UNIT, Frame, bad_unit, frames_of, random_message,
                          run_parser, split_units)


WIDTHS = (1, 2, 4, 8)
ITCH_SLICE = BUNDLED_DATA / "itch" / "12302019.NASDAQ_ITCH50.first1000"

# Input bytes per run, so each width simulates a few thousand cycles.
BUDGET = {1: 6000, 2: 8000, 4: 12000, 8: 16000}


@pytest.fixture
def rng(seed):
    return random.Random(seed)


@pytest.fixture
def itch_units():
    """The units of the bundled real NASDAQ ITCH slice."""
    return split_units(ITCH_SLICE.read_bytes())


def take(units, budget):
    """The first units totalling at most ``budget`` bytes."""
    taken, total = [], 0
    for unit in units:
        total += len(unit)
        if total > budget:
            break
        taken.append(unit)
    return taken


def valid_units(rng, count):
    """Messages of every known type, a status request every 20 or so."""
    types = sorted(WIRE_MESSAGES)
    return [random_message(rng, b"y" if rng.random() < 0.05 else rng.choice(types))
            for _ in range(count)]


def test_width_is_validated():
    with pytest.raises(TypeError, match="must be an integer"):
        ITCHParser("8")
    with pytest.raises(TypeError, match="must be an integer"):
        ITCHParser(True)
    for width in (0, 3, 16):
        with pytest.raises(ValueError, match="1, 2, 4 or 8"):
            ITCHParser(width)


@pytest.mark.parametrize("width", WIDTHS)
def test_real_itch(width, rng, itch_units):
    """Recorded NASDAQ data, in frames of random beats, with idle input and a stalling output."""
    units = take(itch_units, BUDGET[width])
    run = run_parser(width, frames_of(rng, units), rng, idle=0.2, stall=0.2)
    run.check()
    assert len(run.expected) > 50


@pytest.mark.parametrize("width", WIDTHS)
def test_every_message_type(width, rng):
    """Every ITCH and tickforge type with random fields, some with bad sides or 0 shares."""
    units = take(valid_units(rng, 2000), BUDGET[width])
    units += [random_message(rng, code) for code in sorted(WIRE_MESSAGES)]
    units += [random_message(rng, code, bad=True) for code in sorted(WIRE_MESSAGES)] * 2
    rng.shuffle(units)
    units.append(random_message(rng, b"y"))
    run = run_parser(width, frames_of(rng, units), rng, idle=0.3, stall=0.3)
    run.check()
    kinds = {record.kind for record in run.expected}
    assert kinds == set(MessageKind), kinds
    assert run.model.counters["bad_fields"] > 0


@pytest.mark.parametrize("width", WIDTHS)
def test_bad_input_is_counted_and_survived(width, rng):
    """Unknown types, wrong lengths, length 0, short and long units, bad fields, frames cut
    short and random bytes: every counter moves, and the parser keeps up with the model."""
    units = []
    for _ in range(1000):
        if rng.random() < 0.5:
            units.append(bad_unit(rng, rng.choice(BAD_KINDS)))
        else:
            code = rng.choice(sorted(DECODINGS))
            units.append(random_message(rng, code, bad=rng.random() < 0.3))
    units = take(units, BUDGET[width])
    units.append(random_message(rng, b"y"))
    frames = frames_of(rng, units, truncate=0.2, garbage=0.2)
    frames.append(Frame(random_message(rng, b"y")))  # the counters, after everything
    run = run_parser(width, frames, rng, idle=0.3, stall=0.3)
    run.check()
    counters = run.model.counters
    assert all(counters[name] > 0 for name in counters), counters


@pytest.mark.parametrize("width", WIDTHS)
def test_units_of_every_length_are_skipped(width, rng):
    """Lengths past the longest message, up to 65535, are skipped whole."""
    # The longest only at widths 1 and 8: 2 and 4 count units as 8 does.
    lengths = [51, 52, 255, 256, 257, 1000, 4097] + ([65535] if width in (1, 8) else [])
    units = []
    for length in lengths:
        units += [bad_unit(rng, "unknown"),
                  length.to_bytes(2, "big") + rng.randbytes(length),
                  random_message(rng, b"A"), random_message(rng, b"y")]
    run = run_parser(width, [Frame(b"".join(units))], rng)
    run.check()
    assert run.model.counters["length_errors"] + run.model.counters["skipped"] == 2 * len(lengths)


def test_line_rate_at_width_8(rng, itch_units):
    """Full beats every cycle and o always ready: a beat is taken every cycle, and each
    message is offered the cycle after its last byte."""
    for units in (itch_units, valid_units(rng, 300)):
        run = run_parser(8, [Frame(b"".join(units))], rng, beat_bytes=8)
        run.check()
        first = run.transfer_cycles[0]
        assert run.transfer_cycles == list(range(first, first + len(run.transfer_cycles)))
        assert run.offered_at == [record.t_in + 1 for record in run.expected]


@pytest.mark.parametrize("width", WIDTHS)
def test_latency_is_one_cycle(width, rng):
    """Each message is offered on o the cycle after its last byte was taken."""
    run = run_parser(width, frames_of(rng, valid_units(rng, 40)), rng)
    run.check()
    assert run.offered_at == [record.t_in + 1 for record in run.expected]


@pytest.mark.parametrize("width", WIDTHS)
def test_truncation_and_an_ending_in_one_beat(width, rng):
    """A first beat that truncates a unit and ends another: both counted, in order."""
    cut = random_message(rng, b"A")[:20]
    run = run_parser(width, [Frame(cut), Frame(EMPTY_UNIT + random_message(rng, b"y"))], rng,
                     beat_bytes=width)
    run.check()
    status = run.expected[-1]
    assert (status.seq, status.body.parser.truncated, status.body.parser.length_errors) == (2, 1, 1)


@pytest.mark.parametrize("width", [4, 8])
def test_beat_ending_several_units_takes_a_cycle_each(width, rng):
    """A full beat of length-0 units ends width/2 of them, one per cycle."""
    empties = EMPTY_UNIT * (2 * width)
    run = run_parser(width, [Frame(empties + random_message(rng, b"y"))], rng,
                     beat_bytes=width)
    run.check()
    gaps = {b - a for a, b in zip(run.transfer_cycles, run.transfer_cycles[1:])}
    assert gaps == {width // 2, 1}
    assert run.expected[-1].body.parser.length_errors == 2 * width


@pytest.mark.parametrize("width", [1, 8])
def test_converts_to_verilog(width):
    """The Verilog back-end accepts the design (the cocotb benches run that Verilog)."""
    text = verilog.convert(ITCHParser(width), name="itch_parser")
    assert "module itch_parser" in text and "i__payload" in text and "o__valid" in text
