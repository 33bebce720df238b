"""Link frames: the deframer (host → FPGA) and the framer (FPGA → host).

A frame, both directions (:class:`~tickforge.hdl.layouts.FrameHeader`)::

    A5 5A | kind | seq (2, BE) | length (2, BE) | payload (length bytes) | CRC-32 (4, BE)

The CRC is CRC-32/ISO-HDLC (``zlib.crc32``) of kind through payload. Both directions are
go-back-N: frames are numbered, the receiver takes only the one it expects next, and the
sender keeps every frame until it is acknowledged and sends again from where the receiver
asks. Nothing is ever applied twice, out of order, or damaged, and nothing is lost.

Host → FPGA, DATA frames. The payload is whole input units (2-byte length + message); a frame
never splits one, and the first payload byte reaches the core with ``first`` set:

- good CRC, ``seq == expected``: queued for the core, ``expected += 1``; once its last byte has
  been read out of the ring into the core, an ACK(seq) follows. ACK means *played*, not just
  received: the host's window of unacknowledged bytes is therefore a bound on the FPGA's ring,
  which is how the host is flow-controlled by a core that waits for a slow output;
- bad CRC, an unknown kind, a length over ``max_payload`` (over 0 for ACK and NACK), a byte
  lost to a full ring: dropped, counted, NACK(expected); hunting for the next sync resumes
  right after the bad frame's sync, so a real frame hidden inside what looked like one is
  still found;
- good CRC but another seq (a duplicate, or a frame after a lost one): dropped, counted,
  NACK(expected); hunting resumes after it;
- an empty DATA frame is a barrier: its ACK leaves only once every event caused by earlier
  frames has been sent (the core has been quiet, every event frame made has been sent). A
  host uses it to know it has all the events, and as a ping.

Host → FPGA, ACK and NACK frames (empty, not numbered themselves): the host's answers about
the event frames. ACK(s): the host has every event frame up to ``s``; the FPGA frees them.
NACK(s): the host is missing frame ``s``; the FPGA sends every frame from ``s`` again. An ACK
of a frame not yet sent (or not sent again since a NACK) and a NACK of a frame not kept are
ignored; they are never answered, so they cannot echo.

FPGA → host: DATA frames carrying events (see :mod:`.events`), never splitting one, numbered by
their own counter; a frame is closed when the next event would not fit or after
``flush_idle`` cycles without a new event. A closed frame stays in the transmit ring, and its
place in a table of ``frames`` descriptors, until the host acknowledges it; when the ring or
the table is full the events wait, and so does the core (``event_stalls``): a host that stops
reading stalls the core, it never loses an event. ACK and NACK frames go out between data
frames, before any data frame still waiting; their payload is the
:class:`~tickforge.hdl.layouts.LinkCounters`, which carry ``acked`` (cumulative), so any control
frame acknowledges, and ``tx_next``/``tx_closed``/``tx_acked``, from which the host sees an
event frame lost at the end of a burst (``tx_next`` past the last one it has) and an
acknowledgement of its own that was lost (``tx_acked`` behind it). ACK requests and NACK
requests that arrive while a frame is being sent are merged: one control frame answers them
all. The FPGA never times out: the host's timers (its own retransmissions, which the FPGA
answers, and its repeated NACKs) drive every recovery.
"""

from amaranth.hdl import Module, Signal, Array, Cat, Mux, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.crc.catalog import CRC32_ISO_HDLC
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import (LINK_SYNC, LINK_MAX_PAYLOAD, FrameKind, FrameHeader, FrameTrailer,
                       LinkCounters, input_beat_layout)
from ..ram import CollisionFreeMemory
from .events import event_byte_layout


__all__ = ["ControlRequest", "HostControl", "FrameByte", "Deframer", "Framer", "FrameSender",
           "FRAME_OVERHEAD", "frame_bytes"]


HEADER_BYTES = FrameHeader.as_shape().size // 8
TRAILER_BYTES = FrameTrailer.as_shape().size // 8
FRAME_OVERHEAD = HEADER_BYTES + TRAILER_BYTES
"""Bytes a frame adds to its payload: 7 of header, 4 of CRC."""
COUNTER_BYTES = LinkCounters.as_shape().size // 8
SYNC_BYTES = tuple(LINK_SYNC.to_bytes(2, "big"))


def frame_bytes(payload_bytes):
    """Wire bytes of a frame with ``payload_bytes`` of payload."""
    return FRAME_OVERHEAD + payload_bytes


def _crc():
    return CRC32_ISO_HDLC(data_width=8).create()


ControlRequest = wiring.Signature({
    "ack":   Out(1),  # a frame was played or a barrier passed: an ACK is due
    "nack":  Out(1),  # a frame was dropped: a NACK is due
    "taken": In(1),   # the framer started a control frame: both requests are answered
})
"""From the deframer to the framer. Not a stream: requests merge while they wait, since every
control frame carries the whole state (the counters), so only the latest matters."""


HostControl = wiring.Signature({
    "ack":  Out(1),   # one cycle: the host has every event frame up to ``seq``
    "nack": Out(1),   # one cycle: the host asks for the event frames from ``seq`` again
    "seq":  Out(16),
})
"""From the deframer to the framer: the host's good ACK and NACK frames, the cycle after their
CRC checks (registered, so the check and the framer's window arithmetic are not one path)."""


FrameByte = data.StructLayout({"data": unsigned(8), "last": unsigned(1)})
"""One byte of a frame from ``kind`` through the payload, as the framer hands it to the
:class:`FrameSender`; ``last`` marks the final byte."""


def _check_sizes(owner, ring_bytes, max_payload, least, what):
    if not isinstance(max_payload, int) or not 0 < max_payload <= LINK_MAX_PAYLOAD:
        raise ValueError(f"{owner}: max_payload must be 1..{LINK_MAX_PAYLOAD}, not {max_payload!r}")
    if not isinstance(ring_bytes, int) or ring_bytes & (ring_bytes - 1) or ring_bytes < least:
        raise ValueError(f"{owner}: ring_bytes must be a power of two holding {what} (at least "
                         f"{least}), not {ring_bytes!r}")


class Deframer(wiring.Component):
    """Frames in from the line, the payload of each good in-order frame out to the core.

    Members
    -------
    i : ``In(stream.Signature(8))``
        Bytes from the line. Always ready: a UART cannot wait. A byte that finds the ring full
        is lost (``overruns``) and the data frame it belonged to fails; if the parser has caught
        up it still parses the byte, so the host's (empty) ACKs and NACKs are taken even then:
        they can always free a transmit ring that a stalled core is waiting on.
    o : ``Out(stream.Signature(input_beat_layout(1)))``
        The payloads, one byte per beat, ``first`` on each frame's first byte.
    control : ``Out(ControlRequest)``
        ACK and NACK requests for the framer.
    host : ``Out(HostControl)``
        The host's ACK and NACK frames, for the framer.
    drained : ``In(1)``
        High when every event the core made has been sent: lets a barrier's ACK go.
    expected, acked, frames, crc_errors, header_errors, out_of_order, dropped, skipped_bytes,
    overruns : ``Out(...)``
        The receive side of :class:`~tickforge.hdl.layouts.LinkCounters`.

    Store and forward: bytes land in a ring of ``ring_bytes`` (block RAM); a frame is parsed
    from the ring as it arrives (CRC on the fly), and a good frame's payload is played out of
    the ring into the core, up to ``queue_frames`` frames waiting. The parser and the player
    share the ring's read port, the parser first: it reads one byte per byte received (plus a
    rescan of a bad frame), which behind a UART leaves the player nearly every cycle.

    Latency: a frame's first byte is on ``o`` 6 cycles after its last CRC byte was taken on
    ``i`` (read, verdict, queue, play, read, out). Throughput: one byte per cycle on ``o``;
    input in bursts of a byte per cycle is absorbed by the ring, and one byte every second
    cycle is sustained, the player having the read port whenever the parser does not.
    Back-pressure on ``o`` stops the player; frames wait in the ring, and ACKs wait with them.

    ``collision_free``: the ring is read only where the parser or the player reads, never where
    a byte is being written, so it is a :class:`~tickforge.hdl.ram.CollisionFreeMemory`.
    """

    def __init__(self, *, ring_bytes=4096, max_payload=LINK_MAX_PAYLOAD, queue_frames=8,
                 collision_free=False):
        # two whole frames: one arriving while one waits, so a host window of one frame streams
        _check_sizes("Deframer", ring_bytes, max_payload, 2 * frame_bytes(max_payload),
                     "two whole frames")
        if not isinstance(queue_frames, int) or not 1 <= queue_frames <= 255:
            raise ValueError(f"Deframer: queue_frames must be 1..255, not {queue_frames!r}")
        self.collision_free = collision_free
        self.ring_bytes = ring_bytes
        self.max_payload = max_payload
        self.queue_frames = queue_frames
        super().__init__({
            "i":             In(stream.Signature(unsigned(8))),
            "o":             Out(stream.Signature(input_beat_layout(1))),
            "control":       Out(ControlRequest),
            "host":          Out(HostControl),
            "drained":       In(1),
            "expected":      Out(16),
            "acked":         Out(16, init=0xFFFF),
            "frames":        Out(32),
            "crc_errors":    Out(32),
            "header_errors": Out(32),
            "out_of_order":  Out(32),
            "dropped":       Out(32),
            "skipped_bytes": Out(32),
            "overruns":      Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        ring_bits = self.ring_bytes.bit_length() - 1
        position = unsigned(ring_bits + 1)   # ring positions carry a wrap bit
        length_shape = unsigned(self.max_payload.bit_length())

        memory = CollisionFreeMemory if self.collision_free else Memory
        m.submodules.ring = ring = memory(shape=8, depth=self.ring_bytes, init=[])
        write = ring.write_port()
        read = ring.read_port()

        entry = data.StructLayout({"start": position, "length": length_shape, "seq": 16})
        m.submodules.queue = queue = SyncFIFO(width=entry.size, depth=self.queue_frames)
        head = data.View(entry, queue.r_data)
        arriving = data.View(entry, queue.w_data)

        written = Signal(position)     # next ring position a byte from the line goes to
        parse_at = Signal(position)    # next ring position the parser reads
        keep_from = Signal(position)   # oldest byte the parser may still need (frame start)
        free_from = Mux(queue.r_rdy, head.start, keep_from)
        damaged = Signal()             # a byte was lost: fail the frame being received

        # --- line → ring ------------------------------------------------------------------------
        lost = Signal()
        m.d.comb += [self.i.ready.eq(1), write.addr.eq(written), write.data.eq(self.i.payload)]
        with m.If(self.i.valid):
            with m.If((written - free_from)[:ring_bits + 1] < self.ring_bytes):
                m.d.comb += write.en.eq(1)
                m.d.sync += written.eq(written + 1)
            with m.Else():
                m.d.comb += lost.eq(1)
                m.d.sync += self.overruns.eq(self.overruns + 1)

        # --- ring → parser: issue a read, process the byte the next cycle ------------------------
        restart = Signal()             # a bad frame: parse again from just after its sync
        # the byte read in a restart cycle is not the next one the parser needs: none is issued
        parse_issue = (parse_at != written) & ~restart
        # a byte lost to a full ring still goes through a parser that has caught up: an empty
        # ACK or NACK needs no room, so the host's answers reach the framer even then
        bypass = lost & (parse_at == written) & ~restart
        bypass_byte = Signal(8)
        parse_byte_valid = Signal()    # the read port (or bypass_byte) holds a byte for the parser
        parse_byte_bypassed = Signal()
        parse_byte_at = Signal(position)
        m.d.sync += [parse_byte_valid.eq(parse_issue | bypass), parse_byte_bypassed.eq(bypass),
                     bypass_byte.eq(self.i.payload), parse_byte_at.eq(parse_at)]
        with m.If(parse_issue):
            m.d.sync += parse_at.eq(parse_at + 1)
        byte = Mux(parse_byte_bypassed, bypass_byte, read.data)
        unstored = Signal()            # the frame being parsed has bytes that are not in the ring

        crc = m.submodules.crc = _crc()
        m.d.comb += crc.data.eq(byte)
        header = Signal(FrameHeader)
        header_next = Signal(FrameHeader)       # header with this cycle's byte written in
        trailer = Signal(FrameTrailer)
        trailer_next = Signal(FrameTrailer)
        index = Signal(range(max(HEADER_BYTES, TRAILER_BYTES)))
        remaining = Signal(length_shape)
        m.d.comb += [header_next.eq(header), trailer_next.eq(trailer)]
        with m.Switch(index):
            for k in range(HEADER_BYTES):
                with m.Case(k):
                    m.d.comb += Value.cast(header_next).word_select(k, 8).eq(byte)
        with m.Switch(index):
            for k in range(TRAILER_BYTES):
                with m.Case(k):
                    m.d.comb += Value.cast(trailer_next).word_select(k, 8).eq(byte)

        nack = Signal()
        after_frame = Mux(parse_byte_bypassed, parse_byte_at, parse_byte_at + 1)
        m.d.sync += [self.host.ack.eq(0), self.host.nack.eq(0)]   # pulses, set below

        def bad_frame(counter):
            m.d.comb += [restart.eq(1), nack.eq(1)]
            m.d.sync += [counter.eq(counter + 1), damaged.eq(0), unstored.eq(0)]
            with m.If(unstored | parse_byte_bypassed):   # not all in the ring: no rescan
                m.d.sync += [parse_at.eq(written), keep_from.eq(written)]
            with m.Else():
                m.d.sync += [parse_at.eq(keep_from + 2), keep_from.eq(keep_from + 2)]
            m.next = "HUNT"

        with m.FSM():
            with m.State("HUNT"):
                with m.If(parse_byte_valid):
                    with m.If(byte == SYNC_BYTES[0]):
                        m.d.sync += [keep_from.eq(parse_byte_at), damaged.eq(0),
                                     unstored.eq(parse_byte_bypassed)]
                        m.next = "SYNC"
                    with m.Else():
                        m.d.sync += [keep_from.eq(after_frame),
                                     self.skipped_bytes.eq(self.skipped_bytes + 1)]
            with m.State("SYNC"):
                with m.If(parse_byte_valid):
                    with m.If(byte == SYNC_BYTES[1]):
                        m.d.comb += crc.start.eq(1)
                        m.d.sync += index.eq(2)
                        m.next = "HEADER"
                    with m.Elif(byte == SYNC_BYTES[0]):
                        m.d.sync += [keep_from.eq(parse_byte_at),
                                     self.skipped_bytes.eq(self.skipped_bytes + 1)]
                    with m.Else():
                        m.d.sync += [keep_from.eq(after_frame),
                                     self.skipped_bytes.eq(self.skipped_bytes + 2)]
                        m.next = "HUNT"
            with m.State("HEADER"):
                with m.If(parse_byte_valid):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [header.eq(header_next), index.eq(index + 1)]
                    with m.If(index == HEADER_BYTES - 1):
                        length = header_next.length.value
                        kind = header_next.kind.value
                        answer = (kind == FrameKind.ACK.value) | (kind == FrameKind.NACK.value)
                        with m.If(((kind != FrameKind.DATA.value) | (length > self.max_payload))
                                  & ~(answer & (length == 0))):
                            bad_frame(self.header_errors)
                        with m.Else():
                            m.d.sync += [remaining.eq(length), index.eq(0)]
                            m.next = "PAYLOAD"
                            with m.If(length == 0):
                                m.next = "TRAILER"
            with m.State("PAYLOAD"):
                with m.If(parse_byte_valid):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += remaining.eq(remaining - 1)
                    with m.If(remaining == 1):
                        m.next = "TRAILER"
            with m.State("TRAILER"):
                with m.If(parse_byte_valid):
                    m.d.sync += [trailer.eq(trailer_next), index.eq(index + 1)]
                    with m.If(index == TRAILER_BYTES - 1):
                        is_data = header.kind.value == FrameKind.DATA.value
                        with m.If(damaged | (unstored & is_data) |
                                  (trailer_next.crc.value != crc.crc)):
                            bad_frame(self.crc_errors)
                        with m.Else():
                            m.d.sync += [keep_from.eq(after_frame), damaged.eq(0),
                                         unstored.eq(0)]
                            m.next = "HUNT"
                            kind = header.kind.value
                            with m.If(kind != FrameKind.DATA.value):   # the host's answer
                                m.d.sync += [self.host.ack.eq(kind == FrameKind.ACK.value),
                                             self.host.nack.eq(kind == FrameKind.NACK.value),
                                             self.host.seq.eq(header.seq.value)]
                            with m.Elif(header.seq.value != self.expected):
                                m.d.comb += nack.eq(1)
                                m.d.sync += self.out_of_order.eq(self.out_of_order + 1)
                            with m.Elif(~queue.w_rdy):
                                m.d.comb += nack.eq(1)
                                m.d.sync += self.dropped.eq(self.dropped + 1)
                            with m.Else():
                                m.d.comb += [queue.w_en.eq(1), arriving.start.eq(keep_from),
                                             arriving.length.eq(header.length.value),
                                             arriving.seq.eq(header.seq.value)]
                                m.d.sync += [self.expected.eq(self.expected + 1),
                                             self.frames.eq(self.frames + 1)]
        with m.If(lost & ~bypass):
            m.d.sync += damaged.eq(1)   # after the verdicts above, which clear them
        with m.If(bypass):
            m.d.sync += unstored.eq(1)

        # --- ring → core: the player, on the cycles the parser leaves the read port free --------
        m.submodules.out = out = SyncFIFO(width=9, depth=2)   # byte, first
        play_at = Signal(position)
        play_left = Signal(length_shape)
        play_first = Signal()
        play_byte_valid = Signal()
        play_byte_first = Signal()
        # room for a byte read now, which enters ``out`` the next cycle
        room = (out.level + play_byte_valid - (self.o.valid & self.o.ready)) < out.depth
        play_issue = Signal()
        ack = Signal()

        m.d.sync += [play_byte_valid.eq(play_issue), play_byte_first.eq(play_first)]
        if self.collision_free:   # read only what is played or parsed: bytes already written
            m.d.comb += read.en.eq(parse_issue | play_issue)
        m.d.comb += [
            read.addr.eq(Mux(parse_issue, parse_at, play_at)),
            out.w_en.eq(play_byte_valid),
            out.w_data.eq(Cat(read.data, play_byte_first)),
            self.o.valid.eq(out.r_rdy),
            self.o.payload.data[0].eq(out.r_data[:8]),
            self.o.payload.count.eq(1),
            self.o.payload.first.eq(out.r_data[8]),
            out.r_en.eq(self.o.ready),
        ]

        def finish_frame():
            m.d.comb += [queue.r_en.eq(1), ack.eq(1)]
            m.d.sync += self.acked.eq(head.seq)
            m.next = "NEXT"

        with m.FSM():
            with m.State("NEXT"):
                with m.If(queue.r_rdy):
                    m.d.sync += [play_at.eq(head.start + HEADER_BYTES),
                                 play_left.eq(head.length), play_first.eq(1)]
                    m.next = "PLAY"
                    with m.If(head.length == 0):
                        m.next = "BARRIER"
            with m.State("PLAY"):
                m.d.comb += play_issue.eq(~parse_issue & room)
                with m.If(play_issue):
                    m.d.sync += [play_at.eq(play_at + 1), play_left.eq(play_left - 1),
                                 play_first.eq(0)]
                    with m.If(play_left == 1):
                        finish_frame()
            with m.State("BARRIER"):
                with m.If(self.drained & ~out.r_rdy & ~play_byte_valid):
                    finish_frame()

        taken = self.control.taken
        m.d.sync += [
            self.control.ack.eq((self.control.ack & ~taken) | ack),
            self.control.nack.eq((self.control.nack & ~taken) | nack),
        ]
        return m


class Framer(wiring.Component):
    """Event bytes and control requests in, frame bodies (kind..payload) out; event frames kept
    until the host acknowledges them, and sent again from where it asks.

    Members
    -------
    events : ``In(stream.Signature(event_byte_layout(exported_levels)))``
        Serialized events (:class:`~tickforge.hdl.link.events.EventSerializer`).
    control : ``In(ControlRequest)``
        ACK/NACK requests from the :class:`Deframer`.
    host : ``In(HostControl)``
        The host's ACKs and NACKs of event frames, from the :class:`Deframer`.
    counters : ``In(LinkCounters)``
        The link's counters; a control frame carries a snapshot taken as it starts.
    o : ``Out(stream.Signature(FrameByte))``
        Frame bodies for the :class:`FrameSender`.
    idle : ``Out(1)``
        No event byte waiting, none in an open frame, every closed frame sent and no host NACK
        waiting: what a barrier waits for.
    events_sent, frames_sent, event_stalls, resent : ``Out(32)``
    tx_next, tx_closed, tx_acked : ``Out(16)``
        The transmit side of the counters.

    Events are packed into a ring of ``ring_bytes`` (block RAM); a data frame is closed when
    the next event would take it past ``max_payload`` or after ``flush_idle`` cycles without an
    event. Closed frames are described in a table of ``frames`` entries (start, length; in
    registers) and sent in order; a frame's bytes and entry are freed only by the host's ACK
    of it. A host NACK(s) of a kept frame sends every frame from ``s`` again after the frame
    being sent. Between frames a pending control request goes first. Throughput: one byte per
    cycle on ``o`` (a frame adds 5 header bytes here and 6 in the sender). Back-pressure on
    ``o``, or a host that does not acknowledge, fills the ring or the table; then ``events``
    waits, counting ``event_stalls``, and the core with it: no event is ever dropped.

    ``collision_free``: the ring is read only in a data frame's payload, a closed frame, never
    where an event byte is being written, so it is a
    :class:`~tickforge.hdl.ram.CollisionFreeMemory`.
    """

    def __init__(self, exported_levels, *, ring_bytes=4096, max_payload=LINK_MAX_PAYLOAD,
                 flush_idle=64, frames=8, collision_free=False):
        # two payloads: one being filled while one is sent
        _check_sizes("Framer", ring_bytes, max_payload, 2 * max_payload, "two payloads")
        if not isinstance(flush_idle, int) or flush_idle < 1:
            raise ValueError(f"Framer: flush_idle must be a positive cycle count, not "
                             f"{flush_idle!r}")
        if not isinstance(frames, int) or frames & (frames - 1) or not 1 <= frames <= 64:
            raise ValueError(f"Framer: frames must be a power of two of 1..64 (event frames "
                             f"kept for the host), not {frames!r}")
        self.ring_bytes = ring_bytes
        self.max_payload = max_payload
        self.flush_idle = flush_idle
        self.frames = frames
        self.collision_free = collision_free
        super().__init__({
            "events":       In(stream.Signature(event_byte_layout(exported_levels))),
            "control":      In(ControlRequest),
            "host":         In(HostControl),
            "counters":     In(LinkCounters),
            "o":            Out(stream.Signature(FrameByte)),
            "idle":         Out(1),
            "events_sent":  Out(32),
            "frames_sent":  Out(32),
            "event_stalls": Out(32),
            "resent":       Out(32),
            "tx_next":      Out(16),
            "tx_closed":    Out(16),
            "tx_acked":     Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        ring_bits = self.ring_bytes.bit_length() - 1
        position = unsigned(ring_bits + 1)
        length_shape = unsigned(self.max_payload.bit_length())

        memory = CollisionFreeMemory if self.collision_free else Memory
        m.submodules.ring = ring = memory(shape=8, depth=self.ring_bytes, init=[])
        write = ring.write_port()
        read = ring.read_port()

        # --- the frame table: seq → (start, length), for every closed frame not yet acked ---
        starts = Array(Signal(position, name=f"start_{n}") for n in range(self.frames))
        lengths = Array(Signal(length_shape, name=f"length_{n}") for n in range(self.frames))
        entry_bits = self.frames.bit_length() - 1

        def entry(seq):
            return seq[:entry_bits] if entry_bits else 0

        base = Signal(16)     # oldest frame the host has not acknowledged
        send = Signal(16)     # next frame to send
        closed = Signal(16)   # seq of the next frame to close
        fresh = Signal(16)    # first frame never sent: frames before it are sent again
        kept = (closed - base)[:16]
        sent_ahead = (send - base)[:16]

        # --- events → ring, closing frames ------------------------------------------------------
        written = Signal(position)
        open_from = Signal(position)   # start of the frame being filled
        freed = Mux(base == closed, open_from, starts[entry(base)])   # bytes before: reusable
        open_length = (written - open_from)[:ring_bits + 1]
        in_event = Signal()
        quiet = Signal(range(self.flush_idle + 1))
        event = self.events.payload
        starts_event = self.events.valid & ~in_event
        close = (open_length != 0) & ~in_event & (
            (starts_event & (open_length + event.size > self.max_payload)) |
            (quiet == self.flush_idle))
        room = (written - freed)[:ring_bits + 1] < self.ring_bytes
        take = self.events.valid & ~close & room

        m.d.comb += [write.addr.eq(written), write.data.eq(event.data), write.en.eq(take),
                     self.events.ready.eq(take)]
        with m.If(close & (kept < self.frames)):
            m.d.sync += [starts[entry(closed)].eq(open_from),
                         lengths[entry(closed)].eq(open_length),
                         closed.eq(closed + 1), open_from.eq(written)]
        with m.If(take):
            m.d.sync += [written.eq(written + 1), in_event.eq(~event.last), quiet.eq(0)]
            with m.If(event.last):
                m.d.sync += self.events_sent.eq(self.events_sent + 1)
        with m.Elif(quiet != self.flush_idle):
            m.d.sync += quiet.eq(quiet + 1)
        with m.If(self.events.valid & ~take):
            m.d.sync += self.event_stalls.eq(self.event_stalls + 1)

        # --- the host's answers: free what it has, go back to what it lacks ---------------------
        acked_ahead = (self.host.seq + 1 - base)[:16]
        with m.If(self.host.ack & (acked_ahead != 0) & (acked_ahead <= sent_ahead)):
            m.d.sync += base.eq(self.host.seq + 1)
        rewind = Signal()              # a NACK waiting for the frame being sent to end
        rewind_to = Signal(16)

        # --- frames → o: one register stage, the ring's read port being its data register -------
        header = Signal(FrameHeader)
        snapshot = Signal(LinkCounters)
        is_data = Signal()
        frame_start = Signal(position)
        index = Signal(range(max(HEADER_BYTES, self.max_payload, COUNTER_BYTES) + 1))
        payload_length = header.length.value

        stage_valid = Signal()
        stage_from_ring = Signal()
        stage_byte = Signal(8)
        stage_last = Signal()
        advance = ~self.o.valid | self.o.ready
        reads = Signal()               # a data frame's payload byte is read
        m.d.comb += [
            self.o.valid.eq(stage_valid),
            self.o.payload.data.eq(Mux(stage_from_ring, read.data, stage_byte)),
            self.o.payload.last.eq(stage_last),
            read.en.eq(reads if self.collision_free else advance),
        ]

        emit = Signal()                # a body byte is ready to enter the stage
        emit_byte = Signal(8)
        emit_from_ring = Signal()
        emit_last = Signal()
        with m.If(advance):
            m.d.sync += [stage_valid.eq(emit), stage_byte.eq(emit_byte),
                         stage_from_ring.eq(emit_from_ring), stage_last.eq(emit_last)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.control.ack | self.control.nack):
                    m.d.comb += self.control.taken.eq(1)
                    kind = Mux(self.control.nack, FrameKind.NACK.value, FrameKind.ACK.value)
                    seq = Mux(self.control.nack, self.counters.expected, self.counters.acked)
                    m.d.sync += [snapshot.eq(self.counters), is_data.eq(0), index.eq(2),
                                 header.kind.eq(kind), header.seq.eq(seq),
                                 header.length.eq(COUNTER_BYTES)]
                    m.next = "HEADER"
                with m.Elif(rewind):
                    m.d.sync += rewind.eq(0)
                    with m.If((rewind_to - base)[:16] < sent_ahead):   # a frame still kept
                        m.d.sync += send.eq(rewind_to)
                with m.Elif(send != closed):
                    m.d.sync += [is_data.eq(1), index.eq(2), frame_start.eq(starts[entry(send)]),
                                 header.kind.eq(FrameKind.DATA.value), header.seq.eq(send),
                                 header.length.eq(lengths[entry(send)])]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [emit.eq(1),
                             emit_byte.eq(Value.cast(header).word_select(index, 8)),
                             emit_last.eq((index == HEADER_BYTES - 1) & (payload_length == 0))]
                with m.If(advance):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == HEADER_BYTES - 1):
                        m.d.sync += index.eq(0)
                        m.next = "PAYLOAD"
                        with m.If(payload_length == 0):
                            m.next = "IDLE"   # a data frame is never empty; kept for safety
            with m.State("PAYLOAD"):
                last = index == payload_length - 1
                m.d.comb += [emit.eq(1), emit_last.eq(last), emit_from_ring.eq(is_data),
                             emit_byte.eq(Value.cast(snapshot).word_select(index, 8)),
                             read.addr.eq(frame_start + index),
                             *([reads.eq(advance & is_data)] if self.collision_free else [])]
                with m.If(advance):
                    m.d.sync += index.eq(index + 1)
                    with m.If(last):
                        m.next = "IDLE"
                        with m.If(is_data):
                            m.d.sync += [send.eq(send + 1),
                                         self.frames_sent.eq(self.frames_sent + 1)]
                            with m.If(send == fresh):
                                m.d.sync += fresh.eq(fresh + 1)
                            with m.Else():
                                m.d.sync += self.resent.eq(self.resent + 1)
        with m.If(self.host.nack):     # after the FSM: a new NACK wins over clearing an old one
            m.d.sync += [rewind.eq(1), rewind_to.eq(self.host.seq)]

        m.d.comb += [
            self.idle.eq(~self.events.valid & ~in_event & (open_length == 0) & (send == closed) &
                         ~rewind),
            self.tx_next.eq(send), self.tx_closed.eq(closed), self.tx_acked.eq(base - 1),
        ]
        return m


class FrameSender(wiring.Component):
    """Frame bodies in, whole frames out: prepends the sync, appends the CRC.

    Members
    -------
    i : ``In(stream.Signature(FrameByte))``
        ``kind`` through payload, ``last`` on the final byte.
    o : ``Out(stream.Signature(8))``
        A5 5A, the body, CRC-32 most significant byte first.

    Combinational in the body (latency 0), 6 extra cycles per frame; back-pressure passes
    straight through.
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(FrameByte)),
            "o": Out(stream.Signature(unsigned(8))),
        })

    def elaborate(self, platform):
        m = Module()
        crc = m.submodules.crc = _crc()
        trailer = Signal(FrameTrailer)
        index = Signal(range(TRAILER_BYTES))
        sent = self.o.valid & self.o.ready
        m.d.comb += [crc.data.eq(self.i.payload.data), trailer.crc.eq(crc.crc)]
        with m.FSM():
            with m.State("SYNC_HI"):
                m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.eq(SYNC_BYTES[0])]
                with m.If(sent):
                    m.next = "SYNC_LO"
            with m.State("SYNC_LO"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(SYNC_BYTES[1])]
                with m.If(sent):
                    m.d.comb += crc.start.eq(1)
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.eq(self.i.payload.data),
                             self.i.ready.eq(self.o.ready), crc.valid.eq(sent)]
                with m.If(sent & self.i.payload.last):
                    m.d.sync += index.eq(0)
                    m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o.valid.eq(1),
                             self.o.payload.eq(Value.cast(trailer).word_select(index, 8))]
                with m.If(sent):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == TRAILER_BYTES - 1):
                        m.next = "SYNC_HI"
        return m
