"""NASDAQ TotalView-ITCH 5.0 parser gateware: framed bytes in, one parsed message per message out.

The golden model is :class:`tickforge.host.model.parser.ParserModel`; the gateware matches it
bit for bit (``t_in`` aside, which the model leaves at 0).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring

from .decode import parser_signature
from .serial import SerialParser
from .wide import WideParser


__all__ = ["ITCHParser", "WIDTHS"]


WIDTHS = (1, 2, 4, 8)
"""Beat widths (bytes per cycle) the parser is built for."""


class ITCHParser(wiring.Component):
    """NASDAQ TotalView-ITCH 5.0 (BinaryFILE framing) parser, bit-exact with ``ParserModel``.

    Parameters
    ----------
    width : int
        Bytes per input beat: 1, 2, 4 or 8.

    Members
    -------
    i : ``In(stream.Signature(input_beat_layout(width)))``
        Byte beats; ``count`` (1..``width``) low lanes valid, lane 0 first. A ``first`` beat
        starts a new unit at lane 0 and truncates any unit left unfinished before it.
    o : ``Out(stream.Signature(ParsedMessage))``
        One parsed message per add, execute, cancel, delete, replace, trade, level, directory,
        system, subscribe and status message, in input order; unused fields are 0.
    now : ``In(32)``
        The core's cycle counter; ``t_in`` is its value in the cycle a message's last byte
        was transferred on ``i``.
    counters : ``Out(ParserCounters)``
        With ``counters_port`` (width 1 only): the counters, live, for a core that leaves them
        to its link (see :class:`~tickforge.hdl.core.Core`); a status request's message then
        carries none.

    Latency: 1 cycle. A message is decoded in the cycle its last byte is transferred and is
    valid on ``o`` from the next cycle.

    Throughput: one beat per cycle as long as no beat holds the end of more than one unit, so
    at width 8 real ITCH (every unit at least 14 bytes) streams without a stall, and width 1
    never stalls. A beat in which *k* units end takes *k* cycles: the first cycle transfers
    it and finishes the first unit, a copy of the beat finishes one more unit per cycle. Such
    extra units are at most ``width`` - 1 bytes long, hence always errors with no output.

    Back-pressure: ``o`` is a register. While it holds a message ``o`` has not taken,
    ``i.ready`` is low (``i.ready`` follows ``o.ready`` combinationally), so nothing is
    dropped and nothing is taken that could not be delivered; ``o.valid`` never depends on
    ``o.ready`` and ``o.payload`` holds still until taken.

    Bad input is counted and skipped, never fatal, exactly as the model does; every counter is
    32 bits and wraps, and each unit, however it ends, takes a sequence number:

    - length 0, or a known type with a length other than its specified one: ``length_errors``;
    - an unknown type: ``skipped``;
    - a known type with a side other than B/S, or an add or replace of 0 shares: ``bad_fields``;
    - a ``first`` beat arriving inside a unit: ``truncated``, and parsing resumes at that beat.

    Nothing is shifted. At width 1 (:class:`SerialParser`, for small FPGAs) each byte a
    parsed field needs is written straight into its place in ``o.payload``. At widths 2 to 8
    (:class:`WideParser`) the first ``2 + MAX_MESSAGE_LENGTH`` bytes of a unit are kept, each
    in a place fixed by its position in the unit, and a unit is decoded whole as it ends.
    Either way, longer units (any length up to 65535) are skipped by counting.
    """

    def __init__(self, width, *, counters_port=False):
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"ITCHParser width must be an integer, not {width!r}")
        if width not in WIDTHS:
            raise ValueError(f"ITCHParser width must be 1, 2, 4 or 8 bytes, not {width}")
        if counters_port and width != 1:
            raise ValueError(f"ITCHParser: only the byte-wide parser has a counters port, not "
                             f"width {width}")
        self.width = width
        self.counters_port = counters_port
        super().__init__(parser_signature(width, counters_port))

    def elaborate(self, platform):
        m = Module()
        m.submodules.parser = parser = (SerialParser(self.counters_port) if self.width == 1 else
                                        WideParser(self.width))
        wiring.connect(m, wiring.flipped(self.i), parser.i)
        wiring.connect(m, parser.o, wiring.flipped(self.o))
        m.d.comb += parser.now.eq(self.now)
        if self.counters_port:
            m.d.comb += self.counters.eq(parser.counters)
        return m
