"""LOBSTER order-book files, and their conversion to an ITCH 5.0 unit stream.

LOBSTER (lobsterdata.com) reconstructs a NASDAQ book from TotalView-ITCH and publishes, per
ticker-day and level count N, two headerless CSV files of equal row count:

- ``TICKER_DATE_START_END_message_N.csv``: ``time,type,order_id,size,price,direction``. Time is
  seconds after midnight as a decimal string; price is dollars × 10000 (ITCH's price unit);
  direction 1 is a buy (bid) order, -1 a sell (ask) order; for executions it is the side of
  the resting order.
- ``TICKER_DATE_START_END_orderbook_N.csv``: per level i = 1..N ``ask_price_i, ask_size_i,
  bid_price_i, bid_size_i``; row k is the visible book *after* message k. A position with no
  level holds a dummy (ask 9999999999, bid -9999999999, size 0).

:class:`LobsterDay` streams both (from the sample ``.zip`` or a CSV pair) without reading a
file whole. :class:`LobsterToItch` turns a day into ITCH units that, applied to the golden
model's book (and so the gateware's), rebuild LOBSTER's book after every message row, while
reading from the order-book file only what no message announces (see its docstring).
"""

import csv
import datetime
import enum
import io
import os
import re
import zipfile
import zlib
from contextlib import contextmanager
from itertools import zip_longest
from typing import NamedTuple

from ...hdl.layouts import Side
from ..protocol import SIDE_CODE, encode


__all__ = ["LobsterFormatError", "ConversionError", "EventType", "LobsterMessage", "BookRow",
           "LobsterDay", "LobsterToItch", "parse_time_ns", "EMPTY_ASK_PRICE", "EMPTY_BID_PRICE",
           "SEED_REF_BASE"]


EMPTY_ASK_PRICE = 9_999_999_999
EMPTY_BID_PRICE = -9_999_999_999
"""LOBSTER's dummy prices for order-book positions with no level (their size is 0)."""

_NAME = re.compile(r"(?P<ticker>[^_/\\]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)"
                   r"_(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv")
_TIME = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)
_NS_PER_SECOND = 1_000_000_000


class LobsterFormatError(ValueError):
    """A LOBSTER file that does not hold what it should; ``line`` counts from 1."""

    def __init__(self, name, line, problem):
        super().__init__(f"{name}: line {line}: {problem}")
        self.name = name
        self.line = line
        self.problem = problem


class ConversionError(ValueError):
    """A LOBSTER row the converter cannot express as ITCH on the book it has built; ``row``
    counts from 0 (row k of the order book is the book after message k)."""

    def __init__(self, row, message, problem):
        super().__init__(f"row {row} ({message}): {problem}")
        self.row = row
        self.problem = problem


class EventType(enum.IntEnum):
    """LOBSTER's event types (a message row's second column)."""
    SUBMIT = 1           # a new limit order
    CANCEL = 2           # partial cancellation
    DELETE = 3           # total deletion
    EXECUTE_VISIBLE = 4  # execution of a visible order
    EXECUTE_HIDDEN = 5   # execution of a hidden order: the visible book does not change
    HALT = 7             # trading halt indicator; the price says which (see _TRADING_STATES)


class LobsterMessage(NamedTuple):
    time_ns: int       # nanoseconds after midnight
    event: EventType
    order_id: int
    size: int
    price: int         # dollars × 10000; for HALT: -1 halt, 0 quoting, 1 trading resumes
    side: Side         # direction 1 → BID, -1 → ASK


def parse_time_ns(text):
    """LOBSTER's decimal seconds after midnight → integer nanoseconds, exactly (never a float).

    LOBSTER states a precision of at most a nanosecond; longer fractions are float-printing
    artefacts (AMZN's ``43002.632812672004``) and are truncated to the nanosecond. Truncation
    is monotonic, so it never reorders rows. Raises ValueError for anything but digits with an
    optional decimal point and fraction.
    """
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"time {text!r} is not a decimal number of seconds")
    seconds, fraction = match.groups()
    return int(seconds) * _NS_PER_SECOND + int((fraction or "")[:9].ljust(9, "0"))


class BookRow:
    """One order-book row: each side's levels as ``(price, size)`` pairs, best first, with
    LOBSTER's dummy positions left out."""

    __slots__ = ("bids", "asks")

    def __init__(self, bids, asks):
        self.bids = bids
        self.asks = asks

    def level(self, side, position):
        """The ``(price, size)`` at ``position`` (0 = best) on ``side``, None if empty."""
        if position < 0:
            raise IndexError(f"order-book positions count from 0, not {position}")
        levels = self.bids if side == Side.BID else self.asks
        return levels[position] if position < len(levels) else None

    def __eq__(self, other):
        return isinstance(other, BookRow) and (self.bids, self.asks) == (other.bids, other.asks)

    def __repr__(self):
        return f"BookRow(bids={self.bids}, asks={self.asks})"


# --- reading ----------------------------------------------------------------------------------

class LobsterDay:
    """One LOBSTER ticker-day: a message file and its order-book file, read as streams.

    ``source``: a LOBSTER ``.zip`` (recognised by its content: it must hold exactly one
    ``*_message_N.csv`` and its ``*_orderbook_N.csv``) or the path of a message CSV, whose
    order-book CSV is ``orderbook`` or, by default, the file beside it with ``message``
    replaced by ``orderbook`` in the name. Ticker, date and N come from the names.
    """

    def __init__(self, source, orderbook=None):
        source = os.fspath(source)
        if zipfile.is_zipfile(source):
            if orderbook is not None:
                raise TypeError("a LOBSTER zip holds its own order-book file")
            self._archive = source
            with zipfile.ZipFile(source) as archive:
                named = [(member, _NAME.fullmatch(os.path.basename(member)))
                         for member in archive.namelist()]
            by_kind = {kind: [member for member, match in named if match and match["kind"] == kind]
                       for kind in ("message", "orderbook")}
            if [len(members) for members in by_kind.values()] != [1, 1]:
                raise ValueError(f"{source}: a LOBSTER zip holds one message and one order-book "
                                 f"csv, this one holds {[member for member, _ in named]}")
            self._message_file = by_kind["message"][0]
            self._orderbook_file = by_kind["orderbook"][0]
        else:
            self._archive = None
            self._message_file = source
            if orderbook is None:
                directory, name = os.path.split(source)
                orderbook = os.path.join(directory, name.replace("_message_", "_orderbook_"))
            self._orderbook_file = os.fspath(orderbook)
        message_name = self._parse_name(self._message_file, "message")
        orderbook_name = self._parse_name(self._orderbook_file, "orderbook")
        for part in ("ticker", "date", "start", "end", "levels"):
            if message_name[part] != orderbook_name[part]:
                raise ValueError(f"{self._orderbook_file} does not belong to "
                                 f"{self._message_file}: their {part} differs")
        self.ticker = message_name["ticker"]
        self.date = datetime.date.fromisoformat(message_name["date"])
        self.levels = int(message_name["levels"])
        if self.levels < 1:
            raise ValueError(f"{self._message_file}: a book of {self.levels} levels")
        self.message_name = self._display_name(self._message_file)
        self.orderbook_name = self._display_name(self._orderbook_file)

    @staticmethod
    def _parse_name(path, kind):
        match = _NAME.fullmatch(os.path.basename(path))
        if match is None or match["kind"] != kind:
            raise ValueError(f"{path} is not named as a LOBSTER {kind} file "
                             f"(TICKER_YYYY-MM-DD_START_END_{kind}_LEVELS.csv)")
        return match

    def _display_name(self, member):
        return f"{self._archive}:{member}" if self._archive else member

    def __repr__(self):
        return f"LobsterDay({self.ticker} {self.date} {self.levels} levels: {self.message_name})"

    @contextmanager
    def _text(self, member):
        """A text stream of one CSV; bytes that are not ASCII read as U+FFFD and so fail as
        numbers, on their line."""
        if self._archive is None:
            with open(member, encoding="ascii", errors="replace", newline="") as text:
                yield text
        else:
            with zipfile.ZipFile(self._archive) as archive, \
                    io.TextIOWrapper(archive.open(member), encoding="ascii", errors="replace",
                                     newline="") as text:
                yield text

    def _csv_rows(self, member):
        """``(line, fields)`` of each row; a corrupt zip member is a LobsterFormatError."""
        line = 0
        with self._text(member) as text:
            try:
                for line, fields in enumerate(csv.reader(text), 1):
                    yield line, fields
            except (zipfile.BadZipFile, zlib.error, csv.Error) as error:
                # found while reading ahead in blocks: the damage may lie before or after here
                raise LobsterFormatError(self._display_name(member), line + 1,
                                         f"unreadable data near here ({error})") from None

    def messages(self):
        """Every message row, parsed and checked (see :class:`LobsterMessage`)."""
        name = self.message_name
        for line, fields in self._csv_rows(self._message_file):
            yield _parse_message(name, line, fields)

    def books(self):
        """Every order-book row as a :class:`BookRow`, checked: 4N columns, sizes > 0, prices
        strictly worse level by level, dummy positions only after the last level."""
        name, levels = self.orderbook_name, self.levels
        for line, fields in self._csv_rows(self._orderbook_file):
            yield _parse_book(name, line, fields, levels)

    def rows(self):
        """``(message, book row)`` pairs, checking that both files have the same length."""
        for line, (message, book) in enumerate(zip_longest(self.messages(), self.books()), 1):
            if message is None:
                raise LobsterFormatError(self.message_name, line, "the message file ends here "
                                         "but the order-book file goes on")
            if book is None:
                raise LobsterFormatError(self.orderbook_name, line, "the order-book file ends "
                                         "here but the message file goes on")
            yield message, book


_MESSAGE_FIELDS = ("time", "type", "order_id", "size", "price", "direction")
_SIDE_OF_DIRECTION = {"1": Side.BID, "-1": Side.ASK}
_EVENT_OF_CODE = {str(event.value): event for event in EventType}


def _parse_message(name, line, fields):
    if len(fields) != len(_MESSAGE_FIELDS):
        raise LobsterFormatError(name, line, f"a message row has {len(_MESSAGE_FIELDS)} fields "
                                             f"({','.join(_MESSAGE_FIELDS)}), this one has "
                                             f"{len(fields)}: {','.join(fields)!r}")
    time_text, type_text, order_id, size, price, direction = fields
    try:
        time_ns = parse_time_ns(time_text)
    except ValueError as error:
        raise LobsterFormatError(name, line, str(error)) from None
    event = _EVENT_OF_CODE.get(type_text)
    if event is None:
        raise LobsterFormatError(name, line, f"unknown event type {type_text!r} (LOBSTER has "
                                             f"{', '.join(_EVENT_OF_CODE)})")
    side = _SIDE_OF_DIRECTION.get(direction)
    if side is None:
        raise LobsterFormatError(name, line, f"direction {direction!r} is neither 1 nor -1")
    try:
        order_id, size, price = int(order_id), int(size), int(price)
    except ValueError:
        raise LobsterFormatError(name, line, f"order id, size and price must be integers: "
                                             f"{','.join(fields)!r}") from None
    if event == EventType.HALT:
        if price not in (-1, 0, 1):
            raise LobsterFormatError(name, line, f"a halt indicator's price is -1, 0 or 1, "
                                                 f"not {price}")
    elif order_id < 0 or size <= 0 or price <= 0:
        raise LobsterFormatError(name, line, f"an order event needs an order id >= 0 and a "
                                             f"size and price > 0: {','.join(fields)!r}")
    elif max(size, price) >= 1 << 32:
        raise LobsterFormatError(name, line, f"size and price must fit ITCH's 32 bits "
                                             f"(price in dollars × 10000 up to $429,496.7295): "
                                             f"{','.join(fields)!r}")
    return LobsterMessage(time_ns, event, order_id, size, price, side)


def _parse_book(name, line, fields, levels):
    if len(fields) != 4 * levels:
        raise LobsterFormatError(name, line, f"an order-book row of {levels} levels has "
                                             f"{4 * levels} columns, this one has {len(fields)}")
    try:
        values = [int(field) for field in fields]
    except ValueError:
        raise LobsterFormatError(name, line, f"order-book fields must be integers: "
                                             f"{','.join(fields)!r}") from None
    return BookRow(_side_levels(name, line, values[2::4], values[3::4], Side.BID),
                   _side_levels(name, line, values[0::4], values[1::4], Side.ASK))


def _side_levels(name, line, prices, sizes, side):
    empty_price = EMPTY_BID_PRICE if side == Side.BID else EMPTY_ASK_PRICE
    levels = []
    for position, (price, size) in enumerate(zip(prices, sizes)):
        if price == empty_price and size == 0:
            if any(p != empty_price or s != 0 for p, s in zip(prices[position:],
                                                              sizes[position:])):
                raise LobsterFormatError(name, line, f"{side.name} level {position + 1} is empty "
                                                     f"but a deeper one is not")
            break
        if price <= 0 or size <= 0:
            raise LobsterFormatError(name, line, f"{side.name} level {position + 1} has price "
                                                 f"{price} and size {size}")
        if levels and (price >= levels[-1][0] if side == Side.BID else price <= levels[-1][0]):
            raise LobsterFormatError(name, line, f"{side.name} level {position + 1} (price "
                                                 f"{price}) is not worse than the level above")
        levels.append((price, size))
    return tuple(levels)


# --- conversion -------------------------------------------------------------------------------

_TRADING_STATES = {-1: b"H", 0: b"Q", 1: b"T"}
"""LOBSTER halt indicator price → ITCH trading state: halted, quotation only, trading."""

SEED_REF_BASE = 1 << 63
"""Reference numbers of seed orders are ``SEED_REF_BASE | n``; LOBSTER's ids are below it."""


class _Order:
    __slots__ = ("ref", "side", "price", "shares", "seed")

    def __init__(self, ref, side, price, shares, seed):
        self.ref, self.side, self.price, self.shares, self.seed = ref, side, price, shares, seed


class _Level:
    __slots__ = ("orders", "shares")

    def __init__(self):
        self.orders = {}  # ref → _Order, in arrival order
        self.shares = 0


class LobsterToItch:
    """Convert a LOBSTER day into ITCH 5.0 units that rebuild its order book, row by row.

    The converter keeps a mirror of exactly the ITCH book state it has emitted: live orders
    and each side's price levels. For each message row it emits

    1. the event: type 1 → Add (A) with the LOBSTER id as reference. Types 2, 3, 4 reduce the
       level at (side, price) by the message's size, taking the shares from the named order if
       the mirror holds it, then from seed orders at that price, then from other orders there
       in arrival order: Order Executed (E) for every piece of an execution (so each trade is
       reported at the level's price), else Cancel (X), or Delete (D) when an order empties.
       5–25 % of LOBSTER's cancels and executions name orders never submitted in the file
       (resting before the window): LOBSTER gives price, side and size on every event, so the
       level is reduced all the same. Type 5 → Trade (P, a non-displayed order; the book does
       not change). Type 7 → Stock Trading Action (H): halted, quotation only, trading.
    2. pruning: while a side holds more than N levels, Delete every order of its worst level.
       A level-N message file says nothing about levels below the top N, so their future is
       unknowable; pruning keeps the book at N (N+1 transiently) levels a side.
    3. re-seeding, after both sides are pruned (so a row's seed orders come last): while a
       side holds fewer than N levels, a level may have entered the window with no message
       announcing it. The converter reads the row's positions from the mirror's depth down
       (only those: everything else in the order-book file is the ground truth the output is
       checked against) and adds a *seed* order for each level found.

    The mirror equals order-book row k after row k, so it never holds more than N+1 levels a
    side (the golden model and the gateware track 16: N up to 15 fits) and only the orders
    resting in them.

    Before row 0's event it emits a prelude, System Event (S, start of messages) and Stock
    Directory (R), then seed orders for the book before message 0: order-book row 0 with
    message 0 undone (an add of s at p means the book had s less at p; a cancel, delete or
    execution means it had s more; types 5 and 7 change nothing).

    Every message carries ``locate`` and the row's time; seed orders have references
    ``SEED_REF_BASE | n``. The output is pure ITCH: a replay into tickforge subscribes the
    locate to a book slot first.

    Raises :class:`ConversionError` (naming the row) when a row cannot be expressed on the
    book built so far: a level too small for what a message removes, an order named at
    another price, a re-seeded level not below the book, a value ITCH cannot carry. On a
    consistent LOBSTER file none happens.

    Counts: ``initial_seeds`` (row 0), ``reseeds``, ``seeded_levels`` (their sum),
    ``pruned_levels``, ``unmatched_events`` (types 2–4 whose order the mirror did not hold),
    ``rows``.
    """

    def __init__(self, ticker, levels, *, locate=1, round_lot=100):
        stock = ticker.encode("ascii") if isinstance(ticker, str) else bytes(ticker)
        if not 0 < len(stock) <= 8:
            raise ValueError(f"an ITCH stock symbol has 1..8 characters, not {ticker!r}")
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive integer, not {levels!r}")
        if not 0 <= locate < 1 << 16:
            raise ValueError(f"locate must be 0..65535, not {locate!r}")
        self.stock = stock
        self.levels = levels
        self.locate = locate
        self.round_lot = round_lot
        self.initial_seeds = 0
        self.reseeds = 0
        self.pruned_levels = 0
        self.unmatched_events = 0
        self.rows = 0
        self._orders = {}                             # ref → _Order
        self._sides = {Side.BID: {}, Side.ASK: {}}    # side → {price: _Level}
        self._next_seed = 0
        self._next_match = 0
        self._started = False
        # the row being converted, for unit timestamps and errors
        self._row = 0
        self._message = None

    @classmethod
    def for_day(cls, day, **options):
        """A converter for a :class:`LobsterDay`'s ticker and level count."""
        return cls(day.ticker, day.levels, **options)

    @property
    def seeded_levels(self):
        """Levels read from the order-book file: row 0's book and every re-seed."""
        return self.initial_seeds + self.reseeds

    def convert(self, rows):
        """For each ``(message, book)`` pair yield the list of units it becomes (row 0's list
        starts with the prelude and seeds). ``book`` needs only ``level(side, position) →
        (price, size) | None``, as :class:`BookRow` has: it is all the converter reads.

        After the last unit of row k, a book that applied every unit so far equals order-book
        row k. One converter converts one day.
        """
        if self._started:
            raise RuntimeError("a LobsterToItch converts one day; make another for the next")
        self._started = True
        for row, (message, book) in enumerate(rows):
            self._row, self._message = row, message
            out = []
            if row == 0:
                self._prelude(message, book, out)
            self._apply(message, out)
            for side in (Side.BID, Side.ASK):
                self._prune(side, out)
            for side in (Side.BID, Side.ASK):
                self._reseed(side, book, out)
            self.rows += 1
            yield out

    def units(self, rows):
        """Every unit of :meth:`convert`, as one flat stream for replay."""
        for row_units in self.convert(rows):
            yield from row_units

    # --- the rules ---------------------------------------------------------------------------

    def _prelude(self, message, book, out):
        self._emit(out, "S", event_code=b"O")
        self._emit(out, "R", stock=self.stock, round_lot_size=self.round_lot,
                   round_lots_only=b"N")
        for side in (Side.BID, Side.ASK):
            levels = {}
            for position in range(self.levels):
                entry = book.level(side, position)
                if entry is None:
                    break
                levels[entry[0]] = entry[1]
            if message.side == side:
                self._undo(message, levels)
            for price in sorted(levels, reverse=side == Side.BID):
                self._add_seed(side, price, levels[price], out)
                self.initial_seeds += 1

    def _undo(self, message, levels):
        """Turn row 0's ``{price: size}`` of the message's side into the book before it."""
        event, price, size = message.event, message.price, message.size
        if event == EventType.SUBMIT:
            held = levels.get(price, 0)
            if held < size:
                self._fail(f"row 0 holds {held} shares at {price}, fewer than message 0 added")
            if held == size:
                del levels[price]
            else:
                levels[price] = held - size
        elif event in (EventType.CANCEL, EventType.DELETE, EventType.EXECUTE_VISIBLE):
            levels[price] = levels.get(price, 0) + size

    def _apply(self, message, out):
        event = message.event
        if event == EventType.SUBMIT:
            if message.order_id >= SEED_REF_BASE or message.order_id in self._orders:
                self._fail(f"order id {message.order_id} is already live or in the seed range")
            self._add(_Order(message.order_id, message.side, message.price, message.size,
                             seed=False), out)
        elif event == EventType.EXECUTE_HIDDEN:
            self._next_match += 1
            self._emit(out, "P", buy_sell_indicator=SIDE_CODE[message.side],
                       shares=message.size, stock=self.stock, price=message.price,
                       match_number=self._next_match)
        elif event == EventType.HALT:
            self._emit(out, "H", stock=self.stock, trading_state=_TRADING_STATES[message.price])
        else:
            self._reduce(message, out)

    def _reduce(self, message, out):
        """Take ``size`` shares off the level at (side, price), named order first."""
        side, price, size = message.side, message.price, message.size
        level = self._sides[side].get(price)
        held = level.shares if level else 0
        if held < size:
            self._fail(f"the {side.name} level at {price} holds {held} shares, fewer than the "
                       f"{size} this message removes")
        named = self._orders.get(message.order_id)
        if named is None:
            self.unmatched_events += 1
        elif named.side != side or named.price != price:
            self._fail(f"order {named.ref} rests at {named.side.name} {named.price}")
        execute = message.event == EventType.EXECUTE_VISIBLE
        remaining = size
        if named is not None:
            remaining -= self._take(named, min(size, named.shares), execute, level, out)
        if remaining:
            # seeds first: they stand for liquidity of unknown orders, as the unnamed shares
            for order in sorted(list(level.orders.values()), key=lambda o: not o.seed):
                remaining -= self._take(order, min(remaining, order.shares), execute, level,
                                        out)
                if not remaining:
                    break

    def _take(self, order, shares, execute, level, out):
        """Emit the message removing ``shares`` from ``order``; update the mirror."""
        if execute:
            self._next_match += 1
            self._emit(out, "E", order_reference_number=order.ref, executed_shares=shares,
                       match_number=self._next_match)
        elif shares == order.shares:
            self._emit(out, "D", order_reference_number=order.ref)
        else:
            self._emit(out, "X", order_reference_number=order.ref, cancelled_shares=shares)
        order.shares -= shares
        level.shares -= shares
        if order.shares == 0:
            del level.orders[order.ref], self._orders[order.ref]
        if level.shares == 0:
            del self._sides[order.side][order.price]
        return shares

    def _prune(self, side, out):
        levels = self._sides[side]
        while len(levels) > self.levels:
            level = levels.pop(self._worst(side))
            for order in level.orders.values():
                self._emit(out, "D", order_reference_number=order.ref)
                del self._orders[order.ref]
            self.pruned_levels += 1

    def _reseed(self, side, book, out):
        """Add a seed order for each level of the row below the mirror's depth."""
        levels = self._sides[side]
        worst = self._worst(side) if levels else None
        for position in range(len(levels), self.levels):
            entry = book.level(side, position)
            if entry is None:
                return
            price, size = entry
            if worst is not None and (price >= worst if side == Side.BID else price <= worst):
                self._fail(f"{side.name} level {position + 1} of the order book ({price}) is not "
                           f"below the book built so far (worst {worst})")
            self._add_seed(side, price, size, out)
            self.reseeds += 1
            worst = price

    # --- the mirror ---------------------------------------------------------------------------

    def _worst(self, side):
        levels = self._sides[side]
        return min(levels) if side == Side.BID else max(levels)

    def _add_seed(self, side, price, shares, out):
        self._next_seed += 1
        self._add(_Order(SEED_REF_BASE | self._next_seed, side, price, shares, seed=True), out)

    def _add(self, order, out):
        self._emit(out, "A", order_reference_number=order.ref,
                   buy_sell_indicator=SIDE_CODE[order.side], shares=order.shares,
                   stock=self.stock, price=order.price)
        level = self._sides[order.side].get(order.price)
        if level is None:
            level = self._sides[order.side][order.price] = _Level()
        level.orders[order.ref] = order
        level.shares += order.shares
        self._orders[order.ref] = order

    def _emit(self, out, message_type, **fields):
        try:
            out.append(encode(message_type, stock_locate=self.locate,
                              timestamp=self._message.time_ns, **fields))
        except ValueError as error:
            self._fail(f"ITCH cannot carry it: {error}")

    def _fail(self, problem):
        raise ConversionError(self._row, self._message, problem)
