"""The link's counters in block RAM, for parts too small to keep them in registers.

Kept as the deframer and framer keep them, each 32-bit field of
:class:`~tickforge.hdl.layouts.LinkCounters` is 32 flip-flops and an adder, and the framer
copies the whole record into a snapshot register for every ACK and NACK: on an iCE40UP5K that
is some 1,400 logic cells, a quarter of the part. :class:`CounterBank` reads only the low bits
of each counter, carries their wraps into a copy of the counters in block RAM, and writes that
copy into each control frame's payload, so synthesis keeps six bits of each counter.
"""

from amaranth.hdl import Module, Signal, Mux, Cat
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FrameKind, LinkCounters
from ..ram import CollisionFreeMemory
from .framing import FrameByte, HEADER_BYTES, SYNC_BYTES, COUNTER_BYTES


__all__ = ["CounterBank"]


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
        # both collision-free: the scanner writes the field it read the cycle before, and the
        # snapshot is not read where it is being written
        m.submodules.counts = counts = CollisionFreeMemory(shape=32, depth=fields, init=[])
        m.submodules.snapshot = snapshot = CollisionFreeMemory(shape=32, depth=fields, init=[])
        counts_w, counts_r = counts.write_port(), counts.read_port()
        snapshot_w, snapshot_r = snapshot.write_port(), snapshot.read_port()

        # --- the scanner: read a field's word this cycle, fold it the next -----------------------
        turn = Signal(range(fields))      # field read this cycle
        folding = Signal(range(fields))   # field whose word the read port holds
        primed = Signal()                 # ... since reset
        cleared = Signal()                # every counter's word was written since reset
        m.d.comb += [counts_r.addr.eq(turn), counts_w.addr.eq(folding),
                     snapshot_w.addr.eq(folding)]
        m.d.sync += [turn.eq(Mux(turn == fields - 1, 0, turn + 1)), folding.eq(turn),
                     primed.eq(1)]
        with m.If(primed & (folding == fields - 1)):
            m.d.sync += cleared.eq(1)
        word = Mux(cleared, counts_r.data, 0)

        is_counter = Signal()             # the folding field is a counter ...
        low = Signal(LOW_BITS)            # ... whose low bits are now these
        other = Signal(32)                # ... else this value
        value = Signal(32)                # the folding field's value, for the snapshot
        for number, (name, width) in enumerate(_FIELDS):
            with m.If(folding == number):
                if name in _COUNTERS:
                    m.d.comb += [is_counter.eq(1), low.eq(self.live[name][:LOW_BITS])]
                else:
                    m.d.comb += other.eq(self.live[name])
        wrapped = low < word[:LOW_BITS]
        m.d.comb += [value.eq(Mux(is_counter, Cat(low, word[LOW_BITS:] + wrapped), other)),
                     counts_w.data.eq(value), counts_w.en.eq(primed & is_counter)]

        # --- snapshots: a whole round from field 0, asked for by a control frame's kind byte ----
        wanted = Signal()                 # a snapshot is asked for, its round not begun
        taking = Signal()                 # the round is under way
        ready = Signal()                  # the snapshot is whole (the payload reads it from
                                          # field 0 on, the round's first write)
        starts = wanted & primed & (folding == 0)
        in_round = taking | starts
        ends = in_round & primed & (folding == fields - 1)
        m.d.comb += [snapshot_w.data.eq(value), snapshot_w.en.eq(in_round & primed),
                     # the payload waits for the round, so a read skipped here is read again
                     snapshot_r.en.eq(~snapshot_w.en | (snapshot_r.addr != snapshot_w.addr))]
        with m.If(starts):
            m.d.sync += [wanted.eq(0), taking.eq(1)]
        with m.If(ends):
            m.d.sync += [taking.eq(0), ready.eq(1)]

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
                with m.If(asks):
                    m.d.sync += [wanted.eq(1), ready.eq(0)]
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
