"""The compact form of events on the link: each event is sent as the first bytes of its
:func:`~tickforge.hdl.layouts.event_layout` value (little-endian, bit 0 of the value is bit 0 of
byte 0), up to the end of the body variant its kind fills. Every variant starts at the body's
offset, so a shorter event is simply a shorter prefix: with 4 exported levels a BOOK event takes
62 bytes, a TRADE 28, a SYSTEM 20, where every record of the native harness takes 115 (the
STATUS body's size). The kind sits in the low 4 bits of byte 0, so a reader knows an event's size from its
first byte; :func:`event_sizes` is the one table both ends use.
"""

from amaranth.hdl import Module, Signal, Shape, Value, Cat, Const, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import EVENT_BODY, event_layout


__all__ = ["event_sizes", "header_size", "event_byte_layout", "EventSerializer"]


def header_size(exported_levels):
    """Bytes of an event whose kind has no body (any kind value not in ``EVENT_BODY``)."""
    return (event_layout(exported_levels)["body"].offset + 7) // 8


def event_sizes(exported_levels):
    """Bytes each event kind takes on the link, ``{EventKind: size}``."""
    layout = event_layout(exported_levels)
    body = layout["body"]
    variants = data.Layout.cast(body.shape)
    return {kind: (body.offset + Shape.cast(variants[variant].shape).width + 7) // 8
            for kind, variant in EVENT_BODY.items()}


def _size_bits(exported_levels):
    return max(event_sizes(exported_levels).values()).bit_length()


def event_byte_layout(exported_levels):
    """One byte of a serialized event, with what the frame packer needs to plan frames."""
    return data.StructLayout({
        "data":  unsigned(8),
        "first": unsigned(1),                            # the event's first byte
        "last":  unsigned(1),                            # the event's last byte
        "size":  unsigned(_size_bits(exported_levels)),  # the event's bytes, on every byte
    })


class EventSerializer(wiring.Component):
    """Core events in, their compact bytes out (see the module docstring).

    Members
    -------
    i : ``In(stream.Signature(event_layout(exported_levels)))``
        Events from the core; an event is taken when its last byte is.
    o : ``Out(stream.Signature(event_byte_layout(exported_levels)))``
        Its bytes, one per cycle, straight from the held ``i.payload`` (no copy: the bytes
        are a multiplexer over the event the core holds still until it is taken).

    Latency 0 (combinational); throughput one byte per cycle; back-pressure on ``o`` holds
    ``i``. An event kind outside ``EVENT_BODY`` (none leaves a core) is sent as its header.
    """

    def __init__(self, exported_levels):
        self.exported_levels = exported_levels
        super().__init__({
            "i": In(stream.Signature(event_layout(exported_levels))),
            "o": Out(stream.Signature(event_byte_layout(exported_levels))),
        })

    def elaborate(self, platform):
        m = Module()
        sizes = event_sizes(self.exported_levels)
        raw = Value.cast(self.i.payload)
        raw = Cat(raw, Const(0, -len(raw) % 8))
        size = Signal.like(self.o.payload.size)
        with m.Switch(self.i.payload.kind):
            for kind, nbytes in sizes.items():
                with m.Case(kind):
                    m.d.comb += size.eq(nbytes)
            with m.Default():
                m.d.comb += size.eq(header_size(self.exported_levels))

        index = Signal.like(size)
        last = index == size - 1
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.o.payload.data.eq(raw.word_select(index, 8)),
            self.o.payload.first.eq(index == 0),
            self.o.payload.last.eq(last),
            self.o.payload.size.eq(size),
            self.i.ready.eq(self.o.ready & last),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += index.eq(index + 1)
            with m.If(last):
                m.d.sync += index.eq(0)
        return m
