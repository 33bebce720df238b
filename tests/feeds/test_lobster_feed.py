"""The LOBSTER reader on real and broken files, and the converter's rules on hand-made rows.

Expected values were worked out by hand from the rules in the converter's docstring (and, for
the real files, read off the CSV lines quoted beside them).
"""

import datetime
import zipfile
from pathlib import Path

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, Side
from tickforge.host.feeds.lobster import (LobsterFormatError, ConversionError, EventType,
                                          LobsterMessage, BookRow, LobsterDay, LobsterToItch,
                                          parse_time_ns, SEED_REF_BASE)
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import WIRE, encode


DATA = Path(__file__).resolve().parent.parent / "data" / "lobster"
AAPL_10 = DATA / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
AMZN_5 = DATA / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"


# --- time ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ns", [
    ("34200.004241176", 34_200_004_241_176),
    ("34200.00426064", 34_200_004_260_640),       # 8 decimals
    ("53142.439", 53_142_439_000_000),            # 3 decimals (AMZN 5, line 120,992)
    ("43002.632812672004", 43_002_632_812_672),   # 12 decimals: truncated to the ns
    ("43002.999999999999", 43_002_999_999_999),   # truncated, not rounded up
    ("34200", 34_200_000_000_000),
])
def test_time_parses_exactly_to_nanoseconds(text, ns):
    assert parse_time_ns(text) == ns


@pytest.mark.parametrize("text", ["", "abc", "34200.", ".5", "-1.5", "1e5", "34200.00x",
                                  " 34200.1", "34200,1", "３４２００", "nan"])
def test_time_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_time_ns(text)


# --- reading real files ----------------------------------------------------------------------

def test_csv_pair_found_beside_the_message_file():
    day = LobsterDay(AAPL_10)
    assert (day.ticker, day.date, day.levels) == ("AAPL", datetime.date(2012, 6, 21), 10)
    rows = list(day.rows())
    assert len(rows) == 999  # the last line has no newline
    message, book = rows[0]
    # line 1: 34200.004241176,1,16113575,18,5853300,1
    assert message == LobsterMessage(34_200_004_241_176, EventType.SUBMIT, 16113575, 18,
                                     5853300, Side.BID)
    # line 1: 5859400,200,5853300,18,5859800,200,5853000,150,...,5879000,500,5842700,300
    assert book.asks[0] == (5859400, 200) and book.bids[0] == (5853300, 18)
    assert book.asks[-1] == (5879000, 500) and book.bids[-1] == (5842700, 300)
    assert len(book.asks) == len(book.bids) == 10
    assert book.level(Side.ASK, 1) == (5859800, 200)
    assert LobsterDay(AAPL_10, AAPL_10.with_name(AAPL_10.name.replace("message",
                                                                      "orderbook"))).levels == 10


def test_zip_distribution():
    day = LobsterDay(AMZN_5)
    assert (day.ticker, day.levels) == ("AMZN", 5)
    assert day.message_name.endswith(".zip:AMZN_2012-06-21_34200000_57600000_message_5.csv")
    message, book = next(day.rows())
    # line 1: 34200.017459617,5,0,1,2238200,-1
    assert message == LobsterMessage(34_200_017_459_617, EventType.EXECUTE_HIDDEN, 0, 1,
                                     2238200, Side.ASK)
    # line 1: 2239500,100,2231800,100,2239900,100,2230700,200,...,2244000,547,2226200,100
    assert book.asks == ((2239500, 100), (2239900, 100), (2240000, 220), (2242500, 100),
                         (2244000, 547))
    assert book.bids[0] == (2231800, 100) and book.bids[4] == (2226200, 100)
    assert sum(1 for _ in day.messages()) == sum(1 for _ in day.books()) == 5000


# --- reading broken files --------------------------------------------------------------------

def _day(tmp_path, messages, books, levels=1, ticker="TEST"):
    stem = f"{ticker}_2012-06-21_34200000_57600000"
    message_path = tmp_path / f"{stem}_message_{levels}.csv"
    message_path.write_text("".join(line + "\n" for line in messages))
    (tmp_path / f"{stem}_orderbook_{levels}.csv").write_text(
        "".join(line + "\n" for line in books))
    return LobsterDay(message_path)


GOOD_MESSAGE = "34200.1,1,11,100,1000000,1"
GOOD_BOOK = "1010000,50,1000000,100"


def _read_error(day):
    with pytest.raises(LobsterFormatError) as caught:
        for _ in day.rows():
            pass
    return caught.value


@pytest.mark.parametrize("line, problem", [
    ("34200.1,1,11,100,1000000", "has 6 fields"),                # truncated row
    ("34200.1,1,11,100,1000000,1,7", "this one has 7"),
    ("34200.1x,1,11,100,1000000,1", "not a decimal number of seconds"),
    ("34200.1,6,11,100,1000000,1", "unknown event type '6'"),
    ("34200.1,8,11,100,1000000,1", "unknown event type '8'"),
    ("34200.1,1,11,100,1000000,0", "direction '0'"),
    ("34200.1,1,11,100,10.5,1", "must be integers"),
    ("34200.1,1,11,0,1000000,1", "size and price > 0"),
    ("34200.1,7,0,0,2,-1", "halt indicator's price is -1, 0 or 1"),
    ("34200.1,1,11,100,4294967296,1", "must fit ITCH's 32 bits"),        # $429,496.7296
    ("34200.1,1,11,4294967296,1000000,1", "must fit ITCH's 32 bits"),
    ("", "has 6 fields"),
])
def test_bad_message_rows(tmp_path, line, problem):
    day = _day(tmp_path, [GOOD_MESSAGE, line, GOOD_MESSAGE], [GOOD_BOOK] * 3)
    error = _read_error(day)
    assert error.line == 2 and problem in str(error)
    assert str(error).startswith(f"{tmp_path}/TEST_2012-06-21_34200000_57600000_message_1.csv: "
                                 f"line 2: ")


@pytest.mark.parametrize("line, problem", [
    ("1010000,50,1000000", "has 4 columns, this one has 3"),
    ("1010000,50,1000000,100,1,1", "this one has 6"),
    ("1010000,50,1000000,abc", "must be integers"),
    ("1010000,0,1000000,100", "ASK level 1 has price 1010000 and size 0"),
])
def test_bad_book_rows(tmp_path, line, problem):
    day = _day(tmp_path, [GOOD_MESSAGE] * 2, [GOOD_BOOK, line])
    error = _read_error(day)
    assert error.line == 2 and problem in str(error) and "orderbook_1.csv" in error.name


def test_dummy_levels_are_absent_and_must_come_last(tmp_path):
    books = ["1010000,50,-9999999999,0,9999999999,0,-9999999999,0",
             "9999999999,0,1000000,5,1010000,50,-9999999999,0",
             "1010000,50,1000000,5,1010000,50,999900,5"]
    day = _day(tmp_path, [GOOD_MESSAGE] * 3, books, levels=2)
    books_read = day.books()
    first = next(books_read)
    assert first == BookRow(bids=(), asks=((1010000, 50),))
    assert first.level(Side.BID, 0) is None and first.level(Side.ASK, 1) is None
    with pytest.raises(LobsterFormatError, match="line 2: ASK level 1 is empty but a deeper"):
        next(books_read)
    error = _read_error(_day(tmp_path, [GOOD_MESSAGE], books[2:], levels=2))
    assert "ASK level 2 (price 1010000) is not worse" in str(error)


@pytest.mark.parametrize("messages, books, short_file, problem", [
    (3, 2, "orderbook", "the order-book file ends here but the message file goes on"),
    (2, 3, "message", "the message file ends here but the order-book file goes on"),
])
def test_row_counts_must_match(tmp_path, messages, books, short_file, problem):
    error = _read_error(_day(tmp_path, [GOOD_MESSAGE] * messages, [GOOD_BOOK] * books))
    assert error.line == 3 and error.problem == problem
    assert error.name.endswith(f"_{short_file}_1.csv")


def test_names_must_be_lobster_names(tmp_path):
    day = _day(tmp_path, [GOOD_MESSAGE], [GOOD_BOOK])
    other = tmp_path / "TEST_2012-06-21_34200000_57600000_orderbook_5.csv"
    other.write_text(GOOD_BOOK + "\n")
    with pytest.raises(ValueError, match="levels differs"):
        LobsterDay(tmp_path / "TEST_2012-06-21_34200000_57600000_message_1.csv", other)
    stray = tmp_path / "prices.csv"
    stray.write_text(GOOD_MESSAGE + "\n")
    with pytest.raises(ValueError, match="not named as a LOBSTER message file"):
        LobsterDay(stray)
    assert day.levels == 1


def test_zip_without_a_lobster_pair(tmp_path):
    path = tmp_path / "sample.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("TEST_2012-06-21_34200000_57600000_message_1.csv", GOOD_MESSAGE)
        archive.writestr("README.txt", "no order book here")
    with pytest.raises(ValueError, match="one message and one order-book csv"):
        LobsterDay(path)


def _rewritten_zip(path, compress_type):
    """A copy of the AMZN slice; returns the path and the message member's ZipInfo."""
    with zipfile.ZipFile(AMZN_5) as source, zipfile.ZipFile(path, "w") as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info), compress_type=compress_type)
        return archive.getinfo("AMZN_2012-06-21_34200000_57600000_message_5.csv")


def test_zip_member_failing_its_crc(tmp_path):
    path = tmp_path / "sample.zip"
    member = _rewritten_zip(path, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data_start = member.header_offset + 30 + len(member.filename)  # no extra field written
    line_2 = data.index(b"\n", data_start) + 1
    assert data[line_2:line_2 + 5] == b"34200"  # 34200.18960767,1,11885113,21,2238100,1
    data[line_2 + 4] = ord("1")                 # still a valid row, but not what was zipped
    path.write_bytes(data)
    error = _read_error(LobsterDay(path))
    assert "unreadable data near here (Bad CRC-32" in str(error) and error.line <= 5001


def test_zip_member_with_corrupt_deflate_data(tmp_path):
    path = tmp_path / "sample.zip"
    member = _rewritten_zip(path, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    data_start = member.header_offset + 30 + len(member.filename)
    data[data_start + member.compress_size // 2] ^= 0xFF
    path.write_bytes(data)
    error = _read_error(LobsterDay(path))  # whichever check sees it first, never a traceback
    assert error.name.endswith("message_5.csv")


# --- the converter's rules on hand-made rows ------------------------------------------------

T0 = 34_200_000_000_000
BID, ASK = Side.BID, Side.ASK


def _message(event, order_id=0, size=0, price=0, side=BID, time_ns=T0):
    return LobsterMessage(time_ns, event, order_id, size, price, side)


def _decoded(units):
    return [WIRE[unit[2:3]].unpack(unit, 2) for unit in units]


def _fields(record, *names):
    return tuple(getattr(record, name) for name in names)


def test_prelude_seeds_row_0_with_an_add_undone():
    converter = LobsterToItch("TEST", 2, locate=7)
    add = _message(EventType.SUBMIT, 7, 100, 1010000, BID)
    row0 = BookRow(bids=((1010000, 100), (1000000, 50)), asks=((1020000, 30),))
    system, directory, *rest = _decoded(next(converter.convert([(add, row0)])))
    assert _fields(system, "message_type", "event_code", "stock_locate", "timestamp") == \
        (b"S", b"O", 7, T0)
    assert _fields(directory, "message_type", "stock", "round_lot_size", "stock_locate") == \
        (b"R", b"TEST    ", 100, 7)
    order = ("message_type", "order_reference_number", "buy_sell_indicator", "shares", "price")
    assert [_fields(record, *order) for record in rest] == [
        (b"A", SEED_REF_BASE | 1, b"B", 50, 1000000),   # the bid side before the add
        (b"A", SEED_REF_BASE | 2, b"S", 30, 1020000),
        (b"A", 7, b"B", 100, 1010000),                  # message 0 itself
    ]
    assert all(record.stock_locate == 7 and record.timestamp == T0 for record in rest)
    assert (converter.initial_seeds, converter.reseeds, converter.seeded_levels) == (2, 0, 2)


def test_prelude_undoes_a_delete_of_an_unknown_order():
    converter = LobsterToItch("TEST", 2)
    delete = _message(EventType.DELETE, 99, 40, 1030000, ASK)
    row0 = BookRow(bids=(), asks=((1020000, 30),))
    records = _decoded(next(converter.convert([(delete, row0)])))[2:]
    assert [_fields(r, "message_type", "order_reference_number") for r in records] == [
        (b"A", SEED_REF_BASE | 1), (b"A", SEED_REF_BASE | 2), (b"D", SEED_REF_BASE | 2)]
    assert (records[1].price, records[1].shares) == (1030000, 40)
    assert converter.unmatched_events == 1 and converter.initial_seeds == 2


def _scenario():
    """A one-level day exercising every rule, with the book LOBSTER would print after each."""
    ask = ((1010000, 50),)
    return [
        (_message(EventType.SUBMIT, 1, 100, 1000000, BID), BookRow(((1000000, 100),), ask)),
        (_message(EventType.SUBMIT, 2, 30, 1000000, BID), BookRow(((1000000, 130),), ask)),
        (_message(EventType.CANCEL, 555, 120, 1000000, BID), BookRow(((1000000, 10),), ask)),
        (_message(EventType.EXECUTE_VISIBLE, 2, 10, 1000000, BID),
         BookRow(((999900, 300),), ask)),                       # a level enters unannounced
        (_message(EventType.SUBMIT, 3, 200, 999900, BID), BookRow(((999900, 500),), ask)),
        (_message(EventType.EXECUTE_VISIBLE, 777, 350, 999900, BID),
         BookRow(((999900, 150),), ask)),
        (_message(EventType.SUBMIT, 4, 10, 1000100, BID), BookRow(((1000100, 10),), ask)),
        (_message(EventType.EXECUTE_HIDDEN, 0, 5, 1005000, ASK), BookRow(((1000100, 10),), ask)),
        (_message(EventType.HALT, 0, 0, -1, ASK), BookRow(((1000100, 10),), ask)),
        (_message(EventType.HALT, 0, 0, 0, ASK), BookRow(((1000100, 10),), ask)),
        (_message(EventType.HALT, 0, 0, 1, ASK), BookRow(((1000100, 10),), ask)),
    ]


def test_every_rule_on_a_hand_made_day():
    converter = LobsterToItch("TEST", 1)
    rows = _scenario()
    out = [_decoded(units) for units in converter.convert(rows)]
    seed1, seed2 = SEED_REF_BASE | 1, SEED_REF_BASE | 2

    def brief(record):
        kind = record.message_type
        if kind == b"A":
            return ("A", record.order_reference_number, record.shares, record.price)
        if kind == b"X":
            return ("X", record.order_reference_number, record.cancelled_shares)
        if kind == b"D":
            return ("D", record.order_reference_number)
        if kind == b"E":
            return ("E", record.order_reference_number, record.executed_shares,
                    record.match_number)
        if kind == b"P":
            return ("P", record.buy_sell_indicator, record.shares, record.price,
                    record.match_number)
        if kind == b"H":
            return ("H", record.trading_state)
        return (kind.decode(),)

    assert [[brief(record) for record in row] for row in out] == [
        [("S",), ("R",), ("A", seed1, 50, 1010000), ("A", 1, 100, 1000000)],
        [("A", 2, 30, 1000000)],
        [("D", 1), ("X", 2, 20)],                 # unknown id: the level's orders in turn
        [("E", 2, 10, 1), ("A", seed2, 300, 999900)],  # emptied, then re-seeded
        [("A", 3, 200, 999900)],
        [("E", seed2, 300, 2), ("E", 3, 50, 3)],  # unknown id: the seed order first
        [("A", 4, 10, 1000100), ("D", 3)],        # two levels: the worse one is pruned
        [("P", b"S", 5, 1005000, 4)],
        [("H", b"H")], [("H", b"Q")], [("H", b"T")],
    ]
    assert (converter.initial_seeds, converter.reseeds, converter.pruned_levels,
            converter.unmatched_events, converter.rows) == (1, 1, 1, 2, 11)


def test_hand_made_day_rebuilds_its_books_in_the_golden_model():
    model = CoreModel(CoreConfig())
    model.feed(encode("s", stock_locate=1, slot=0))
    rows = _scenario()
    for (message, book), units in zip(rows, LobsterToItch("TEST", 1).convert(rows)):
        events = model.feed(b"".join(units))
        assert model.book.side_levels(0, BID) == list(book.bids)
        assert model.book.side_levels(0, ASK) == list(book.asks)
        if message.event == EventType.EXECUTE_VISIBLE:
            trades = [(e.body.trade_price, e.body.trade_qty) for e in events
                      if e.kind == EventKind.BOOK and e.body.trade_qty]
            assert {price for price, _ in trades} == {message.price}
            assert sum(qty for _, qty in trades) == message.size
    assert not any(model.book.counters.values())


def _convert_all(levels, rows):
    return [units for units in LobsterToItch("TEST", levels).convert(rows)]


def test_a_level_too_small_for_the_message_is_an_error():
    add = _message(EventType.SUBMIT, 1, 100, 1000000, BID)
    row = BookRow(((1000000, 100),), ())
    too_much = _message(EventType.CANCEL, 1, 200, 1000000, BID)
    with pytest.raises(ConversionError, match=r"^row 1 .*BID level at 1000000 holds 100 shares, "
                                              r"fewer than the 200") as caught:
        _convert_all(1, [(add, row), (too_much, row)])
    assert caught.value.row == 1
    nowhere = _message(EventType.EXECUTE_VISIBLE, 5, 1, 990000, BID)
    with pytest.raises(ConversionError, match="holds 0 shares"):
        _convert_all(1, [(add, row), (nowhere, row)])


def test_an_order_named_at_another_price_is_an_error():
    row = BookRow(((1000000, 100), (999900, 80)), ())
    rows = [(_message(EventType.SUBMIT, 1, 100, 1000000, BID), row),
            (_message(EventType.CANCEL, 1, 50, 999900, BID), row)]
    with pytest.raises(ConversionError, match="order 1 rests at BID 1000000"):
        _convert_all(2, rows)


def test_a_reseed_not_below_the_book_is_an_error():
    rows = [(_message(EventType.SUBMIT, 1, 100, 1000000, BID),
             BookRow(((1000000, 100), (990000, 10)), ())),
            (_message(EventType.DELETE, 1, 100, 1000000, BID),
             BookRow(((990000, 10), (995000, 7)), ()))]
    with pytest.raises(ConversionError, match=r"row 1 .*BID level 2 .*995000.* not below"):
        _convert_all(2, rows)


def test_other_conversion_errors():
    add = _message(EventType.SUBMIT, 1, 100, 1000000, BID)
    row = BookRow(((1000000, 100),), ())
    with pytest.raises(ConversionError, match="row 0 holds 50 shares at 1000000"):
        _convert_all(1, [(add, BookRow(((1000000, 50),), ()))])
    with pytest.raises(ConversionError, match="already live"):
        _convert_all(1, [(add, row), (add, BookRow(((1000000, 200),), ()))])
    huge = _message(EventType.SUBMIT, 2, 1 << 32, 1000000, BID)
    with pytest.raises(ConversionError, match="ITCH cannot carry it"):
        _convert_all(1, [(add, row), (huge, row)])


def test_converter_arguments_and_single_use():
    with pytest.raises(ValueError, match="1..8 characters"):
        LobsterToItch("TOOLONGNAME", 1)
    with pytest.raises(ValueError, match="levels"):
        LobsterToItch("TEST", 0)
    with pytest.raises(ValueError, match="locate"):
        LobsterToItch("TEST", 1, locate=1 << 16)
    converter = LobsterToItch("TEST", 1)
    list(converter.convert([]))
    with pytest.raises(RuntimeError, match="one day"):
        list(converter.convert([]))
