"""A fault injector for byte pipes (see :mod:`.link`): drops, duplicates, reorders and flips
the link's frames or bytes at a seeded rate, each way, and keeps the books that show what the
link protocol made of the damage.

Each direction is a :class:`FaultyLine`. It cuts the clean stream back into the frames the
sender wrote, damages them, and runs the damaged bytes through a
:class:`~tickforge.host.link.FrameReader` with the receiver's rules (FPGA → host: the host's
own reader code on the same bytes; host → FPGA: the gateware deframer's rules, which its tests
hold it to), so it knows which frames were damaged, which the receiver accepted and whether
any accepted frame differs from every frame sent.
"""

import collections
import math
import random
from dataclasses import dataclass, field

from ..link import FrameReader, HEADER, SYNC, TRAILER, frame_size
from ...hdl.layouts import FrameKind, LINK_MAX_PAYLOAD


__all__ = ["FAULT_KINDS", "UNITS", "FaultyLine", "FaultyPipe", "LineReport"]


FAULT_KINDS = ("drop", "duplicate", "reorder", "flip")
"""What a fault does to the byte (or frame) it hits: leaves it out, sends it twice, swaps it
with the next one, or inverts one bit (of a byte of the frame)."""

UNITS = ("frame", "byte")
"""What a fault rate counts: the probability that a frame is hit (then ``drop``,
``duplicate`` and ``reorder`` act on whole frames, which the receiver's sequence numbers must
catch), or that a byte is (which its CRC must catch)."""

_LINK_KINDS = (FrameKind.DATA, FrameKind.ACK, FrameKind.NACK)


@dataclass
class LineReport:
    """One direction's books. ``frames``: frames sent; ``damaged``: frames a fault changed
    (dropped, doubled, moved or altered); ``detected``: those not accepted as they arrived
    (damaged minus applied); ``recovered``: those whose content the receiver accepted intact
    afterwards (a DATA frame sent again; for ACK and NACK, which carry cumulative state, any
    later control frame); ``applied``: frames the receiver accepted whose bytes differ from
    every frame sent (must be 0)."""
    frames: int = 0
    damaged: int = 0
    detected: int = 0
    recovered: int = 0
    applied: int = 0
    per_kind: dict = field(default_factory=collections.Counter)   # damaged frames by kind


class _FrameAssembler:
    """Cuts a clean stream of whole frames, written in pieces of any size, back into frames;
    a byte where no frame starts (a native pipe's fill byte) passes on by itself."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data):
        """The frames (and stray bytes) completed by ``data``, in order."""
        buffer = self._buffer
        buffer += data
        pieces = []
        while buffer:
            if not buffer.startswith(SYNC[:len(buffer)]):
                pieces.append(bytes(buffer[:1]))
                del buffer[:1]
                continue
            if len(buffer) < HEADER.size:
                break
            size = frame_size(HEADER.unpack(buffer).length)
            if len(buffer) < size:
                break
            pieces.append(bytes(buffer[:size]))
            del buffer[:size]
        return pieces


class FaultyLine:
    """One direction of a link, damaged: with probability ``rate`` per ``unit`` (see
    :data:`UNITS`) a fault of ``kind`` (see :data:`FAULT_KINDS`), drawn from
    ``random.Random(seed)``. ``reader`` is a fresh :class:`~tickforge.host.link.FrameReader`
    configured as the receiver's: it says what the receiver accepts of the damaged bytes."""

    def __init__(self, kind, rate, seed, reader, unit="frame"):
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if unit not in UNITS:
            raise ValueError(f"a fault rate counts {' or '.join(UNITS)}s, not {unit!r}")
        if not 0 <= rate < 1:
            raise ValueError(f"a fault rate is a probability in [0, 1), not {rate!r}")
        self.kind, self.rate, self.unit = kind, rate, unit
        self._rng = random.Random(seed)
        self._assembler = _FrameAssembler()
        self._reader = reader
        self._until_fault = self._gap()   # units to pass before the next fault
        self._held = None                 # a frame moved behind the next one
        self._clean = set()               # keys of every frame sent
        self._pending = {}                # damaged frame number → key, until recovered
        self.report = LineReport()

    def _gap(self):
        if self.rate == 0:
            return math.inf
        return int(math.log(1.0 - self._rng.random()) / math.log(1.0 - self.rate))

    def _hits(self, units):
        """Offsets (within the next ``units`` units) that a fault hits."""
        hits = []
        position = self._until_fault
        while position < units:
            hits.append(position)
            position += 1 + self._gap()
        self._until_fault = position - units
        return hits

    def pass_on(self, data):
        """The bytes the receiver gets for ``data`` sent."""
        out = bytearray()
        earlier = set(self._pending)
        for piece in self._assembler.feed(data):
            if piece.startswith(SYNC):
                out += self._pass_frame(piece)
            else:
                out += piece
        self._accept(bytes(out), earlier)
        return bytes(out)

    def _pass_frame(self, wire):
        header = HEADER.unpack(wire)
        key = _key(FrameKind(header.kind), header.seq, wire[HEADER.size:-TRAILER.size])
        self._clean.add(key)
        number = self.report.frames
        self.report.frames += 1
        released, self._held = (self._held or b""), None
        if self.unit == "frame":
            damaged = self._damage_frame(wire) if self._hits(1) else wire
        else:
            damaged = self._damage_bytes(wire, self._hits(len(wire)))
        if damaged != wire:
            self._pending[number] = key
            self.report.damaged += 1
            self.report.per_kind[key[0].name] += 1
        return damaged + released

    def _damage_frame(self, wire):
        if self.kind == "drop":
            return b""
        if self.kind == "duplicate":
            return wire + wire
        if self.kind == "reorder":
            self._held = wire
            return b""
        return self._damage_bytes(wire, [self._rng.randrange(len(wire))])

    def _damage_bytes(self, wire, hits):
        out = bytearray(wire)
        for at in reversed(hits):   # from the end, so earlier offsets stay put
            if self.kind == "drop":
                del out[at]
            elif self.kind == "duplicate":
                out.insert(at, out[at])
            elif self.kind == "flip":
                out[at] ^= 1 << self._rng.randrange(8)
            else:
                other = at + 1 if at + 1 < len(out) else at - 1
                out[at], out[other] = out[other], out[at]
        return bytes(out)

    def _accept(self, damaged, earlier):
        """Run the receiver's rules over what it gets and settle the books. A control frame
        counts as recovered by a control frame accepted in a later piece (the order within
        one piece is not tracked)."""
        for frame in self._reader.feed(damaged):
            key = _key(frame.kind, frame.seq, frame.payload)
            if key not in self._clean:
                self.report.applied += 1
            for number, pending in list(self._pending.items()):
                if pending == key or (frame.kind != FrameKind.DATA and
                                      pending[0] != FrameKind.DATA and number in earlier):
                    del self._pending[number]
                    self.report.recovered += 1

    def finish(self):
        """The books, once the run is over."""
        self.report.detected = self.report.damaged - min(self.report.applied,
                                                         self.report.damaged)
        return self.report


class FaultyPipe:
    """A byte pipe whose traffic crosses a :class:`FaultyLine` each way: ``outbound`` (host →
    FPGA) damages what is written, ``inbound`` (FPGA → host) what is read."""

    def __init__(self, pipe, outbound, inbound):
        self.pipe, self.outbound, self.inbound = pipe, outbound, inbound
        self.name = f"{getattr(pipe, 'name', 'pipe')} with faults"

    @classmethod
    def around(cls, pipe, kind, rate, seed, unit="frame"):
        """Faults of one ``kind`` at one ``rate`` both ways; each direction's receiver rules
        (the gateware deframer's, the host's) check what gets through."""
        deframer = FrameReader(LINK_MAX_PAYLOAD, kinds=_LINK_KINDS,
                               empty_kinds=(FrameKind.ACK, FrameKind.NACK))
        host = FrameReader(LINK_MAX_PAYLOAD, kinds=_LINK_KINDS)
        return cls(pipe, FaultyLine(kind, rate, seed * 2, deframer, unit),
                   FaultyLine(kind, rate, seed * 2 + 1, host, unit))

    def write(self, data):
        self.pipe.write(self.outbound.pass_on(data))

    def read(self, timeout):
        return self.inbound.pass_on(self.pipe.read(timeout))

    def close(self):
        self.pipe.close()


def _key(kind, seq, payload):
    """What identifies a frame's content: control frames carry state, so their payload
    counts too."""
    return (kind, seq, len(payload), hash(bytes(payload)))
