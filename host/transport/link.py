"""A core behind the link protocol (:mod:`tickforge.hdl.link`) as a transport: a board on a
serial port, or the native simulation of :class:`~tickforge.hdl.link.LinkedCore`.

:class:`LinkTransport` works over any *byte pipe*: an object with ``write(data)`` (blocks until
written), ``read(timeout)`` (the bytes that have arrived, at least one, or ``b""`` after
``timeout`` seconds; raises :class:`PipeClosed` once the other end has closed) and
``close()``. Three are here: :class:`SocketPipe` (the native simulator's ``serve()``),
:class:`SerialPipe` (a board; pyserial URLs such as ``loop://`` too) and
:class:`NativeRunPipe` (the native simulator's standard input and output).
"""

import collections
import queue
import socket
import threading
import time

from ..link import (EventDecoder, FrameReader, UnitPacker, encode_frame, frame_size, seq_after,
                    seq_before, seq_distance, COUNTERS)
from ...hdl.layouts import FrameKind, LINK_MAX_PAYLOAD
from .base import Transport, TransportError, QueuedEvents


__all__ = ["LinkTransport", "PipeClosed", "SocketPipe", "SerialPipe", "NativeRunPipe",
           "build_native", "open_native", "read_queued"]


DEFAULT_RING_BYTES = 4096   # the gateware Link's defaults (rx_ring, queue_frames)
DEFAULT_QUEUE_FRAMES = 8
ACK_EVERY_FRAMES = 4        # half the FPGA's window of unacknowledged event frames (tx_frames)
MAX_BACKOFF = 8             # timeouts in a row stretch the retransmission wait to at most this
                            # many times ``timeout``: with the default 1 s, three backed-off
                            # tries (2, 4, 8 s) still fit in ``give_up``'s 30 s


class PipeClosed(TransportError):
    """The other end of a byte pipe closed it."""


# --- pipes --------------------------------------------------------------------------------------

class SocketPipe:
    """A TCP connection as a byte pipe (the native simulator serves 127.0.0.1)."""

    def __init__(self, connection, name=None):
        self._socket = connection
        self._socket.settimeout(None)
        self.name = name or "socket"

    @classmethod
    def connect(cls, host, port, timeout=10.0):
        try:
            connection = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise TransportError(f"cannot connect to {host}:{port}: {error}") from None
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(connection, f"{host}:{port}")

    def write(self, data):
        try:
            self._socket.sendall(data)
        except OSError as error:
            raise PipeClosed(f"{self.name}: the connection broke while sending: {error}") from None

    def read(self, timeout):
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(1 << 16)
        except socket.timeout:
            return b""
        except OSError as error:
            raise PipeClosed(f"{self.name}: the connection broke: {error}") from None
        if not data:
            raise PipeClosed(f"{self.name}: the other end closed the connection")
        return data

    def close(self):
        try:
            self._socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._socket.close()


class SerialPipe:
    """A serial port (pyserial) as a byte pipe: ``SerialPipe("/dev/ttyUSB1", 3_000_000)``.
    Any pyserial URL works, ``loop://`` included."""

    def __init__(self, url, baudrate, **options):
        import serial
        self._serial_exception = serial.SerialException
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, **options)
        except (serial.SerialException, ValueError) as error:
            raise TransportError(f"cannot open serial port {url} at {baudrate} baud: "
                                 f"{error}") from None
        self.name = url

    def write(self, data):
        try:
            self._port.write(data)
            self._port.flush()
        except (self._serial_exception, OSError) as error:
            raise PipeClosed(f"serial port {self.name} failed while sending (unplugged?): "
                             f"{error}") from None

    def read(self, timeout):
        try:
            self._port.timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            return first + self._port.read(self._port.in_waiting)
        except (self._serial_exception, OSError) as error:
            raise PipeClosed(f"serial port {self.name} failed (unplugged?): {error}") from None

    def close(self):
        self._port.close()


class NativeRunPipe:
    """The standard input and output of a native simulator run as a byte pipe.

    A replay simulator waits for input without advancing its clock, so a board that owes an
    ACK would wait for the host's next bytes forever; while the host writes nothing, this pipe
    sends ``fill_bytes`` zero bytes every ``fill_after`` seconds to keep simulated time going
    (the deframer skips them while hunting for a sync: they show in ``skipped_bytes``).
    Closing it ends the input; the simulator then drains and exits.
    """

    def __init__(self, simulator, *, fill_after=0.002, fill_bytes=256, **run_options):
        self._input = queue.Queue()
        self._output = queue.Queue()
        self._last_write = time.monotonic()
        self._closed = threading.Event()
        self.name = "native simulator pipes"
        self.run = simulator.run(iter(self._input.get, None), **run_options)
        self._pump = threading.Thread(target=self._read_output, daemon=True,
                                      name="native-pipe-output")
        self._pump.start()
        self._filler = threading.Thread(target=self._fill, args=(fill_after, bytes(fill_bytes)),
                                        daemon=True, name="native-pipe-fill")
        self._filler.start()

    def _read_output(self):
        try:
            for block in self.run.blocks():
                self._output.put(block)
            self._output.put(PipeClosed("the native simulator finished"))
        except Exception as error:  # the simulator failed: its message says how
            self._output.put(PipeClosed(f"the native simulator failed: {error}"))

    def _fill(self, fill_after, fill):
        while not self._closed.wait(fill_after):
            # only once the simulator has taken what is queued: a slow simulator would otherwise
            # fall ever further behind, the host's frames queued behind ever more fill
            if time.monotonic() - self._last_write >= fill_after and self._input.empty():
                self._input.put(fill)

    def write(self, data):
        if self._closed.is_set():
            raise PipeClosed("the native simulator pipe is closed")
        self._last_write = time.monotonic()
        self._input.put(bytes(data))

    def read(self, timeout):
        return read_queued(self._output, timeout)

    def close(self):
        if not self._closed.is_set():
            self._closed.set()
            self._filler.join()
            self._input.put(None)


# --- the transport ------------------------------------------------------------------------------

class _Sent:
    __slots__ = ("seq", "payload", "wire", "sent_at", "resent")

    def __init__(self, seq, payload):
        self.seq = seq
        self.payload = payload
        self.wire = frame_size(len(payload))
        self.sent_at = None
        self.resent = False


class LinkTransport(Transport):
    """Input units in DATA frames to a core behind a link, events back out of its frames.

    ``send`` packs whole units into frames (never splitting one; a unit cut at the end of a
    ``send`` waits for the next) and queues them; a sender thread keeps at most
    ``window_bytes`` of frames (and ``window_frames`` frames) unacknowledged, the FPGA's
    receive ring less one frame, and learns the FPGA's actual sizes from the counters its
    first answer carries. A NACK(seq) makes it send again from ``seq`` (go-back-N), unless it
    already did so within ``holdoff`` seconds (the NACKs from frames that were already on
    their way); no ACK for ``timeout`` seconds sends everything unacknowledged again. Each such
    timeout in a row doubles the wait and the holdoff (up to ``MAX_BACKOFF`` times), until an
    ACK makes progress: a board, or a simulation on a busy machine, slower than the timer is
    not buried under copies of the window it has not yet read (the copies would overrun its
    ring, each overrun a NACK, each NACK another copy).
    ``finish`` sends what is left and a barrier (an empty frame), which the FPGA acknowledges
    only after every earlier event has been sent.

    The FPGA's event frames are taken in order of their seq. They are acknowledged (an empty
    ACK frame naming the last one the host has), which lets the FPGA free them, once
    ``ACK_EVERY_FRAMES`` have come or ``timeout``/50 after the first, so that a fast line does
    not carry an ACK for every frame. An event frame after a missing one, or counters whose
    ``tx_next`` is past the last one the host has, make the host ask for the missing one (an empty NACK frame; for the
    same frame again only after ``timeout``, so the frames already on their way do not each
    ask); duplicates are dropped. Counters whose ``tx_acked`` is behind the host's last ACK
    (which was lost) have it sent again. :meth:`events` ends once the barrier is acknowledged
    and every event frame the FPGA made before it (``tx_closed``) has arrived.

    On connecting, the transport sends a barrier and adopts the ``expected`` and ``tx_closed``
    seqs of the answer, so it can talk to a board that was used before without a reset.

    Errors raise :class:`~tickforge.host.transport.base.TransportError` with what happened: a
    closed or vanished pipe, ``give_up`` seconds without any acknowledgement or without a
    missing event frame arriving, a storm of bad frames from the board (a wrong baud rate).

    ``stats`` (after :meth:`events` ends): frame and byte counts both ways, retransmissions,
    event frames dropped as duplicates or after a gap, ACKs and NACKs sent, the link
    efficiency (payload bytes / wire bytes) each way, and the FPGA's last
    :class:`~tickforge.hdl.layouts.LinkCounters` as a dict.
    """

    def __init__(self, config, pipe, *, window_bytes=None, window_frames=DEFAULT_QUEUE_FRAMES,
                 timeout=1.0, holdoff=None, give_up=30.0, max_payload=LINK_MAX_PAYLOAD,
                 owner=None):
        super().__init__(config)
        self.pipe = pipe
        self._owner = owner   # closed after the pipe: the simulator this transport started
        self.max_payload = max_payload
        self.window_bytes = window_bytes or DEFAULT_RING_BYTES - frame_size(max_payload)
        self.window_frames = window_frames
        self.timeout = timeout
        self.holdoff = timeout / 4 if holdoff is None else holdoff
        self._backoff = 1   # times timeout and holdoff: doubled by each timeout in a row
        self.give_up = give_up
        self.ack_delay = timeout / 50   # an ACK waits this long for more event frames to cover
        self._packer = UnitPacker(max_payload)
        self._decoder = EventDecoder(config.exported_levels)
        # the FPGA's frames may be as long as the protocol allows, whatever the host sends
        self._reader = FrameReader(LINK_MAX_PAYLOAD, kinds=(FrameKind.DATA, FrameKind.ACK,
                                                            FrameKind.NACK))
        self._events = QueuedEvents()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queued = collections.deque()       # payloads waiting for the window
        self._outstanding = collections.deque()  # _Sent frames not yet acknowledged
        self._next_seq = 0
        self._connected = False
        self._resend_from = None
        self._resent_at = {}                     # seq → when we last went back to it
        self._progress_at = time.monotonic()     # last acknowledgement (or start)
        self._finished = False
        self._error = None
        self._closing = False
        self._bad_at_last_good = 0
        self._rx_expected = None                 # next event frame taken; None: not connected
        self._fpga_sent = None                   # seq after the newest event frame known made
        self._tx_final = None                    # tx_closed once the final barrier is acked
        self._ack_due = False
        self._unacked_events = 0                 # event frames taken since our last ACK
        self._acked_at = float("-inf")
        self._nacked = (None, float("-inf"))     # (seq, when) of the last NACK sent
        self._rx_progress_at = time.monotonic()  # last event frame taken (or start)
        self._delivering = False                 # the receiver waits for the events' consumer
        self.counters = None                     # the FPGA's last LinkCounters
        self._stats = collections.Counter()
        self._started = time.perf_counter()
        self._threads = [threading.Thread(target=self._guard, args=(self._send_loop,),
                                          daemon=True, name="link-send"),
                         threading.Thread(target=self._guard, args=(self._receive_loop,),
                                          daemon=True, name="link-receive")]
        with self._lock:
            self._queue_barrier()
        for thread in self._threads:
            thread.start()

    # --- the Transport API ------------------------------------------------------------------

    def send(self, data):
        payloads = self._packer.pack(data)
        self._stats["input_bytes"] += len(data)
        with self._changed:
            for payload in payloads:
                while len(self._queued) >= 4 * self.window_frames and not self._stopped():
                    self._changed.wait(0.1)
                self._raise_if_failed()
                self._queued.append(payload)
                self._changed.notify_all()

    def finish(self):
        rest = self._packer.rest()
        with self._changed:
            if self._finished:
                return
            self._finished = True
            if rest:
                self._queued.append(rest)
            self._queue_barrier()
            self._changed.notify_all()

    def events(self):
        yield from self._events
        self.stats = self._final_stats()

    def close(self):
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._events.close()
        try:
            self.pipe.close()
        finally:
            for thread in self._threads:
                thread.join(timeout=5)
            if self._owner is not None:
                self._owner.close()

    # --- shared state (called with the lock held) -------------------------------------------

    def _queue_barrier(self):
        self._queued.append(b"")

    def _stopped(self):
        return self._closing or self._error is not None

    def _raise_if_failed(self):
        if self._error is not None:
            raise TransportError(str(self._error)) from self._error
        if self._closing:
            raise TransportError("the link transport is closed")

    def _fail(self, error):
        with self._changed:
            if self._error is None and not self._closing:
                self._error = error
            self._changed.notify_all()
        self._events.end(error)

    def _guard(self, loop):
        try:
            loop()
        except TransportError as error:
            self._fail(error)
        except Exception as error:  # a bug: still end the consumer's iteration with it
            self._fail(TransportError(f"link {threading.current_thread().name} failed: "
                                      f"{error!r}"))

    def _in_flight_bytes(self):
        return sum(frame.wire for frame in self._outstanding)

    # --- sending ----------------------------------------------------------------------------

    def _send_loop(self):
        while True:
            with self._changed:
                batch = self._next_batch()
                if batch is None:
                    return
            wire = b"".join(encode_frame(kind, seq, payload, self.max_payload)
                            for kind, seq, payload in batch)
            self._stats["wire_bytes_sent"] += len(wire)
            self.pipe.write(wire)

    def _next_batch(self):
        """Frames to write now (``(kind, seq, payload)``), None to stop. Waits while there is
        nothing."""
        while not self._stopped():
            now = time.monotonic()
            if self._delivering:
                self._progress_at = self._rx_progress_at = now   # the consumer is slow
            if self._outstanding and now - self._progress_at > self.give_up:
                raise TransportError(
                    f"no acknowledgement from the board for {self.give_up:.0f} s (frame "
                    f"{self._outstanding[0].seq} sent {self._stats['retransmitted_frames']} "
                    f"extra times) on {getattr(self.pipe, 'name', 'the pipe')}: is it running "
                    f"the tickforge link at this baud rate? last counters: {self._counter_text()}")
            missing = self._missing()
            if missing is not None and now - self._rx_progress_at > self.give_up:
                raise TransportError(
                    f"event frame {missing} from the board never arrived in {self.give_up:.0f} s "
                    f"({self._stats['event_nacks_sent']} NACKs sent, "
                    f"{self._reader.crc_errors} CRC errors) on "
                    f"{getattr(self.pipe, 'name', 'the pipe')}; last counters: "
                    f"{self._counter_text()}")
            batch = self._answers(now, missing)
            batch += [(FrameKind.DATA, frame.seq, frame.payload) for frame in self._data(now)]
            if batch:
                return batch
            wait = 0.05
            if self._outstanding:
                wait = min(wait, self._outstanding[0].sent_at + self._retransmit_after() - now)
            if missing is not None:
                wait = min(wait, self._nacked[1] + self.timeout - now)
            if self._ack_due:
                wait = min(wait, self._acked_at + self.ack_delay - now)
            self._changed.wait(max(0.001, wait))
        return None

    def _answers(self, now, missing):
        """The host's ACK and NACK of event frames due now. Each sits in the FPGA's receive
        ring until the data frames before it have been played, so it counts in the window."""
        answers = []
        if self._outstanding and now - self._outstanding[0].sent_at > self.timeout and \
                self._rx_expected is not None:
            self._ack_due = True   # the board may be waiting for our last ACK, which was lost
        if self._ack_due and (self._unacked_events >= ACK_EVERY_FRAMES or
                              now - self._acked_at >= self.ack_delay):
            # one ACK covers every event frame so far: on a fast line, one per few frames
            self._ack_due = False
            self._unacked_events = 0
            self._acked_at = now
            answers.append((FrameKind.ACK, seq_after(self._rx_expected, -1), b""))
            self._stats["acks_sent"] += 1
        if missing is not None:
            seq, at = self._nacked
            if seq != missing or now - at >= self.timeout:
                self._nacked = (missing, now)
                answers.append((FrameKind.NACK, missing, b""))
                self._stats["event_nacks_sent"] += 1
        if answers and self._outstanding:
            self._outstanding[-1].wire += frame_size(0) * len(answers)
        return answers

    def _missing(self):
        """The event frame the host lacks while a later one is known to exist, or None."""
        expected = self._rx_expected
        if expected is None:
            return None
        if seq_before(expected, self._fpga_sent):
            return expected
        if self._tx_final is not None and expected != self._tx_final:
            return expected
        return None

    def _data(self, now):
        """Data frames to send now: again from a NACKed or timed-out frame, or new ones the
        window has room for."""
        if self._resend_from is not None:
            start = self._resend_from
            self._resend_from = None
            return self._resend(start, now, "nacked_go_backs")
        if self._outstanding and now - self._outstanding[0].sent_at > self._retransmit_after():
            self._backoff = min(2 * self._backoff, MAX_BACKOFF)
            return self._resend(self._outstanding[0].seq, now, "timeouts")
        batch = []
        while self._queued and self._fits(len(self._queued[0])):
            if not self._connected and self._outstanding:
                break  # the first barrier goes alone: its answer says where seq starts
            frame = _Sent(self._next_seq, self._queued.popleft())
            self._next_seq = seq_after(self._next_seq)
            frame.sent_at = now
            self._outstanding.append(frame)
            batch.append(frame)
            self._stats["frames_sent"] += 1
            self._stats["payload_bytes_sent"] += len(frame.payload)
            self._changed.notify_all()   # room in the send queue
        return batch

    def _fits(self, payload_bytes):
        if not self._outstanding:
            return True
        return (len(self._outstanding) < self.window_frames and
                self._in_flight_bytes() + frame_size(payload_bytes) <= self.window_bytes)

    def _retransmit_after(self):
        """Seconds without an ACK after which the unacknowledged frames are sent again."""
        return self.timeout * self._backoff

    def _resend(self, start, now, reason):
        batch = [frame for frame in self._outstanding
                 if seq_distance(self._outstanding[0].seq, frame.seq) >=
                 seq_distance(self._outstanding[0].seq, start)]
        for frame in batch:
            frame.sent_at = now
            frame.resent = True
        self._resent_at[start] = now
        self._stats[reason] += 1
        self._stats["retransmitted_frames"] += len(batch)
        return batch

    # --- receiving --------------------------------------------------------------------------

    def _receive_loop(self):
        while True:
            with self._lock:
                if self._stopped():
                    return
            try:
                data = self.pipe.read(0.05)
            except PipeClosed as closed:
                with self._lock:
                    if self._closing:
                        return
                raise TransportError(f"{closed} before the last events arrived") from None
            if not data:
                continue
            self._stats["wire_bytes_received"] += len(data)
            for frame in self._reader.feed(data):
                self._bad_at_last_good = self._reader.crc_errors + self._reader.header_errors
                if frame.kind == FrameKind.DATA:
                    self._take_events(frame)
                else:
                    self._take_control(frame)
            self._check_line()

    def _check_line(self):
        bad = self._reader.crc_errors + self._reader.header_errors
        if self._reader.good == 0 and (bad >= 16 or self._reader.skipped_bytes >= 1 << 16):
            raise TransportError(
                f"{getattr(self.pipe, 'name', 'the pipe')}: {self._stats['wire_bytes_received']} "
                f"bytes received but not one good frame ({self._reader.crc_errors} CRC errors, "
                f"{self._reader.header_errors} bad headers): a wrong baud rate, or not the "
                f"tickforge link bitstream?")
        if bad - self._bad_at_last_good >= 64:
            raise TransportError(f"64 bad frames in a row from the board ({bad} so far): the "
                                 f"line is too noisy or the baud rate is off")

    def _take_events(self, frame):
        with self._changed:
            expected = self._rx_expected
            if expected is None:
                self._stats["event_frames_stale"] += 1   # from before this connection
                return
            self._ack_due = True
            self._unacked_events += 1
            self._changed.notify_all()
            if frame.seq != expected:
                if seq_before(expected, frame.seq):
                    self._stats["event_frames_early"] += 1   # one before it was lost
                    self._saw_sent(seq_after(frame.seq))
                else:
                    self._stats["event_frames_duplicate"] += 1
                return
            self._rx_expected = seq_after(expected)
            self._saw_sent(self._rx_expected)
            self._rx_progress_at = time.monotonic()
            done = self._done()
        self._stats["event_frames_received"] += 1
        self._stats["event_payload_bytes"] += len(frame.payload)
        try:
            events = self._decoder.decode(frame.payload)
        except ValueError as error:
            raise TransportError(f"event frame {frame.seq}: {error}") from None
        self._delivering = True
        try:
            self._events.put(events)
        finally:
            self._delivering = False
        if done:
            self._events.end()

    def _saw_sent(self, seq):
        """Frames before ``seq`` have been made and sent at least once."""
        if self._fpga_sent is None or seq_before(self._fpga_sent, seq):
            self._fpga_sent = seq

    def _done(self):
        return (self._finished and not self._queued and not self._outstanding and
                self._tx_final is not None and self._rx_expected == self._tx_final)

    def _take_control(self, frame):
        counters = COUNTERS.decode(frame.payload)
        self._stats["control_frames_received"] += 1
        self._stats["control_payload_bytes"] += len(frame.payload)
        with self._changed:
            self.counters = counters
            if not self._connected:
                self._connect(counters)
            self._acknowledge(counters.acked)
            if frame.kind == FrameKind.NACK:
                self._stats["nacks"] += 1
                self._go_back(frame.seq)
            # every event frame before tx_next was sent before this control frame
            self._saw_sent(counters.tx_next)
            if counters.tx_acked != seq_after(self._rx_expected, -1):
                self._ack_due = True   # our last ACK was lost (or came too early)
            if self._finished and not self._queued and not self._outstanding and \
                    self._tx_final is None:
                self._tx_final = counters.tx_closed   # the barrier's answer: no more after it
            done = self._done()
            self._changed.notify_all()
        if done:
            self._events.end()

    def _connect(self, counters):
        """The first answer: adopt the FPGA's numbering and sizes."""
        self._connected = True
        self._rx_expected = self._fpga_sent = counters.tx_closed
        self._rx_progress_at = time.monotonic()
        self.window_frames = min(self.window_frames, counters.queue_frames)
        self.window_bytes = min(self.window_bytes,
                                counters.ring_bytes - frame_size(self.max_payload))
        first = self._outstanding[0]
        if counters.expected != seq_after(first.seq) or counters.acked != first.seq:
            # our barrier was not taken: renumber from what the FPGA expects
            self._outstanding.clear()
            self._queued.appendleft(first.payload)
            self._next_seq = counters.expected

    def _acknowledge(self, acked):
        progressed = False
        while self._outstanding and seq_distance(self._outstanding[0].seq, acked) < 1 << 15:
            self._outstanding.popleft()
            progressed = True
        if progressed:
            self._progress_at = time.monotonic()
            self._backoff = 1

    def _go_back(self, seq):
        if not self._outstanding:
            return
        oldest = self._outstanding[0].seq
        if seq_distance(oldest, seq) >= len(self._outstanding):
            return  # not a frame we have out: an old NACK, or acknowledged since
        if time.monotonic() - self._resent_at.get(seq, float("-inf")) < \
                self.holdoff * self._backoff:
            self._stats["nacks_ignored"] += 1
            return
        self._resend_from = seq

    # --- reporting --------------------------------------------------------------------------

    def _counter_text(self):
        if self.counters is None:
            return "none received"
        return ", ".join(f"{name}={value}" for name, value in self.counters._asdict().items())

    def _final_stats(self):
        s = self._stats
        sent_wire = s["wire_bytes_sent"]
        received_wire = s["wire_bytes_received"]
        stats = {
            "target": "link",
            "pipe": getattr(self.pipe, "name", type(self.pipe).__name__),
            **{key: s[key] for key in (
                "input_bytes", "frames_sent", "payload_bytes_sent", "wire_bytes_sent",
                "retransmitted_frames", "timeouts", "nacked_go_backs", "nacks", "nacks_ignored",
                "event_frames_received", "event_frames_duplicate", "event_frames_early",
                "event_frames_stale", "acks_sent", "event_nacks_sent", "event_payload_bytes",
                "control_frames_received", "wire_bytes_received")},
            "host_to_fpga_efficiency": s["payload_bytes_sent"] / sent_wire if sent_wire else 0,
            "fpga_to_host_efficiency":
                s["event_payload_bytes"] / received_wire if received_wire else 0,
            "received_crc_errors": self._reader.crc_errors,
            "received_header_errors": self._reader.header_errors,
            "received_skipped_bytes": self._reader.skipped_bytes,
            "wall_seconds": time.perf_counter() - self._started,
            "counters": self.counters._asdict() if self.counters else None,
        }
        return stats


def read_queued(output, timeout):
    """What a pipe's ``output`` queue (byte strings, then a :class:`PipeClosed`) holds, all of
    it, waiting up to ``timeout`` for the first piece (b"" if none came). The PipeClosed is
    raised once nothing is before it, and stays queued, so every later read sees it too."""
    try:
        item = output.get(timeout=timeout)
    except queue.Empty:
        return b""
    pieces = []
    while not isinstance(item, PipeClosed):
        pieces.append(item)
        try:
            item = output.get_nowait()
        except queue.Empty:
            return b"".join(pieces)
    output.put(item)
    if pieces:
        return b"".join(pieces)
    raise item


def build_native(config, divisor=None, **link_options):
    """The native simulator of :class:`~tickforge.hdl.link.LinkedCore` (built on first use,
    cached after): ``divisor`` puts UARTs in the loop."""
    from ...hdl.link import LinkedCore
    from ...sim.native import NativeSim
    return NativeSim.from_recipe(f"LinkedCore({config!r}, {divisor!r}, **{link_options!r})",
                                 lambda: LinkedCore(config, divisor, **link_options),
                                 "linked_core" if divisor is None else f"linked_core_uart{divisor}")


def open_native(config, divisor=None, *, simulator=None, via="socket", idle=0.0, seed=None,
                drain=2000, wrap=None, **transport_options):
    """A :class:`LinkTransport` to a native simulation of
    :class:`~tickforge.hdl.link.LinkedCore` (``simulator``, or :func:`build_native` of
    ``config`` and ``divisor``), over its socket (``via="socket"``) or its standard input and
    output (``via="pipes"``); ``wrap(pipe)``, if given, returns the pipe to use instead (a
    fault injector, say). Closing the transport stops the simulator."""
    if simulator is None:
        simulator = build_native(config, divisor)
    wrap = wrap or (lambda pipe: pipe)
    if via == "socket":
        server = simulator.serve(idle=idle, seed=seed, drain=drain)
        try:
            pipe = wrap(SocketPipe.connect(server.host, server.port))
        except BaseException:
            server.close()
            raise
        return LinkTransport(config, pipe, owner=server, **transport_options)
    if via == "pipes":
        pipe = NativeRunPipe(simulator, idle=idle, seed=seed, drain=drain)
        return LinkTransport(config, wrap(pipe), owner=pipe.run, **transport_options)
    raise ValueError(f"via must be 'socket' or 'pipes', not {via!r}")
