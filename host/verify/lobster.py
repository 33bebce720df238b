"""LOBSTER days replayed through a target and checked row by row against their order books."""

import collections
import itertools
import threading
import time
from dataclasses import dataclass, field

from ...hdl.layouts import EventKind, Side
from ..feeds.lobster import LobsterDay, LobsterToItch
from ..protocol import encode


__all__ = ["LobsterCheck", "verify_lobster", "SEND_CHUNK"]


SEND_CHUNK = 1 << 16
"""Bytes gathered before a send: large enough that a pipe or socket is not the bottleneck."""

_SLOT = 0
_STATUS_TAG = 0x600D


@dataclass
class LobsterCheck:
    """The outcome of :func:`verify_lobster`."""
    rows: int = 0
    matched: int = 0
    units: int = 0
    seeded_levels: int = 0
    initial_seeds: int = 0
    reseeds: int = 0
    wall_seconds: float = 0.0
    mismatches: list = field(default_factory=list)  # (row, expected BookRow, got bids/asks)
    status: object = None                           # the final status event's body
    book: dict = field(default_factory=dict)        # the target's final book: side → levels
    target_stats: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.rows > 0 and self.matched == self.rows


def verify_lobster(source, orderbook=None, *, transport, levels=None, progress=None,
                   keep_mismatches=5):
    """Replay a LOBSTER day through ``transport`` and compare the book after every message row
    with the order-book file.

    The day is converted to ITCH (:class:`LobsterToItch`) on a producer thread and streamed
    to the target, preceded by a subscription of the ticker's locate to slot 0 and followed by
    a status request. The calling thread reads the book events as they come back: every event
    carries the sequence number of its input unit, so once an event of a later unit arrives,
    the book of a row is complete and is compared, top ``levels`` per side, with its order-book
    row. ``progress(rows_done)`` is called now and then.
    """
    day = LobsterDay(source, orderbook)
    levels = day.levels if levels is None else levels
    if not 1 <= levels <= day.levels:
        raise ValueError(f"--levels must be 1..{day.levels} for a {day.levels}-level file, "
                         f"not {levels}")
    if levels > transport.config.exported_levels:
        raise ValueError(f"the target exports {transport.config.exported_levels} levels a "
                         f"side; it cannot check {levels}")
    converter = LobsterToItch.for_day(day)
    result = LobsterCheck()
    pending = collections.deque()       # (last unit's seq, row number, order-book row)
    failure = []
    stop = threading.Event()

    def produce():
        try:
            chunk = [encode("s", stock_locate=converter.locate, slot=_SLOT)]
            size, seq = len(chunk[0]), 1
            rows, rows_to_convert = itertools.tee(day.rows())
            for row, ((_, book), units) in enumerate(zip(rows, converter.convert(rows_to_convert))):
                if stop.is_set():
                    return
                seq += len(units)
                pending.append((seq - 1, row, book))
                chunk.extend(units)
                size += sum(map(len, units))
                if size >= SEND_CHUNK:
                    transport.send(b"".join(chunk))
                    chunk, size = [], 0
            chunk.append(encode("y", tag=_STATUS_TAG))
            result.units = seq
            transport.send(b"".join(chunk))
        except BaseException as error:  # reported by the consumer
            failure.append(error)
        finally:
            transport.finish()

    sides = {Side.BID: [], Side.ASK: []}

    def compare_through(seq):
        while pending and pending[0][0] < seq:
            _, row, book = pending.popleft()
            got = {side: [level for level in sides[side][:levels]] for side in Side}
            want = {Side.BID: list(book.bids[:levels]), Side.ASK: list(book.asks[:levels])}
            result.rows += 1
            if got == want:
                result.matched += 1
            elif len(result.mismatches) < keep_mismatches:
                result.mismatches.append((row, want, got))
            if progress and result.rows % 4096 == 0:
                progress(result.rows)

    started = time.perf_counter()
    producer = threading.Thread(target=produce, name="lobster-producer", daemon=True)
    producer.start()
    try:
        for event in transport.events():
            compare_through(event.seq)
            if event.kind == EventKind.BOOK and event.body.slot == _SLOT:
                sides[event.body.side] = [(level.price, level.quantity)
                                          for level in event.body.levels if level.quantity]
            elif event.kind == EventKind.STATUS and event.body.tag == _STATUS_TAG:
                result.status = event.body
        producer.join()
        if failure:
            raise failure[0]
        compare_through(float("inf"))
    finally:
        stop.set()
        transport.close()
        producer.join()
    if progress:
        progress(result.rows)
    result.wall_seconds = time.perf_counter() - started
    result.book = sides
    result.seeded_levels = converter.seeded_levels
    result.initial_seeds = converter.initial_seeds
    result.reseeds = converter.reseeds
    result.target_stats = dict(transport.stats)
    return result

