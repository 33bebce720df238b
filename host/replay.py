"""Replays: real data through a target, with the kernels configured, signals collected.

A :class:`Plan` turns data files into the unit stream a target is sent (subscriptions
included) and names the books. :func:`replay` adds the settings' parameter writes, streams
everything through a transport (and, with ``compare``, through a second one beside it, failing
on the first event that differs) and summarises the run.
"""

import gzip
import statistics
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..hdl.layouts import EventKind, RejectReason
from .feeds.binance import BinanceCapture, BinanceToItch, DEFAULT_SCALES, Venue
from .feeds.itch import iter_units
from .feeds.lobster import LobsterDay, LobsterToItch
from .protocol import encode, WIRE


__all__ = ["Instrument", "Plan", "plan", "detect_format", "FORMATS", "replay", "ReplayResult",
           "EventMismatch", "SEND_CHUNK"]


FORMATS = ("itch", "lobster", "binance")
SEND_CHUNK = 1 << 16
_STATUS_TAG = 0x5EED
COIN_M_CONTRACT_USD = 100  # a BTC COIN-M contract is worth 100 USD


@dataclass(frozen=True)
class Instrument:
    """How a book's integers read as money: ``price_scale`` price units and ``qty_scale``
    quantity units per currency unit and base unit; an inverse contract (COIN-M) counts
    contracts of ``contract_value`` currency units each instead."""
    price_scale: int
    qty_scale: int = 1
    contract_value: int = None


@dataclass
class Plan:
    """What a replay sends: ``units()`` yields every unit (subscriptions included); ``slots``
    names the books ({name: slot}) and ``instruments`` says how each reads as money."""
    description: str
    slots: dict
    units: object
    instruments: dict


def detect_format(paths):
    """``lobster``, ``binance`` or ``itch``, from the files' contents (not their names)."""
    first = Path(paths[0])
    if zipfile.is_zipfile(first) or first.suffix == ".csv":
        return "lobster"
    with open(first, "rb") as raw:
        head = raw.read(2)
    if head == b"\x1f\x8b":
        with gzip.open(first, "rb") as unzipped:
            head = unzipped.read(64)
    else:
        with open(first, "rb") as raw:
            head = raw.read(64)
    if head[:1].isdigit() and b" {" in head:
        return "binance"
    return "itch"


def plan(paths, data_format=None, *, config, symbols=()):
    """The :class:`Plan` of replaying ``paths``; ``symbols`` names the ITCH books to track."""
    paths = [Path(path) for path in paths]
    data_format = data_format or detect_format(paths)
    if data_format == "lobster":
        if len(paths) > 2:
            raise ValueError("a LOBSTER replay takes one zip, or a message csv and its "
                             "order-book csv")
        day = LobsterDay(paths[0], paths[1] if len(paths) == 2 else None)
        converter = LobsterToItch.for_day(day)

        def units():
            yield encode("s", stock_locate=converter.locate, slot=0)
            yield from converter.units(day.rows())
        return Plan(f"LOBSTER {day.ticker} {day.date} ({day.levels} levels)",
                    {day.ticker: 0}, units, {day.ticker: _NASDAQ})
    if data_format == "binance":
        capture = BinanceCapture(paths)
        converter = BinanceToItch(capture.venues, tracked_levels=config.tracked_levels,
                                  levels=min(config.exported_levels,
                                             config.tracked_levels - 1))
        if len(capture.venues) > config.symbols:
            raise ValueError(f"{len(capture.venues)} venues, but the core has "
                             f"{config.symbols} book slots")

        def units():
            yield from converter.prelude()
            for step in converter.convert(capture.records()):
                yield from step.units
        names = {venue.name: slot for venue, slot in zip(capture.venues, converter.slots)}
        instruments = {venue.name: _binance_instrument(venue.venue) for venue in capture.venues}
        return Plan(f"Binance {', '.join(names)}", names, units, instruments)
    if data_format == "itch":
        if len(paths) != 1:
            raise ValueError("an ITCH replay takes one file")
        if not symbols:
            raise ValueError("name the ITCH symbols to track: a [symbols.NAME] section each")
        if len(symbols) > config.symbols:
            raise ValueError(f"{len(symbols)} symbols, but the core has {config.symbols} "
                             f"book slots")
        slots = {symbol: slot for slot, symbol in enumerate(symbols)}
        return Plan(f"ITCH {paths[0].name}", slots,
                    lambda: _subscribed(iter_units(paths[0], strict=False), slots),
                    dict.fromkeys(slots, _NASDAQ))
    raise ValueError(f"unknown data format {data_format!r}; choose one of {', '.join(FORMATS)}")


_NASDAQ = Instrument(price_scale=10_000)  # ITCH prices: 1/10000 $; quantities: shares


def _binance_instrument(venue):
    scale = DEFAULT_SCALES[venue]
    return Instrument(price_scale=10 ** scale.price_decimals,
                      qty_scale=10 ** scale.quantity_decimals,
                      contract_value=COIN_M_CONTRACT_USD if venue == Venue.CM else None)


def _subscribed(units, slots):
    """ITCH units with a subscription after the directory entry of each tracked symbol."""
    directory = WIRE[b"R"]
    for unit in units:
        yield unit
        if unit[2:3] == b"R" and len(unit) == 2 + directory.size:
            record = directory.unpack(unit, 2)
            symbol = record.stock.decode("ascii", "replace").rstrip()
            if symbol in slots:
                yield encode("s", stock_locate=record.stock_locate, slot=slots[symbol])


@dataclass
class EventMismatch(Exception):
    """The target and the reference disagree on an event (``None``: one stream ended)."""
    index: int
    got: object
    want: object

    def __str__(self):
        return (f"event {self.index} differs:\n  target:    {self.got}\n"
                f"  reference: {self.want}")


@dataclass
class ReplayResult:
    messages: int = 0
    events: Counter = field(default_factory=Counter)
    signals: Counter = field(default_factory=Counter)     # by SignalReason
    fills: int = 0
    status: object = None
    latencies: list = field(default_factory=list)         # t_out - t_in of SIGNAL events
    wall_seconds: float = 0.0
    compared: int = 0                                     # events checked against a reference
    target_stats: dict = field(default_factory=dict)

    @property
    def rejects(self):
        if self.status is None:
            return {}
        return {reason: getattr(self.status.risk, reason.name.lower())
                for reason in RejectReason}

    def latency_summary(self):
        values = sorted(self.latencies)
        if not values:
            return None
        return {"min": values[0], "median": statistics.median_low(values),
                "p99": values[min(len(values) - 1, round(0.99 * (len(values) - 1)))],
                "max": values[-1], "count": len(values)}


def replay(transport, plan_, setup_units, *, compare=None, on_event=None, progress=None):
    """Send ``setup_units`` (parameter writes), then the plan's units, then a status request,
    through ``transport``; call ``on_event(event)`` for every event and return a
    :class:`ReplayResult`. With ``compare`` (another transport) the same bytes go to it and
    its events must equal the target's one for one (cycle stamps aside), else
    :class:`EventMismatch`."""
    result = ReplayResult()
    failure = []
    # the reference gets each chunk first: its events for a chunk are then there before the
    # target's, which are compared one for one as they come. The other way round, a target that
    # makes more event frames from one chunk than its queue holds (small frames) would wait
    # for that queue to drain, the comparison for the reference's events, and the reference
    # for the chunk the producer could not give it while stuck in the target's send
    targets = ([compare] if compare is not None else []) + [transport]

    def produce():
        try:
            chunk, size = list(setup_units), sum(map(len, setup_units))
            for unit in plan_.units():
                chunk.append(unit)
                size += len(unit)
                result.messages += 1
                if size >= SEND_CHUNK:
                    _send(targets, b"".join(chunk))
                    chunk, size = [], 0
                    if progress:
                        progress(result.messages)
            chunk.append(encode("y", tag=_STATUS_TAG))
            _send(targets, b"".join(chunk))
        except BaseException as error:
            failure.append(error)
        finally:
            for target in targets:
                target.finish()

    started = time.perf_counter()
    producer = threading.Thread(target=produce, name="replay-producer", daemon=True)
    producer.start()
    try:
        events = transport.events()
        reference = compare.events() if compare is not None else None
        for index, event in enumerate(events):
            if reference is not None:
                want = next(reference, None)
                if want is None or _untimed(event) != _untimed(want):
                    raise EventMismatch(index, event, want)
                result.compared += 1
            _count(result, event)
            if on_event:
                on_event(event)
        if reference is not None:
            extra = next(reference, None)
            if extra is not None:
                raise EventMismatch(result.compared, None, extra)
        producer.join()
        if failure:
            raise failure[0]
    finally:
        for target in targets:
            target.close()
        producer.join()
    result.wall_seconds = time.perf_counter() - started
    result.target_stats = dict(transport.stats)
    if progress:
        progress(result.messages)
    return result


def _send(targets, data):
    for target in targets:
        target.send(data)


def _untimed(event):
    return event._replace(t_in=0, t_out=0)


def _count(result, event):
    result.events[event.kind] += 1
    if event.kind == EventKind.SIGNAL:
        result.signals[event.body.reason] += 1
        result.latencies.append((event.t_out - event.t_in) % (1 << 32))
    elif event.kind == EventKind.FILL:
        result.fills += 1
    elif event.kind == EventKind.STATUS and event.body.tag == _STATUS_TAG:
        result.status = event.body

