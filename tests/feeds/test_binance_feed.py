"""The Binance capture reader on real and broken files, and the converter's rules on hand-made
records.

Expected values were worked out by hand: for the real files, read off the JSON lines quoted
beside them (tests/data/binance, see tests/data/README.md); for the converter, from the sync
and window rules in :class:`~tickforge.host.feeds.binance.BinanceToItch`'s docstring.
"""

import gzip
import json
import random
from pathlib import Path

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import Side
from tickforge.host.feeds.binance import (
    BinanceFormatError, ScaleError, Venue, Scale, DEFAULT_SCALES, scale_decimal, venue_of,
    DepthDiff, Snapshot, BookTicker, TradePrint, BinanceFile, VenueFeed, BinanceCapture,
    SyncState, SequenceGap, BinanceToItch, NS_PER_DAY)
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import WIRE


DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
SPOT = DATA / "spot" / "btcusdt_20240808_lines1-10000.gz"
SPOT_NEXT_DAY = DATA / "spot" / "btcusdt_20240809_lines1-2000.gz"
USDM = DATA / "usdm" / "btcusdt_20240808_lines1-10000.gz"
CM = DATA / "cm" / "btcusd_perp_20240808_lines1-6000.gz"
_LEVEL = WIRE[b"l"]
_TRADE = WIRE[b"P"]


# --- scaling ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, decimals, value", [
    ("61737.63000000", 2, 6_173_763),      # spot price, 8 decimals written, 2 significant
    ("0.00032000", 6, 320),                # spot quantity
    ("25.42618900", 6, 25_426_189),        # spot: a 6-decimal quantity (at 200000.00)
    ("61800.20", 2, 6_180_020),            # USD-M price
    ("0.014", 3, 14),                      # USD-M quantity
    ("61773.6", 2, 6_177_360),             # COIN-M price, 1 decimal written
    ("1001", 0, 1001),                     # COIN-M contracts
    ("0.00000000", 6, 0),
    ("0", 0, 0),
    ("007.5", 1, 75),
    ("4294967295", 0, 2**32 - 1),          # the largest value 32 bits hold
    ("42949672.950", 2, 2**32 - 1),
])
def test_decimal_strings_scale_exactly(text, decimals, value):
    assert scale_decimal(text, decimals) == value


@pytest.mark.parametrize("text, decimals, problem", [
    ("0.0000001", 6, "beyond 6 decimals"),
    ("61737.631", 2, "beyond 2 decimals"),
    ("0.5", 0, "beyond 0 decimals"),
    ("4294967296", 0, "32 bits"),
    ("42949672.96", 2, "32 bits"),
    ("", 2, "not a decimal number"),
    ("1.", 2, "not a decimal number"),
    (".5", 2, "not a decimal number"),
    ("-1", 2, "not a decimal number"),
    ("1e5", 2, "not a decimal number"),
    ("1,5", 2, "not a decimal number"),
    (" 1", 2, "not a decimal number"),
    ("１", 2, "not a decimal number"),      # a full-width digit: isdigit() says yes
    ("nan", 2, "not a decimal number"),
    (1.5, 2, "not a decimal string"),
    (15, 2, "not a decimal string"),
])
def test_scaling_refuses_what_it_cannot_carry_exactly(text, decimals, problem):
    with pytest.raises(ValueError, match=problem):
        scale_decimal(text, decimals)


def test_default_scales_put_all_venues_prices_in_cents():
    assert {scale.price_decimals for scale in DEFAULT_SCALES.values()} == {2}
    assert [DEFAULT_SCALES[v].quantity_decimals for v in Venue] == [6, 3, 0]
    with pytest.raises(ValueError, match="price_decimals"):
        Scale(price_decimals=-1, quantity_decimals=0)


# --- reading real files ----------------------------------------------------------------------

def _first(records, kind):
    return next(record for record in records if type(record) is kind)


def test_spot_slice_reads_as_recorded():
    file = BinanceFile(SPOT)
    assert (file.venue, file.symbol, file.date) == (Venue.SPOT, "btcusdt", "20240808")
    records = list(file.records())
    assert len(records) == 10_000
    diff = records[0]
    # line 1: 1723161253937085768 {"stream":"btcusdt@depth@100ms","data":{...,"U":50093239189,
    #   "u":50093239202,"b":[["61737.63000000","0.00000000"],["61730.17000000","0.00000000"],
    #   ["56854.58000000","0.00000000"]],"a":[["61837.64000000","1.54698000"],...
    assert type(diff) is DepthDiff
    assert (diff.time_ns, diff.line, diff.first_id, diff.final_id, diff.previous_id) == \
        (1723161253937085768, 1, 50093239189, 50093239202, None)
    assert diff.bids == ((6173763, 0), (6173017, 0), (5685458, 0))
    assert diff.asks[0] == (6183764, 1546980)
    # line 3: {"u":50093239212,"b":"61837.63000000","B":"3.78826000","a":"61837.64000000",
    #   "A":"1.54698000"}
    assert records[2] == BookTicker(1723161254087891268, str(SPOT), 3, 50093239212,
                                    6183763, 3788260, 6183764, 1546980)
    # line 4: "t":3735683259,"p":"61837.63000000","q":"0.02000000",...,"m":true
    assert records[3] == TradePrint(1723161254087896568, str(SPOT), 4, 3735683259, 6183763,
                                    20000, True)
    # line 8: {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"],...] 1000 a
    #   side, last bid ["61631.55000000","0.00014000"], last ask ["62053.18000000","0.00010000"]
    snapshot = records[7]
    assert type(snapshot) is Snapshot and snapshot.last_update_id == 50093239218
    assert (len(snapshot.bids), len(snapshot.asks)) == (1000, 1000)
    assert (snapshot.bids[0], snapshot.bids[-1]) == ((6183763, 3788260), (6163155, 140))
    assert (snapshot.asks[0], snapshot.asks[-1]) == ((6183764, 1546980), (6205318, 100))
    assert file.skipped == {}


def test_usdm_slice_reads_as_recorded():
    records = list(BinanceFile(USDM).records())
    # line 1: "U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["58710.20","0.014"],
    diff = records[0]
    assert (diff.first_id, diff.final_id, diff.previous_id, diff.bids[0]) == \
        (5123107832006, 5123107837557, 5123107831937, (5871020, 14))
    # line 2: "u":5123107839020,"b":"61800.20","B":"2.507","a":"61800.30","A":"2.510"
    assert records[1][3:] == (5123107839020, 6180020, 2507, 6180030, 2510)
    # line 3: "t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false
    assert records[2][3:] == (5266583935, 6180030, 6, False)
    # line 55: {"lastUpdateId":5123107852948,...,"bids":[["61800.20","2.909"],...
    snapshot = _first(records, Snapshot)
    assert (snapshot.line, snapshot.last_update_id, snapshot.bids[0], snapshot.asks[0]) == \
        (55, 5123107852948, (6180020, 2909), (6180030, 1072))


def test_cm_slice_reads_as_recorded():
    records = list(BinanceFile(CM).records())
    # line 1: "U":1007198631260,"u":1007198631565,"pu":1007198631198,"b":[["61773.6","1001"],
    diff = records[0]
    assert (diff.first_id, diff.final_id, diff.previous_id, diff.bids[0]) == \
        (1007198631260, 1007198631565, 1007198631198, (6177360, 1001))
    # line 21: "t":849714402,"p":"61804.8","q":"4","X":"MARKET","m":false
    trade = _first(records, TradePrint)
    assert (trade.line, trade.trade_id, trade.price, trade.quantity, trade.buyer_is_maker) == \
        (21, 849714402, 6180480, 4, False)
    # line 37: {"lastUpdateId":1007198635033,...,"bids":[["61804.7","35"],...
    snapshot = _first(records, Snapshot)
    assert (snapshot.line, snapshot.last_update_id, snapshot.bids[0], snapshot.asks[0]) == \
        (37, 1007198635033, (6180470, 35), (6180480, 1645))


def test_venue_is_the_folder_and_symbol_and_date_the_name(tmp_path):
    assert venue_of(SPOT) == Venue.SPOT and venue_of(USDM) == Venue.USDM
    assert venue_of(tmp_path / "cm" / "2024" / "x_20240101.gz") == Venue.CM
    assert venue_of(tmp_path / "spot" / "usdm" / "x_20240101.gz") == Venue.USDM  # the nearest
    with pytest.raises(ValueError, match="cannot tell the venue"):
        venue_of(tmp_path / "x_20240101.gz")
    with pytest.raises(ValueError, match="not named as a Binance capture"):
        BinanceFile(tmp_path / "spot" / "capture.gz")
    file = BinanceFile(tmp_path / "spot" / "btcusd_perp_20240809_lines1-10.gz", venue="cm")
    assert (file.venue, file.symbol, file.date) == (Venue.CM, "btcusd_perp", "20240809")


def test_capture_groups_venues_orders_days_and_merges_by_receive_time():
    capture = BinanceCapture([SPOT_NEXT_DAY, CM, SPOT, USDM])
    assert [venue.name for venue in capture.venues] == ["spot/btcusdt", "cm/btcusd_perp",
                                                      "usdm/btcusdt"]
    assert [file.date for file in capture.venues[0].files] == ["20240808", "20240809"]
    merged = list(capture.records())
    times = [record.time_ns for _, record in merged]
    assert times == sorted(times)
    lines = {SPOT: 10_000, SPOT_NEXT_DAY: 2_000, CM: 6_000, USDM: 10_000}
    for index, venue in enumerate(capture.venues):  # every line, each venue in file order
        assert [(record.source, record.line) for i, record in merged if i == index] == \
            [(f.path, line) for f in venue.files for line in range(1, lines[Path(f.path)] + 1)]
    with pytest.raises(ValueError, match="two files of spot btcusdt for one date"):
        BinanceCapture([SPOT, SPOT])


# --- broken files ----------------------------------------------------------------------------

def _capture(tmp_path, lines, venue="spot", name="btcusdt_20240808.gz"):
    path = tmp_path / venue / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as stream:
        for line in lines:
            stream.write(line + "\n")
    return path


def _line(time_ns, message):
    return f"{time_ns} {json.dumps(message)}"


def _diff_line(U, u, bids=(), asks=(), pu=None, symbol="btcusdt"):
    data = {"e": "depthUpdate", "U": U, "u": u, "b": [list(b) for b in bids],
            "a": [list(a) for a in asks]}
    if pu is not None:
        data["pu"] = pu
    channel = "depth@100ms" if pu is None else "depth@0ms"
    return _line(1_000 + u, {"stream": f"{symbol}@{channel}", "data": data})


GOOD = _diff_line(1, 2, [("100.00", "1.5")])


@pytest.mark.parametrize("bad, problem", [
    ("1000 {\"stream\": \"btcusdt@depth@100ms\", \"data\": {", "not '<time ns> <JSON>'"),
    ("1000 {} {}", "extra data"),
    ("10x0 {}", "not '<time ns> <JSON>'"),
    ("1000 [1, 2]", "not an object"),
    ('1000 {"hello": 1}', "neither a stream message nor a depth snapshot"),
    (_line(1000, {"stream": "btcusdt@depth@100ms", "data": {"U": 1, "b": [], "a": []}}),
     "field 'u' is missing"),
    (_line(1000, {"stream": "btcusdt@bookTicker", "data": {"u": 5, "b": "1.00", "B": "1",
                                                           "a": "2.00"}}),
     "field 'A' is missing"),
    (_line(1000, {"stream": "btcusdt@trade", "data": {"t": 1, "p": "1.00", "q": "1",
                                                      "m": "yes"}}),
     "wrong type"),
    (_line(1000, {"stream": "btcusdt@depth@100ms", "data": {"U": "1", "u": 2, "b": [],
                                                            "a": []}}),
     "wrong type"),
    (_line(1000, {"stream": "btcusdt@depth@100ms", "data": {"U": 1, "u": 2, "b": [["1.00"]],
                                                            "a": []}}),
     "wrong type"),
    (_diff_line(1, 2, pu=0), "is the file from futures"),
    (_diff_line(1, 2, symbol="ethusdt"), "not for btcusdt"),
])
def test_malformed_lines_are_errors_naming_file_and_line(tmp_path, bad, problem):
    path = _capture(tmp_path, [GOOD, bad, GOOD])
    with pytest.raises(BinanceFormatError, match=problem) as error:
        list(BinanceFile(path).records())
    assert (error.value.name, error.value.line) == (str(path), 2)
    assert f"{path}: line 2: " in str(error.value)


def test_a_futures_diff_without_pu_is_an_error(tmp_path):
    path = _capture(tmp_path, [_diff_line(1, 2, pu=0), _diff_line(3, 4)], venue="usdm")
    with pytest.raises(BinanceFormatError, match="line 2: .*is the file from spot"):
        list(BinanceFile(path).records())


@pytest.mark.parametrize("bids, value", [
    ([("100.00", "0.0000001")], "0.0000001"),       # spot quantities keep 6 decimals
    ([("100.001", "1")], "100.001"),                # prices keep 2
    ([("50000000.00", "1")], "50000000.00"),        # 5,000,000,000 cents: past 32 bits
    ([("100.00", "5000")], "5000"),                 # 5,000,000,000 µBTC: past 32 bits
])
def test_a_value_the_scale_cannot_carry_is_an_error_naming_it(tmp_path, bids, value):
    path = _capture(tmp_path, [GOOD, GOOD, _diff_line(3, 4, bids)])
    with pytest.raises(ScaleError) as error:
        list(BinanceFile(path).records())
    assert isinstance(error.value, ValueError)
    assert (error.value.name, error.value.line, error.value.value) == (str(path), 3, value)
    assert f"line 3: spot value {value!r}" in str(error.value)


def test_a_coarser_scale_is_refused_by_the_data_not_rounded():
    with pytest.raises(ScaleError, match="beyond 5 decimals") as error:
        list(BinanceFile(SPOT, scale=Scale(2, 5)).records())
    # line 1886 of the full file (and the slice): ["200000.00000000","25.42618900"]
    assert (error.value.line, error.value.value) == (1886, "25.42618900")


def test_a_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "spot" / "btcusdt_20240808_cut.gz"
    path.parent.mkdir()
    data = SPOT.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(BinanceFormatError, match="truncated") as error:
        for _ in BinanceFile(path).records():
            pass
    assert 1000 < error.value.line < 10_000


def test_a_file_that_is_not_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "spot" / "btcusdt_20240808.gz"
    path.parent.mkdir()
    path.write_text(GOOD + "\n")
    with pytest.raises(BinanceFormatError, match="line 1: unreadable gzip data"):
        list(BinanceFile(path).records())


def test_unknown_channels_are_skipped_and_counted(tmp_path):
    other = _line(5, {"stream": "btcusdt@aggTrade", "data": {}})
    file = BinanceFile(_capture(tmp_path, [other, GOOD, other]))
    assert [type(record) for record in file.records()] == [DepthDiff]
    assert file.skipped == {"aggTrade": 2}


# --- conversion: sync rules ------------------------------------------------------------------

def _feed(venue=Venue.SPOT, symbol="btcusdt"):
    return VenueFeed(venue, symbol, [])


def _diff(U, u, bids=(), asks=(), pu=None, time_ns=0):
    return DepthDiff(time_ns, "made", u, U, u, pu, tuple(bids), tuple(asks))


def _snapshot(last, bids=((100, 1),), asks=((110, 1),), time_ns=0):
    return Snapshot(time_ns, "made", 0, last, tuple(bids), tuple(asks))


def _steps(converter, records, venue=0):
    return list(converter.convert((venue, record) for record in records))


def _summary(steps):
    """(kind, final id or snapshot id, applied) per step."""
    return [(type(s.record).__name__, getattr(s.record, "final_id", None) or
             s.record.last_update_id, s.applied) for s in steps]


def test_spot_sync_drops_old_diffs_applies_the_covering_one_then_needs_U_eq_u_plus_1():
    converter = BinanceToItch([_feed()])
    steps = _steps(converter, [
        _diff(90, 95), _diff(96, 100), _diff(101, 103),   # buffered
        _snapshot(100),                                   # covers up to 100: 101 is next
        _diff(104, 110), _diff(112, 115), _diff(116, 120)])
    assert _summary(steps) == [
        ("DepthDiff", 95, False), ("DepthDiff", 100, False), ("DepthDiff", 103, False),
        ("Snapshot", 100, False),
        ("DepthDiff", 95, False), ("DepthDiff", 100, False), ("DepthDiff", 103, True),
        ("DepthDiff", 110, True), ("DepthDiff", 115, False), ("DepthDiff", 120, False)]
    assert converter.gaps == [SequenceGap("spot/btcusdt", "made", 115, 0, expected=111,
                                          got=112, first_id=112, final_id=115)]
    stats = converter.stats(0)
    assert (stats.diffs, stats.applied, stats.stale, stats.unsynced) == (6, 2, 2, 2)
    assert converter.state(0) == SyncState.WAITING


def test_futures_sync_keeps_u_eq_lastUpdateId_then_needs_pu_eq_u():
    converter = BinanceToItch([_feed(Venue.USDM)])
    steps = _steps(converter, [
        _snapshot(100),
        _diff(90, 99, pu=89),      # u < 100: dropped
        _diff(99, 100, pu=99),     # U <= 100 <= u: first applied (spot would drop it)
        _diff(101, 105, pu=100),
        _diff(106, 108, pu=104)])  # pu must be 105
    assert _summary(steps)[1:] == [("DepthDiff", 99, False), ("DepthDiff", 100, True),
                                   ("DepthDiff", 105, True), ("DepthDiff", 108, False)]
    assert [(g.expected, g.got) for g in converter.gaps] == [(105, 104)]


def test_a_first_diff_past_the_snapshot_is_a_gap():
    converter = BinanceToItch([_feed()])
    _steps(converter, [_snapshot(100), _diff(105, 110)])
    assert [(g.expected, g.got, g.final_id) for g in converter.gaps] == [(101, 105, 110)]
    assert converter.state(0) == SyncState.WAITING


def test_after_a_gap_the_target_book_is_emptied_and_a_new_snapshot_resyncs():
    converter = BinanceToItch([_feed()], levels=2)
    model = CoreModel(CoreConfig())
    model.feed(b"".join(converter.prelude()))
    records = [_snapshot(100, bids=[(100, 1), (99, 2)], asks=[(110, 3)]),
               _diff(101, 102, bids=[(98, 4)]),
               _diff(104, 106, bids=[(97, 5)]),       # gap: 103 is missing
               _diff(107, 108, asks=[(111, 6)])]      # buffered
    books = []
    for step in converter.convert((0, record) for record in records):
        model.feed(b"".join(step.units))
        books.append((model.book.side_levels(0, Side.BID), model.book.side_levels(0, Side.ASK)))
    assert books[:2] == [([(100, 1), (99, 2)], [(110, 3)])] * 2
    assert books[2:] == [([], [])] * 2
    assert len(converter.gaps) == 1
    # a later snapshot at 106 drops the buffered 104..106 and applies 107..108
    steps = _steps(converter, [_snapshot(106, bids=[(100, 7)], asks=[(110, 8)])])
    assert _summary(steps) == [("Snapshot", 106, False), ("DepthDiff", 106, False),
                               ("DepthDiff", 108, True)]
    for step in steps:
        model.feed(b"".join(step.units))
    assert model.book.side_levels(0, Side.BID) == [(100, 7)]
    assert model.book.side_levels(0, Side.ASK) == [(110, 8), (111, 6)]
    assert converter.state(0) == SyncState.SYNCED
    assert converter.stats(0).snapshots == 2


def test_a_snapshot_in_sync_is_ignored_and_a_full_buffer_drops_its_oldest():
    converter = BinanceToItch([_feed()], max_buffered=2)
    steps = _steps(converter, [_diff(1, 5), _diff(6, 10), _diff(11, 15), _snapshot(7),
                               _diff(16, 20), _snapshot(18)])
    assert [s.applied for s in steps[4:]] == [True, True, True, False]
    stats = converter.stats(0)
    assert (stats.overflowed, stats.unsynced, stats.applied, stats.extra_snapshots) == \
        (1, 1, 3, 1)


# --- conversion: the window ------------------------------------------------------------------

def _levels(units):
    out = []
    for unit in units:
        message = _LEVEL.unpack(unit, 2)
        assert unit[2:3] == b"l" and message.stock_locate == 1
        out.append((message.side, message.price, message.quantity))
    return out


def test_only_the_top_levels_are_sent_removals_first():
    converter = BinanceToItch([_feed()], levels=2)
    snapshot = _snapshot(100, bids=[(100, 1), (90, 2), (80, 3)],
                         asks=[(110, 4), (120, 5), (130, 6)])
    steps = _steps(converter, [snapshot,
                               _diff(101, 101, bids=[(100, 0)], asks=[(120, 7)]),
                               _diff(102, 102, bids=[(50, 9), (60, 0)]),
                               _diff(103, 103, bids=[(95, 1)]),
                               _diff(104, 104, asks=[(110, 0), (120, 0), (130, 0)])])
    assert [_levels(step.units) for step in steps] == [
        [(b"B", 100, 1), (b"B", 90, 2), (b"S", 110, 4), (b"S", 120, 5)],
        [(b"B", 100, 0), (b"B", 80, 3), (b"S", 120, 7)],    # 80 entered, 120 changed
        [],                                                 # below the window
        [(b"B", 80, 0), (b"B", 95, 1)],                     # 95 pushed 80 out
        [(b"S", 110, 0), (b"S", 120, 0)],                   # the ask side emptied
    ]
    stats = converter.stats(0)
    assert (stats.level_sets, stats.level_removals, stats.units) == (7, 4, 11)


@pytest.mark.parametrize("venue", [Venue.SPOT, Venue.CM])
def test_random_diffs_keep_the_model_book_equal_to_the_true_top_levels(seed, venue):
    """Against a naive book (a dict, sorted every time), on random diffs around the touch."""
    rng = random.Random(seed)
    levels = rng.randint(1, 15)
    print(f"levels={levels}")
    converter = BinanceToItch([_feed(venue)], levels=levels)
    model = CoreModel(CoreConfig())
    model.feed(b"".join(converter.prelude()))
    truth = {Side.BID: {p: rng.randint(1, 9) for p in rng.sample(range(900, 1000), 40)},
             Side.ASK: {p: rng.randint(1, 9) for p in rng.sample(range(1001, 1100), 40)}}
    records = [_snapshot(int(venue.futures),  # the id the first diff, 1..1, must cover
                         bids=sorted(truth[Side.BID].items(), reverse=True),
                         asks=sorted(truth[Side.ASK].items()))]
    expected = []  # the top levels after each diff
    for u in range(1, 400):
        changes = {}
        for side, prices in ((Side.BID, range(900, 1000)), (Side.ASK, range(1001, 1100))):
            best = sorted(truth[side], reverse=side == Side.BID)[:levels + 2]
            picks = rng.sample(prices, rng.randint(0, 6)) + rng.sample(best, min(len(best), 2))
            changes[side] = [(p, rng.choice([0, 0, rng.randint(1, 99)])) for p in set(picks)]
            for price, quantity in changes[side]:
                if quantity:
                    truth[side][price] = quantity
                else:
                    truth[side].pop(price, None)
        records.append(_diff(u, u, changes[Side.BID], changes[Side.ASK],
                             pu=u - 1 if venue.futures else None, time_ns=u))
        expected.append({side: sorted(truth[side].items(), reverse=side == Side.BID)[:levels]
                         for side in Side})
    snapshot, *steps = _steps(converter, records)
    model.feed(b"".join(snapshot.units))
    assert len(steps) == len(expected)
    for want, step in zip(expected, steps):
        assert step.applied
        model.feed(b"".join(step.units))
        for side in Side:
            assert model.book.side_levels(0, side) == want[side], (step.record, side)
    assert model.book.counters["level_drops"] == 0


def test_levels_must_leave_the_target_a_free_level():
    for levels in (0, 16, 2.0):
        with pytest.raises(ValueError, match="levels must be 1..15"):
            BinanceToItch([_feed()], levels=levels)
    assert BinanceToItch([_feed()], levels=15).levels == 15


def test_prelude_subscribes_each_venue_and_trades_carry_the_maker_side():
    converter = BinanceToItch([_feed(), _feed(Venue.CM, "btcusd_perp")], first_locate=7)
    assert [WIRE[b"s"].unpack(unit, 2)[1:] for unit in converter.prelude()] == \
        [(7, 0, 0, 0), (8, 0, 0, 1)]
    time_ns = 1723161253937085768  # 2024-08-08 23:54:13.937085768 UTC
    trades = [TradePrint(time_ns, "made", 1, 849714402, 6180480, 4, buyer_is_maker)
              for buyer_is_maker in (True, False)]
    steps = list(converter.convert((1, trade) for trade in trades))
    messages = [_TRADE.unpack(step.units[0], 2) for step in steps]
    assert [m.buy_sell_indicator for m in messages] == [b"B", b"S"]
    assert {(m.stock_locate, m.timestamp, m.order_reference_number, m.shares, m.stock, m.price,
             m.match_number) for m in messages} == \
        {(8, 86_053_937_085_768, 0, 4, b"BTCUSD_P", 6180480, 849714402)}
    assert time_ns % NS_PER_DAY == ((23 * 60 + 54) * 60 + 13) * 10**9 + 937_085_768
