"""Payload bits of a decoded record: the inverse of :class:`~tickforge.host.codec.BitCodec`.

Compiled once per layout, so a bench can encode thousands of stimuli and expected payloads
(Amaranth's ``Layout.const`` takes about a millisecond each, which would dominate a run). Bits a
record does not fill (union variants other than the tagged one) are 0, as the gateware leaves
them.
"""

from amaranth.hdl import Const, Shape, ShapeCastable
from amaranth.lib import data, enum

from ...hdl.layouts import PARSED_BODY, ParsedMessage


__all__ = ["encoder", "parsed_bits"]


def encoder(layout, tags=None):
    """A function from a record (named tuples as ``BitCodec(layout, tags)`` decodes them) to
    the integer holding its bits; ``tags`` as for BitCodec."""
    return _compile(data.Layout.cast(layout), tags or {})


def _compile(layout, tags):
    if isinstance(layout, data.ArrayLayout):
        element = _field(layout.elem_shape, tags)
        stride = Shape.cast(layout.elem_shape).width

        def encode_array(items):
            bits = 0
            for index, item in enumerate(items):
                bits |= element(item) << (index * stride)
            return bits
        return encode_array

    fields = []  # (name, offset, tag field or None, encoder or {tag: encoder})
    for name, field in layout:
        if name in tags:
            tag_field, choices = tags[name]
            union = data.Layout.cast(field.shape)
            fields.append((name, field.offset, tag_field,
                           {tag: _field(union[variant].shape, tags)
                            for tag, variant in choices.items()}))
        else:
            fields.append((name, field.offset, None, _field(field.shape, tags)))

    def encode_struct(record):
        bits = 0
        for name, offset, tag_field, part in fields:
            if tag_field is not None:
                part = part.get(getattr(record, tag_field))
                if part is None:
                    continue
            bits |= part(getattr(record, name)) << offset
        return bits
    return encode_struct


def _field(shape, tags):
    if isinstance(shape, enum.EnumType):
        return lambda member: getattr(member, "value", member)  # BitCodec keeps unknown values
    try:
        return _compile(data.Layout.cast(shape), tags)
    except TypeError:
        pass
    if isinstance(shape, ShapeCastable):
        return lambda value: Const.cast(shape.const(value)).value
    return lambda value: value


parsed_bits = encoder(ParsedMessage, {"body": ("kind", PARSED_BODY)})
"""Bits of a :data:`~tickforge.host.protocol.PARSED` record: the parser's output, the book's
input."""
