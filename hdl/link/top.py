"""The host link around a core: :class:`Link` (bytes ⇄ frames ⇄ core streams),
:class:`SerialLink` (the same behind a UART, for a board's two pins) and :class:`LinkedCore`
(link and core with the native harness's ``i``/``o`` ports: a board in software);
:func:`connect_core` wires a link to its core."""

from amaranth.hdl import Module, Shape, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..core import Core
from ..layouts import (LINK_MAX_PAYLOAD, LinkCounters, StatusCounters, event_layout,
                       input_beat_layout)
from .counters import CounterBank, StatusBank
from .events import EventSerializer
from .framing import Deframer, Framer, FrameSender
from .uart import UARTRx, UARTTx


__all__ = ["Link", "SerialLink", "LinkedCore", "connect_core"]


class Link(wiring.Component):
    """Frames from the line to the core's input, the core's events in frames back to the line
    (protocol: :mod:`.framing`).

    Members
    -------
    rx : ``In(stream.Signature(8))``
        Bytes from the line; always ready.
    tx : ``Out(stream.Signature(8))``
        Bytes to the line.
    core_i : ``Out(stream.Signature(input_beat_layout(1)))``
        To the core's ``i``.
    core_o : ``In(stream.Signature(event_layout(exported_levels)))``
        From the core's ``o``.
    line_error : ``In(1)``
        Pulses from the UART receiver (bad stop bit), counted in ``line_errors``.
    counters : ``Out(LinkCounters)``
        What ACK and NACK frames carry, live (for a board's LEDs or a logic analyser).

    Options: ``rx_ring`` and ``tx_ring`` (bytes of block RAM each way; ``tx_ring`` also holds
    the event frames the host has not acknowledged), ``max_payload``, ``queue_frames`` (good
    frames waiting to be played), ``tx_frames`` (event frames kept for the host: its window),
    ``flush_idle`` (cycles without an event before a partly filled frame is sent: the output
    latency bound at low rates), ``quiet_cycles`` (cycles without core activity after which
    a barrier counts the core as done; must exceed the core's latency), ``counter_ram``
    (keep the 32-bit counters for the control frames in block RAM, a
    :class:`~tickforge.hdl.link.counters.CounterBank`, not in registers: for small parts),
    ``status_bank`` (a :class:`~tickforge.hdl.link.counters.StatusBank` keeps the core's
    counters, taken live on ``status: In(StatusCounters)``, and writes them into its STATUS
    events: for a ``Core(counters_port=True)``) and ``collision_free`` (both rings are a
    :class:`~tickforge.hdl.ram.CollisionFreeMemory`, which an iCE40 build maps without guard
    logic).
    """

    def __init__(self, exported_levels, *, rx_ring=4096, tx_ring=4096,
                 max_payload=LINK_MAX_PAYLOAD, queue_frames=8, tx_frames=8, flush_idle=64,
                 quiet_cycles=256, counter_ram=False, status_bank=False,
                 collision_free=False):
        if not isinstance(quiet_cycles, int) or quiet_cycles <= flush_idle:
            raise ValueError(f"Link: quiet_cycles must exceed flush_idle ({flush_idle}), so a "
                             f"barrier finds the last frame flushed; not {quiet_cycles!r}")
        self.exported_levels = exported_levels
        self.quiet_cycles = quiet_cycles
        for option, value in (("counter_ram", counter_ram), ("status_bank", status_bank),
                              ("collision_free", collision_free)):
            if not isinstance(value, bool):
                raise TypeError(f"Link: {option} must be True or False, not {value!r}")
        self.counter_ram = counter_ram
        self.status_bank = status_bank
        self.deframer = Deframer(ring_bytes=rx_ring, max_payload=max_payload,
                                 queue_frames=queue_frames, collision_free=collision_free)
        self.framer = Framer(exported_levels, ring_bytes=tx_ring, max_payload=max_payload,
                             flush_idle=flush_idle, frames=tx_frames,
                             collision_free=collision_free)
        super().__init__({
            "rx":         In(stream.Signature(unsigned(8))),
            "tx":         Out(stream.Signature(unsigned(8))),
            "core_i":     Out(stream.Signature(input_beat_layout(1))),
            "core_o":     In(stream.Signature(event_layout(exported_levels))),
            "line_error": In(1),
            "counters":   Out(LinkCounters),
            **({"status": In(StatusCounters)} if status_bank else {}),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.deframer = deframer = self.deframer
        m.submodules.serializer = serializer = EventSerializer(self.exported_levels)
        m.submodules.framer = framer = self.framer
        m.submodules.sender = sender = FrameSender()

        wiring.connect(m, wiring.flipped(self.rx), deframer.i)
        wiring.connect(m, deframer.o, wiring.flipped(self.core_i))
        wiring.connect(m, wiring.flipped(self.core_o), serializer.i)
        # two event bytes between serializer and framer, so the framer's room check (ring
        # arithmetic) does not decide in the same cycle whether the serializer and the core's
        # output stages move on: that ready chain, on through the book, was a board's longest path
        m.submodules.event_bytes = event_bytes = SyncFIFO(
            width=Shape.cast(serializer.o.payload.shape()).width, depth=2)
        if self.status_bank:
            m.submodules.status_bank = status_bank = StatusBank(self.exported_levels)
            m.d.comb += status_bank.live.eq(self.status)
            wiring.connect(m, serializer.o, status_bank.i)
            wiring.connect(m, status_bank.o, event_bytes.w_stream)
        else:
            wiring.connect(m, serializer.o, event_bytes.w_stream)
        wiring.connect(m, event_bytes.r_stream, framer.events)
        wiring.connect(m, deframer.control, framer.control)
        wiring.connect(m, deframer.host, framer.host)
        if self.counter_ram:
            m.submodules.counter_bank = bank = CounterBank()
            wiring.connect(m, framer.o, bank.i)
            wiring.connect(m, bank.o, sender.i)
        else:
            wiring.connect(m, framer.o, sender.i)
        wiring.connect(m, sender.o, wiring.flipped(self.tx))

        quiet = Signal(range(self.quiet_cycles + 1))
        with m.If(self.core_i.valid | self.core_o.valid):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self.quiet_cycles):
            m.d.sync += quiet.eq(quiet + 1)
        m.d.comb += deframer.drained.eq((quiet == self.quiet_cycles) & framer.idle)

        line_errors = Signal(32)
        with m.If(self.line_error):
            m.d.sync += line_errors.eq(line_errors + 1)

        counters = self.counters
        m.d.comb += [
            counters.expected.eq(deframer.expected),
            counters.acked.eq(deframer.acked),
            counters.frames.eq(deframer.frames),
            counters.crc_errors.eq(deframer.crc_errors),
            counters.header_errors.eq(deframer.header_errors),
            counters.out_of_order.eq(deframer.out_of_order),
            counters.dropped.eq(deframer.dropped),
            counters.skipped_bytes.eq(deframer.skipped_bytes),
            counters.overruns.eq(deframer.overruns),
            counters.line_errors.eq(line_errors),
            counters.events.eq(framer.events_sent),
            counters.frames_sent.eq(framer.frames_sent),
            counters.event_stalls.eq(framer.event_stalls),
            counters.tx_next.eq(framer.tx_next),
            counters.tx_closed.eq(framer.tx_closed),
            counters.tx_acked.eq(framer.tx_acked),
            counters.resent.eq(framer.resent),
            counters.ring_bytes.eq(deframer.ring_bytes),
            counters.queue_frames.eq(deframer.queue_frames),
        ]
        if self.counter_ram:
            m.d.comb += bank.live.eq(counters)   # the framer's snapshot input stays 0
        else:
            m.d.comb += framer.counters.eq(counters)
        return m


class SerialLink(wiring.Component):
    """:class:`Link` behind a UART (8N1, ``divisor`` clock cycles per bit): what a board top
    instantiates between its serial pins and its :class:`~tickforge.hdl.core.Core`.

    Members: ``rx: In(1)`` and ``tx: Out(1)`` (the pins; ``rx`` is synchronised inside),
    ``core_i``, ``core_o``, ``counters`` and (with ``status_bank``) ``status`` as in
    :class:`Link`.
    """

    def __init__(self, exported_levels, divisor, **link_options):
        self.link = Link(exported_levels, **link_options)
        self.receiver = UARTRx(divisor)
        self.transmitter = UARTTx(divisor)
        super().__init__({
            "rx":       In(1, init=1),
            "tx":       Out(1, init=1),
            "core_i":   Out(stream.Signature(input_beat_layout(1))),
            "core_o":   In(stream.Signature(event_layout(exported_levels))),
            "counters": Out(LinkCounters),
            **({"status": In(StatusCounters)} if self.link.status_bank else {}),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        if self.link.status_bank:
            m.d.comb += link.status.eq(self.status)
        m.submodules.receiver = receiver = self.receiver
        m.submodules.transmitter = transmitter = self.transmitter
        m.d.comb += [receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx),
                     link.line_error.eq(receiver.line_error), self.counters.eq(link.counters)]
        wiring.connect(m, receiver.o, link.rx)
        wiring.connect(m, link.tx, transmitter.i)
        wiring.connect(m, link.core_i, wiring.flipped(self.core_i))
        wiring.connect(m, wiring.flipped(self.core_o), link.core_o)
        return m


class LinkedCore(wiring.Component):
    """A :class:`~tickforge.hdl.core.Core` behind its link, with the ports of the native
    harness (:mod:`tickforge.sim.native`), so host link code talks to it as to a board.

    Members
    -------
    i : ``In(stream.Signature(input_beat_layout(1)))``
        The bytes the host sends, one per beat.
    o : ``Out(stream.Signature(8))``
        The bytes the board sends back.

    Without ``divisor`` the bytes go straight to the link, at most one every ``pace`` cycles
    (a line has a rate; the default 2 is what the deframer sustains). With ``divisor`` they
    cross real serial lines: a model of the host's UART (``line_divisor`` cycles per bit,
    default ``divisor``; set it a few percent off to test baud tolerance) drives the board's
    :class:`SerialLink` rx pin bit by bit, and its tx pin is sampled back into bytes, one per
    ``10 * divisor`` cycles; ``o`` must then not be held (no harness back-pressure), as a
    serial line cannot wait.
    """

    def __init__(self, config=CoreConfig(width=1), divisor=None, *, line_divisor=None, pace=2,
                 **link_options):
        if config.width != 1:
            raise ValueError(f"LinkedCore: the link feeds the core one byte per beat, so the "
                             f"core must be built with width=1, not {config.width}")
        if not isinstance(pace, int) or pace < 1:
            raise ValueError(f"LinkedCore: pace must be a positive cycle count, not {pace!r}")
        self.config = config
        self.divisor = divisor
        self.line_divisor = divisor if line_divisor is None else line_divisor
        self.pace = pace
        self.link_options = link_options
        super().__init__({
            "i": In(stream.Signature(input_beat_layout(1))),
            "o": Out(stream.Signature(unsigned(8))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(self.config,
                                        counters_port=self.link_options.get("status_bank", False))
        levels = self.config.exported_levels
        if self.divisor is None:
            m.submodules.link = link = Link(levels, **self.link_options)
            wait = Signal(range(self.pace))
            m.d.comb += [self.i.ready.eq(wait == 0), link.rx.valid.eq(self.i.valid & (wait == 0)),
                         link.rx.payload.eq(self.i.payload.data[0])]
            with m.If(wait != 0):
                m.d.sync += wait.eq(wait - 1)
            with m.Elif(self.i.valid):
                m.d.sync += wait.eq(self.pace - 1)
            wiring.connect(m, link.tx, wiring.flipped(self.o))
        else:
            m.submodules.link = link = SerialLink(levels, self.divisor, **self.link_options)
            m.submodules.host_tx = host_tx = UARTTx(self.line_divisor)
            m.submodules.host_rx = host_rx = UARTRx(self.line_divisor)
            m.d.comb += [host_tx.i.valid.eq(self.i.valid), host_tx.i.payload.eq(self.i.payload.data[0]),
                         self.i.ready.eq(host_tx.i.ready),
                         link.rx.eq(host_tx.tx), host_rx.rx.eq(link.tx)]
            wiring.connect(m, host_rx.o, wiring.flipped(self.o))
        connect_core(m, link, core)
        return m


def connect_core(m, link, core):
    """Wire ``link`` (a :class:`Link` or :class:`SerialLink`) and ``core`` both ways. A link with
    a ``status_bank`` writes the STATUS events' counters, which only a
    ``Core(counters_port=True)`` leaves to it, and such a core's STATUS events carry none
    without the bank: the two must come together, or the host would read zeros."""
    bank = "status" in link.signature.members
    port = "counters" in core.signature.members
    if bank != port:
        raise ValueError(
            "a link with status_bank=True needs a Core(counters_port=True), and such a core "
            f"needs that link: here the link {'has' if bank else 'has no'} status bank and the "
            f"core {'hands out' if port else 'keeps'} its counters")
    wiring.connect(m, link.core_i, core.i)
    wiring.connect(m, core.o, link.core_o)
    if bank:
        m.d.comb += link.status.eq(core.counters)
