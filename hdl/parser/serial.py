"""The ITCH parser for 1-byte beats: each field captured into the output register as it passes."""

import operator
from functools import reduce

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring

from ..layouts import WIRE_MESSAGES, MessageHeader, ParserCounters, ParsedMessage
from ..wire import BigEndian
from .decode import (PREFIX, MAX_LENGTH, parser_signature, wire_field, Outcome, SideCode, NonZero,
                     Equals, Clamped, COUNTERS, DECODINGS, body_field, classify, count,
                     status_counters)


__all__ = ["SerialParser"]


class SerialParser(wiring.Component):
    """:class:`~tickforge.hdl.parser.ITCHParser` for a ``width`` of 1 byte, built small.

    Nothing is buffered: each byte a parsed field needs is written straight into its place in
    ``o.payload``, a place chosen by the unit's type and the byte's position, and ``o.payload``
    is cleared when a unit's type arrives. The one multiplexer per payload bit is for the
    counters a status request carries. ``o`` holds its message until taken and no byte is
    taken meanwhile, so the next unit cannot overwrite it.
    """

    def __init__(self, counters_port=False):
        self.counters_port = counters_port
        super().__init__(parser_signature(1, counters_port))

    def elaborate(self, platform):
        m = Module()
        byte = self.i.payload.data[0]
        parsed = self.o.payload

        counters = Signal(ParserCounters)
        received = Signal(range(PREFIX + MAX_LENGTH))  # bytes of the unit before this one
        length_bytes = Signal(8 * PREFIX)              # the unit's length, as sent
        message_type = Signal(8)
        invalid = Signal()   # a field error so far in this unit
        nonzero = Signal()   # a byte of its NonZero field was not 0
        clamping = Signal()  # a byte of its Clamped field above the parsed width was not 0

        out_free = ~self.o.valid | self.o.ready
        step = self.i.valid & out_free
        m.d.comb += self.i.ready.eq(out_free)

        truncate = self.i.payload.first & (received != 0)
        position = Signal.like(received)  # this byte's place in its unit
        m.d.comb += position.eq(Mux(self.i.payload.first, 0, received))

        length = BigEndian(PREFIX)(Cat(length_bytes[:8],
                                       Mux(position == 1, byte, length_bytes[8:]))).value
        ends = Signal()
        m.d.comb += ends.eq(position == length + PREFIX - 1)
        unit_type = Mux(position == PREFIX, byte, message_type)

        # --- Fields: each byte a parsed field needs goes straight to its place in o.payload ----
        def at(wire_byte):  # this byte is byte `wire_byte` of the message
            return step & (position == PREFIX + wire_byte)

        invalid_here = Signal()  # this byte is a field error
        nonzero_here = Signal()  # this byte of a NonZero field is not 0
        with m.If(at(0)):  # the type: a new message
            m.d.sync += [parsed.eq(0), message_type.eq(byte),
                         invalid.eq(0), nonzero.eq(0), clamping.eq(0)]
            with m.Switch(byte):
                for code, (kind, fields) in DECODINGS.items():
                    with m.Case(code[0]):
                        m.d.sync += parsed.kind.eq(kind)
                        m.d.sync += [body_field(parsed, path).eq(source)
                                     for path, source in fields.items()
                                     if isinstance(source, int)]
        with m.Elif(step):
            m.d.sync += [invalid.eq(invalid | invalid_here), nonzero.eq(nonzero | nonzero_here)]

        # Writes are gathered by the payload bits they land on, so that each bit has one
        # enable (an OR over the types and positions writing it), which synthesizes smaller.
        writes = {}  # (first bit, bits) → {id(data): (data, [conditions])}

        def write(span, condition, data):
            by_data = writes.setdefault(span, {})
            by_data.setdefault(id(data), (data, []))[1].append(condition)

        for name, target in (("stock_locate", "locate"), ("timestamp", "timestamp")):
            for wire_byte, span in _bytes_of(MessageHeader, name, target):
                write(span, at(wire_byte), byte)

        needs_nonzero = Signal()
        with m.Switch(unit_type):
            for code, (kind, fields) in DECODINGS.items():
                with m.Case(code[0]):
                    m.d.comb += needs_nonzero.eq(any(isinstance(source, NonZero)
                                                     for source in fields.values()))

        comparators = {}

        def byte_is(code):  # one comparator per code
            return comparators.setdefault(code, byte == code[0])

        clamped_byte = byte | Mux(clamping, 0xff, 0)
        for code, (kind, fields) in DECODINGS.items():
            layout = WIRE_MESSAGES[code]
            this_type = message_type == code[0]
            for path, source in fields.items():
                path = f"body.{path}"
                if isinstance(source, (SideCode, Equals)):
                    here = this_type & at(wire_field(layout, source.name)[0])
                    wanted = b"S" if isinstance(source, SideCode) else source.code
                    write(_span(path), here, byte_is(wanted))
                    if isinstance(source, SideCode):
                        with m.If(here):
                            m.d.comb += invalid_here.eq(~(byte_is(b"B") | byte_is(b"S")))
                elif isinstance(source, (str, NonZero, Clamped)):
                    name = source if isinstance(source, str) else source.name
                    for wire_byte, span in _bytes_of(layout, name, path):
                        here = this_type & at(wire_byte)
                        if span is None:  # above a Clamped field's parsed width
                            with m.If(here & (byte != 0)):
                                m.d.sync += clamping.eq(1)
                            continue
                        write(span, here, clamped_byte if isinstance(source, Clamped) else byte)
                        if isinstance(source, NonZero):
                            with m.If(here):
                                m.d.comb += nonzero_here.eq(byte != 0)

        payload = Value.cast(parsed)
        for (first, bits), by_data in writes.items():
            for data, conditions in by_data.values():
                with m.If(_any(conditions)):
                    m.d.sync += payload[first:first + bits].eq(data)

        # --- The unit's end ------------------------------------------------------------------
        invalid_field = invalid | invalid_here | needs_nonzero & ~(nonzero | nonzero_here)
        outcome = classify(m, length=length, message_type=unit_type, invalid_field=invalid_field)
        count(m, counters, step=step, ends=ends, truncate=truncate, outcome=outcome)
        status = status_counters(m, counters)
        if self.counters_port:
            m.d.comb += self.counters.eq(counters)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(step):
            with m.If(ends & (outcome == Outcome.PARSED)):
                m.d.sync += [
                    self.o.valid.eq(1),
                    parsed.seq.eq(counters.messages),
                    parsed.t_in.eq(self.now),
                ]
                for code, (kind, fields) in DECODINGS.items():
                    for path, source in fields.items():
                        # with a counters port, the link fills them into the status event
                        if source is COUNTERS and not self.counters_port:
                            with m.If(message_type == code[0]):
                                m.d.sync += body_field(parsed, path).eq(status)
            with m.If(ends):
                m.d.sync += received.eq(0)
            with m.Else():
                m.d.sync += received.eq(position + 1)
            for index in range(PREFIX):
                with m.If(position == index):
                    m.d.sync += length_bytes[8 * index:8 * index + 8].eq(byte)
        return m


def _span(path):
    """(first bit, bits) of the :class:`ParsedMessage` field at ``path`` (dotted)."""
    shape, first = ParsedMessage, 0
    for name in path.split("."):
        field = data.Layout.cast(shape)[name]
        first += field.offset
        shape = field.shape
    return first, field.width


def _bytes_of(layout, name, path):
    """(wire byte, payload span) of each byte of field ``name`` of a wire layout copied into
    the :class:`ParsedMessage` field at ``path``: a number turned around from its big-endian
    order, text as sent. A number wider than the parsed field gives None for bytes above it."""
    at, size = wire_field(layout, name)
    number = isinstance(data.Layout.cast(layout)[name].shape, BigEndian)
    first, bits = _span(path)
    for index in range(size):
        place = size - 1 - index if number else index
        yield at + index, (first + 8 * place, 8) if 8 * place < bits else None


def _any(conditions):
    return reduce(operator.or_, conditions)
