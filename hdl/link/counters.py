"""The link's counters in block RAM, for parts too small to keep them in registers.

Kept as the deframer and framer keep them, each 32-bit field of
:class:`~tickforge.hdl.layouts.LinkCounters` is 32 flip-flops and an adder, and the framer
copies the whole record into a snapshot register for every ACK and NACK: on an iCE40UP5K that
is some 1,400 logic cells, a quarter of the part. :class:`CounterBank` reads only the low bits
of each counter, carries their wraps into a copy of the counters in block RAM, and writes that
copy into each control frame's payload, so synthesis keeps six bits of each counter.
"""

from amaranth.hdl import Module, Signal, Mux, Cat, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import EventKind, FrameKind, LinkCounters, StatusCounters, event_layout
from ..ram import CollisionFreeMemory
from .events import event_byte_layout
from .framing import FrameByte, HEADER_BYTES, SYNC_BYTES, COUNTER_BYTES


__all__ = ["CounterBank", "StatusBank", "status_span"]


LOW_BITS = 6
"""Low bits of each counter the bank reads: more than a counter moves in a round of the scanner
(a cycle per field, 19; the link's counters move by 2 at most in a cycle, ``skipped_bytes``),
so the low bits wrap at most once between two visits."""

_FIELDS = [(name, field.width) for name, field in data.Layout.cast(LinkCounters)]
_COUNTERS = {name for name, width in _FIELDS if width == 32}   # the rest are state, or fixed
_BODY_HEADER = HEADER_BYTES - len(SYNC_BYTES)   # kind, seq, length: the body's bytes before
                                                # the payload


def _payload_bytes():
    """(field number, byte in the field) of each byte of a control frame's payload."""
    places = []
    for number, (name, width) in enumerate(_FIELDS):
        places += [(number, lane) for lane in range(width // 8)]
    assert len(places) == COUNTER_BYTES
    return places


class CounterBank(wiring.Component):
    """The link's counters in RAM, written into the control frames that pass through.

    Members
    -------
    live : ``In(LinkCounters)``
        The link's counters as the deframer and framer keep them. Only the low
        :data:`LOW_BITS` of each 32-bit counter are read; the other fields (sequence numbers,
        ring sizes) whole.
    i : ``In(stream.Signature(FrameByte))``
        Frame bodies from the :class:`~tickforge.hdl.link.framing.Framer`, which leaves the
        payload of its ACKs and NACKs to this bank (its ``counters`` input held at 0).
    o : ``Out(stream.Signature(FrameByte))``
        The same bodies, each control frame's payload replaced by a snapshot of ``live``.

    A scanner visits one field per cycle, round the record: a counter's word is read, then
    written back with the low bits the counter has now and its upper bits one more if the low
    bits wrapped since the last visit, so only the low bits need to be kept in registers. An
    ACK or NACK's kind byte passing ``i`` asks for a snapshot; the scanner's next whole round
    writes every field into a second RAM (each the value it had as the round reached it: the
    round takes a cycle per field, at most two rounds from the kind byte), and the payload waits
    on ``i`` until the round is done. A reset clears the counters: the first round after it
    ignores the words in RAM.

    Latency 0 (combinational; data bytes pass straight through); a control frame's payload
    waits up to two rounds (a cycle per field each); back-pressure on ``o`` holds ``i``.
    """

    def __init__(self):
        super().__init__({
            "live": In(LinkCounters),
            "i":    In(stream.Signature(FrameByte)),
            "o":    Out(stream.Signature(FrameByte)),
        })

    def elaborate(self, platform):
        m = Module()
        fields = len(_FIELDS)
        folding, primed, value = _scanner(
            m, [(self.live[name], name in _COUNTERS) for name, _ in _FIELDS])
        snapshot_r, ask, ready = _snapshots(m, folding, primed, value, fields)

        # --- the frame bodies: a control frame's payload from the snapshot ----------------------
        position = Signal(range(_BODY_HEADER + 1))   # in the body, stopping at the payload
        control = Signal()                # the body is an ACK's or a NACK's
        index = Signal(range(COUNTER_BYTES))
        lane = Signal(2)
        kind = self.i.payload.data
        replaced = control & (position == _BODY_HEADER)
        passes = self.i.valid & self.o.ready & (~replaced | ready)
        m.d.comb += [
            self.o.valid.eq(self.i.valid & (~replaced | ready)),
            self.i.ready.eq(self.o.ready & (~replaced | ready)),
            self.o.payload.last.eq(self.i.payload.last),
            self.o.payload.data.eq(Mux(replaced, snapshot_r.data.word_select(lane, 8),
                                       self.i.payload.data)),
        ]
        with m.If(passes):
            with m.If(position == 0):
                asks = (kind == FrameKind.ACK.value) | (kind == FrameKind.NACK.value)
                m.d.sync += control.eq(asks)
                m.d.comb += ask.eq(asks)
            with m.If(self.i.payload.last):
                m.d.sync += [position.eq(0), index.eq(0)]
            with m.Else():
                with m.If(position != _BODY_HEADER):
                    m.d.sync += position.eq(position + 1)
                with m.If(replaced):
                    m.d.sync += index.eq(index + 1)

        # the read port shows the byte ``o`` offers next cycle: its field, and its lane after
        following = Mux(passes & self.i.payload.last, 0, Mux(passes & replaced, index + 1, index))
        with m.Switch(following):
            for place, (number, byte) in enumerate(_payload_bytes()):
                with m.Case(place):
                    m.d.comb += snapshot_r.addr.eq(number)
                    m.d.sync += lane.eq(byte)
        return m


def status_span(exported_levels):
    """(first bit, bits) of the :class:`~tickforge.hdl.layouts.StatusCounters` in a STATUS
    event: its ``parser`` field and the ``book`` field after it."""
    body = event_layout(exported_levels)["body"]
    status = data.Layout.cast(data.Layout.cast(body.shape)["status"].shape)
    parser, book = status["parser"], status["book"]
    assert book.offset == parser.offset + parser.width   # one run of bits, as StatusCounters
    return body.offset + parser.offset, data.Layout.cast(StatusCounters).size


class StatusBank(wiring.Component):
    """The core's status counters in block RAM, written into the STATUS events that pass.

    Members
    -------
    live : ``In(StatusCounters)``
        The parser's and the book's counters as they keep them; only the low
        :data:`LOW_BITS` of each are read.
    i : ``In(stream.Signature(event_byte_layout(exported_levels)))``
        Event bytes from the :class:`~tickforge.hdl.link.events.EventSerializer`, from a core
        that leaves a STATUS event's counters to this bank (``Core(counters_port=True)``).
    o : ``Out(stream.Signature(event_byte_layout(exported_levels)))``
        The same bytes, a STATUS event's counters (:func:`status_span`) replaced by ``live``.

    As :class:`CounterBank` does for the link's counters: a scanner folds the low bits of each
    counter into a copy of the counters in block RAM, so synthesis keeps only those bits of
    the core's counters, and the STATUS event's counters need no register nor multiplexer in
    the core. A STATUS event's first byte asks for a snapshot; its counter bytes wait until the
    snapshot's round is done. That gives the counters the event stands for only because the
    core changes none while it offers an event: its holding book and byte-wide parser take
    nothing new until the event's last byte is taken (``Core(counters_port=True)`` is only
    built for them). The counters start half-way through a byte, so each byte of them here is
    the top of one snapshot byte and the bottom of the next.

    Latency 0 (combinational); other bytes pass straight through; a STATUS event's counters
    wait up to two rounds (a cycle per counter each); back-pressure on ``o`` holds ``i``.
    """

    def __init__(self, exported_levels):
        self.exported_levels = exported_levels
        super().__init__({
            "live": In(StatusCounters),
            "i":    In(stream.Signature(event_byte_layout(exported_levels))),
            "o":    Out(stream.Signature(event_byte_layout(exported_levels))),
        })

    def elaborate(self, platform):
        m = Module()
        live = Value.cast(self.live)
        count = len(live) // 32
        folding, primed, value = _scanner(m, [(live.word_select(n, 32), True)
                                              for n in range(count)])
        snapshot_r, ask, ready = _snapshots(m, folding, primed, value, count)

        first_bit, bits = status_span(self.exported_levels)
        shift, first = first_bit % 8, first_bit // 8   # the counters begin at bit `shift` of
        spans = bits // 8                              # byte `first`, and span this many bytes
        last = first + spans - (shift == 0)            # the last byte holding any of them

        byte = self.i.payload
        index = Signal.like(byte.size)                 # of the byte i offers, in its event
        status = Signal()                              # the event is a STATUS
        at = Mux(byte.first, 0, index)
        is_status = Mux(byte.first, byte.data[:4] == EventKind.STATUS.value, status)
        replaced = is_status & (at >= first) & (at <= last)
        takes = replaced & (at < first + spans)        # a snapshot byte goes into this one
        passes = self.i.valid & self.o.ready & (~replaced | ready)

        # the read port shows snapshot byte `taken` (the next one a byte takes); its lane after
        taken = Signal(range(spans + 1))
        lane = Signal(2)
        following = Mux(passes & byte.last, 0, Mux(passes & takes, taken + 1, taken))
        m.d.comb += snapshot_r.addr.eq(following >> 2)
        m.d.sync += [taken.eq(following), lane.eq(following[:2])]
        snapshot_byte = snapshot_r.data.word_select(lane, 8)

        out = Signal(8)
        m.d.comb += out.eq(byte.data)
        with m.If(takes):
            m.d.comb += out[shift:].eq(snapshot_byte[:8 - shift])
        if shift:
            top = Signal(shift)                        # the top of the snapshot byte before
            with m.If(replaced & (at != first)):
                m.d.comb += out[:shift].eq(top)
            with m.If(passes & takes):
                m.d.sync += top.eq(snapshot_byte[8 - shift:])

        m.d.comb += [
            self.o.valid.eq(self.i.valid & (~replaced | ready)),
            self.i.ready.eq(self.o.ready & (~replaced | ready)),
            self.o.payload.eq(byte),
            self.o.payload.data.eq(out),
            ask.eq(passes & byte.first & is_status),
        ]
        with m.If(passes):
            m.d.sync += [index.eq(Mux(byte.last, 0, at + 1)), status.eq(is_status)]
        return m


def _scanner(m, fields):
    """The scanner over ``fields``, ``(value, is_counter)`` pairs: a field's word is read from
    RAM one cycle and folded the next, one field a cycle round the record. A counter's word
    takes the counter's low :data:`LOW_BITS` and carries their wrap into its upper bits; any
    other field's word is its value. Returns ``(folding, primed, value)``: the field folded this
    cycle, whether the read port holds a word yet (not in the first cycle after reset), and the
    folded field's value (the counter as kept, or the field)."""
    count = len(fields)
    # collision-free: the scanner writes the field it read the cycle before
    counts = CollisionFreeMemory(shape=32, depth=count, init=[])
    m.submodules.counts = counts
    counts_w, counts_r = counts.write_port(), counts.read_port()
    turn = Signal(range(count))       # field read this cycle
    folding = Signal(range(count))    # field whose word the read port holds
    primed = Signal()                 # ... since reset
    cleared = Signal()                # every counter's word was written since reset
    m.d.comb += [counts_r.addr.eq(turn), counts_w.addr.eq(folding)]
    m.d.sync += [turn.eq(Mux(turn == count - 1, 0, turn + 1)), folding.eq(turn), primed.eq(1)]
    with m.If(primed & (folding == count - 1)):
        m.d.sync += cleared.eq(1)
    word = Mux(cleared, counts_r.data, 0)   # a reset clears the counters: the first round
                                            # ignores the words in RAM

    is_counter = Signal()             # the folding field is a counter ...
    low = Signal(LOW_BITS)            # ... whose low bits are now these
    other = Signal(32)                # ... else this value
    value = Signal(32)
    for number, (live, counter) in enumerate(fields):
        with m.If(folding == number):
            if counter:
                m.d.comb += [is_counter.eq(1), low.eq(live[:LOW_BITS])]
            else:
                m.d.comb += other.eq(live)
    wrapped = low < word[:LOW_BITS]
    m.d.comb += [value.eq(Mux(is_counter, Cat(low, word[LOW_BITS:] + wrapped), other)),
                 counts_w.data.eq(value), counts_w.en.eq(primed & is_counter)]
    return folding, primed, value


def _snapshots(m, folding, primed, value, count):
    """A snapshot RAM the scanner's rounds write: ``ask`` (a cycle) asks for one, and the
    scanner's next whole round from field 0 writes every field into it, each the value it had
    as the round reached it (at most two rounds from the ask). Returns ``(read port, ask,
    ready)``; ``ready`` is high from the end of the round to the next ask."""
    # collision-free: the snapshot is not read where it is being written
    snapshot = CollisionFreeMemory(shape=32, depth=count, init=[])
    m.submodules.snapshot = snapshot
    snapshot_w, snapshot_r = snapshot.write_port(), snapshot.read_port()
    ask = Signal()
    wanted = Signal()                 # a snapshot is asked for, its round not begun
    taking = Signal()                 # the round is under way
    ready = Signal()
    starts = wanted & primed & (folding == 0)
    in_round = taking | starts
    ends = in_round & primed & (folding == count - 1)
    m.d.comb += [snapshot_w.addr.eq(folding), snapshot_w.data.eq(value),
                 snapshot_w.en.eq(in_round & primed),
                 # whoever reads waits for the round, so a read skipped here is read again
                 snapshot_r.en.eq(~snapshot_w.en | (snapshot_r.addr != snapshot_w.addr))]
    with m.If(starts):
        m.d.sync += [wanted.eq(0), taking.eq(1)]
    with m.If(ends):
        m.d.sync += [taking.eq(0), ready.eq(1)]
    with m.If(ask):
        m.d.sync += [wanted.eq(1), ready.eq(0)]
    return snapshot_r, ask, ready
