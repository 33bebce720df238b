"""Small designs with the core's port shapes, and Python models of them, to test the native
harness without the real core."""

from amaranth.hdl import Module, Signal, Cat
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from tickforge.hdl.layouts import input_beat_layout


class _Toy(wiring.Component):
    """Ports ``i`` (byte beats) and ``o`` (records); one record per accepted beat, held in an
    output register, taking a beat in the cycle the register empties (full rate)."""

    def __init__(self, width, record):
        self.width = width
        super().__init__({"i": In(stream.Signature(input_beat_layout(width))),
                          "o": Out(stream.Signature(record))})

    def _handshake(self, m, accepting=1):
        """Drive the handshake; return the condition under which a beat transfers."""
        ready = (~self.o.valid | self.o.ready) & accepting
        m.d.comb += self.i.ready.eq(ready)
        with m.If(self.i.valid & ready):
            m.d.sync += self.o.valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return self.i.valid & ready


class BeatSummer(_Toy):
    """Record per beat: its index, its count, and the running sum of all bytes so far. Sums every
    lane, so a byte the harness left behind past ``count`` would show."""

    RECORD = data.StructLayout({"index": 24, "count": 8, "total": 32})

    def __init__(self, width=8):
        super().__init__(width, self.RECORD)

    def elaborate(self, platform):
        m = Module()
        index = Signal(24)
        total = Signal(32)
        new_total = total + sum(self.i.payload.data[lane] for lane in range(self.width))
        with m.If(self._handshake(m)):
            m.d.sync += [
                self.o.payload.index.eq(index),
                self.o.payload.count.eq(self.i.payload.count),
                self.o.payload.total.eq(new_total),
                index.eq(index + 1),
                total.eq(new_total),
            ]
        return m


def beat_summer_model(data_bytes, width):
    """(index, count, total) of every record BeatSummer gives for ``data_bytes`` at full beats."""
    records, total = [], 0
    for index, start in enumerate(range(0, len(data_bytes), width)):
        beat = data_bytes[start:start + width]
        total = (total + sum(beat)) & 0xFFFF_FFFF
        records.append((index & 0xFF_FFFF, len(beat), total))
    return records


class WindowRecorder(_Toy):
    """830-bit record per beat: beat index, the last 96 bytes (newest first) and the complement
    of the running byte sum in the top 30 bits, so every part of a wide record carries data."""

    WINDOW = 96
    RECORD = data.StructLayout({"index": 32, "window": data.ArrayLayout(8, WINDOW), "check": 30})

    def __init__(self, width=4):
        super().__init__(width, self.RECORD)

    def elaborate(self, platform):
        m = Module()
        index = Signal(32)
        total = Signal(30)
        window = Signal(8 * self.WINDOW)
        lanes = self.i.payload.data
        new_total = Signal(30)
        new_window = Signal(8 * self.WINDOW)
        m.d.comb += new_total.eq(total + sum(lanes[lane] for lane in range(self.width)))
        with m.Switch(self.i.payload.count):
            for count in range(1, self.width + 1):
                with m.Case(count):
                    m.d.comb += new_window.eq(Cat(*(lanes[lane] for lane in reversed(range(count))),
                                                  window))
        with m.If(self._handshake(m)):
            m.d.sync += [
                self.o.payload.index.eq(index),
                self.o.payload.window.as_value().eq(new_window),
                self.o.payload.check.eq(~new_total),
                index.eq(index + 1),
                total.eq(new_total),
                window.eq(new_window),
            ]
        return m


def window_recorder_model(data_bytes, width):
    """Every WindowRecorder record for ``data_bytes`` at full beats, as integers."""
    records, total, window = [], 0, bytes(WindowRecorder.WINDOW)
    for index, start in enumerate(range(0, len(data_bytes), width)):
        beat = data_bytes[start:start + width]
        total = (total + sum(beat)) & (1 << 30) - 1
        window = (beat[::-1] + window)[:WindowRecorder.WINDOW]
        check = ~total & (1 << 30) - 1
        records.append(index | int.from_bytes(window, "little") << 32 | check << 800)
    return records


class Stopper(_Toy):
    """Echoes each byte (1-byte beats) as an 8-bit record until it has taken ``accept`` bytes,
    then never takes another: a design that hangs part-way through its input."""

    def __init__(self, accept):
        self.accept = accept
        super().__init__(1, 8)

    def elaborate(self, platform):
        m = Module()
        taken = Signal(range(self.accept + 1))
        with m.If(self._handshake(m, accepting=taken < self.accept)):
            m.d.sync += [self.o.payload.eq(self.i.payload.data[0]), taken.eq(taken + 1)]
        return m


class FirstBeatEcho(_Toy):
    """Echoes the first byte (1-byte beats) as an 8-bit record and takes every later byte
    without a record: output far rarer than input, as a board's ACK is next to the stream it
    answers."""

    def __init__(self):
        super().__init__(1, 8)

    def elaborate(self, platform):
        m = Module()
        echoed = Signal()
        ready = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(ready)
        with m.If(self.i.valid & ready & ~echoed):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(self.i.payload.data[0]),
                         echoed.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
