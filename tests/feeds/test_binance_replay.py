"""Ground truth: Binance captures replayed through the golden model keep every venue's best bid
and ask equal to Binance's own bookTicker stream, an independent stream of the same capture.

Runs :func:`~tickforge.host.verify.binance.verify_binance` on the committed slices
(tests/data/binance), on slices with a diff removed, and on the full captures when present.
What a slice holds is read here straight from its JSON lines, without the reader under test.
"""

import gzip
import json
import random
import time
from pathlib import Path

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import Side
from tickforge.host.transport import ModelTransport
from tickforge.host.verify.binance import verify_binance


DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
SPOT = DATA / "spot" / "btcusdt_20240808_lines1-10000.gz"
SPOT_NEXT_DAY = DATA / "spot" / "btcusdt_20240809_lines1-2000.gz"
USDM = DATA / "usdm" / "btcusdt_20240808_lines1-10000.gz"
CM = DATA / "cm" / "btcusd_perp_20240808_lines1-6000.gz"
SLICES = [SPOT, USDM, CM]
FULL = ["binance/spot/btcusdt_20240808.gz", "binance/spot/btcusdt_20240809.gz",
        "binance/usdm/btcusdt_20240808.gz",
        "binance/cm/btcusd_perp_20240808.gz", "binance/cm/btcusd_perp_20240809.gz"]


def _scan(path):
    """The diffs (line, U, u, pu), the snapshot (line, lastUpdateId) and the number of trades
    of a capture, read with nothing but gzip and json."""
    diffs, snapshot, trades = [], None, 0
    with gzip.open(path, "rt") as text:
        for line, entry in enumerate(text, 1):
            message = json.loads(entry.split(" ", 1)[1])
            if "lastUpdateId" in message:
                snapshot = (line, message["lastUpdateId"])
            elif "@depth" in message["stream"]:
                data = message["data"]
                diffs.append((line, data["U"], data["u"], data.get("pu")))
            elif message["stream"].endswith("@trade"):
                trades += 1
    return diffs, snapshot, trades


def _verify(paths, config=CoreConfig()):
    transport = ModelTransport(config)
    return verify_binance(paths, transport=transport), transport.model


def _report(result):
    for venue in result.venues:
        print(f"{venue.name}: bbo matched {venue.matched}/{venue.total} (prices only "
              f"{venue.prices_matched}); applied {venue.applied}, stale {venue.stale}, "
              f"unsynced {venue.unsynced}, no truth {venue.no_truth}, gaps {venue.gaps}")
    print(f"{result.units} units in {result.wall_seconds:.2f} s "
          f"({result.units / result.wall_seconds:,.0f} units/s)")


def _assert_clean_counters(result):
    assert result.status is not None, "no status event came back"
    assert not any(result.status.book), result.status.book   # no level drops, misses, ...
    parser = result.status.parser
    assert parser.messages == result.units
    assert parser.skipped == parser.length_errors == parser.truncated == parser.bad_fields == 0


def test_slices_of_three_venues_match_their_book_tickers():
    result, _ = _verify(SLICES)
    _report(result)
    assert result.ok and result.total > 0
    assert [venue.name for venue in result.venues] == ["spot/btcusdt", "usdm/btcusdt",
                                                      "cm/btcusd_perp"]
    for path, venue in zip(SLICES, result.venues):
        diffs, _, trades = _scan(path)
        assert venue.in_sync and venue.gaps == 0
        assert venue.total > 300 and venue.matched >= 0.999 * venue.total
        assert venue.applied + venue.stale == len(diffs)
        assert venue.trades == venue.trade_events == trades
    # spot lines 1 and 2 (u 50093239202, 50093239207) precede the snapshot of line 8
    # (lastUpdateId 50093239218): the only two diffs dropped
    assert result.venues[0].stale == 2
    assert result.gaps == [] and result.mismatches == []
    _assert_clean_counters(result)


@pytest.mark.parametrize("path", SLICES, ids=["spot", "usdm", "cm"])
def test_a_removed_diff_is_a_gap_after_which_the_venue_is_not_compared(tmp_path, seed, path):
    diffs, (_, last_update_id), _ = _scan(path)
    futures = diffs[0][3] is not None
    reach = last_update_id if futures else last_update_id + 1
    first_applied = next(index for index, diff in enumerate(diffs) if diff[2] >= reach)
    removed = random.Random(seed).randrange(first_applied + 1, len(diffs) - 1)
    line = diffs[removed][0]
    print(f"removing {path.name} line {line}")
    broken = tmp_path / path.parent.name / path.name
    broken.parent.mkdir()
    with gzip.open(path, "rb") as source, gzip.open(broken, "wb") as target:
        target.writelines(entry for number, entry in enumerate(source, 1) if number != line)
    others = [other for other in SLICES if other != path]
    result, model = _verify([broken, *others])
    _report(result)

    previous, following = diffs[removed - 1], diffs[removed + 1]
    gap, = result.gaps
    assert (gap.source, gap.line) == (str(broken), following[0] - 1)
    assert f"sequence gap at {broken} line {gap.line}: expected {gap.expected}" in str(gap)
    if futures:
        assert (gap.expected, gap.got) == (previous[2], following[3])
    else:
        assert (gap.expected, gap.got) == (previous[2] + 1, following[1])
    venue, *rest = result.venues
    assert (venue.gaps, venue.in_sync) == (1, False)
    assert venue.applied == removed - first_applied
    assert venue.unsynced == len(diffs) - removed - 1   # the removed diff is not in the file
    assert venue.total + venue.no_truth == venue.applied
    assert venue.matched >= 0.999 * venue.total
    for side in Side:  # a book known to be wrong is emptied, not left looking right
        assert model.book.side_levels(venue.slot, side) == []
    for other in rest:
        assert other.in_sync and other.total > 0 and other.matched >= 0.999 * other.total
    _assert_clean_counters(result)


def test_the_next_days_slice_does_not_continue_the_first_and_is_reported():
    diffs, _, _ = _scan(SPOT)
    next_diffs, _, _ = _scan(SPOT_NEXT_DAY)
    result, _ = _verify([SPOT_NEXT_DAY, SPOT])
    gap, = result.gaps
    # 08-09 line 1: "U":50093421585,"u":50093421612; the 08-08 slice ends at u 50093282204
    assert (gap.source, gap.line, gap.expected, gap.got) == \
        (str(SPOT_NEXT_DAY), 1, diffs[-1][2] + 1, 50093421585)
    venue, = result.venues
    assert venue.unsynced == len(next_diffs)
    assert venue.total > 0 and venue.matched == venue.total  # 08-08's diffs, compared


def test_verify_refuses_what_the_target_cannot_hold():
    with pytest.raises(ValueError, match="3 venues need 3 book slots; the target has 2"):
        _verify(SLICES, CoreConfig(symbols=2))
    with pytest.raises(ValueError, match="levels must be 1..15"):
        verify_binance(SLICES, transport=ModelTransport(CoreConfig()), levels=16)


def test_full_captures_match_their_book_tickers(shared_data):
    paths = [shared_data(relative) for relative in FULL]
    started = time.perf_counter()
    result, _ = _verify(paths)
    print(f"full captures: {time.perf_counter() - started:.1f} s")
    _report(result)
    assert result.ok and result.gaps == []
    for venue in result.venues:
        assert venue.in_sync and venue.total > 6000
        assert venue.trades == venue.trade_events
    # Binance's spot bookTicker skipped two changes of the best bid (README): at 08-09 line
    # 12880 (u 50093478174) the last ticker is u 50093478171, bid 61565.10, the next u
    # 50093478187; the depth stream has already moved the bid to 61564.91.
    spot = result.venues[0]
    assert spot.name == "spot/btcusdt" and spot.total - spot.matched == 2
    assert {(Path(m.source).name, m.line) for m in result.mismatches} == \
        {("btcusdt_20240809.gz", 12880), ("btcusdt_20240809.gz", 13464)}
    assert "line 12880 (u=50093478174): bookTicker bid 760@6156510 " in \
        str(result.mismatches[0])
    for venue in result.venues[1:]:
        assert venue.matched == venue.prices_matched == venue.total
    _assert_clean_counters(result)


def _book_after(path, diff_line):
    """The venue's full book (JSON price strings → quantity strings, by side) after the diff on
    ``diff_line``, by Binance's own rule (the snapshot, then every diff, buffered ones included,
    reaching past it), read with nothing but gzip and json."""
    book, last_update_id, diffs = None, None, []
    with gzip.open(path, "rt") as text:
        for line, entry in enumerate(text, 1):
            message = json.loads(entry.split(" ", 1)[1])
            if "lastUpdateId" in message:
                last_update_id = message["lastUpdateId"]
                book = {side: dict(message[side]) for side in ("bids", "asks")}
            elif "@depth" in message["stream"]:
                diffs.append(message["data"])
            if book is not None:
                for data in diffs:
                    if data["u"] >= last_update_id:
                        for side, key in (("bids", "b"), ("asks", "a")):
                            for price, qty in data[key]:
                                if float(qty):
                                    book[side][price] = qty
                                else:
                                    book[side].pop(price, None)
                diffs.clear()
            if line == diff_line:
                return book


@pytest.mark.parametrize("path", SLICES, ids=["spot", "usdm", "cm"])
def test_after_a_gap_the_next_snapshot_resyncs_the_venue(tmp_path, seed, path):
    """A diff removed, and a later snapshot (what a client fetches after a gap) put in the
    capture: the gap is reported, then the venue is back in sync and matches bookTicker."""
    diffs, (_, last_update_id), _ = _scan(path)
    futures = diffs[0][3] is not None
    reach = last_update_id if futures else last_update_id + 1
    first_applied = next(index for index, diff in enumerate(diffs) if diff[2] >= reach)
    rng = random.Random(seed)
    removed = rng.randrange(first_applied + 1, len(diffs) // 2)
    resync = rng.randrange(removed + 1, len(diffs) // 2 + 50)
    book = _book_after(path, diffs[resync][0])
    snapshot = {"lastUpdateId": diffs[resync][2],
                "bids": sorted(book["bids"].items(), key=lambda level: -float(level[0])),
                "asks": sorted(book["asks"].items(), key=lambda level: float(level[0]))}
    print(f"removing {path.name} line {diffs[removed][0]}, snapshot after line "
          f"{diffs[resync][0]}")
    patched = tmp_path / path.parent.name / path.name
    patched.parent.mkdir()
    with gzip.open(path, "rt") as source, gzip.open(patched, "wt") as target:
        for number, entry in enumerate(source, 1):
            if number == diffs[removed][0]:
                continue
            target.write(entry)
            if number == diffs[resync][0]:
                target.write(f"{entry.split(' ', 1)[0]} {json.dumps(snapshot)}\n")
    others = [other for other in SLICES if other != path]
    result, model = _verify([patched, *others])
    _report(result)

    gap, = result.gaps
    assert str(gap).startswith(f"{result.venues[0].name}: sequence gap at {patched} line ")
    venue = result.venues[0]
    assert (venue.gaps, venue.in_sync) == (1, True)
    # applied: those before the removed one, and those the new snapshot does not cover (futures
    # apply again the one with u = lastUpdateId)
    after = len(diffs) - resync - (0 if futures else 1)
    assert venue.applied == (removed - first_applied) + after
    assert venue.total > 0 and venue.matched >= 0.999 * venue.total
    _assert_clean_counters(result)
