"""Binance captures replayed through a target and checked against the bookTicker stream."""

import collections
import threading
import time
from dataclasses import dataclass, field

from ...hdl.layouts import EventKind
from ..feeds.binance import BinanceCapture, BinanceToItch, BookTicker, SyncState
from ..protocol import encode


__all__ = ["BinanceCheck", "VenueCheck", "Mismatch", "verify_binance", "SEND_CHUNK",
           "DEFAULT_LEVELS"]


SEND_CHUNK = 1 << 16
"""Bytes gathered before a send: large enough that a pipe or socket is not the bottleneck."""

DEFAULT_LEVELS = 10
"""Levels a side the target is sent (the window): what the pricing kernels look at."""

_STATUS_TAG = 0xB1A7


@dataclass
class VenueCheck:
    """One venue's part of a :class:`BinanceCheck`."""
    name: str
    slot: int
    matched: int = 0         # diffs whose best bid and ask, prices and quantities, matched
    prices_matched: int = 0  # diffs whose best bid and ask prices matched
    total: int = 0           # diffs compared: applied, with a bookTicker at or before their u
    no_truth: int = 0        # applied diffs older than the venue's first bookTicker
    applied: int = 0
    stale: int = 0           # diffs before the snapshot, dropped by the sync rule
    unsynced: int = 0        # diffs not applied (and not compared): the book was out of sync
    gaps: int = 0
    tickers: int = 0
    trades: int = 0          # trades sent ...
    trade_events: int = 0    # ... and the target's TRADE events for this slot
    in_sync: bool = False    # at the end of the capture


@dataclass(frozen=True)
class Mismatch:
    """A compared diff whose best bid/ask differ; ``want`` (the bookTicker) and ``got`` (the
    target) are ``(bid price, bid quantity, ask price, ask quantity)``, None for an empty side."""
    venue: str
    source: str
    line: int
    update_id: int
    want: tuple
    got: tuple

    def __str__(self):
        return (f"{self.venue}: {self.source} line {self.line} (u={self.update_id}): "
                f"bookTicker {_bbo_text(self.want)}, target {_bbo_text(self.got)}")


def _bbo_text(bbo):
    bid_price, bid_quantity, ask_price, ask_quantity = bbo
    return f"bid {bid_quantity}@{bid_price} ask {ask_quantity}@{ask_price}"


@dataclass
class BinanceCheck:
    """The outcome of :func:`verify_binance`."""
    venues: list = field(default_factory=list)        # VenueCheck per venue, in slot order
    units: int = 0
    wall_seconds: float = 0.0
    gaps: list = field(default_factory=list)          # SequenceGap
    mismatches: list = field(default_factory=list)    # the first Mismatch es
    status: object = None                             # the final status event's body
    target_stats: dict = field(default_factory=dict)

    @property
    def matched(self):
        return sum(venue.matched for venue in self.venues)

    @property
    def prices_matched(self):
        return sum(venue.prices_matched for venue in self.venues)

    @property
    def total(self):
        return sum(venue.total for venue in self.venues)

    @property
    def ok(self):
        return self.total > 0 and self.matched >= 0.999 * self.total


class _Truth:
    """A venue's bookTickers and its compared diffs waiting for them.

    The ground truth of a diff is the latest bookTicker with ``u`` at or before the diff's
    ``u``. The bookTicker stream is independent of the depth stream, so that ticker may be
    received after the diff (often on USD-M): a diff is judged once a ticker past its ``u``
    has arrived, or at the end. Tickers older than what any later diff can need are dropped,
    so a venue out of sync for hours does not pile them up.
    """

    def __init__(self, check, mismatches, keep_mismatches):
        self.check = check
        self.tickers = collections.deque()   # received, not yet outdated
        self.waiting = collections.deque()   # (diff, the target's bbo after it)
        self._mismatches = mismatches
        self._keep = keep_mismatches

    def ticker(self, ticker, floor):
        """Add a ticker; no diff compared from now on has a final id below ``floor``."""
        tickers = self.tickers
        tickers.append(ticker)
        self.judge(final=False)
        if floor is not None:  # the diffs still waiting need only the newest ticker
            while len(tickers) > 1 and tickers[1].update_id <= floor:
                tickers.popleft()

    def judge(self, final):
        tickers, waiting = self.tickers, self.waiting
        while waiting:
            diff, got = waiting[0]
            update_id = diff.final_id
            if not final and (not tickers or tickers[-1].update_id <= update_id):
                return
            while len(tickers) > 1 and tickers[1].update_id <= update_id:
                tickers.popleft()
            waiting.popleft()
            if not tickers or tickers[0].update_id > update_id:
                self.check.no_truth += 1
                continue
            truth = tickers[0]
            want = (truth.bid_price, truth.bid_quantity, truth.ask_price, truth.ask_quantity)
            self.check.total += 1
            if want == got:
                self.check.matched += 1
                self.check.prices_matched += 1
                continue
            if (want[0], want[2]) == (got[0], got[2]):
                self.check.prices_matched += 1
            if len(self._mismatches) < self._keep:
                self._mismatches.append(Mismatch(self.check.name, diff.source, diff.line,
                                                 update_id, want, got))


def verify_binance(paths, *, transport, levels=DEFAULT_LEVELS, progress=None, scales=None,
                   keep_mismatches=5):
    """Replay Binance captures (any venues, see :class:`BinanceCapture`) through
    ``transport`` and check every venue's best bid and ask against its bookTicker stream.

    A producer thread converts the merged capture (:class:`BinanceToItch`, top ``levels`` a
    side) and streams it to the target, after one subscription per venue (venue i → slot i)
    and before a status request. The calling thread follows each slot's book from the BOOK
    events; every event carries its input unit's sequence number, so once an event of a later
    unit arrives, the units of a diff have all been applied, and the target's best bid and ask
    (prices and quantities) are taken and compared with the diff's ground truth (see
    :class:`_Truth`). Diffs of a venue out of sync are not compared; they are counted.
    ``progress(diffs_compared)`` is called now and then.
    """
    capture = BinanceCapture(paths, scales)
    count = len(capture.venues)
    if count > transport.config.symbols:
        raise ValueError(f"{count} venues need {count} book slots; the target has "
                         f"{transport.config.symbols}")
    converter = BinanceToItch(capture.venues, levels=levels,
                              tracked_levels=transport.config.tracked_levels)
    result = BinanceCheck(venues=[VenueCheck(venue.name, slot)
                                  for venue, slot in zip(capture.venues, converter.slots)])
    truths = [_Truth(check, result.mismatches, keep_mismatches) for check in result.venues]
    venue_of_slot = {slot: index for index, slot in enumerate(converter.slots)}
    pending = collections.deque()   # (last unit's seq, venue, diff or ticker, floor)
    failure = []
    stop = threading.Event()

    def produce():
        try:
            chunk = converter.prelude()
            size, seq = sum(map(len, chunk)), len(chunk)
            for step in converter.convert(capture.records()):
                if stop.is_set():
                    return
                seq += len(step.units)
                if step.applied:
                    pending.append((seq - 1, step.venue, step.record, None))
                elif type(step.record) is BookTicker:
                    pending.append((seq - 1, step.venue, step.record,
                                    converter.applicable_from(step.venue)))
                if step.units:
                    chunk.extend(step.units)
                    size += sum(map(len, step.units))
                    if size >= SEND_CHUNK:
                        transport.send(b"".join(chunk))
                        chunk, size = [], 0
            chunk.append(encode("y", tag=_STATUS_TAG))
            result.units = seq + 1
            transport.send(b"".join(chunk))
        except BaseException as error:  # reported by the consumer
            failure.append(error)
        finally:
            transport.finish()

    best = [[None, None] for _ in range(count)]   # venue → [best bid, best ask] (price, qty)
    compared = 0

    def follow_through(seq):
        nonlocal compared
        while pending and pending[0][0] < seq:
            _, venue, record, floor = pending.popleft()
            if type(record) is BookTicker:
                truths[venue].ticker(record, floor)
                continue
            bid, ask = best[venue]
            got = (*(bid or (None, None)), *(ask or (None, None)))
            truths[venue].waiting.append((record, got))
            compared += 1
            if progress and compared % 4096 == 0:
                progress(compared)

    started = time.perf_counter()
    producer = threading.Thread(target=produce, name="binance-producer", daemon=True)
    producer.start()
    try:
        for event in transport.events():
            follow_through(event.seq)
            kind = event.kind
            if kind == EventKind.BOOK:
                venue = venue_of_slot.get(event.body.slot)
                if venue is not None:
                    top = event.body.levels[0]
                    best[venue][event.body.side.value] = ((top.price, top.quantity)
                                                          if top.quantity else None)
            elif kind == EventKind.TRADE:
                venue = venue_of_slot.get(event.body.slot)
                if venue is not None:
                    result.venues[venue].trade_events += 1
            elif kind == EventKind.STATUS and event.body.tag == _STATUS_TAG:
                result.status = event.body
        producer.join()
        if failure:
            raise failure[0]
        follow_through(float("inf"))
    finally:
        stop.set()
        transport.close()
        producer.join()
    for truth in truths:
        truth.judge(final=True)
    if progress:
        progress(compared)
    result.wall_seconds = time.perf_counter() - started
    result.gaps = list(converter.gaps)
    for index, check in enumerate(result.venues):
        stats = converter.stats(index)
        check.applied, check.stale, check.unsynced = stats.applied, stats.stale, stats.unsynced
        check.tickers, check.trades = stats.tickers, stats.trades
        check.gaps = sum(gap.venue == check.name for gap in result.gaps)
        check.in_sync = converter.state(index) == SyncState.SYNCED
    result.target_stats = dict(transport.stats)
    return result
