"""Ground truth: LOBSTER days converted to ITCH rebuild LOBSTER's own order book in the golden
model after every message row, reading from the order-book file only what no message announces.

Each day is converted, every row's units are applied to
``tickforge.host.model.core.CoreModel`` and the model's book is compared with that row of the
order-book file, which the converter sees only through a recorder of every position it reads.
Runs on the committed slices (tests/data/lobster) and on the full files when present.
"""

import time
from itertools import tee
from pathlib import Path

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, MessageKind, Side
from tickforge.host.feeds.itch import iter_units, write_units
from tickforge.host.feeds.lobster import EventType, LobsterDay, LobsterToItch, SEED_REF_BASE
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import WIRE, encode


DATA = Path(__file__).resolve().parent.parent / "data" / "lobster"
SLICES = [  # (file under tests/data/lobster, rows)
    ("LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip", 5000),
    ("LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip", 2000),
    ("LOBSTER_SampleFile_AMZN_2012-06-21_1_lines1-5000.zip", 5000),
    ("LOBSTER_SampleFile_AAPL_2012-06-21_1_lines1-5000.zip", 5000),
    ("AAPL_2012-06-21_34200000_57600000_message_10.csv", 999),
]
FULL_DAYS = [  # (path under the shared data folder, rows)
    ("lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip", 155_935),
    ("lobster/LOBSTER_SampleFile_AMZN_2012-06-21_1.zip", 57_515),
    ("lobster/LOBSTER_SampleFile_AAPL_2012-06-21_1.zip", 118_497),
    ("lobster/AAPL_L10_first999/AAPL_2012-06-21_34200000_57600000_message_10.csv", 999),
]
SLOT = 0
SIDES = (Side.BID, Side.ASK)
_ADD = WIRE[b"A"]


class RecordingRow:
    """All the converter may see of an order-book row: ``level()``, each call recorded."""

    __slots__ = ("_row", "_reads")

    def __init__(self, row, reads):
        self._row = row
        self._reads = reads

    def level(self, side, position):
        self._reads.append((side, position))
        return self._row.level(side, position)


def _is_seed_add(unit):
    return unit[2:3] == b"A" and _ADD.unpack(unit, 2).order_reference_number >= SEED_REF_BASE


def _trade_problems(message, events):
    """What is wrong with the trades a row reported, judged against the LOBSTER message."""
    if message.event == EventType.EXECUTE_VISIBLE:
        trades = [e.body for e in events
                  if e.kind == EventKind.BOOK and e.body.cause == MessageKind.EXECUTE]
        if ({(t.side, t.trade_price) for t in trades} != {(message.side, message.price)}
                or sum(t.trade_qty for t in trades) != message.size):
            return [(t.side, t.trade_price, t.trade_qty) for t in trades]
    elif message.event == EventType.EXECUTE_HIDDEN:
        trades = [(e.body.side, e.body.price, e.body.quantity) for e in events
                  if e.kind == EventKind.TRADE]
        if trades != [(message.side, message.price, message.size)]:
            return trades
    return None


def replay(day):
    """Convert ``day`` and apply it to the golden model row by row; return what was found."""
    converter = LobsterToItch.for_day(day)
    model = CoreModel(CoreConfig())
    model.feed(encode("s", stock_locate=converter.locate, slot=SLOT))
    reads = []
    truth, source = tee(day.rows())
    converted = converter.convert((message, RecordingRow(book, reads)) for message, book in source)
    found = {"rows": 0, "matched": 0, "mismatches": [], "bad_reads": [], "bad_trades": []}
    start = time.perf_counter()
    for row, ((message, book), units) in enumerate(zip(truth, converted)):
        seeds_from = len(units)
        while seeds_from and _is_seed_add(units[seeds_from - 1]):
            seeds_from -= 1
        events = model.feed(b"".join(units[:seeds_from]))
        if row > 0:  # row 0 seeds the book from the whole row, as allowed
            depth = {side: len(model.book.side_levels(SLOT, side)) for side in SIDES}
            for side, position in reads:
                if not depth[side] <= position < day.levels:
                    found["bad_reads"].append((row, side, position, depth[side]))
            if len(set(reads)) != len(reads):
                found["bad_reads"].append((row, "repeated", reads))
        reads.clear()
        events += model.feed(b"".join(units[seeds_from:]))
        bids = tuple(model.book.side_levels(SLOT, Side.BID))
        asks = tuple(model.book.side_levels(SLOT, Side.ASK))
        if bids == book.bids and asks == book.asks:
            found["matched"] += 1
        elif len(found["mismatches"]) < 5:
            found["mismatches"].append((row, message, book, bids, asks))
        trade_problem = _trade_problems(message, events)
        if trade_problem is not None and len(found["bad_trades"]) < 5:
            found["bad_trades"].append((row, message, trade_problem))
        found["rows"] += 1
    found["seconds"] = time.perf_counter() - start
    found["counters"] = dict(model.book.counters)
    found["parser"] = dict(model.parser.counters)
    found["converter"] = converter
    return found


def _check(found, expected_rows, label):
    converter = found["converter"]
    print(f"{label}: {found['matched']}/{found['rows']} rows match; seeded levels "
          f"{converter.seeded_levels} (row 0: {converter.initial_seeds}, re-seeds: "
          f"{converter.reseeds}); pruned {converter.pruned_levels}; unmatched ids "
          f"{converter.unmatched_events}; {found['rows'] / found['seconds']:.0f} rows/s "
          f"read + converted + modelled")
    assert found["rows"] == expected_rows
    assert found["mismatches"] == [], "the model's book differs from LOBSTER's"
    assert found["matched"] == expected_rows
    assert found["bad_reads"] == [], "read order-book positions the book already covers"
    assert found["bad_trades"] == [], "executions reported at the wrong price or size"
    assert not any(found["counters"].values()), found["counters"]
    parser = found["parser"]
    assert parser["skipped"] == parser["length_errors"] == parser["bad_fields"] == 0


@pytest.mark.parametrize("name, rows", SLICES, ids=[name for name, _ in SLICES])
def test_committed_slice_rebuilds_the_lobster_book(name, rows):
    _check(replay(LobsterDay(DATA / name)), rows, name)


@pytest.mark.parametrize("relative, rows", FULL_DAYS, ids=[Path(r).name for r, _ in FULL_DAYS])
def test_full_day_rebuilds_the_lobster_book(shared_data, relative, rows):
    _check(replay(LobsterDay(shared_data(relative))), rows, relative)


def test_converted_units_are_strict_itch_and_survive_a_file(tmp_path):
    day = LobsterDay(DATA / SLICES[0][0])
    units = list(LobsterToItch.for_day(day).units(day.rows()))
    path = tmp_path / "amzn.itch.gz"
    assert write_units(path, units) == len(units)
    assert list(iter_units(path)) == units  # strict: every type and length as specified


def test_a_twelve_decimal_time_becomes_its_nanosecond():
    day = LobsterDay(DATA / SLICES[1][0])
    rows = list(LobsterToItch.for_day(day).convert(day.rows()))
    # line 67,823 of the full file, 1,823 of the slice: 43002.632812672004,3,134172772,100,...
    units = rows[1822]
    assert {WIRE[u[2:3]].unpack(u, 2).timestamp for u in units} == {43_002_632_812_672}
