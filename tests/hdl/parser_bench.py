"""Test bench for :class:`~tickforge.hdl.parser.ITCHParser`: input streams and a simulator run
checked against :class:`~tickforge.host.model.parser.ParserModel`."""

from dataclasses import dataclass, field

from amaranth.hdl import Const, Module
from amaranth.lib import data
from amaranth.sim import Simulator

from tickforge.hdl.layouts import (ParsedMessage, PARSED_BODY, WIRE_MESSAGES, MAX_MESSAGE_LENGTH,
                                   input_beat_layout)
from tickforge.hdl.parser import ITCHParser
from tickforge.hdl.wire import Text
from tickforge.host.model.parser import ParserModel
from tickforge.host.protocol import PARSED, WIRE, MESSAGE_LENGTH, encode, unit


__all__ = ["Frame", "Run", "run_parser", "split_units", "random_message", "bad_unit", "BAD_KINDS",
           "EMPTY_UNIT", "frames_of"]


# --- Input streams ------------------------------------------------------------------------------

EMPTY_UNIT = (0).to_bytes(2, "big")
"""A unit of length 0: a length error."""

SIDE_FIELDS = {"buy_sell_indicator", "side"}
NONZERO_FIELDS = {"shares"}  # A/F/U with 0 shares are bad fields


def random_message(rng, message_type, *, bad=False):
    """One framed unit of a known type with random fields; ``bad`` spoils a side or a share
    count where the type has one (else the message is simply valid)."""
    wire = WIRE[message_type]
    fields = {}
    for name, shape in zip(wire.fields, wire.shapes):
        if name == "message_type":
            continue
        if name in SIDE_FIELDS:
            fields[name] = rng.choice([b"B", b"S"])
        elif isinstance(shape, Text):
            fields[name] = bytes(rng.randrange(0x20, 0x7f) for _ in range(shape.nbytes))
        elif name in NONZERO_FIELDS or rng.random() < 0.8:
            fields[name] = rng.randrange(1, 1 << (8 * shape.nbytes))
        else:
            fields[name] = rng.choice([0, (1 << (8 * shape.nbytes)) - 1])
    if message_type == b"C":
        fields["printable"] = rng.choice([b"Y", b"N"])
    if bad:
        spoilable = [name for name in wire.fields if name in SIDE_FIELDS | NONZERO_FIELDS]
        if spoilable:
            name = rng.choice(spoilable)
            fields[name] = (bytes([rng.choice([c for c in range(256) if c not in b"BS"])])
                            if name in SIDE_FIELDS else 0)
    return encode(message_type, **fields)


BAD_KINDS = ("unknown", "wrong_length", "empty", "short", "long")


def bad_unit(rng, kind, long_limit=300):
    """A unit the parser must count and skip: ``unknown`` type, ``wrong_length`` of a known
    type, ``empty`` (length 0), ``short`` (length 0..6, several fit in a beat) or ``long``
    (length past the longest message, up to ``long_limit``)."""
    if kind == "unknown":
        unknown = [code for code in range(256) if bytes([code]) not in WIRE_MESSAGES]
        length = rng.randrange(1, MAX_MESSAGE_LENGTH + 10)
        return unit(bytes([rng.choice(unknown)]) + rng.randbytes(length - 1))
    if kind == "wrong_length":
        code = rng.choice(sorted(WIRE_MESSAGES))
        length = rng.choice([n for n in range(1, MAX_MESSAGE_LENGTH + 10)
                             if n != MESSAGE_LENGTH[code]])
        return unit(code + rng.randbytes(length - 1))
    if kind == "empty":
        return EMPTY_UNIT
    if kind == "short":
        length = rng.randrange(0, 7)
        return length.to_bytes(2, "big") + rng.randbytes(length)
    if kind == "long":
        length = rng.randrange(MAX_MESSAGE_LENGTH + 1, long_limit + 1)
        return unit(rng.choice(sorted(WIRE_MESSAGES)) + rng.randbytes(length - 1))
    raise ValueError(kind)


def split_units(raw):
    """The framed units of a BinaryFILE byte string."""
    units, position = [], 0
    while position < len(raw):
        end = position + 2 + int.from_bytes(raw[position:position + 2], "big")
        units.append(raw[position:end])
        position = end
    return units


@dataclass
class Frame:
    """Bytes sent from a ``first`` beat on (a link frame)."""
    data: bytes


def frames_of(rng, units, *, max_units=8, truncate=0.0, garbage=0.0):
    """Group ``units`` into frames of 1..``max_units``; with the given probabilities a frame
    is cut short inside its last unit, or has random bytes inserted at a random place."""
    frames, index = [], 0
    while index < len(units):
        group = units[index:index + rng.randint(1, max_units)]
        data = b"".join(group)
        index += len(group)
        if rng.random() < truncate:
            data = data[:rng.randrange(len(data) - len(group[-1]) + 1, len(data))]
        if rng.random() < garbage:
            at = rng.randrange(len(data) + 1)
            data = data[:at] + rng.randbytes(rng.randint(1, 40)) + data[at:]
        frames.append(Frame(data))
    return frames


# --- Simulation ---------------------------------------------------------------------------------

def parsed_bits(record):
    """The payload bits the gateware must produce for a model record."""
    def as_fields(value):
        if hasattr(value, "_asdict"):
            return {name: as_fields(item) for name, item in value._asdict().items()}
        return value
    return Const.cast(ParsedMessage.const({
        "kind": record.kind, "seq": record.seq, "t_in": record.t_in, "locate": record.locate,
        "timestamp": record.timestamp, "body": {PARSED_BODY[record.kind]: as_fields(record.body)},
    })).value


@dataclass
class Run:
    """What a simulator run saw; :meth:`check` compares it with the model."""
    expected: list = field(default_factory=list)         # model records, t_in filled in
    received: list = field(default_factory=list)         # raw payloads from the gateware
    offered_at: list = field(default_factory=list)       # `now` when each output became valid
    transfer_cycles: list = field(default_factory=list)  # `now` of every input transfer
    changed_while_offered: int = 0                       # o.payload changes before transfer
    model: ParserModel = field(default_factory=ParserModel)

    def check(self):
        assert len(self.received) == len(self.expected), \
            f"{len(self.received)} messages out, model says {len(self.expected)}"
        for index, (raw, record) in enumerate(zip(self.received, self.expected)):
            assert PARSED.decode(raw) == record, f"message {index}"
            assert raw == parsed_bits(record), f"message {index}: unused bits not 0"
        assert self.changed_while_offered == 0, "o.payload changed before it was taken"


def beats_of(frames, width, rng, beat_bytes=None):
    """(bytes, first) of each beat: ``beat_bytes`` bytes each, or 1..``width`` at random; a
    frame starts a new beat, marked first."""
    for frame in frames:
        position = 0
        while position < len(frame.data):
            chunk = frame.data[position:position + (beat_bytes or rng.randint(1, width))]
            yield chunk, position == 0
            position += len(chunk)


def run_parser(width, frames, rng, *, idle=0.0, stall=0.0, beat_bytes=None, drain_cycles=64,
               max_wait=1000):
    """Send ``frames`` through ``ITCHParser(width)`` and ``ParserModel`` alike, in beats of
    ``beat_bytes`` (default: random sizes), the input idling with probability ``idle`` before
    each beat and the output refusing with probability ``stall`` each cycle. A beat waiting
    ``max_wait`` cycles fails the run (a hang would otherwise never end)."""
    dut = ITCHParser(width)
    top = Module()
    top.submodules.dut = dut
    top.d.sync += dut.now.eq(dut.now + 1)
    run = Run()

    beat_layout = data.Layout.cast(input_beat_layout(width))
    beats = [(chunk, first,
              int.from_bytes(chunk, "little") << beat_layout["data"].offset
              | len(chunk) << beat_layout["count"].offset
              | first << beat_layout["first"].offset)
             for chunk, first in beats_of(frames, width, rng, beat_bytes)]
    payload_in = dut.i.payload.as_value()
    payload_out = dut.o.payload.as_value()

    # Signals are set only when they change: each set makes the simulator settle the design.
    async def source(ctx):
        valid = False
        for chunk, first, bits in beats:
            while rng.random() < idle:
                if valid:
                    ctx.set(dut.i.valid, valid := False)
                await ctx.tick()
            ctx.set(payload_in, bits)
            if not valid:
                ctx.set(dut.i.valid, valid := True)
            for _ in range(max_wait):
                _, _, ready, now = await ctx.tick().sample(dut.i.ready, dut.now)
                if ready:
                    break
            else:
                raise AssertionError(f"input not taken for {max_wait} cycles")
            run.transfer_cycles.append(now)
            for record in run.model.feed(chunk, first):
                run.expected.append(record._replace(t_in=now))
        ctx.set(dut.i.valid, 0)
        for _ in range(drain_cycles):
            await ctx.tick()

    async def sink(ctx):
        ready = None
        offered = None  # payload of an output offered and not yet taken
        while True:
            if ready != (ready := rng.random() >= stall):
                ctx.set(dut.o.ready, ready)
            _, _, valid, bits, now = await ctx.tick().sample(dut.o.valid, payload_out, dut.now)
            if valid and offered is None:
                run.offered_at.append(now)
            if valid and offered is not None and bits != offered:
                run.changed_while_offered += 1
            offered = bits if valid and not ready else None
            if valid and ready:
                run.received.append(bits)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    return run
