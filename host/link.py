"""The host's side of the link protocol (see :mod:`tickforge.hdl.link.framing`): frames encoded
and found again in a byte stream, input units packed into frame payloads, and the FPGA's event
payloads decoded into the records :func:`~tickforge.host.protocol.event_codec` gives, so events
that crossed a link compare equal to the golden model's.

Every size and field comes from the layouts in :mod:`tickforge.hdl.layouts`.
"""

import collections
import zlib
from collections import namedtuple

from ..hdl.layouts import (LINK_SYNC, LINK_MAX_PAYLOAD, FrameKind, FrameHeader, FrameTrailer,
                           LinkCounters, event_layout)
from ..hdl.link.events import event_sizes, header_size
from .codec import WireFormat, BitCodec
from .protocol import event_codec


__all__ = ["Frame", "encode_frame", "FrameReader", "FrameError", "UnitPacker", "EventDecoder",
           "EventEncoder", "COUNTERS", "HEADER", "TRAILER", "SYNC", "frame_size", "seq_after",
           "seq_distance", "seq_before"]


HEADER = WireFormat(FrameHeader)
TRAILER = WireFormat(FrameTrailer)
SYNC = LINK_SYNC.to_bytes(2, "big")
_CRC_OFFSET = FrameHeader.as_shape()["kind"].offset // 8   # the CRC covers kind .. payload

COUNTERS = BitCodec(LinkCounters, name="LinkCounters")
"""Decoder of ACK and NACK payloads (little-endian :class:`LinkCounters` values)."""

Frame = namedtuple("Frame", "kind seq payload")
"""One frame: a :class:`FrameKind`, its 16-bit seq and its payload bytes."""


class FrameError(ValueError):
    """A frame that cannot be encoded, or a payload that does not decode."""


def frame_size(payload_bytes):
    """Wire bytes of a frame with ``payload_bytes`` of payload."""
    return HEADER.size + payload_bytes + TRAILER.size


def seq_after(seq, count=1):
    return (seq + count) & 0xFFFF


def seq_distance(older, newer):
    """How many frames ``newer`` is after ``older``, modulo 2**16."""
    return (newer - older) & 0xFFFF


def seq_before(seq, other):
    """Whether ``seq`` comes before ``other`` (within half the 16-bit numbering)."""
    return 0 < seq_distance(seq, other) < 1 << 15


def encode_frame(kind, seq, payload=b"", max_payload=LINK_MAX_PAYLOAD):
    """The wire bytes of one frame."""
    if len(payload) > max_payload:
        raise FrameError(f"a frame payload holds at most {max_payload} bytes, not {len(payload)}")
    header = HEADER.pack(sync=LINK_SYNC, kind=FrameKind(kind).value, seq=seq & 0xFFFF,
                         length=len(payload))
    crc = zlib.crc32(payload, zlib.crc32(header[_CRC_OFFSET:]))
    return header + bytes(payload) + TRAILER.pack(crc=crc)


class FrameReader:
    """Finds frames in a byte stream fed in pieces of any size, as the gateware deframer does:
    hunt for the sync, check the header (a known kind, a length up to ``max_payload``, 0 for
    ``empty_kinds``) and the CRC; after a bad frame resume hunting right after its sync, so a
    real frame inside garbage is found. Counts what it passes over in ``skipped_bytes``,
    ``crc_errors`` and ``header_errors``; ``good`` counts frames returned."""

    def __init__(self, max_payload=LINK_MAX_PAYLOAD, kinds=tuple(FrameKind), empty_kinds=()):
        self.max_payload = max_payload
        self._kinds = {kind.value: kind for kind in kinds}
        self._longest = {kind.value: 0 if kind in empty_kinds else max_payload for kind in kinds}
        self._buffer = bytearray()
        self.skipped_bytes = self.crc_errors = self.header_errors = self.good = 0

    def feed(self, data):
        """Add bytes; return the frames completed by them, in order."""
        buffer = self._buffer
        buffer += data
        frames = []
        position = 0
        while True:
            start = buffer.find(SYNC, position)
            if start < 0:
                # keep a trailing first sync byte: its second byte may come next
                keep = len(buffer) - 1 if buffer.endswith(SYNC[:1]) else len(buffer)
                self.skipped_bytes += max(0, keep - position)
                position = max(position, keep)
                break
            self.skipped_bytes += start - position
            position = start
            if len(buffer) - start < HEADER.size:
                break
            header = HEADER.unpack(buffer, start)
            if header.length > self._longest.get(header.kind, -1):
                self.header_errors += 1
                position = start + len(SYNC)
                continue
            end = start + frame_size(header.length)
            if len(buffer) < end:
                break
            payload_end = end - TRAILER.size
            crc = zlib.crc32(memoryview(buffer)[start + _CRC_OFFSET:payload_end])
            if crc != TRAILER.unpack(buffer, payload_end).crc:
                self.crc_errors += 1
                position = start + len(SYNC)
                continue
            frames.append(Frame(self._kinds[header.kind], header.seq,
                                bytes(buffer[start + HEADER.size:payload_end])))
            self.good += 1
            position = end
        del buffer[:position]
        return frames


class UnitPacker:
    """Packs a byte stream of input units (2-byte big-endian length, then the message) into
    frame payloads of whole units, each as full as ``max_payload`` allows. Bytes may arrive in
    any pieces; a unit cut at the end of a piece waits for the rest."""

    def __init__(self, max_payload=LINK_MAX_PAYLOAD):
        self.max_payload = max_payload
        self._pending = bytearray()

    def pack(self, data):
        """Add bytes; return the payloads of the whole units so far (the last may be short)."""
        pending = self._pending
        pending += data
        payloads = []
        start = position = 0
        while position + 2 <= len(pending):
            size = 2 + int.from_bytes(pending[position:position + 2], "big")
            if size > self.max_payload:
                raise FrameError(f"a {size}-byte unit does not fit a frame payload of "
                                 f"{self.max_payload} bytes")
            if position + size > len(pending):
                break
            if position + size - start > self.max_payload:
                payloads.append(bytes(pending[start:position]))
                start = position
            position += size
        if position > start:
            payloads.append(bytes(pending[start:position]))
        del pending[:position]
        return payloads

    def rest(self):
        """The bytes of an unfinished last unit (sent as they are at the end of a stream, so the
        core sees what the golden model sees), emptying the packer."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest


class EventDecoder:
    """Decodes the payload of an FPGA → host DATA frame into event records, equal to those
    :func:`~tickforge.host.protocol.event_codec` decodes from full-width records."""

    def __init__(self, exported_levels):
        self.codec = event_codec(exported_levels)
        layout = event_layout(exported_levels)
        kind = layout["kind"]
        assert kind.offset == 0, "the kind leads every event"
        self._kind_mask = (1 << kind.width) - 1
        header = header_size(exported_levels)
        sizes = {kind.value: size for kind, size in event_sizes(exported_levels).items()}
        self._sizes = [sizes.get(value, header) for value in range(self._kind_mask + 1)]

    def decode(self, payload):
        events = []
        position = 0
        decode = self.codec.decode
        while position < len(payload):
            size = self._sizes[payload[position] & self._kind_mask]
            if position + size > len(payload):
                raise FrameError(f"event payload ends {len(payload) - position} bytes into a "
                                 f"{size}-byte event")
            events.append(decode(int.from_bytes(payload[position:position + size], "little")))
            position += size
        return events


class EventEncoder:
    """The inverse of :class:`EventDecoder`: event records to their compact link bytes, as the
    gateware's :class:`~tickforge.hdl.link.events.EventSerializer` sends them."""

    def __init__(self, exported_levels):
        self.codec = event_codec(exported_levels)
        header = header_size(exported_levels)
        self._sizes = collections.defaultdict(lambda: header, event_sizes(exported_levels))

    def encode(self, event):
        return self.codec.encode(event).to_bytes(self.codec.nbytes, "little")[
            :self._sizes[event.kind]]
