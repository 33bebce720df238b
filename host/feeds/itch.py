"""NASDAQ TotalView-ITCH 5.0 BinaryFILE: read, write, and the stock directory.

A BinaryFILE is a sequence of *units*: a 2-byte big-endian length ``L``, then an ``L``-byte
message whose first byte is its type. A unit is exactly what the gateware's parser consumes,
so the raw reader hands units on as they are (length prefix included) and only the decoding
reader turns them into records, through :data:`tickforge.host.protocol.WIRE` (the one
definition of every field).

A full NASDAQ day is ~8 GB and ~400 million units, so everything here streams: files are read
in 1 MiB blocks (gzip is detected by its magic bytes, not by the file name, and inflated block
by block) and units are sliced out of each block; nothing holds more than a block and one
partial unit. Offsets in errors are byte offsets in the *uncompressed* stream.

Bad input raises :class:`ItchFormatError` (a :class:`ValueError`) naming the file, the byte
offset and what is wrong. In strict mode (the default) every unit must be a message type the
project's parser knows (ITCH 5.0, plus tickforge's own lower-case types) with that type's
specified length. Lenient mode checks only the framing and passes every unit through untouched
(length 0, wrong lengths and unknown types included): that is the mode for feeding hardware,
whose parser counts such units itself. A file that ends inside a unit is an error in both
modes: there is no unit to pass on.
"""

import gzip
import os
import zlib
from contextlib import contextmanager
from itertools import chain

from ..protocol import WIRE, MESSAGE_LENGTH


__all__ = ["ItchFormatError", "iter_units", "iter_messages", "ItchWriter", "write_units",
           "Directory"]


_BLOCK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib: expect a gzip header and check its CRC and size


def _length_by_type():
    table = [0] * 256
    for message_type, length in MESSAGE_LENGTH.items():
        table[message_type[0]] = length
    return table


_LENGTH_BY_TYPE = _length_by_type()
"""First byte of a message → its specified length; 0 for types the parser does not know."""

_WIRE_BY_TYPE = {message_type[0]: wire for message_type, wire in WIRE.items()}


class ItchFormatError(ValueError):
    """A BinaryFILE that cannot be read as it should; ``offset`` is the uncompressed byte offset
    of the unit (or gzip data) in question."""

    def __init__(self, name, offset, problem):
        super().__init__(f"{name}: byte {offset}: {problem}")
        self.name = name
        self.offset = offset
        self.problem = problem


# --- reading --------------------------------------------------------------------------------

@contextmanager
def _binary_input(source):
    """``(file, name)`` for a path (opened here and closed after) or a binary file object."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            yield file, os.fspath(source)
    elif hasattr(source, "read"):
        yield source, str(getattr(source, "name", "<stream>"))
    else:
        raise TypeError(f"an ITCH source is a path or a binary file object, not {source!r}")


def _raw_blocks(file):
    while block := file.read(_BLOCK):
        yield block


def _decoded_blocks(file, name):
    """The uncompressed bytes of ``file`` in blocks, inflating gzip if it starts with gzip's
    magic bytes. A plain BinaryFILE cannot start with them: its first length would be 8075."""
    head = file.read(_BLOCK)
    if not isinstance(head, bytes):
        raise TypeError(f"{name}: an ITCH source must be opened in binary mode")
    while 0 < len(head) < len(_GZIP_MAGIC):  # a pipe may hand out a single byte
        more = file.read(_BLOCK)
        if not more:
            break
        head += more
    blocks = chain([head], _raw_blocks(file)) if head else iter(())
    if head.startswith(_GZIP_MAGIC):
        return _gunzip(blocks, name)
    return blocks


def _gunzip(blocks, name):
    """Inflate a gzip stream of one or more members, at most one block of output at a time,
    turning zlib's errors and a cut-off stream into :class:`ItchFormatError`."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    produced = 0
    member_started = False
    for compressed in blocks:
        while compressed:
            member_started = True
            try:
                out = inflater.decompress(compressed, _BLOCK)
            except zlib.error as error:
                raise ItchFormatError(name, produced, f"corrupt gzip data ({error})") from None
            if out:
                produced += len(out)
                yield out
            if inflater.eof:  # a member ended; whatever follows is the next member
                compressed = inflater.unused_data
                inflater = zlib.decompressobj(_GZIP_WBITS)
                member_started = False
            else:
                compressed = inflater.unconsumed_tail
    try:
        out = inflater.flush()
    except zlib.error as error:
        raise ItchFormatError(name, produced, f"corrupt gzip data ({error})") from None
    if out:
        produced += len(out)
        yield out
    if member_started and not inflater.eof:
        raise ItchFormatError(name, produced, "gzip stream is truncated (it ends before its "
                                              "end-of-stream marker)")


def _unit_problem(buffer, position, length):
    """What is wrong with a complete unit at ``position`` in strict mode."""
    if length == 0:
        return "unit of length 0"
    message_type = buffer[position + 2:position + 3]
    expected = _LENGTH_BY_TYPE[message_type[0]]
    if expected == 0:
        return f"unknown message type {message_type!r} (length {length})"
    return f"message type {message_type!r} has length {length}, specified {expected}"


def _frame(source, strict):
    """Slice the units out of a source's uncompressed blocks: the hot loop of every reader."""
    expected_length = _LENGTH_BY_TYPE
    pending = b""
    base = 0  # uncompressed offset of buffer[0]
    with _binary_input(source) as (file, name):
        for block in _decoded_blocks(file, name):
            buffer = pending + block if pending else block
            end = len(buffer)
            last_length_at = end - 2
            position = 0
            while position <= last_length_at:
                length = buffer[position] << 8 | buffer[position + 1]
                stop = position + 2 + length
                if stop > end:
                    break
                if strict and (length == 0 or expected_length[buffer[position + 2]] != length):
                    raise ItchFormatError(name, base + position,
                                          _unit_problem(buffer, position, length))
                yield buffer[position:stop]
                position = stop
            pending = buffer[position:]
            base += position
    if len(pending) == 1:
        raise ItchFormatError(name, base, "file ends inside a unit's 2-byte length")
    if pending:
        length = pending[0] << 8 | pending[1]
        raise ItchFormatError(name, base, f"truncated unit: its length is {length} but the file "
                                          f"ends {len(pending) - 2} bytes after it")


def _with_offsets(units):
    offset = 0
    for unit in units:
        yield offset, unit
        offset += len(unit)


def iter_units(source, *, strict=True, offsets=False):
    """Yield every framed unit of a BinaryFILE (bytes, the 2-byte length included).

    ``source``: a path or a binary file object, plain or gzip. ``strict``: check each unit's
    type and length (else pass everything through for the gateware to count). ``offsets``:
    yield ``(offset, unit)`` pairs, ``offset`` being the unit's uncompressed byte offset.
    """
    units = _frame(source, strict)
    return _with_offsets(units) if offsets else units


def iter_messages(source, types=None):
    """Yield every message of a BinaryFILE decoded to a record of its type (strict framing).

    ``types``: only decode (and yield) messages of these types, e.g. ``{b"R"}``; the others are
    still checked but cost no decoding.
    """
    wanted = None if types is None else {
        (t.encode("ascii") if isinstance(t, str) else bytes(t))[0] for t in types}
    wires = _WIRE_BY_TYPE
    for unit in iter_units(source):
        message_type = unit[2]
        if wanted is None or message_type in wanted:
            yield wires[message_type].unpack(unit, 2)


# --- writing --------------------------------------------------------------------------------

class ItchWriter:
    """Write framed units to a BinaryFILE: a path (gzip when its name ends in ``.gz``) or a
    binary file object (written as given, and left open).

    Units are written untouched once their framing is checked (the declared length must be the
    unit's size, else the file could not be read back), so test files of bad messages can be
    written too. Writes are gathered into 1 MiB blocks.
    """

    def __init__(self, dest, *, compresslevel=6):
        if isinstance(dest, (str, os.PathLike)):
            self.name = os.fspath(dest)
            if self.name.endswith(".gz"):
                self._file = gzip.open(dest, "wb", compresslevel=compresslevel)
            else:
                self._file = open(dest, "wb")
            self._owned = True
        elif hasattr(dest, "write"):
            self.name = str(getattr(dest, "name", "<stream>"))
            self._file = dest
            self._owned = False
        else:
            raise TypeError(f"an ITCH destination is a path or a binary file, not {dest!r}")
        self._pending = []
        self._pending_bytes = 0
        self.units_written = 0

    def write(self, unit):
        """Append one framed unit (bytes including its 2-byte big-endian length)."""
        if len(unit) < 2 or (unit[0] << 8 | unit[1]) != len(unit) - 2:
            raise ValueError(f"{self.name}: not a framed unit (a 2-byte length, then that many "
                             f"bytes): {bytes(unit[:16])!r}")
        self._pending.append(unit)
        self._pending_bytes += len(unit)
        self.units_written += 1
        if self._pending_bytes >= _BLOCK:
            self.flush()

    def flush(self):
        """Write the gathered units to the file (not closing it)."""
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._pending_bytes = 0

    def close(self):
        self.flush()
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def write_units(dest, units, **options):
    """Write every unit of an iterable to ``dest`` (see :class:`ItchWriter`); return the count."""
    with ItchWriter(dest, **options) as writer:
        for unit in units:
            writer.write(unit)
    return writer.units_written


# --- the stock directory --------------------------------------------------------------------

class Directory:
    """stock_locate ↔ symbol, learnt from stock directory (R) messages.

    Symbols are ``str`` without ITCH's space padding. NASDAQ assigns each locate once a day; if
    a later R reassigns a locate (or a symbol), the later message wins and the stale pairing is
    forgotten in both directions.
    """

    def __init__(self):
        self._symbol_of = {}
        self._locate_of = {}

    @classmethod
    def from_source(cls, source):
        """The directory of every R message in a BinaryFILE (the whole file is read)."""
        directory = cls()
        for record in iter_messages(source, types={b"R"}):
            directory.observe(record)
        return directory

    def observe(self, record):
        """Learn from a decoded message if it is an R; any other record is ignored."""
        if record.message_type == b"R":
            self.add(record.stock_locate, record.stock.decode("ascii").rstrip(" "))

    def add(self, locate, symbol):
        old_symbol = self._symbol_of.pop(locate, None)
        if old_symbol is not None:
            del self._locate_of[old_symbol]
        old_locate = self._locate_of.pop(symbol, None)
        if old_locate is not None:
            del self._symbol_of[old_locate]
        self._symbol_of[locate] = symbol
        self._locate_of[symbol] = locate

    def symbol(self, locate):
        """The symbol at ``locate``; KeyError if no R named it."""
        return self._symbol_of[locate]

    def locate(self, symbol):
        """The locate of ``symbol`` (unpadded); KeyError if no R named it."""
        return self._locate_of[symbol]

    def items(self):
        """``(locate, symbol)`` pairs in the order they were learnt."""
        return self._symbol_of.items()

    def __len__(self):
        return len(self._symbol_of)

    def __contains__(self, locate):
        return locate in self._symbol_of
