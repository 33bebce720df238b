"""Field shapes for byte-oriented wire formats.

A wire message is laid out in an Amaranth value with byte ``i`` of the wire at bits
``[8*i, 8*i+8)``, so a `lib.data.Struct` whose fields are declared in wire order describes the
message exactly, and ``Const.cast(layout.const(...)).value.to_bytes(n, "little")`` is the
message as sent. Exchange protocols send integers most significant byte first and text as
space-padded ASCII; the two shapes here make those fields read as numbers and strings on the
host (``from_bits`` / ``const``) while the gateware sees the raw wire bits and converts
explicitly with :meth:`BigEndianView.value`.
"""

from amaranth.hdl import Cat, Const, ShapeCastable, ValueCastable, Value, unsigned


__all__ = ["BigEndian", "BigEndianView", "Text"]


class BigEndianView(ValueCastable):
    """A big-endian wire field inside a gateware value; :attr:`value` is the number it holds."""

    def __init__(self, shape, target):
        self._shape = shape
        self._target = Value.cast(target)

    def shape(self):
        return self._shape

    def as_value(self):
        return self._target

    @property
    def value(self):
        """The field as an unsigned number (its bytes in reverse wire order)."""
        raw = self._target
        return Cat(*(raw[8 * i:8 * i + 8] for i in reversed(range(self._shape.nbytes))))

    def eq(self, number):
        """Assign a number to the field, storing it most significant byte first."""
        return self.value.eq(number)


class BigEndian(ShapeCastable):
    """An unsigned integer of ``nbytes`` bytes sent most significant byte first."""

    def __init__(self, nbytes):
        if not isinstance(nbytes, int) or nbytes < 1:
            raise TypeError(f"BigEndian needs a positive byte count, not {nbytes!r}")
        self.nbytes = nbytes

    def as_shape(self):
        return unsigned(8 * self.nbytes)

    def __call__(self, target):
        return BigEndianView(self, target)

    def const(self, init):
        number = 0 if init is None else int(init)
        if not 0 <= number < 1 << (8 * self.nbytes):
            raise ValueError(f"{number} does not fit a {self.nbytes}-byte wire field")
        return Const(int.from_bytes(number.to_bytes(self.nbytes, "big"), "little"), 8 * self.nbytes)

    def from_bits(self, raw):
        return int.from_bytes(raw.to_bytes(self.nbytes, "little"), "big")

    def __eq__(self, other):
        return type(other) is BigEndian and other.nbytes == self.nbytes

    def __hash__(self):
        return hash((BigEndian, self.nbytes))

    def __repr__(self):
        return f"BigEndian({self.nbytes})"


class Text(ShapeCastable):
    """ASCII text of ``nbytes`` bytes, left-aligned and padded with spaces as ITCH sends it.

    On the host a value is :class:`bytes`; ``const`` pads short text and rejects text that does
    not fit or is not ASCII.
    """

    def __init__(self, nbytes):
        if not isinstance(nbytes, int) or nbytes < 1:
            raise TypeError(f"Text needs a positive byte count, not {nbytes!r}")
        self.nbytes = nbytes

    def as_shape(self):
        return unsigned(8 * self.nbytes)

    def __call__(self, target):
        return Value.cast(target)

    def const(self, init):
        text = b"" if init is None else init
        if isinstance(text, str):
            text = text.encode("ascii")
        if len(text) > self.nbytes:
            raise ValueError(f"{text!r} is longer than a {self.nbytes}-byte text field")
        return Const(int.from_bytes(text.ljust(self.nbytes, b" "), "little"), 8 * self.nbytes)

    def from_bits(self, raw):
        return raw.to_bytes(self.nbytes, "little")

    def __eq__(self, other):
        return type(other) is Text and other.nbytes == self.nbytes

    def __hash__(self):
        return hash((Text, self.nbytes))

    def __repr__(self):
        return f"Text({self.nbytes})"
