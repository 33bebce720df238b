"""The ITCH parser for beats of 2 to 8 bytes: each unit assembled by position, decoded whole."""

import operator
from functools import reduce

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from ..layouts import WIRE_MESSAGES, MAX_MESSAGE_LENGTH, ParserCounters, input_beat_layout
from ..wire import BigEndian
from .decode import (PREFIX, MAX_LENGTH, parser_signature, message_size, DECODINGS, Outcome,
                     count, status_counters, MessageDecoder)


__all__ = ["WideParser"]


UNIT_BYTES = PREFIX + MAX_MESSAGE_LENGTH
"""Unit bytes kept: the length and the longest known message. Bytes past these are only
counted, so a unit of any length is skipped without being stored."""

_SHORTEST_DECODED_UNIT = PREFIX + min(message_size(WIRE_MESSAGES[code]) for code in DECODINGS)
assert _SHORTEST_DECODED_UNIT > 8, \
    "a unit that begins and ends within one beat must never produce output"


class WideParser(wiring.Component):
    """:class:`~tickforge.hdl.parser.ITCHParser` for ``width`` of 2, 4 or 8 bytes.

    Unit byte u is kept in ``unit_byte<u>`` (u < ``UNIT_BYTES``), written from whichever lane
    holds it; the beat's lanes are rotated once so that lane choice is shared by all bytes.
    When a unit ends, the decoder sees the kept bytes and this beat's lanes together, so its
    message is registered on ``o`` in the same cycle, while the rest of the beat starts the
    next unit. A beat in which a second unit ends is copied and finished from the copy, one
    unit per cycle (such units are shorter than a beat, hence errors, with no output).
    """

    def __init__(self, width):
        self.width = width
        super().__init__(parser_signature(width))

    def elaborate(self, platform):
        m = Module()
        width = self.width
        lane_bits = (width - 1).bit_length()
        # The shortest unit (length 0) is 2 bytes, so from width 3 on a beat can end two units.
        ends_twice = width >= 1 + PREFIX
        lowest_base = -(width - 1) if ends_twice else 0

        # --- State --------------------------------------------------------------------------
        unit = [Signal(8, name=f"unit_byte{index}") for index in range(UNIT_BYTES)]
        # The unit byte in lane 0 of the beat being worked on (bytes of the unit received
        # before it); negative while finishing a beat whose lane -base starts the unit.
        base = Signal(range(lowest_base, PREFIX + MAX_LENGTH))
        counters = Signal(ParserCounters)

        # --- The beat being worked on: from the input, or a copy while finishing it -------------
        out_free = ~self.o.valid | self.o.ready
        if ends_twice:
            finishing = Signal()  # working on the copy of a beat in which another unit ends
            copy = Signal(input_beat_layout(width))
            beat = Signal(input_beat_layout(width))
            m.d.comb += [
                beat.eq(Mux(finishing, copy, self.i.payload)),
                self.i.ready.eq(out_free & ~finishing),
            ]
            step = (finishing | self.i.valid) & out_free
        else:
            beat = self.i.payload
            m.d.comb += self.i.ready.eq(out_free)
            step = self.i.valid & out_free

        lanes = Array(beat.data[index] for index in range(width))
        truncate = beat.first & (base != 0)
        lane0 = Signal.like(base)  # `base` for this beat: a first beat starts a unit at 0
        m.d.comb += lane0.eq(Mux(beat.first, 0, base))

        # --- Unit byte u is in lane u - lane0 (when that is a lane) ------------------------------
        # The lanes are rotated so that unit byte u is in rotated lane u % width: each unit byte
        # then has a fixed source, and the lane multiplexers are shared by all bytes.
        m.submodules.steering = steering = Module()  # apart, so the simulator runs it less
        rotated = [Signal(8, name=f"rotated_lane{index}") for index in range(width)]
        rotated_valid = Signal(width)
        for index in range(width):
            lane = (index - lane0)[:lane_bits]
            steering.d.comb += [rotated[index].eq(lanes[lane]),
                                rotated_valid[index].eq(lane < beat.count)]
        lane0_is = Signal(UNIT_BYTES - lowest_base)  # one-hot: bit k is lane0 == lowest_base + k
        steering.d.comb += lane0_is.eq(Cat(lane0 == offset
                                           for offset in range(lowest_base, UNIT_BYTES)))

        def in_beat(index):
            return _any(lane0_is[offset - lowest_base]
                        for offset in range(max(lowest_base, index - width + 1), index + 1))

        # Of a message that ends in this beat, only its last `width` bytes can be in the beat;
        # so only those places (and the length and type, for errors) need a lane multiplexer.
        # The shortest unit (length 0) ends at byte 1: byte 0 can share its beat from width 2.
        from_lanes = set(range(max(0, PREFIX - width), PREFIX + 1))
        for layout in WIRE_MESSAGES.values():
            end = PREFIX + message_size(layout)
            from_lanes.update(range(end - width, end))
        current = []  # the unit as far as it is in, this beat included
        for index in range(UNIT_BYTES):
            if index in from_lanes:
                current.append(Signal(8, name=f"current{index}"))
                steering.d.comb += current[index].eq(
                    Mux(in_beat(index), rotated[index % width], unit[index]))
            else:
                current.append(unit[index])

        # --- Does the unit end in this beat? -------------------------------------------------
        length = BigEndian(PREFIX)(Cat(*current[:PREFIX])).value
        left = length + PREFIX - lane0  # unit bytes from lane 0 on
        ends = Signal()
        m.d.comb += ends.eq((lane0 + beat.count >= PREFIX) & (left <= beat.count))

        # The next unit starts at lane `left`: its byte u is in lane left + u.
        next_unit = [lanes[(left + index)[:lane_bits]] for index in range(width - 1)]
        next_unit_valid = [left + index < beat.count for index in range(width - 1)]
        if ends_twice:
            next_length = BigEndian(PREFIX)(Cat(*next_unit[:PREFIX])).value
            next_bytes = beat.count - left
            next_ends = (next_bytes >= PREFIX) & (next_length + PREFIX <= next_bytes)
        else:
            next_ends = Const(0)

        # --- Decode it, and count ---------------------------------------------------------------
        m.submodules.decoder = decoder = MessageDecoder()
        count(m, counters, step=step, ends=ends, truncate=truncate, outcome=decoder.outcome)
        m.d.comb += [
            decoder.length.eq(length),
            decoder.message.eq(Cat(*current[PREFIX:])),
            decoder.status.eq(status_counters(m, counters)),
        ]

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(step):
            with m.If(ends & (decoder.outcome == Outcome.PARSED)):
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.payload.eq(decoder.parsed),
                    self.o.payload.seq.eq(counters.messages),
                    self.o.payload.t_in.eq(self.now),
                ]

            with m.If(~ends):
                m.d.sync += base.eq(lane0 + beat.count)
                for index in range(UNIT_BYTES):
                    with m.If(in_beat(index) & rotated_valid[index % width]):
                        m.d.sync += unit[index].eq(rotated[index % width])
            with m.Elif(next_ends):
                m.d.sync += base.eq(-left)
            with m.Else():
                m.d.sync += base.eq(beat.count - left)
                for index in range(width - 1):
                    with m.If(next_unit_valid[index]):
                        m.d.sync += unit[index].eq(next_unit[index])
            if ends_twice:
                m.d.sync += finishing.eq(ends & next_ends)
                with m.If(ends & next_ends & ~finishing):
                    m.d.sync += [copy.eq(self.i.payload), copy.first.eq(0)]

        return m


def _any(conditions):
    return reduce(operator.or_, conditions)
