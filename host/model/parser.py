"""Golden model of the gateware parser: framed bytes in, :data:`PARSED` records out.

The rules, which the gateware follows bit for bit:

- The input is a sequence of units: a 2-byte big-endian length ``L``, then ``L`` bytes whose
  first is the message type. Every unit gets the next sequence number (``seq``), whatever
  becomes of it.
- ``L`` = 0, or a known type whose ``L`` differs from its specified length: a length error.
  An unknown type: skipped. Either way the unit is skipped by its length, so the parser stays
  aligned, and nothing is output.
- A known type with an invalid field (a side other than ``B``/``S``; an add, replace or fill
  of 0 shares): a bad field, nothing output.
- A beat marked ``first`` starts a new unit; a unit left unfinished before it is truncated
  (it still took its sequence number).
- Types the book does not act on (H, Y, L, V, W, K, J, h, B, I, N, O) are counted in
  ``messages`` only. The rest become one parsed message each; fields a kind does not use are 0.
"""

from ...hdl.layouts import MessageKind, Side
from ..protocol import WIRE, MESSAGE_LENGTH, PARSED


__all__ = ["ParserModel"]


_Parsed = PARSED.records["Parsed"]
_Order = PARSED.records["OrderFields"]
_Directory = PARSED.records["DirectoryFields"]
_Status = PARSED.records["status"]
_Config = PARSED.records["ConfigFields"]
_ParserCounters = PARSED.records["ParserCounters"]

_SIDES = {b"B": Side.BID, b"S": Side.ASK}
_MAX32 = (1 << 32) - 1


class ParserModel:
    """Parses a byte stream fed in pieces of any size; :meth:`feed` returns what completed."""

    def __init__(self):
        self.counters = dict.fromkeys(_ParserCounters._fields, 0)
        self._pending = b""

    @property
    def partial_bytes(self):
        """Bytes of an unfinished unit (a truncated input leaves some here)."""
        return len(self._pending)

    def feed(self, data, first=False):
        out = []
        if first and self._pending:
            self._count("truncated")
            self._next_seq()
            self._pending = b""
        buffer = self._pending + bytes(data) if self._pending else bytes(data)
        position, end = 0, len(buffer)
        while end - position >= 2:
            length = (buffer[position] << 8) | buffer[position + 1]
            if end - position - 2 < length:
                break
            start = position + 2
            position = start + length
            parsed = self._parse(buffer, start, length, self._next_seq())
            if parsed is not None:
                out.append(parsed)
        self._pending = buffer[position:]
        return out

    def _next_seq(self):
        seq = self.counters["messages"]
        self.counters["messages"] = (seq + 1) & _MAX32
        return seq

    def _count(self, name):
        self.counters[name] = (self.counters[name] + 1) & _MAX32

    def _parse(self, buffer, start, length, seq):
        if length == 0:
            self._count("length_errors")
            return None
        message_type = buffer[start:start + 1]
        expected = MESSAGE_LENGTH.get(message_type)
        if expected is None:
            self._count("skipped")
            return None
        if length != expected:
            self._count("length_errors")
            return None
        parse = _PARSERS.get(message_type)
        if parse is None:
            return None
        fields = WIRE[message_type].unpack(buffer, start)
        result = parse(self, fields)
        if result is None:
            self._count("bad_fields")
            return None
        kind, body = result
        return _Parsed(kind=kind, seq=seq, t_in=0, locate=fields.stock_locate,
                       timestamp=fields.timestamp, body=body)

    # One method per message type the book acts on; None means a bad field.

    def _add(self, m):
        side = _SIDES.get(m.buy_sell_indicator)
        if side is None or m.shares == 0:
            return None
        return MessageKind.ADD, _order(ref=m.order_reference_number, side=side,
                                       shares=m.shares, price=m.price)

    def _execute(self, m):
        return MessageKind.EXECUTE, _order(ref=m.order_reference_number,
                                           shares=m.executed_shares, printable=1)

    def _execute_with_price(self, m):
        return MessageKind.EXECUTE, _order(ref=m.order_reference_number,
                                           shares=m.executed_shares, price=m.execution_price,
                                           has_price=1, printable=int(m.printable == b"Y"))

    def _cancel(self, m):
        return MessageKind.CANCEL, _order(ref=m.order_reference_number,
                                          shares=m.cancelled_shares)

    def _delete(self, m):
        return MessageKind.DELETE, _order(ref=m.order_reference_number)

    def _replace(self, m):
        if m.shares == 0:
            return None
        return MessageKind.REPLACE, _order(ref=m.original_order_reference_number,
                                           new_ref=m.new_order_reference_number,
                                           shares=m.shares, price=m.price)

    def _trade(self, m):
        side = _SIDES.get(m.buy_sell_indicator)
        if side is None:
            return None
        return MessageKind.TRADE, _order(ref=m.order_reference_number, side=side,
                                         shares=m.shares, price=m.price, printable=1)

    def _cross_trade(self, m):
        return MessageKind.TRADE, _order(shares=min(m.shares, _MAX32), price=m.cross_price,
                                         printable=1)

    def _level(self, m):
        side = _SIDES.get(m.side)
        if side is None:
            return None
        return MessageKind.LEVEL, _order(side=side, shares=m.quantity, price=m.price)

    def _directory(self, m):
        return MessageKind.DIRECTORY, _Directory(stock=m.stock, round_lot_size=m.round_lot_size)

    def _system(self, m):
        return MessageKind.SYSTEM, m.event_code[0]

    def _subscribe(self, m):
        return MessageKind.SUBSCRIBE, m.slot

    def _status(self, m):
        return MessageKind.STATUS, _Status(tag=m.tag, parser=_ParserCounters(**self.counters))

    def _config(self, m):
        return MessageKind.CONFIG, _Config(parameter=m.parameter, index=m.index, value=m.value)

    def _fill(self, m):
        side = _SIDES.get(m.side)
        if side is None or m.shares == 0:
            return None
        return MessageKind.FILL, _order(side=side, shares=m.shares, price=m.price)


def _order(ref=0, new_ref=0, side=Side.BID, shares=0, price=0, has_price=0, printable=0):
    return _Order(ref=ref, new_ref=new_ref, side=side, shares=shares, price=price,
                  has_price=has_price, printable=printable)


_PARSERS = {
    b"A": ParserModel._add, b"F": ParserModel._add, b"E": ParserModel._execute,
    b"C": ParserModel._execute_with_price, b"X": ParserModel._cancel,
    b"D": ParserModel._delete, b"U": ParserModel._replace, b"P": ParserModel._trade,
    b"Q": ParserModel._cross_trade, b"l": ParserModel._level, b"R": ParserModel._directory,
    b"S": ParserModel._system, b"s": ParserModel._subscribe, b"y": ParserModel._status,
    b"c": ParserModel._config, b"f": ParserModel._fill,
}
