"""A seeded fuzz campaign: hostile input into the core and into the host's feed readers.

- **core**: real ITCH units (NASDAQ's sample, a LOBSTER day converted) mutated — bytes flipped,
  type changed, length lying, fields randomised, framed garbage of any length, length 0 — with
  orders a tiny table cannot hold, then a status request. The golden model and the target
  (``sim``: the core verilated; ``model``: the model again) must produce the same events, so
  they agree on every parser and book counter; the target must not hang (the native
  simulation stops with :class:`NativeSimHang` after a beat waits too long).
- **readers**: real ITCH, LOBSTER and Binance slices with mutated bytes and lines: each reader
  either reads the input or raises its documented error type (:class:`ItchFormatError`,
  :class:`LobsterFormatError`, :class:`BinanceFormatError`); anything else is a crash.

Everything derives from one seed, so ``tickforge fuzz --seed N --inputs M`` replays a campaign
exactly; the report says what was tried, what was counted, and whether all agreed.
"""

import dataclasses
import gzip
import io
import random
import tempfile
from pathlib import Path

from ..hdl.config import CoreConfig
from ..hdl.layouts import EventKind
from .feeds.binance import BinanceFile, BinanceFormatError
from .feeds.itch import ItchFormatError, iter_units
from .feeds.lobster import LobsterDay, LobsterFormatError
from .model.core import CoreModel
from .paths import BUNDLED_DATA
from .protocol import encode


__all__ = ["FUZZ_CONFIG", "FuzzReport", "mutated_stream", "run_campaign"]


FUZZ_CONFIG = CoreConfig(order_sets=4, order_ways=1, tracked_levels=4, exported_levels=2)
"""A core small enough that the fuzz stream fills its order table and its levels."""

_ITCH = BUNDLED_DATA / "itch" / "12302019.NASDAQ_ITCH50.first1000"
_LOBSTER = BUNDLED_DATA / "lobster" / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
_BINANCE = BUNDLED_DATA / "binance" / "spot" / "btcusdt_20240808_lines1-10000.gz"
_READER_SHARE = 10   # each reader gets inputs // this many documents
_LOCATE = 7


@dataclasses.dataclass
class FuzzReport:
    seed: int
    target: str
    core_inputs: int = 0
    core_bytes: int = 0
    model_counters: dict = dataclasses.field(default_factory=dict)
    target_counters: dict = dataclasses.field(default_factory=dict)
    events_agree: bool = False
    reader_inputs: dict = dataclasses.field(default_factory=dict)   # reader → documents
    reader_errors: dict = dataclasses.field(default_factory=dict)   # reader → clear errors
    crashes: list = dataclasses.field(default_factory=list)         # "reader: what" strings

    @property
    def ok(self):
        return self.events_agree and self.model_counters == self.target_counters \
            and not self.crashes

    def lines(self):
        errors = sum(self.model_counters.values()) - self.model_counters.get("messages", 0)
        yield f"seed: {self.seed}"
        yield (f"core: {self.core_inputs} inputs ({self.core_bytes} bytes) into the golden "
               f"model and {self.target}; errors counted: {errors}")
        yield "counters: " + ", ".join(f"{name} {value}"
                                       for name, value in self.model_counters.items())
        for reader, tried in self.reader_inputs.items():
            yield (f"reader {reader}: {tried} inputs, {self.reader_errors[reader]} refused "
                   f"with its clear error")
        yield from (f"crash: {crash}" for crash in self.crashes)
        agree = "yes" if self.events_agree and self.model_counters == self.target_counters \
            else "NO"
        yield f"model and {self.target} agree: {agree}"


# --- the core -------------------------------------------------------------------------------

def _real_units():
    from .bench import lobster_stream
    lobster, _ = lobster_stream(BUNDLED_DATA / "lobster" /
                                "LOBSTER_SampleFile_AMZN_2012-06-21_1_lines1-5000.zip")
    lobster_units = list(iter_units(io.BytesIO(lobster)))[1:400]
    return list(iter_units(_ITCH))[:400] + lobster_units


def _mutate_unit(rng, unit):
    """One real unit, damaged in one of the ways a hostile or broken feed damages it."""
    roll = rng.randrange(8)
    body = bytearray(unit[2:])
    if roll == 0:       # a few bytes flipped anywhere in the message
        for _ in range(rng.randrange(1, 4)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
    elif roll == 1:     # another type, known or not
        body[0] = rng.randrange(256)
    elif roll == 2:     # a length that lies (the parser skips by it, aligned)
        body = body[:rng.randrange(len(body))] if rng.random() < 0.5 else body + bytes(
            rng.randrange(1, 40))
    elif roll == 3:     # framed garbage of any length, up to units that are skipped by counting
        body = bytearray(rng.randbytes(rng.choice([1, 5, 36, 300, 3000])))
    elif roll == 4:     # length 0
        body = bytearray()
    elif roll == 5:     # side byte and share counts on our locate, randomised
        body[1:3] = _LOCATE.to_bytes(2, "big")
        for index in range(11, len(body)):
            if rng.random() < 0.2:
                body[index] = rng.choice([0, ord("B"), ord("S"), 0xFF, rng.randrange(256)])
    else:               # unchanged but for the locate: the book acts on it
        body[1:3] = _LOCATE.to_bytes(2, "big")
    return len(body).to_bytes(2, "big") + bytes(body)


def mutated_stream(rng, inputs):
    """``inputs`` damaged real units behind a subscription, then a status request."""
    units = _real_units()
    out = [encode("s", stock_locate=_LOCATE, slot=0)]
    out += [_mutate_unit(rng, rng.choice(units)) for _ in range(inputs)]
    out.append(encode("y", tag=0xF022))
    return b"".join(out)


def _counters(events):
    status = next(event for event in reversed(events) if event.kind == EventKind.STATUS)
    return {**status.body.parser._asdict(), **status.body.book._asdict()}


def _run_target(target, data):
    if target == "model":
        return CoreModel(FUZZ_CONFIG).feed(data)
    from .transport.sim import SimTransport
    with SimTransport(FUZZ_CONFIG) as sim:
        sim.send(data)
        sim.finish()
        return [event._replace(t_in=0, t_out=0) for event in sim.events()]


def fuzz_core(report, rng, inputs):
    data = mutated_stream(rng, inputs)
    expected = CoreModel(FUZZ_CONFIG).feed(data)
    got = _run_target(report.target, data)
    report.core_inputs, report.core_bytes = inputs, len(data)
    report.model_counters = _counters(expected)
    report.target_counters = _counters(got)
    report.events_agree = got == expected


# --- the readers ----------------------------------------------------------------------------

def _mutate_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        roll, at = rng.randrange(4), rng.randrange(len(data) + 1)
        if roll == 0 and at < len(data):
            data[at] = rng.randrange(256)
        elif roll == 1:
            del data[at:at + rng.randrange(1, 30)]
        elif roll == 2:
            data[at:at] = rng.randbytes(rng.randrange(1, 30))
        else:
            data[at:at] = rng.choice([b",", b"\n", b"-1", b"99999999999999999999", b"\"",
                                      b"{}", b"[]", b"null", b"1e400", b"\xff\xfe"])
    return bytes(data)


def _read_itch(folder, data):
    list(iter_units(io.BytesIO(data), strict=False))
    list(iter_units(io.BytesIO(data)))


def _read_lobster(folder, data):
    stem = "FUZZ_2012-06-21_34200000_57600000"
    messages = folder / f"{stem}_message_10.csv"
    messages.write_bytes(data)
    book = _LOBSTER.with_name(_LOBSTER.name.replace("message", "orderbook"))
    (folder / f"{stem}_orderbook_10.csv").write_bytes(_head_lines(book, 40))
    list(LobsterDay(messages).rows())


def _read_binance(folder, data):
    path = folder / "spot" / "btcusdt_20240808.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(gzip.compress(data))
    list(BinanceFile(path).records())


def _head_lines(path, count):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        return b"".join(line for _, line in zip(range(count), file))


_READERS = {
    "itch": (lambda: b"".join(list(iter_units(_ITCH))[:60]), _read_itch, ItchFormatError),
    "itch.gz": (lambda: gzip.compress(b"".join(list(iter_units(_ITCH))[:60])), _read_itch,
                ItchFormatError),
    "lobster": (lambda: _head_lines(_LOBSTER, 40), _read_lobster, LobsterFormatError),
    "binance": (lambda: _head_lines(_BINANCE, 40), _read_binance, BinanceFormatError),
}


def fuzz_readers(report, rng, documents):
    with tempfile.TemporaryDirectory(prefix="tickforge-fuzz-") as folder:
        for name, (original, read, clear_error) in _READERS.items():
            real = original()
            report.reader_inputs[name] = documents
            report.reader_errors[name] = 0
            for _ in range(documents):
                data = _mutate_bytes(rng, real)
                try:
                    read(Path(folder), data)
                except clear_error:
                    report.reader_errors[name] += 1
                except Exception as error:  # a crash is what the campaign looks for
                    report.crashes.append(f"{name}: {type(error).__name__}: {error} "
                                          f"(input {data[:80]!r}...)")


def run_campaign(seed, inputs, target="sim"):
    """Run a campaign of ``inputs`` core inputs (and a tenth as many documents per reader)."""
    if inputs < _READER_SHARE:
        raise ValueError(f"a campaign needs at least {_READER_SHARE} inputs, not {inputs}")
    if target not in ("model", "sim"):
        raise ValueError(f"fuzz target is model or sim, not {target!r}")
    rng = random.Random(seed)
    report = FuzzReport(seed=seed, target=target)
    fuzz_core(report, rng, inputs)
    fuzz_readers(report, rng, inputs // _READER_SHARE)
    return report


def cmd_fuzz(args):
    """``tickforge fuzz``: run a campaign, print its report; exit 1 on a crash or disagreement."""
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    report = run_campaign(seed, args.inputs, args.target)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
