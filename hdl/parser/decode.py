"""What becomes of an ITCH unit, and how each message type maps onto :class:`ParsedMessage`.

:data:`DECODINGS` declares, once, what :class:`~tickforge.host.model.parser.ParserModel` does
with each type; the parsers read it two ways: :class:`MessageDecoder` decodes a whole kept
message at once (:class:`~.wide.WideParser`), :class:`~.serial.SerialParser` captures each
field as its bytes go by. Offsets come from the layouts, never written here.
"""

import operator
from collections import namedtuple
from functools import reduce

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (WIRE_MESSAGES, MAX_MESSAGE_LENGTH, MessageHeader, MessageKind,
                       ParserCounters, ParsedMessage, input_beat_layout)
from ..wire import BigEndianView


__all__ = ["PREFIX", "MAX_LENGTH", "parser_signature", "message_size", "wire_field", "Outcome",
           "SideCode", "NonZero", "Equals", "Clamped", "COUNTERS", "Decoding", "DECODINGS",
           "body_field", "classify", "count", "status_counters", "MessageDecoder"]


PREFIX = 2
"""Bytes of the big-endian length that opens every unit."""

MAX_LENGTH = (1 << 16) - 1


def parser_signature(width, counters_port=False):
    """Ports of a parser taking ``width`` bytes per beat (see :class:`ITCHParser`)."""
    return wiring.Signature({
        "i":   In(stream.Signature(input_beat_layout(width))),
        "o":   Out(stream.Signature(ParsedMessage)),
        "now": In(32),
        **({"counters": Out(ParserCounters)} if counters_port else {}),
    })


def message_size(layout):
    """Bytes of a wire message layout."""
    return data.Layout.cast(layout).size // 8


def wire_field(layout, name):
    """(first byte, bytes) of field ``name`` of a wire message layout."""
    field = data.Layout.cast(layout)[name]
    return field.offset // 8, field.width // 8


class Outcome(enum.Enum, shape=3):
    """What becomes of a unit, as :class:`~tickforge.host.model.parser.ParserModel` decides."""
    COUNTED      = 0  # a known type the book ignores: counted in ``messages`` only
    PARSED       = 1  # one parsed message out
    LENGTH_ERROR = 2  # length 0, or a known type with another length than specified
    SKIPPED      = 3  # an unknown type
    BAD_FIELD    = 4  # a known type with an invalid field


# --- Sources of parsed fields: a wire field's name copies it (a number, or text as sent) -------

SideCode = namedtuple("SideCode", "name")
"""The :class:`Side` a wire side code names (1 for S); a field error unless it is B or S."""

NonZero = namedtuple("NonZero", "name")
"""A number that is a field error when 0."""

Equals = namedtuple("Equals", "name code")
"""1 when a one-byte field is ``code``."""

Clamped = namedtuple("Clamped", "name")
"""A number wider than its parsed field, clamped to the field's largest value."""


class _Counters:
    def __repr__(self):
        return "COUNTERS"


COUNTERS = _Counters()
"""The parser's counters, as a status request reports them."""

Decoding = namedtuple("Decoding", "kind fields")
"""The kind of parsed message a type becomes, and its body fields by path in ``body``."""

_ADD = Decoding(MessageKind.ADD, {
    "order.ref": "order_reference_number", "order.side": SideCode("buy_sell_indicator"),
    "order.shares": NonZero("shares"), "order.price": "price"})

DECODINGS = {
    b"A": _ADD,
    b"F": _ADD,
    b"E": Decoding(MessageKind.EXECUTE, {
        "order.ref": "order_reference_number", "order.shares": "executed_shares",
        "order.printable": 1}),
    b"C": Decoding(MessageKind.EXECUTE, {
        "order.ref": "order_reference_number", "order.shares": "executed_shares",
        "order.price": "execution_price", "order.has_price": 1,
        "order.printable": Equals("printable", b"Y")}),
    b"X": Decoding(MessageKind.CANCEL, {
        "order.ref": "order_reference_number", "order.shares": "cancelled_shares"}),
    b"D": Decoding(MessageKind.DELETE, {"order.ref": "order_reference_number"}),
    b"U": Decoding(MessageKind.REPLACE, {
        "order.ref": "original_order_reference_number",
        "order.new_ref": "new_order_reference_number",
        "order.shares": NonZero("shares"), "order.price": "price"}),
    b"P": Decoding(MessageKind.TRADE, {
        "order.ref": "order_reference_number", "order.side": SideCode("buy_sell_indicator"),
        "order.shares": "shares", "order.price": "price", "order.printable": 1}),
    b"Q": Decoding(MessageKind.TRADE, {
        "order.shares": Clamped("shares"), "order.price": "cross_price", "order.printable": 1}),
    b"l": Decoding(MessageKind.LEVEL, {
        "order.side": SideCode("side"), "order.shares": "quantity", "order.price": "price"}),
    b"R": Decoding(MessageKind.DIRECTORY, {
        "directory.stock": "stock", "directory.round_lot_size": "round_lot_size"}),
    b"S": Decoding(MessageKind.SYSTEM, {"code": "event_code"}),
    b"s": Decoding(MessageKind.SUBSCRIBE, {"code": "slot"}),
    b"y": Decoding(MessageKind.STATUS, {"status.tag": "tag", "status.parser": COUNTERS}),
    b"c": Decoding(MessageKind.CONFIG, {
        "config.parameter": "parameter", "config.index": "index", "config.value": "value"}),
    b"f": Decoding(MessageKind.FILL, {
        "order.side": SideCode("side"), "order.shares": NonZero("shares"),
        "order.price": "price"}),
}
"""Every type that becomes a parsed message, as ``ParserModel`` parses it; every other known
type is only counted. Body fields not named are 0."""


def body_field(parsed, path):
    """The field at ``path`` (dotted) of a :class:`ParsedMessage` view's body."""
    field = parsed.body
    for name in path.split("."):
        field = getattr(field, name)
    return field


def _type_table(m, message_type):
    """(known, specified length, decoded) of a type byte, as comb signals."""
    known = Signal()
    specified_length = Signal(range(MAX_MESSAGE_LENGTH + 1))
    decoded = Signal()
    with m.Switch(message_type):
        for code, layout in WIRE_MESSAGES.items():
            with m.Case(code[0]):
                m.d.comb += [known.eq(1), specified_length.eq(message_size(layout)),
                             decoded.eq(code in DECODINGS)]
    return known, specified_length, decoded


def classify(m, *, length, message_type, invalid_field):
    """The :class:`Outcome` of a unit of ``length`` whose first byte is ``message_type``;
    ``invalid_field`` is meaningful for decoded types of the specified length."""
    known, specified_length, decoded = _type_table(m, message_type)
    outcome = Signal(Outcome)
    with m.If((length == 0) | known & (length != specified_length)):
        m.d.comb += outcome.eq(Outcome.LENGTH_ERROR)
    with m.Elif(~known):
        m.d.comb += outcome.eq(Outcome.SKIPPED)
    with m.Elif(decoded & invalid_field):
        m.d.comb += outcome.eq(Outcome.BAD_FIELD)
    with m.Elif(decoded):
        m.d.comb += outcome.eq(Outcome.PARSED)
    with m.Else():
        m.d.comb += outcome.eq(Outcome.COUNTED)
    return outcome


def count(m, counters, *, step, ends, truncate, outcome):
    """Count a cycle's units into ``counters``, wrapping as the model does. Whether to count
    comes late in a cycle, so it only enables an increment computed early."""
    with m.If(step):
        with m.If(ends | truncate):
            m.d.sync += counters.messages.eq(counters.messages + 1 + (ends & truncate))
        for name, happened in (("truncated", truncate),
                               ("length_errors", ends & (outcome == Outcome.LENGTH_ERROR)),
                               ("skipped", ends & (outcome == Outcome.SKIPPED)),
                               ("bad_fields", ends & (outcome == Outcome.BAD_FIELD))):
            with m.If(happened):
                m.d.sync += counters[name].eq(counters[name] + 1)


def status_counters(m, counters):
    """The counters as a status request ending this cycle reports them: itself counted in
    ``messages``. (It cannot end in a cycle that truncates: it is longer than a beat.)"""
    status = Signal(ParserCounters)
    m.d.comb += [status.eq(counters), status.messages.eq(counters.messages + 1)]
    return status


class MessageDecoder(wiring.Component):
    """Decides what becomes of a whole unit and decodes it, combinationally.

    Members
    -------
    length : ``In(16)``
        The unit's length.
    message : ``In(8 * MAX_MESSAGE_LENGTH)``
        The unit's bytes after the length, first byte lowest; bytes past ``length`` are ignored.
    status : ``In(ParserCounters)``
        The counters a status request reports (its own unit counted in ``messages``).
    outcome : ``Out(Outcome)``
    parsed : ``Out(ParsedMessage)``
        The parsed message when ``outcome`` is ``PARSED``, with ``seq`` and ``t_in`` 0.
    """

    length:  In(16)
    message: In(8 * MAX_MESSAGE_LENGTH)
    status:  In(ParserCounters)
    outcome: Out(Outcome)
    parsed:  Out(ParsedMessage)

    def elaborate(self, platform):
        m = Module()
        message = self.message
        invalid_field = Signal()
        with m.Switch(message[:8]):
            for code, (kind, fields) in DECODINGS.items():
                with m.Case(code[0]):
                    layout = WIRE_MESSAGES[code]
                    view = layout(message[:8 * message_size(layout)])
                    m.d.comb += self.parsed.kind.eq(kind)
                    invalids = []
                    for path, source in fields.items():
                        target = body_field(self.parsed, path)
                        value, invalid = self._value(view, source, len(Value.cast(target)))
                        m.d.comb += target.eq(value)
                        if invalid is not None:
                            invalids.append(invalid)
                    if invalids:
                        m.d.comb += invalid_field.eq(reduce(operator.or_, invalids))
        header = MessageHeader(message[:8 * message_size(MessageHeader)])
        m.d.comb += [
            self.parsed.locate.eq(header.stock_locate.value),
            self.parsed.timestamp.eq(header.timestamp.value),
            self.outcome.eq(classify(m, length=self.length, message_type=message[:8],
                                     invalid_field=invalid_field)),
        ]
        return m

    def _value(self, view, source, width):
        """(value, field-error condition or None) of a field source over a message view."""
        def number(name):
            field = view[name]
            return field.value if isinstance(field, BigEndianView) else field
        if isinstance(source, int):
            return source, None
        if source is COUNTERS:
            return self.status, None
        if isinstance(source, str):
            return number(source), None
        if isinstance(source, SideCode):
            code = view[source.name]
            return code == ord("S"), ~((code == ord("B")) | (code == ord("S")))
        if isinstance(source, NonZero):
            value = number(source.name)
            return value, value == 0
        if isinstance(source, Equals):
            return view[source.name] == source.code[0], None
        if isinstance(source, Clamped):
            value = number(source.name)
            return Mux(value[width:].any(), (1 << width) - 1, value[:width]), None
        raise TypeError(f"unknown field source {source!r}")
