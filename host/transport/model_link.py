"""The FPGA's side of the link protocol (:mod:`tickforge.hdl.link.framing`) around the golden
model, as a byte pipe: :class:`LinkTransport` talks to it exactly as to the native simulator's
socket or a board, so the link and its fault matrix run without Verilator, at the golden
model's speed.

It keeps the protocol, not the timing: frames are parsed with the deframer's rules (the
host's :class:`~tickforge.host.link.FrameReader` configured as the gateware), good in-order
DATA frames are played into a :class:`~tickforge.host.model.core.CoreModel`, and the events
leave in numbered frames (:class:`~tickforge.host.link.EventEncoder`) kept until the host
acknowledges them. Frame boundaries and the moments answers leave differ from the gateware's.
"""

import collections
import queue

from ..link import COUNTERS, EventEncoder, FrameReader, encode_frame, seq_after, seq_distance
from ..model.core import CoreModel
from ...hdl.layouts import FrameKind, LINK_MAX_PAYLOAD
from .link import LinkTransport, PipeClosed, read_queued


__all__ = ["LinkModel", "LinkModelPipe", "open_model_link"]


class LinkModel:
    """The link and core of a board, one received chunk of bytes at a time.

    Host → FPGA, as the :class:`~tickforge.hdl.link.framing.Deframer`: a bad frame (CRC,
    header) or a good one with another seq than ``expected`` is dropped, counted and answered
    with NACK(expected); a good in-order DATA frame is queued (up to ``queue_frames``) and
    played, then ACKed (ACK means *played*); an empty one is a barrier, ACKed once every
    earlier event is in a sent frame. Requests that meet in one chunk merge into one control
    frame (NACK wins), whose payload is the :class:`~tickforge.hdl.layouts.LinkCounters`.

    FPGA → host, as the :class:`~tickforge.hdl.link.framing.Framer`: events fill frames of up
    to ``max_payload`` bytes, never split; a frame is closed when the next event would not fit
    or when nothing more is to be played (the model's idle); at most ``tx_frames`` closed
    frames are kept unacknowledged, and while the table is full the core waits (a play that
    waited counts in ``event_stalls``: the model has no cycles). The host's ACK(s) frees frames
    up to a sent ``s``; its NACK(s) of a kept frame sends every frame from ``s`` again.
    """

    def __init__(self, config, *, max_payload=LINK_MAX_PAYLOAD, rx_ring=4096, queue_frames=8,
                 tx_frames=8):
        self.core = CoreModel(config)
        self.max_payload = max_payload
        self.rx_ring = rx_ring
        self.queue_frames = queue_frames
        self.tx_frames = tx_frames
        self._encoder = EventEncoder(config.exported_levels)
        self._reader = FrameReader(max_payload, kinds=tuple(FrameKind),
                                   empty_kinds=(FrameKind.ACK, FrameKind.NACK))
        # receive side
        self.expected, self.acked = 0, 0xFFFF
        self.frames = self.out_of_order = self.dropped = 0
        self._play_queue = collections.deque()   # (seq, payload) accepted, not yet played
        self._ack = self._nack = False           # control requests waiting
        # transmit side
        self._waiting = collections.deque()      # event bytes not yet in a closed frame
        self._waiting_bytes = 0
        self._kept = {}                          # seq → wire bytes, closed and not acked
        self.base = self.send = self.closed = self.fresh = 0
        self.events_sent = self.frames_sent = self.event_stalls = self.resent = 0

    def receive(self, data):
        """The bytes the FPGA sends back after receiving ``data``."""
        bad = self._bad_frames()
        for frame in self._reader.feed(data):
            if frame.kind == FrameKind.DATA:
                self._take(frame)
            elif frame.kind == FrameKind.ACK:
                self._host_ack(frame.seq)
            else:
                self._host_nack(frame.seq)
            self._play()
        self._nack |= self._bad_frames() != bad
        self._play()
        out = self._send_data()
        if self._ack or self._nack:
            out += self._control()
        return bytes(out)

    def counters(self):
        """The :class:`~tickforge.hdl.layouts.LinkCounters` a control frame carries now."""
        reader = self._reader
        return COUNTERS.Record(
            expected=self.expected, acked=self.acked, frames=self.frames,
            crc_errors=reader.crc_errors, header_errors=reader.header_errors,
            out_of_order=self.out_of_order, dropped=self.dropped,
            skipped_bytes=reader.skipped_bytes, overruns=0, line_errors=0,
            events=self.events_sent, frames_sent=self.frames_sent,
            event_stalls=self.event_stalls, tx_next=self.send, tx_closed=self.closed,
            tx_acked=seq_after(self.base, -1), resent=self.resent, ring_bytes=self.rx_ring,
            queue_frames=self.queue_frames)

    # --- host → FPGA ------------------------------------------------------------------------

    def _bad_frames(self):
        return self._reader.crc_errors + self._reader.header_errors

    def _take(self, frame):
        if frame.seq != self.expected:
            self.out_of_order += 1
            self._nack = True
        elif len(self._play_queue) >= self.queue_frames:
            self.dropped += 1
            self._nack = True
        else:
            self._play_queue.append((frame.seq, frame.payload))
            self.expected = seq_after(self.expected)
            self.frames += 1

    def _play(self):
        """Play queued frames into the core while the transmit side has room for their
        events; a barrier passes once every earlier event is in a sent frame."""
        while self._play_queue:
            seq, payload = self._play_queue[0]
            if payload:
                if self._waiting_bytes >= self.max_payload:
                    self.event_stalls += 1
                    break
                self._made(self.core.feed(payload, first=True))
            else:
                self._close_frames(idle=True)
                if self._waiting:
                    self.event_stalls += 1
                    break
            self._play_queue.popleft()
            self.acked = seq
            self._ack = True
            self._close_frames(idle=False)
        self._close_frames(idle=True)

    def _host_ack(self, seq):
        ahead = seq_distance(self.base, seq_after(seq))
        if 0 < ahead <= seq_distance(self.base, self.send):   # a frame sent: free up to it
            for _ in range(ahead):
                del self._kept[self.base]
                self.base = seq_after(self.base)

    def _host_nack(self, seq):
        if seq_distance(self.base, seq) < seq_distance(self.base, self.send):   # a kept frame
            self.send = seq

    # --- FPGA → host ------------------------------------------------------------------------

    def _made(self, events):
        for event in events:
            wire = self._encoder.encode(event)
            self._waiting.append(wire)
            self._waiting_bytes += len(wire)
        self.events_sent += len(events)

    def _close_frames(self, idle):
        """Close frames of whole events while the table has room; the last, partly filled one
        only when ``idle``."""
        while self._waiting and len(self._kept) < self.tx_frames:
            count = _fitting(self._waiting, self.max_payload)
            if count == len(self._waiting) and not idle:
                return   # the open frame waits for more events
            payload = b"".join(self._waiting.popleft() for _ in range(count))
            self._waiting_bytes -= len(payload)
            self._kept[self.closed] = encode_frame(FrameKind.DATA, self.closed, payload,
                                                   self.max_payload)
            self.closed = seq_after(self.closed)

    def _send_data(self):
        """Every closed frame not sent since it was made or last NACKed."""
        out = bytearray()
        while self.send != self.closed:
            out += self._kept[self.send]
            self.frames_sent += 1
            if self.send == self.fresh:
                self.fresh = seq_after(self.fresh)
            else:
                self.resent += 1
            self.send = seq_after(self.send)
        return out

    def _control(self):
        kind, seq = (FrameKind.NACK, self.expected) if self._nack else (FrameKind.ACK, self.acked)
        self._ack = self._nack = False
        payload = COUNTERS.encode(self.counters()).to_bytes(COUNTERS.nbytes, "little")
        return encode_frame(kind, seq, payload)


def _fitting(events, max_payload):
    """How many leading ``events`` fit one payload."""
    count = size = 0
    for event in events:
        size += len(event)
        if size > max_payload:
            break
        count += 1
    return count


class LinkModelPipe:
    """A :class:`LinkModel` as a byte pipe (see :mod:`.link`): ``write`` runs the model in the
    writer's thread, ``read`` returns what it answered."""

    def __init__(self, config, **model_options):
        self.model = LinkModel(config, **model_options)
        self.name = "link model"
        self._output = queue.Queue()
        self._closed = False

    def write(self, data):
        if self._closed:
            raise PipeClosed("the link model pipe is closed")
        answer = self.model.receive(data)
        if answer:
            self._output.put(answer)

    def read(self, timeout):
        return read_queued(self._output, timeout)

    def close(self):
        if not self._closed:
            self._closed = True
            self._output.put(PipeClosed("the link model pipe was closed"))


def open_model_link(config, *, wrap=None, model_options=None, **transport_options):
    """A :class:`LinkTransport` to a :class:`LinkModel`; ``wrap(pipe)``, if given, returns the
    pipe to use instead (a fault injector, say), as in
    :func:`~tickforge.host.transport.link.open_native`."""
    pipe = LinkModelPipe(config, **(model_options or {}))
    return LinkTransport(config, (wrap or (lambda pipe: pipe))(pipe), **transport_options)
