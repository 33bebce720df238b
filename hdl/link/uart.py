"""UART, 8N1: one start bit (0), 8 data bits least significant first, one stop bit (1); the
line idles at 1. ``divisor`` = clock cycles per bit (clock frequency / baud rate), a build
parameter: 12 MHz / 4 = 3 Mbaud on the iCEBreaker, 48 MHz / 4 = 12 Mbaud (an FT2232H's top
rate) on the ECPIX-5.
"""

from amaranth.hdl import Module, Signal, Cat, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


__all__ = ["UARTRx", "UARTTx", "MIN_DIVISOR"]


MIN_DIVISOR = 4
"""Fewest clock cycles per bit the receiver samples reliably (mid-bit needs a few samples)."""


def _check_divisor(owner, divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"{owner} divisor must be an integer, not {divisor!r}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{owner} divisor must be at least {MIN_DIVISOR} clock cycles per bit, "
                         f"not {divisor}")


class UARTRx(wiring.Component):
    """Serial line in, bytes out.

    Members
    -------
    rx : ``In(1)``
        The line, asynchronous to the clock (two flip-flops synchronise it).
    o : ``Out(stream.Signature(8))``
        One byte per good character. A line cannot wait, so the consumer must take each byte
        before the next one ends (10 bits later); a byte still untaken then is replaced and
        ``overrun`` pulses.
    line_error : ``Out(1)``
        Pulses for a character whose stop bit was 0 (a break, noise, a wrong baud rate); the
        character is dropped and the receiver waits for the line to go back to 1 before
        looking for the next start bit, so a held break yields one error, not a byte stream.
    overrun : ``Out(1)``
        Pulses when a byte replaced one ``o`` had not delivered.

    Timing: a falling edge starts a character; the start bit is checked half a bit later (a
    shorter glitch is ignored) and every bit after it is sampled one ``divisor`` later, so
    samples sit mid-bit. The receiver is ready for the next start bit half a stop bit early,
    which with the sampling point tolerates a sender about ±(0.5 − 1/divisor)/9.5 off in baud
    rate: ±4 % at divisor 16. ``o`` carries a byte from mid stop bit + 3 cycles.
    """

    def __init__(self, divisor):
        _check_divisor("UARTRx", divisor)
        self.divisor = divisor
        super().__init__({
            "rx":         In(1, init=1),
            "o":          Out(stream.Signature(unsigned(8))),
            "line_error": Out(1),
            "overrun":    Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.synchronizer = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self.divisor))
        bits = Signal(range(9))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.next = "DATA"
                    with m.If(line):
                        m.next = "IDLE"  # a glitch, not a start bit
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(bits + 1),
                                 shift.eq(Cat(shift[1:], line))]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.d.comb += self.overrun.eq(self.o.valid & ~self.o.ready)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.line_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Bytes in, serial line out.

    Members
    -------
    i : ``In(stream.Signature(8))``
        Taken (``ready``) when the line is idle or a stop bit has just ended, so characters
        follow back to back: one byte per ``10 * divisor`` cycles, the line rate.
    tx : ``Out(1)``
        The line; 1 when idle.
    """

    def __init__(self, divisor):
        _check_divisor("UARTTx", divisor)
        self.divisor = divisor
        super().__init__({
            "i":  In(stream.Signature(unsigned(8))),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits_left = Signal(range(11))
        frame = Signal(10, init=1)  # stop, data[7..0], start: shifted out from bit 0
        bit_ends = timer == 0
        m.d.comb += [
            self.tx.eq(frame[0]),
            # idle, or the stop bit ends this cycle: the next character starts right after it
            self.i.ready.eq((bits_left == 0) | ((bits_left == 1) & bit_ends)),
        ]
        with m.If(bits_left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(bit_ends):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), bits_left.eq(bits_left - 1),
                             timer.eq(self.divisor - 1)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), bits_left.eq(10),
                         timer.eq(self.divisor - 1)]
        return m
