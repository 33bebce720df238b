"""MoldUDP64 around ITCH units: sequence numbers, gap detection, recovery from a book snapshot.

NASDAQ sends TotalView-ITCH in MoldUDP64 packets: a 20-byte header (a 10-byte session, the
8-byte big-endian sequence number of the packet's first message, a 2-byte message count), then
each message as a 2-byte length and the message: exactly a BinaryFILE unit. ITCH messages carry
no sequence number of their own (``tracking_number`` is NASDAQ's internal tracking number, not
a sequence), so a lost message shows only as a hole in the Mold sequence. Our BinaryFILEs have
no Mold headers: :func:`pack` wraps their units in packets numbered from 1, the way the venue
would have sent them, so tests can drop packets and watch the recovery.

Recovery (:class:`GapRecovery`). A gap means messages the target never saw: any of its books
may be wrong, and later messages (executions of orders it never added) would only make them
more wrong. A Mold receiver would ask a re-request server; a snapshot feed (NASDAQ's Glimpse)
serves instead the book as of a sequence number. On a gap the handler therefore

1. counts and reports the gap (:class:`FeedGap`: session, expected and received sequence),
2. asks its snapshot source for the books as of the message before the packet that showed the
   gap, and sends units that make the target's books exactly that snapshot: a ``D`` for every
   order the target holds, an ``A`` for every order of the snapshot, then per subscribed slot
   an ``s`` (which clears its levels) and an ``l`` for each of the snapshot's levels — so even
   levels the snapshot dropped or saturated come back as they are,
3. continues with the packet's messages, so the target's books converge to the complete feed's.

The handler knows what the target holds because it mirrors every unit it sends into a golden
model (bit-exact with the gateware). Duplicate packets (a retransmission arriving twice) are
dropped and counted; a packet overlapping what was delivered has its old messages skipped.
"""

import dataclasses
from typing import NamedTuple

from ...hdl.layouts import Side
from ..model.book import BookModel
from ..model.parser import ParserModel
from ..protocol import encode


__all__ = ["MoldFormatError", "MoldPacket", "FeedGap", "pack", "parse_packet", "MoldSequencer",
           "GlimpseModel", "GapRecovery", "snapshot_units"]


_HEADER = 20
_SESSION = 10
_END_OF_SESSION = 0xFFFF


class MoldFormatError(ValueError):
    """A packet that is not MoldUDP64, naming what is wrong."""


class MoldPacket(NamedTuple):
    session: bytes
    sequence: int      # sequence number of the first message
    units: list        # the messages as framed units (2-byte length included)


@dataclasses.dataclass(frozen=True)
class FeedGap:
    """Messages ``expected`` .. ``got - 1`` of ``session`` never arrived."""
    session: bytes
    expected: int
    got: int

    @property
    def lost(self):
        return self.got - self.expected

    def __str__(self):
        return (f"MoldUDP64 session {self.session.decode('ascii', 'replace').strip()!r}: "
                f"sequence gap: expected message {self.expected}, got {self.got} "
                f"({self.lost} lost)")


def pack(units, *, session=b"TICKFORGE ", per_packet=8, first_sequence=1):
    """Wrap framed units in MoldUDP64 packets of up to ``per_packet`` messages each."""
    if len(session) != _SESSION:
        raise ValueError(f"a MoldUDP64 session is {_SESSION} bytes, not {len(session)}: "
                         f"{session!r}")
    if not 1 <= per_packet < _END_OF_SESSION:
        raise ValueError(f"per_packet must be 1..{_END_OF_SESSION - 1}, not {per_packet}")
    units = list(units)
    packets = []
    for start in range(0, len(units), per_packet):
        chunk = units[start:start + per_packet]
        header = (session + (first_sequence + start).to_bytes(8, "big")
                  + len(chunk).to_bytes(2, "big"))
        packets.append(header + b"".join(chunk))
    return packets


def parse_packet(packet):
    """Split a MoldUDP64 packet into its header fields and units."""
    if len(packet) < _HEADER:
        raise MoldFormatError(f"a MoldUDP64 packet has a {_HEADER}-byte header; this one has "
                              f"{len(packet)} bytes")
    session = bytes(packet[:_SESSION])
    sequence = int.from_bytes(packet[_SESSION:_SESSION + 8], "big")
    count = int.from_bytes(packet[_SESSION + 8:_HEADER], "big")
    if count == _END_OF_SESSION:
        count = 0
    units, position = [], _HEADER
    for index in range(count):
        if position + 2 > len(packet):
            raise MoldFormatError(f"packet {sequence}: message {index + 1} of {count} is "
                                  f"missing (the packet ends at byte {len(packet)})")
        stop = position + 2 + (packet[position] << 8 | packet[position + 1])
        if stop > len(packet):
            raise MoldFormatError(f"packet {sequence}: message {index + 1} of {count} is "
                                  f"truncated (it needs {stop} bytes, the packet has "
                                  f"{len(packet)})")
        units.append(bytes(packet[position:stop]))
        position = stop
    if position != len(packet):
        raise MoldFormatError(f"packet {sequence}: {len(packet) - position} bytes after its "
                              f"{count} messages")
    return MoldPacket(session, sequence, units)


class MoldSequencer:
    """Follows one session's sequence numbers: which messages of a packet are new, and gaps.

    ``next`` is the sequence number expected next; ``gaps`` lists every :class:`FeedGap`;
    ``duplicates`` counts messages received again (dropped).
    """

    def __init__(self, first_sequence=1):
        self.next = first_sequence
        self.session = None
        self.gaps = []
        self.duplicates = 0

    @property
    def lost(self):
        return sum(gap.lost for gap in self.gaps)

    def accept(self, packet):
        """``(gap or None, new units)`` for a parsed packet, advancing the sequence."""
        if self.session is None:
            self.session = packet.session
        elif packet.session != self.session:
            raise MoldFormatError(f"packet {packet.sequence} belongs to session "
                                  f"{packet.session!r}, not {self.session!r}")
        gap = None
        if packet.sequence > self.next:
            gap = FeedGap(packet.session, self.next, packet.sequence)
            self.gaps.append(gap)
            self.next = packet.sequence
        skip = min(self.next - packet.sequence, len(packet.units))
        self.duplicates += skip
        units = packet.units[skip:]
        self.next += len(units)
        return gap, units


class GlimpseModel:
    """A snapshot source standing in for NASDAQ's Glimpse: the golden model's books after the
    control ``prelude`` (subscriptions) and the first messages of the complete ``feed``.
    Snapshots are asked for in rising sequence order (the model only moves forward)."""

    def __init__(self, config, prelude, feed, first_sequence=1):
        self._parser = ParserModel()
        self.book = BookModel(config)
        self._feed = iter(feed)
        self._next = first_sequence
        self._apply(prelude)

    def _apply(self, units):
        for message in self._parser.feed(b"".join(units)):
            self.book.process(message)

    def book_before(self, sequence):
        """The books with every message before ``sequence`` applied."""
        if sequence < self._next:
            raise ValueError(f"snapshot before message {sequence} asked for after "
                             f"message {self._next - 1} was applied")
        for _ in range(sequence - self._next):
            self._apply([next(self._feed)])
        self._next = sequence
        return self.book


def _orders(book):
    return [order for ways in book.table for order in ways if order is not None]


def snapshot_units(held, snapshot):
    """Units that turn a target holding the books ``held`` into ``snapshot`` (both
    :class:`BookModel`): delete every held order, add every snapshot order, then per slot of
    the snapshot clear the levels and set each one."""
    units = [encode("D", stock_locate=held.slots[order.slot], order_reference_number=order.ref)
             for order in _orders(held)]
    units += [encode("A", stock_locate=snapshot.slots[order.slot],
                     order_reference_number=order.ref,
                     buy_sell_indicator=b"B" if order.side == Side.BID else b"S",
                     shares=order.shares, stock=b"SNAPSHOT", price=order.price)
              for order in _orders(snapshot)]
    for slot, locate in enumerate(snapshot.slots):
        if locate is None:
            continue
        units.append(encode("s", stock_locate=locate, slot=slot))
        for side, code in ((Side.BID, b"B"), (Side.ASK, b"S")):
            units += [encode("l", stock_locate=locate, side=code, price=price, quantity=quantity)
                      for price, quantity in snapshot.side_levels(slot, side)]
    return units


class GapRecovery:
    """Packets in, units for the target out: the feed's messages, with a book snapshot
    wherever a gap lost some (see the module docstring). ``snapshots`` has
    ``book_before(sequence)`` (e.g. :class:`GlimpseModel`); ``held`` mirrors the target."""

    def __init__(self, config, snapshots, first_sequence=1):
        self.sequencer = MoldSequencer(first_sequence)
        self._snapshots = snapshots
        self._parser = ParserModel()
        self.held = BookModel(config)
        self.recovery_units = 0

    @property
    def gaps(self):
        return self.sequencer.gaps

    def control(self, units):
        """Host units (subscriptions, parameters) that are not part of the feed: passed on."""
        return self._send(list(units))

    def packet(self, packet):
        """The units to send for one MoldUDP64 packet (bytes)."""
        gap, units = self.sequencer.accept(parse_packet(packet))
        if gap is not None:
            repair = snapshot_units(self.held, self._snapshots.book_before(gap.got))
            self.recovery_units += len(repair)
            units = repair + units
        return self._send(units)

    def _send(self, units):
        for message in self._parser.feed(b"".join(units)):
            self.held.process(message)
        return units
