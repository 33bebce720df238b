"""Host-side encoders and decoders derived from the layouts in :mod:`tickforge.hdl.layouts`.

Two kinds, both built from a layout so no offset is written twice:

- :class:`WireFormat` packs and unpacks byte-aligned wire messages (ITCH and tickforge input
  messages) with :mod:`struct`, fast enough to stream a trading day.
- :class:`BitCodec` decodes any layout from an integer (events coming back from the gateware)
  into named tuples; unions are decoded by the variant a sibling tag field selects.
"""

import struct
from collections import namedtuple
from collections.abc import Mapping

from amaranth.hdl import Const, Shape, ShapeCastable
from amaranth.lib import data, enum

from ..hdl.wire import BigEndian, Text


__all__ = ["WireFormat", "BitCodec", "encoder", "to_bytes", "from_bytes"]


def to_bytes(layout, fields):
    """Encode ``fields`` (a mapping) with ``layout`` through Amaranth; slow, for tests and rare
    control messages."""
    size = (Shape.cast(layout).width + 7) // 8
    return Const.cast(layout.const(fields)).value.to_bytes(size, "little")


def from_bytes(layout, raw):
    return layout.from_bits(int.from_bytes(raw, "little"))


def _leaves(layout, prefix=()):
    """(path, field shape, byte offset, byte size) of each leaf field of a byte-aligned layout."""
    for name, field in data.Layout.cast(layout):
        shape = field.shape
        width = Shape.cast(shape).width
        if field.offset % 8 or width % 8:
            raise TypeError(f"field {'.'.join(prefix + (name,))} is not byte-aligned")
        if isinstance(shape, (BigEndian, Text)):
            yield prefix + (name,), shape, field.offset // 8, width // 8
        elif _is_layout(shape):
            for path, sub, offset, size in _leaves(shape, prefix + (name,)):
                yield path, sub, field.offset // 8 + offset, size
        else:
            raise TypeError(f"field {'.'.join(prefix + (name,))} has no wire shape: {shape!r}")


_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


class WireFormat:
    """A byte-aligned message layout as a flat :mod:`struct` record.

    Nested fields are flattened to their last name (``header.stock_locate`` → ``stock_locate``);
    names must be unique after flattening, which holds for every wire message in the project.
    Big-endian integers of sizes :mod:`struct` lacks (ITCH's 6-byte timestamp) are handled as
    bytes and converted.
    """

    def __init__(self, layout):
        self.layout = layout
        self.size = Shape.cast(layout).width // 8
        leaves = sorted(_leaves(layout), key=lambda leaf: leaf[2])
        names = [path[-1] for path, *_ in leaves]
        if len(set(names)) != len(names):
            raise TypeError(f"{layout!r} has repeated field names: {names}")
        codes, self._odd_ints, self._texts = [], [], []
        position = 0
        for index, (path, shape, offset, size) in enumerate(leaves):
            assert offset == position, "layouts are contiguous"
            position += size
            if isinstance(shape, BigEndian) and size in _INT_CODES:
                codes.append(_INT_CODES[size])
            else:
                codes.append(f"{size}s")
                if isinstance(shape, BigEndian):
                    self._odd_ints.append((index, size))
                else:
                    self._texts.append((index, size))
        self._struct = struct.Struct(">" + "".join(codes))
        self.fields = names
        self.shapes = [shape for _, shape, _, _ in leaves]
        self.Record = namedtuple(getattr(layout, "__name__", "Record"), names)

    def unpack(self, buffer, offset=0):
        values = self._struct.unpack_from(buffer, offset)
        if self._odd_ints:
            values = list(values)
            for index, _ in self._odd_ints:
                values[index] = int.from_bytes(values[index], "big")
        return self.Record._make(values)

    def pack(self, **fields):
        """Encode a message; missing integers are 0 and missing text is spaces."""
        unknown = set(fields) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.Record.__name__} has no field {sorted(unknown)}")
        values = [fields.get(name, 0) for name in self.fields]
        try:
            for index, size in self._odd_ints:
                values[index] = int(values[index]).to_bytes(size, "big")
        except OverflowError:
            raise ValueError(f"{self.fields[index]}={values[index]} does not fit {size} bytes")
        for index, size in self._texts:
            text = values[index] or b""
            if isinstance(text, str):
                text = text.encode("ascii")
            if len(text) > size:
                raise ValueError(f"{self.fields[index]}={text!r} is longer than {size} bytes")
            values[index] = text.ljust(size, b" ")
        try:
            return self._struct.pack(*values)
        except struct.error as error:
            raise ValueError(f"cannot encode {self.Record.__name__} {fields}: {error}") from None


class BitCodec:
    """Decode integers of a layout into named tuples, and encode them back, fast enough for
    every event of a day (Amaranth's ``Layout.const`` takes about a millisecond a value).

    ``tags`` chooses the variant of each union: ``{union_field: (tag_field, {tag: variant})}``,
    both fields siblings in the same struct. A union whose tag selects no variant decodes to
    ``None`` and encodes as 0 bits, as the gateware leaves them. Signed fields decode to
    negative numbers.
    """

    def __init__(self, layout, tags=None, name="Record"):
        self.layout = data.Layout.cast(layout)
        self.width = self.layout.size
        self.nbytes = (self.width + 7) // 8
        self._tags = tags or {}
        self.records = {}
        """Named tuple class of every struct in the layout, by struct class or field name."""
        self._decode = self._compile(self.layout, name)
        self.Record = self.records.get(name)  # None for a layout that is not a struct
        self._encode = _encoder(self.layout, self._tags)

    def _compile(self, layout, name):
        if isinstance(layout, data.ArrayLayout):
            element = self._field_decoder(layout.elem_shape, f"{name}_item")
            stride = Shape.cast(layout.elem_shape).width
            count = layout.length
            return lambda raw: tuple(element(raw >> (i * stride)) for i in range(count))
        if isinstance(layout, data.UnionLayout):
            raise TypeError("a union is decoded through its tag field")
        fields = list(layout)
        Record = namedtuple(name, [field_name for field_name, _ in fields])
        if name in self.records:
            raise TypeError(f"two structs in {self.layout!r} would be named {name}")
        self.records[name] = Record
        decoders = []
        unions = {}
        for field_name, field in fields:
            if isinstance(data.Layout.cast(field.shape) if _is_layout(field.shape) else None,
                          data.UnionLayout):
                tag_field, choices = self._tags[field_name]
                union = data.Layout.cast(field.shape)
                by_name = {variant: self._field_decoder(union[variant].shape, variant)
                           for variant in dict.fromkeys(choices.values())}
                variants = {tag: by_name[variant] for tag, variant in choices.items()}
                unions[field_name] = (tag_field, variants)
                decoders.append((field_name, field.offset, None))
            else:
                decoders.append((field_name, field.offset,
                                 self._field_decoder(field.shape, field_name)))
        index_of = {field_name: i for i, (field_name, _) in enumerate(fields)}

        def decode(raw):
            values = [decoder(raw >> offset) if decoder else None
                      for _, offset, decoder in decoders]
            for field_name, (tag_field, variants) in unions.items():
                variant = variants.get(values[index_of[tag_field]])
                if variant is not None:
                    values[index_of[field_name]] = variant(raw >> layout[field_name].offset)
            return Record._make(values)
        return decode

    def _field_decoder(self, shape, name):
        width = Shape.cast(shape).width
        mask = (1 << width) - 1
        if _is_layout(shape):
            if isinstance(shape, type) and issubclass(shape, (data.Struct, data.Union)):
                name = shape.__name__
            inner = self._compile(data.Layout.cast(shape), name)
            return lambda raw: inner(raw & mask)
        if isinstance(shape, enum.EnumType):
            members = {member.value: member for member in shape}
            return lambda raw: members.get(raw & mask, raw & mask)
        if isinstance(shape, ShapeCastable):
            return lambda raw: shape.from_bits(raw & mask)
        if Shape.cast(shape).signed:
            sign = 1 << (width - 1)
            return lambda raw: ((raw & mask) ^ sign) - sign
        return lambda raw: raw & mask

    def decode(self, raw):
        """Decode an integer (or little-endian bytes) holding one value of the layout."""
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw = int.from_bytes(raw, "little")
        return self._decode(raw)

    def encode(self, record):
        """The integer holding a record's bits: the inverse of :meth:`decode`."""
        return self._encode(record)


def encoder(layout, tags=None):
    """A function from a value as :class:`BitCodec` decodes it (named tuples, or mappings,
    and sequences for arrays) to the integer holding its bits, compiled once; ``tags`` as for
    BitCodec."""
    return _encoder(data.Layout.cast(layout), tags or {})


def _encoder(layout, tags):
    if isinstance(layout, data.ArrayLayout):
        element = _field_encoder(layout.elem_shape, tags)
        stride = Shape.cast(layout.elem_shape).width
        return lambda items: sum(element(item) << (index * stride)
                                 for index, item in enumerate(items))
    fields = []  # (name, offset, tag field or None, encoder or {tag: encoder})
    for name, field in layout:
        if name in tags:
            tag_field, choices = tags[name]
            union = data.Layout.cast(field.shape)
            fields.append((name, field.offset, tag_field,
                           {tag: _field_encoder(union[variant].shape, tags)
                            for tag, variant in choices.items()}))
        else:
            fields.append((name, field.offset, None, _field_encoder(field.shape, tags)))

    def encode(record):
        get = record.__getitem__ if isinstance(record, Mapping) else record.__getattribute__
        bits = 0
        for name, offset, tag_field, part in fields:
            if tag_field is not None:
                part = part.get(get(tag_field))
                if part is None:
                    continue
            bits |= part(get(name)) << offset
        return bits
    return encode


def _field_encoder(shape, tags):
    if isinstance(shape, enum.EnumType):
        return lambda member: getattr(member, "value", member)  # decode keeps unknown values
    if _is_layout(shape):
        return _encoder(data.Layout.cast(shape), tags)
    if isinstance(shape, ShapeCastable):
        return lambda value: Const.cast(shape.const(value)).value
    mask = (1 << Shape.cast(shape).width) - 1
    return lambda value: value & mask


def _is_layout(shape):
    try:
        data.Layout.cast(shape)
        return True
    except TypeError:
        return False
