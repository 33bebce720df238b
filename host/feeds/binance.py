"""Binance depth-stream captures, and their conversion to tickforge level updates.

A capture file (gzip, one line per message) holds ``<local receive time, ns> <JSON>``. The JSON
is a combined-stream wrapper ``{"stream": "<symbol>@<channel>", "data": {...}}`` for

- ``depth@100ms`` (spot) / ``depth@0ms`` (futures) diffs: ``U`` first update id, ``u`` final
  update id, futures also ``pu`` (the previous diff's ``u``); ``b``/``a`` lists of
  ``[price, quantity]`` decimal strings, quantity 0 removing the level;
- ``bookTicker``: best bid ``b``/``B`` and ask ``a``/``A`` (price/quantity) at update id ``u``;
- ``trade``: price ``p``, quantity ``q``, trade id ``t``, ``m`` true if the buyer is the maker;

or, once in the first file of a venue, the REST depth snapshot ``{"lastUpdateId", "bids",
"asks"}`` (1000 levels a side), which arrives after some diffs. A day's later file continues
the earlier one. The venue (``spot``, ``usdm`` USD-M futures, ``cm`` COIN-M futures) is the
folder the file is in; symbol and date are in its name, ``<symbol>_<YYYYMMDD><anything>.gz``.

:class:`BinanceFile` streams one file as records with prices and quantities scaled exactly to
integers (:func:`scale_decimal`); :class:`BinanceCapture` groups files by venue and merges all
venues into one stream in local-receive-time order. :class:`BinanceToItch` keeps every venue's
full book in sync by Binance's documented rules and sends the target only the top ``levels``
of each side as ``l`` (LevelUpdate) units, plus ``P`` (Trade) units for trades.
"""

import bisect
import collections
import dataclasses
import enum
import gzip
import heapq
import itertools
import json
import os
import re
import zlib
from typing import NamedTuple

from ...hdl.layouts import Side
from ..protocol import SIDE_CODE, encode


__all__ = ["BinanceFormatError", "ScaleError", "Venue", "Scale", "DEFAULT_SCALES",
           "scale_decimal", "venue_of", "DepthDiff", "Snapshot", "BookTicker", "TradePrint",
           "BinanceFile", "VenueFeed", "BinanceCapture", "SyncState", "SequenceGap",
           "VenueStats", "Step", "BinanceToItch", "NS_PER_DAY"]


NS_PER_DAY = 86_400 * 1_000_000_000
_MAX32 = (1 << 32) - 1
_JSON = json.JSONDecoder()
_NAME = re.compile(r"(?P<symbol>[a-z0-9]+(?:_[a-z0-9]+)*?)_(?P<date>\d{8})[^/\\]*\.gz")


class BinanceFormatError(ValueError):
    """A capture line that does not hold what it should; ``line`` counts from 1."""

    def __init__(self, name, line, problem):
        super().__init__(f"{name}: line {line}: {problem}")
        self.name = name
        self.line = line
        self.problem = problem


class ScaleError(BinanceFormatError):
    """A price or quantity that the venue's fixed scale cannot carry exactly: more non-zero
    decimals than the scale has, or too large for 32 bits. Never rounded."""

    def __init__(self, name, line, value, problem):
        super().__init__(name, line, problem)
        self.value = value


class Venue(enum.Enum):
    """A Binance market; the value is the folder name its captures are kept in."""
    SPOT = "spot"
    USDM = "usdm"   # USD-M futures: quantities in the base asset (BTC)
    CM = "cm"       # COIN-M futures: quantities in contracts (100 USD each for BTC)

    @property
    def futures(self):
        """Futures diffs carry ``pu`` and follow the futures sync rule."""
        return self != Venue.SPOT


@dataclasses.dataclass(frozen=True)
class Scale:
    """Decimals kept of a venue's prices and quantities: integer = decimal × 10**decimals."""
    price_decimals: int
    quantity_decimals: int

    def __post_init__(self):
        for name in ("price_decimals", "quantity_decimals"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 18:
                raise ValueError(f"Scale: {name} must be an integer 0..18, not {value!r}")


DEFAULT_SCALES = {
    Venue.SPOT: Scale(price_decimals=2, quantity_decimals=6),
    Venue.USDM: Scale(price_decimals=2, quantity_decimals=3),
    Venue.CM:   Scale(price_decimals=2, quantity_decimals=0),
}
"""Scales that carry every value of the BTC captures exactly and fit 32 bits.

Prices: units of 0.01 USD on all three markets, so one asset's venues compare directly (spot's
tick is 0.01, the futures' 0.1; the largest price seen, 621368.7, is 62,136,870). Quantities:
spot's lot is 0.00001 BTC but some resting orders far from the touch are older and finer (e.g.
25.426189 BTC at 200000.00), so 6 decimals (up to 4294.967295 BTC a level; the largest seen is
554.64); USD-M's lot is 0.001 BTC (3); COIN-M's are whole contracts (0).
"""


def scale_decimal(text, decimals):
    """The decimal string ``text`` × 10**``decimals`` as an exact integer of 0..2**32-1.

    Integer arithmetic on the digits, never a float. Raises ValueError for anything but
    ASCII digits with an optional point and fraction, for non-zero digits past ``decimals``,
    and for values past 32 bits.
    """
    if type(text) is not str:
        raise ValueError(f"{text!r} is not a decimal string")
    whole, point, fraction = text.partition(".")
    if not (whole.isascii() and whole.isdigit()
            and (not point or (fraction.isascii() and fraction.isdigit()))):
        raise ValueError(f"{text!r} is not a decimal number")
    kept, extra = fraction[:decimals], fraction[decimals:]
    if extra.strip("0"):
        raise ValueError(f"{text!r} has non-zero digits beyond {decimals} decimals")
    value = int(whole + kept.ljust(decimals, "0"))
    if value > _MAX32:
        raise ValueError(f"{text!r} at {decimals} decimals is {value}, more than 32 bits hold")
    return value


# --- records ----------------------------------------------------------------------------------

class DepthDiff(NamedTuple):
    """A depth-stream diff; ``bids``/``asks`` are ``(price, quantity)`` pairs, 0 removing."""
    time_ns: int           # local receive time, ns since the epoch
    source: str            # file it came from, and its line (from 1)
    line: int
    first_id: int          # U
    final_id: int          # u
    previous_id: int       # pu (futures); None on spot
    bids: tuple
    asks: tuple


class Snapshot(NamedTuple):
    """The REST depth snapshot: the full book at ``last_update_id``, best level first."""
    time_ns: int
    source: str
    line: int
    last_update_id: int
    bids: tuple
    asks: tuple


class BookTicker(NamedTuple):
    """Best bid and ask after update ``update_id``: the ground truth of a book."""
    time_ns: int
    source: str
    line: int
    update_id: int
    bid_price: int
    bid_quantity: int
    ask_price: int
    ask_quantity: int


class TradePrint(NamedTuple):
    time_ns: int
    source: str
    line: int
    trade_id: int
    price: int
    quantity: int
    buyer_is_maker: bool


# --- reading ----------------------------------------------------------------------------------

def venue_of(path):
    """The venue of a capture file: the nearest folder of its path named after one."""
    folders = os.path.normpath(os.path.abspath(os.fspath(path))).split(os.sep)[:-1]
    for folder in reversed(folders):
        if folder in Venue._value2member_map_:
            return Venue(folder)
    raise ValueError(f"cannot tell the venue of {os.fspath(path)}: keep it in a folder named "
                     f"{', '.join(venue.value for venue in Venue)}")


class BinanceFile:
    """One capture file, streamed line by line (never read whole).

    ``venue``: by default the nearest folder of the path named ``spot``, ``usdm`` or ``cm``.
    ``scale``: by default :data:`DEFAULT_SCALES` of the venue. Streams of channels other than
    depth, bookTicker and trade are skipped and counted in ``skipped`` (channel → lines).
    """

    def __init__(self, path, venue=None, scale=None):
        self.path = os.fspath(path)
        self.name = self.path
        match = _NAME.fullmatch(os.path.basename(self.path))
        if match is None:
            raise ValueError(f"{self.path} is not named as a Binance capture "
                             f"(<symbol>_<YYYYMMDD>[anything].gz, e.g. btcusdt_20240808.gz)")
        self.symbol = match["symbol"]
        self.date = match["date"]
        self.venue = venue_of(self.path) if venue is None else Venue(venue)
        self.scale = DEFAULT_SCALES[self.venue] if scale is None else scale
        if not isinstance(self.scale, Scale):
            raise TypeError(f"scale must be a Scale, not {self.scale!r}")
        self.skipped = collections.Counter()

    def __repr__(self):
        return f"BinanceFile({self.venue.value} {self.symbol} {self.date}: {self.path})"

    def _lines(self):
        """``(line number, bytes)`` of each complete line; a damaged or truncated gzip stream
        is a BinanceFormatError at the line where the damage shows."""
        done = 0
        with open(self.path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream:
            try:
                for line in stream:
                    if not line.endswith(b"\n"):
                        stream.read()  # raises EOFError if the stream was cut short here
                    done += 1
                    yield done, line
            except EOFError:
                raise BinanceFormatError(self.name, done + 1, "the gzip stream ends early: "
                                         "the file is truncated") from None
            except (gzip.BadGzipFile, zlib.error) as error:
                raise BinanceFormatError(self.name, done + 1,
                                         f"unreadable gzip data near here ({error})") from None

    def records(self):
        """Every record of the file: DepthDiff, Snapshot, BookTicker or TradePrint."""
        name = self.name
        prices, quantities = {}, {}
        for number, line in self._lines():
            stamp, _, text = line.partition(b" ")
            try:
                time_ns = int(stamp)
                text = text.decode()
                message, end = _JSON.raw_decode(text)  # twice as fast as json.loads on bytes
                if text[end:].strip():
                    raise ValueError(f"extra data after the JSON at column {end + 1}")
            except ValueError as error:
                raise BinanceFormatError(name, number, f"not '<time ns> <JSON>': {error}") from None
            if not isinstance(message, dict):
                raise BinanceFormatError(name, number, "the JSON is not an object")
            try:
                record = self._record(message, time_ns, number, prices, quantities)
            except BinanceFormatError:
                raise
            except KeyError as error:
                raise BinanceFormatError(name, number, f"field {error} is missing") from None
            except (TypeError, AttributeError, ValueError) as error:
                raise BinanceFormatError(name, number, f"a field has the wrong type "
                                                       f"({error})") from None
            if record is not None:
                yield record
            if len(prices) > 1 << 20:  # the caches only save time; bound their memory
                prices.clear()
                quantities.clear()

    def _record(self, message, time_ns, number, prices, quantities):
        def price(text):
            value = prices.get(text)
            if value is None:
                value = prices[text] = self._scaled(text, self.scale.price_decimals, number)
            return value

        def quantity(text):
            value = quantities.get(text)
            if value is None:
                value = quantities[text] = self._scaled(text, self.scale.quantity_decimals,
                                                        number)
            return value

        def levels(pairs):
            try:  # most values have been seen before: the caches hold them
                return tuple([(prices[p], quantities[q]) for p, q in pairs])
            except KeyError:
                return tuple([(price(p), quantity(q)) for p, q in pairs])

        if "stream" not in message:
            if "lastUpdateId" not in message:
                raise BinanceFormatError(self.name, number, "neither a stream message nor a "
                                                            "depth snapshot")
            return Snapshot(time_ns, self.name, number, _integer(message["lastUpdateId"]),
                            levels(message["bids"]), levels(message["asks"]))
        symbol, _, channel = message["stream"].partition("@")
        if symbol != self.symbol:
            raise BinanceFormatError(self.name, number, f"stream {message['stream']!r} is not "
                                                        f"for {self.symbol}, the file's symbol")
        data = message["data"]
        if channel.startswith("depth"):
            if self.venue.futures:
                if "pu" not in data:
                    raise BinanceFormatError(self.name, number, f"a {self.venue.value} depth "
                                             f"diff carries 'pu', this one has none: is the "
                                             f"file from spot?")
                previous = _integer(data["pu"])
            else:
                if "pu" in data:
                    raise BinanceFormatError(self.name, number, "a spot depth diff has no "
                                             "'pu', this one has: is the file from futures?")
                previous = None
            return DepthDiff(time_ns, self.name, number, _integer(data["U"]),
                             _integer(data["u"]), previous, levels(data["b"]), levels(data["a"]))
        if channel == "bookTicker":
            return BookTicker(time_ns, self.name, number, _integer(data["u"]),
                              price(data["b"]), quantity(data["B"]),
                              price(data["a"]), quantity(data["A"]))
        if channel == "trade":
            maker = data["m"]
            if not isinstance(maker, bool):
                raise TypeError(f"'m' is {maker!r}, not true or false")
            return TradePrint(time_ns, self.name, number, _integer(data["t"]),
                              price(data["p"]), quantity(data["q"]), maker)
        self.skipped[channel] += 1
        return None

    def _scaled(self, text, decimals, number):
        try:
            return scale_decimal(text, decimals)
        except ValueError as error:
            raise ScaleError(self.name, number, text,
                             f"{self.venue.value} value {error}") from None


def _integer(value):
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an integer")
    return value


class VenueFeed:
    """One venue's files (one symbol), in date order: each continues the one before."""

    def __init__(self, venue, symbol, files):
        self.venue = venue
        self.symbol = symbol
        self.files = sorted(files, key=lambda file: file.date)
        dates = [file.date for file in self.files]
        if len(set(dates)) != len(dates):
            raise ValueError(f"two files of {venue.value} {symbol} for one date: "
                             f"{[file.path for file in self.files]}")
        self.name = f"{venue.value}/{symbol}"

    def __repr__(self):
        return f"VenueFeed({self.name}: {[file.path for file in self.files]})"

    def records(self):
        for file in self.files:
            yield from file.records()


class BinanceCapture:
    """Capture files of one or more venues, replayed together.

    Files are grouped by (venue, symbol) into :class:`VenueFeed` s, in the order each group
    first appears in ``paths``. ``scales`` maps a :class:`Venue` to its :class:`Scale`
    (default :data:`DEFAULT_SCALES`).
    """

    def __init__(self, paths, scales=None):
        scales = {**DEFAULT_SCALES, **(scales or {})}
        groups = {}
        for path in paths:
            venue = venue_of(path)
            file = BinanceFile(path, venue, scales[venue])
            groups.setdefault((file.venue, file.symbol), []).append(file)
        if not groups:
            raise ValueError("no capture files given")
        self.venues = [VenueFeed(venue, symbol, files)
                       for (venue, symbol), files in groups.items()]

    def records(self):
        """``(venue index, record)`` of every venue, merged in local-receive-time order;
        records of equal time keep the venue order, and each venue keeps its file order."""
        streams = [zip(itertools.repeat(index), venue.records())
                   for index, venue in enumerate(self.venues)]
        return heapq.merge(*streams, key=lambda item: item[1].time_ns)


# --- conversion -------------------------------------------------------------------------------

class SyncState(enum.Enum):
    WAITING = "waiting for a snapshot"       # diffs are buffered
    LOADED = "snapshot loaded"               # waiting for the diff that continues it
    SYNCED = "in sync"


@dataclasses.dataclass(frozen=True)
class SequenceGap:
    """A diff that does not continue the book: ``expected`` is the id the sync rule wanted
    (spot: ``U`` = last ``u`` + 1; futures: ``pu`` = last ``u``; after a snapshot: the first
    diff covering it), ``got`` the diff's ``U`` (spot) or ``pu`` (futures)."""
    venue: str
    source: str
    line: int
    time_ns: int
    expected: int
    got: int
    first_id: int
    final_id: int

    def __str__(self):
        return (f"{self.venue}: sequence gap at {self.source} line {self.line}: expected "
                f"{self.expected}, got {self.got} (diff U={self.first_id} u={self.final_id})")


@dataclasses.dataclass
class VenueStats:
    """What the converter did with one venue's records."""
    diffs: int = 0
    applied: int = 0     # diffs applied to an in-sync book
    stale: int = 0       # diffs older than the snapshot, dropped by the sync rule
    unsynced: int = 0    # diffs not applied: no snapshot (yet) after them, or after a gap
    overflowed: int = 0  # buffered diffs dropped because the buffer was full
    snapshots: int = 0
    extra_snapshots: int = 0  # snapshots arriving while in sync: not needed, ignored
    tickers: int = 0
    trades: int = 0
    units: int = 0
    level_sets: int = 0      # l units with a quantity
    level_removals: int = 0  # l units with quantity 0


class Step(NamedTuple):
    """What one record (or one buffered diff applied at a snapshot) became.

    ``applied``: the record is a diff applied to an in-sync book, so after ``units`` the
    target's top ``levels`` equal the venue's book as of ``record.final_id``.
    """
    venue: int
    record: object
    units: list
    applied: bool


class _Book:
    """A venue's full book: per side a dict price → quantity and the prices in rising order."""

    __slots__ = ("quantities", "prices")

    def __init__(self):
        self.quantities = ({}, {})   # by Side value
        self.prices = ([], [])

    def load(self, bids, asks):
        for side, levels in ((Side.BID, bids), (Side.ASK, asks)):
            quantities = self.quantities[side.value]
            quantities.clear()
            quantities.update((price, quantity) for price, quantity in levels if quantity)
            self.prices[side.value][:] = sorted(quantities)

    def apply(self, side, levels):
        quantities, prices = self.quantities[side.value], self.prices[side.value]
        for price, quantity in levels:
            if quantity:
                if price not in quantities:
                    bisect.insort(prices, price)
                quantities[price] = quantity
            elif quantities.pop(price, None) is not None:
                del prices[bisect.bisect_left(prices, price)]

    def top(self, side, count):
        """The best ``count`` levels of ``side`` as a dict price → quantity."""
        quantities, prices = self.quantities[side.value], self.prices[side.value]
        best = prices[:-count - 1:-1] if side == Side.BID else prices[:count]
        return {price: quantities[price] for price in best}


class _VenueState:
    __slots__ = ("index", "feed", "locate", "slot", "stock", "state", "last_id", "latest_id",
                 "buffer", "book", "window", "stats")

    def __init__(self, index, feed, locate, slot, max_buffered):
        self.index = index
        self.feed = feed
        self.locate = locate
        self.slot = slot
        self.stock = feed.symbol.upper()[:8].encode("ascii")
        self.state = SyncState.WAITING
        self.last_id = None              # the snapshot's lastUpdateId, then the last diff's u
        self.latest_id = None            # u of the latest diff seen, applied or not
        self.buffer = collections.deque(maxlen=max_buffered)
        self.book = _Book()
        self.window = ({}, {})           # what the target holds, by Side value
        self.stats = VenueStats()


class BinanceToItch:
    """Turn merged capture records into tickforge units that keep, for every venue, the
    target's book equal to the true top ``levels`` of each side.

    Venue ``i`` (of ``venues``, :class:`VenueFeed` s) uses locate ``first_locate + i`` and book
    slot ``first_slot + i``; :meth:`prelude` subscribes them. Per venue the converter keeps the
    full book and syncs it by Binance's rules:

    - diffs before the snapshot are buffered (at most ``max_buffered``; the oldest go first);
    - at the snapshot, spot drops diffs with ``u <= lastUpdateId`` and applies first the one
      with ``U <= lastUpdateId + 1 <= u``; futures drop ``u < lastUpdateId`` and apply first
      the one with ``U <= lastUpdateId <= u``;
    - then each diff must continue the last: spot ``U == u + 1``, futures ``pu == u``.

    A diff that breaks the rule is a :class:`SequenceGap` (listed in ``gaps``): the venue's
    book is emptied on the target (a book known to be wrong must not look right) and the venue
    waits for a new snapshot, buffering diffs again; only a snapshot can resync it. A capture
    has one snapshot per venue, so after a gap the venue stays out of sync to the end.

    After each applied diff (and after loading the snapshot) the converter compares each
    side's top ``levels`` with what the target was last sent and emits ``l`` units: qty-0
    removals of levels that left the window first, then every level that entered it or whose
    quantity changed. The target therefore never holds more than ``levels`` levels a side and
    never drops one: ``levels`` must be below ``tracked_levels``, so a side is never full.

    Trades become ``P`` units (reference 0, match number = trade id) on the venue's locate,
    sent in or out of sync: ``buy_sell_indicator`` is the side of the resting (maker) order,
    as ITCH's P has it: ``B`` when the buyer is the maker (a sell aggressor), ``S`` when the
    seller is. Unit timestamps are the local receive time in ns since midnight UTC.
    """

    def __init__(self, venues, *, levels=10, tracked_levels=16, first_locate=1, first_slot=0,
                 max_buffered=10_000):
        if not isinstance(levels, int) or not 1 <= levels < tracked_levels:
            raise ValueError(f"levels must be 1..{tracked_levels - 1} (below the target's "
                             f"{tracked_levels} tracked levels), not {levels!r}")
        if not 0 <= first_slot <= first_slot + len(venues) - 1 <= 255:
            raise ValueError(f"slots {first_slot}..{first_slot + len(venues) - 1} do not fit "
                             f"a byte")
        if not 0 <= first_locate <= first_locate + len(venues) - 1 < 1 << 16:
            raise ValueError(f"locates {first_locate}..{first_locate + len(venues) - 1} do not "
                             f"fit 16 bits")
        if max_buffered < 1:
            raise ValueError(f"max_buffered must be at least 1, not {max_buffered}")
        self.levels = levels
        self._venues = [_VenueState(index, feed, first_locate + index, first_slot + index,
                                    max_buffered)
                        for index, feed in enumerate(venues)]
        self.gaps = []

    @property
    def locates(self):
        return [venue.locate for venue in self._venues]

    @property
    def slots(self):
        return [venue.slot for venue in self._venues]

    def stats(self, index):
        """Venue ``index``'s :class:`VenueStats` so far; diffs still buffered count as
        unsynced (until a snapshot comes for them)."""
        venue = self._venues[index]
        return dataclasses.replace(venue.stats,
                                   unsynced=venue.stats.unsynced + len(venue.buffer))

    def state(self, index):
        return self._venues[index].state

    def applicable_from(self, index):
        """No diff of venue ``index`` applied from now on has a final id below this: the
        oldest buffered diff's, else the latest diff's (None before the first diff). What came
        before it is history a checker may forget."""
        venue = self._venues[index]
        return venue.buffer[0].final_id if venue.buffer else venue.latest_id

    def prelude(self):
        """Subscribe units: venue i's locate to its slot."""
        return [encode("s", stock_locate=venue.locate, slot=venue.slot) for venue in self._venues]

    def convert(self, records):
        """For each ``(venue index, record)`` yield one :class:`Step`; a snapshot that finds
        buffered diffs yields one more for each of them (applied, stale, or buffered again), so
        a buffered diff appears twice: once not applied, then as what the snapshot made of it."""
        for index, record in records:
            venue = self._venues[index]
            kind = type(record)
            if kind is DepthDiff:
                yield from self._diff(venue, record)
            elif kind is BookTicker:
                venue.stats.tickers += 1
                yield Step(index, record, [], False)
            elif kind is TradePrint:
                venue.stats.trades += 1
                unit = encode("P", stock_locate=venue.locate, timestamp=record.time_ns % NS_PER_DAY,
                              buy_sell_indicator=b"B" if record.buyer_is_maker else b"S",
                              shares=record.quantity, stock=venue.stock, price=record.price,
                              match_number=record.trade_id)
                venue.stats.units += 1
                yield Step(index, record, [unit], False)
            elif kind is Snapshot:
                yield from self._snapshot(venue, record)
            else:
                raise TypeError(f"not a Binance record: {record!r}")

    # --- sync ---------------------------------------------------------------------------------

    def _diff(self, venue, diff):
        venue.stats.diffs += 1
        venue.latest_id = diff.final_id
        if venue.state == SyncState.WAITING:
            self._buffer(venue, diff)
            yield Step(venue.index, diff, [], False)
        else:
            yield self._continue(venue, diff)

    def _buffer(self, venue, diff):
        if len(venue.buffer) == venue.buffer.maxlen:
            venue.stats.overflowed += 1
            venue.stats.unsynced += 1
        venue.buffer.append(diff)

    def _continue(self, venue, diff):
        """The step of one diff on a LOADED or SYNCED book."""
        last = venue.last_id
        futures = venue.feed.venue.futures
        if venue.state == SyncState.LOADED:
            reach = last if futures else last + 1  # the id the first diff must cover
            if diff.final_id < reach:
                venue.stats.stale += 1
                return Step(venue.index, diff, [], False)
            covered, expected, got = diff.first_id <= reach, reach, diff.first_id
        elif futures:
            covered, expected, got = diff.previous_id == last, last, diff.previous_id
        else:
            covered, expected, got = diff.first_id == last + 1, last + 1, diff.first_id
        if not covered:
            return self._gap(venue, diff, expected, got)
        venue.state = SyncState.SYNCED
        venue.last_id = diff.final_id
        venue.book.apply(Side.BID, diff.bids)
        venue.book.apply(Side.ASK, diff.asks)
        venue.stats.applied += 1
        return Step(venue.index, diff, self._window_units(venue, diff.time_ns), True)

    def _gap(self, venue, diff, expected, got):
        self.gaps.append(SequenceGap(venue.feed.name, diff.source, diff.line, diff.time_ns,
                                     expected, got, diff.first_id, diff.final_id))
        venue.state = SyncState.WAITING
        venue.book.load((), ())
        units = self._window_units(venue, diff.time_ns)
        self._buffer(venue, diff)  # the buffer is empty: it was drained at the snapshot
        return Step(venue.index, diff, units, False)

    def _snapshot(self, venue, snapshot):
        venue.stats.snapshots += 1
        if venue.state == SyncState.SYNCED:
            venue.stats.extra_snapshots += 1
            yield Step(venue.index, snapshot, [], False)
            return
        venue.book.load(snapshot.bids, snapshot.asks)
        venue.state = SyncState.LOADED
        venue.last_id = snapshot.last_update_id
        yield Step(venue.index, snapshot, self._window_units(venue, snapshot.time_ns), False)
        buffered = list(venue.buffer)
        venue.buffer.clear()
        for diff in buffered:
            if venue.state == SyncState.WAITING:  # a gap among them: wait again
                self._buffer(venue, diff)
                yield Step(venue.index, diff, [], False)
            else:
                yield self._continue(venue, diff)

    # --- the target's window ---------------------------------------------------------------

    def _window_units(self, venue, time_ns):
        """Units that turn what the target holds into the book's top ``levels``; records it."""
        units = []
        timestamp = time_ns % NS_PER_DAY
        for side in (Side.BID, Side.ASK):
            held = venue.window[side.value]
            top = venue.book.top(side, self.levels)
            if top == held:
                continue
            code = SIDE_CODE[side]
            removed = [price for price in held if price not in top]
            for price in removed:
                units.append(encode("l", stock_locate=venue.locate, timestamp=timestamp,
                                    side=code, price=price, quantity=0))
            changed = [(price, quantity) for price, quantity in top.items()
                       if held.get(price) != quantity]
            for price, quantity in changed:
                units.append(encode("l", stock_locate=venue.locate, timestamp=timestamp,
                                    side=code, price=price, quantity=quantity))
            venue.stats.level_removals += len(removed)
            venue.stats.level_sets += len(changed)
            venue.window = (top, venue.window[1]) if side == Side.BID else (venue.window[0], top)
        venue.stats.units += len(units)
        return units
