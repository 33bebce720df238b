"""Input traffic of the byte-stream benches (parser and core): real data and bad units.

Builds on the generators of the Amaranth-simulator parser tests (``tests/hdl/parser_bench.py``),
so both levels of test draw from the same kinds of input.
"""

import itertools
from functools import cache

from amaranth.lib import data

from parser_bench import BAD_KINDS, NONZERO_FIELDS, SIDE_FIELDS, Frame, bad_unit, frames_of, \
    random_message, split_units

from ...hdl.layouts import WIRE_MESSAGES, input_beat_layout
from ...host.bench import lobster_stream
from ...host.paths import BUNDLED_DATA
from ...host.protocol import WIRE
from .tb import Beat


__all__ = ["ITCH_SLICE", "LOBSTER_SLICE", "SPOILABLE", "take", "itch_units", "lobster_units",
           "mixed_units", "damaged_frames", "byte_beats"]


ITCH_SLICE = BUNDLED_DATA / "itch" / "12302019.NASDAQ_ITCH50.first1000"
"""Real NASDAQ ITCH: directory, system, trading-action and Reg SHO messages."""

LOBSTER_SLICE = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_1_lines1-5000.zip"
"""Real order flow (adds, executions, cancels, deletes, trades), converted to ITCH."""

SPOILABLE = tuple(code for code, wire in sorted(WIRE.items())
                  if set(wire.fields) & (SIDE_FIELDS | NONZERO_FIELDS))
"""Message types with a field ``random_message(..., bad=True)`` spoils (a side, a share count)."""


def take(units, budget):
    """The first units totalling at most ``budget`` bytes."""
    totals = itertools.accumulate(len(unit) for unit in units)
    return [unit for unit, total in zip(units, totals) if total <= budget]


def itch_units():
    return split_units(ITCH_SLICE.read_bytes())


def lobster_units():
    """The subscription of the LOBSTER book, then its order flow."""
    return split_units(lobster_stream(LOBSTER_SLICE)[0])


def mixed_units(rng, count, keep=()):
    """``count`` units, shuffled: ``keep``, and then random valid messages of every type,
    messages with a spoilt field and bad units of every kind (unknown type, wrong length,
    length 0, shorter than a beat, longer than any message)."""
    units = list(keep)
    types = sorted(WIRE_MESSAGES)
    while len(units) < count:
        roll = rng.random()
        if roll < 0.35:
            units.append(random_message(rng, rng.choice(types)))
        elif roll < 0.5:
            units.append(random_message(rng, rng.choice(SPOILABLE), bad=True))
        else:
            units.append(bad_unit(rng, rng.choice(BAD_KINDS)))
    rng.shuffle(units)
    return units


def damaged_frames(rng, units, *, truncate, garbage):
    """``units`` in frames of 1..8, each cut short at a random byte with probability
    ``truncate`` and given 1..40 random bytes at a random place with probability ``garbage``.

    (``frames_of(..., truncate=...)`` cuts inside the last unit, but fails when the last frame
    asks for more units than are left.)"""
    frames = []
    for frame in frames_of(rng, units):
        data = frame.data
        if len(data) > 1 and rng.random() < truncate:
            data = data[:rng.randrange(1, len(data))]
        if rng.random() < garbage:
            at = rng.randrange(len(data) + 1)
            data = data[:at] + rng.randbytes(rng.randint(1, 40)) + data[at:]
        frames.append(Frame(data))
    return frames


@cache
def _beat_fields(width):
    layout = data.Layout.cast(input_beat_layout(width))
    return tuple(layout[name].offset for name in ("data", "count", "first"))


def byte_beats(chunks, width):
    """A :class:`Beat` of ``input_beat_layout(width)`` for each ``(bytes, first)``."""
    data_at, count_at, first_at = _beat_fields(width)
    return [Beat(int.from_bytes(chunk, "little") << data_at | len(chunk) << count_at
                 | first << first_at, chunk, first)
            for chunk, first in chunks]
