"""The board top: oscillator (→ PLL) → ``sync`` domain; UART pins ↔ :class:`SerialLink` ↔
:class:`Core`; a reset button; LEDs that show the link working.

One clock domain: the link and the core run on one clock, so no stream crosses a clock boundary
(a UART byte every ``10 × divisor`` cycles leaves the width-1 core idle most of the time; a
faster core clock would buy nothing but a clock-crossing FIFO as wide as an event).
"""

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Elaboratable, Module, Mux, Signal
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer, ResetSynchronizer

from ..hdl.core import Core
from ..hdl.link import SerialLink, connect_core


__all__ = ["BoardTop", "LED_ROLES"]


LED_ROLES = {
    "alive": "blinks once a second: the clock runs and the design is out of reset",
    "rx":    "flashes for each good DATA frame from the host",
    "tx":    "flashes for each DATA frame of events sent to the host",
    "error": "lit for a while after any refused or lost byte or frame (bad CRC or header, "
             "out of order, dropped, overrun, bad stop bit)",
}
"""What a board's LEDs can show; a board maps each LED it has to a set of these."""

SETTLE_CYCLES = 1 << 12
"""Cycles after the clock locks before reset is released: the iCE40's block RAM reads garbage for
about 3 µs after configuration, and a held reset covers that on every board."""

FLASH_MS = 40
"""How long an activity flash lasts; the error LED stays lit 10 times as long."""


class BoardTop(Elaboratable):
    """The whole design of ``board`` (a :class:`~tickforge.bitstreams.boards.Board`)."""

    def __init__(self, board):
        self.board = board
        self.core = Core(board.config, counters_port=board.link.get("status_bank", False))
        self.link = SerialLink(board.config.exported_levels, board.divisor, **board.link)

    def elaborate(self, platform):
        board = self.board
        m = Module()

        m.domains.sync = ClockDomain("sync")
        oscillator = platform.request(platform.default_clk, dir="-")
        clk, locked = board.clock.instance(m, oscillator)
        m.d.comb += ClockSignal("sync").eq(clk)   # nextpnr's constraint: the PLL's or the pin's

        # reset: until the clock has been locked for SETTLE_CYCLES, and while the button is held
        m.domains.por = ClockDomain("por", reset_less=True)
        m.d.comb += ClockSignal("por").eq(clk)
        locked_sync = Signal()
        m.submodules.locked_sync = FFSynchronizer(locked, locked_sync, o_domain="por")
        settle = Signal(range(SETTLE_CYCLES + 1))
        with m.If(~locked_sync):
            m.d.por += settle.eq(0)
        with m.Elif(settle != SETTLE_CYCLES):
            m.d.por += settle.eq(settle + 1)
        hold = Signal()
        m.d.comb += hold.eq(settle != SETTLE_CYCLES)
        if board.reset_button is not None:
            m.submodules.button = button = io.Buffer("i", platform.request(*board.reset_button,
                                                                            dir="-"))
            m.d.comb += hold.eq((settle != SETTLE_CYCLES) | button.i)
        m.submodules.reset_sync = ResetSynchronizer(hold, domain="sync")

        m.submodules.core = core = self.core
        m.submodules.link = link = self.link
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(uart_rx.i), uart_tx.o.eq(link.tx)]
        connect_core(m, link, core)

        self._leds(m, platform, link.counters)
        return m

    def _leds(self, m, platform, counters):
        """Each counter's bit 0 toggles on every increment, so an edge on it is an event."""
        board = self.board
        if not board.leds:
            return
        ms = Signal(range(int(board.clock_hz // 1000)))      # a millisecond tick for the timers
        tick = Signal()
        m.d.comb += tick.eq(ms == 0)
        m.d.sync += ms.eq(ms - 1)
        with m.If(tick):
            m.d.sync += ms.eq(int(board.clock_hz // 1000) - 1)

        sources = {
            "rx":    [counters.frames],
            "tx":    [counters.frames_sent],
            "error": [counters.crc_errors, counters.header_errors, counters.out_of_order,
                      counters.dropped, counters.overruns, counters.line_errors],
        }
        lit = {}
        for role, watched in sources.items():
            before = Signal(len(watched), name=f"{role}_before")
            now = Signal(len(watched), name=f"{role}_now")
            m.d.comb += now.eq(Cat(counter[0] for counter in watched))
            m.d.sync += before.eq(now)
            length = FLASH_MS * (10 if role == "error" else 1)
            timer = Signal(range(length + 1), name=f"{role}_timer")
            with m.If(now != before):
                m.d.sync += timer.eq(length)
            with m.Elif(tick & (timer != 0)):
                m.d.sync += timer.eq(timer - 1)
            lit[role] = timer != 0

        second = Signal(range(1000))
        with m.If(tick):
            m.d.sync += second.eq(Mux(second == 999, 0, second + 1))
        lit["alive"] = second < 100

        for (name, number, *colour), roles in board.leds.items():
            port = platform.request(name, number, dir="-")
            for subsignal in colour:   # one colour of an RGB LED
                port = getattr(port, subsignal)
            led = io.Buffer("o", port)
            m.submodules["_".join(map(str, (name, number, *colour)))] = led
            shown = 0
            for role in roles:
                shown = shown | lit[role]
            m.d.comb += led.o.eq(shown)

