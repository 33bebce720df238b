"""The ITCH 5.0 BinaryFILE reader and writer, on NASDAQ's own sample and on broken copies of it.

Facts asserted about the sample were read off its bytes with ``xxd`` (offsets below), not
with the code under test.
"""

import collections
import gzip
import io
from pathlib import Path

import pytest

from tickforge.host.feeds.itch import (ItchFormatError, iter_units, iter_messages, ItchWriter,
                                       write_units, Directory)
from tickforge.host.model.parser import ParserModel


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "itch" / \
    "12302019.NASDAQ_ITCH50.first1000"
SAMPLE_BYTES = SAMPLE.read_bytes()
LAST_UNIT_OFFSET = len(SAMPLE_BYTES) - 41  # the file ends with an R: 2 + 39 bytes


class Trickle(io.RawIOBase):
    """A binary stream handing out at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data):
        self._data = memoryview(data)
        self._position = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(3, len(buffer), len(self._data) - self._position)
        buffer[:count] = self._data[self._position:self._position + count]
        self._position += count
        return count


# --- the real sample -----------------------------------------------------------------------

def test_sample_units_partition_the_file_exactly():
    units = list(iter_units(SAMPLE))
    assert len(units) == 1000
    assert b"".join(units) == SAMPLE_BYTES


def test_sample_message_types_and_first_message():
    counts = collections.Counter(record.message_type for record in iter_messages(SAMPLE))
    assert counts == {b"R": 993, b"H": 3, b"Y": 3, b"S": 1}
    first = next(iter_messages(SAMPLE))
    # bytes 0..13: 000c 53 0000 0000 0a11ea0e8c43 4f
    assert first.message_type == b"S" and first.event_code == b"O"
    assert first.stock_locate == 0 and first.timestamp == 0x0a11ea0e8c43 == 11072057543747


def test_sample_offsets():
    pairs = list(iter_units(SAMPLE, offsets=True))
    assert [offset for offset, _ in pairs[:3]] == [0, 14, 55]  # S (2+12), then R (2+39)
    assert pairs[-1][0] == LAST_UNIT_OFFSET
    assert all(SAMPLE_BYTES[offset:offset + len(unit)] == unit for offset, unit in pairs)


def test_sample_directory():
    directory = Directory.from_source(SAMPLE)
    assert len(directory) == 993
    assert {locate for locate, _ in directory.items()} == set(range(1, 994))
    assert directory.symbol(1) == "A"          # byte 14: R, locate 0001, "A       "
    assert directory.symbol(13) == "AAPL"      # byte 508: R, locate 000d, "AAPL    "
    assert directory.locate("AMZN") == 393     # byte 16186: R, locate 0189
    assert directory.symbol(993) == "BPFH"     # the last message
    assert 994 not in directory
    with pytest.raises(KeyError):
        directory.locate("NOSUCH")


def test_directory_keeps_the_latest_pairing():
    directory = Directory()
    directory.add(5, "OLD")
    directory.add(5, "NEW")
    directory.add(6, "NEW")
    assert dict(directory.items()) == {6: "NEW"}


def test_iter_messages_decodes_only_the_types_asked_for():
    records = list(iter_messages(SAMPLE, types={"H", b"Y"}))
    assert [record.message_type for record in records] == [b"H", b"Y"] * 3
    assert records[0].stock == b"A       " and records[0].trading_state == b"T"


# --- sources: gzip by magic bytes, file objects, block boundaries ----------------------------

def test_gzip_is_detected_by_content_not_name(tmp_path):
    misnamed_gzip = tmp_path / "day.itch"
    misnamed_gzip.write_bytes(gzip.compress(SAMPLE_BYTES))
    misnamed_plain = tmp_path / "day.itch.gz"
    misnamed_plain.write_bytes(SAMPLE_BYTES)
    for path in (misnamed_gzip, misnamed_plain):
        assert b"".join(iter_units(path)) == SAMPLE_BYTES


def test_file_objects_plain_gzip_and_trickling():
    compressed = gzip.compress(SAMPLE_BYTES)
    for stream in (io.BytesIO(SAMPLE_BYTES), io.BytesIO(compressed), Trickle(SAMPLE_BYTES),
                   Trickle(compressed), gzip.GzipFile(fileobj=io.BytesIO(compressed))):
        assert b"".join(iter_units(stream)) == SAMPLE_BYTES


def test_units_straddling_blocks_and_gzip_members():
    many = SAMPLE_BYTES * 30  # 1.2 MB: crosses the reader's 1 MiB blocks inside a unit
    assert sum(1 for _ in iter_units(io.BytesIO(many))) == 30_000
    members = gzip.compress(many[:700_001]) + gzip.compress(many[700_001:])
    assert b"".join(iter_units(io.BytesIO(members))) == many


def test_text_mode_source_is_refused():
    with open(SAMPLE, encoding="latin-1") as text, pytest.raises(TypeError, match="binary"):
        next(iter_units(text))
    with pytest.raises(TypeError):
        next(iter_units(12))


# --- writing --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["copy.itch", "copy.itch.gz"])
def test_write_read_round_trip(tmp_path, name):
    path = tmp_path / name
    assert write_units(path, iter_units(SAMPLE)) == 1000
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    assert b"".join(iter_units(path)) == SAMPLE_BYTES
    if not name.endswith(".gz"):
        assert path.read_bytes() == SAMPLE_BYTES


def test_writer_to_a_file_object_leaves_it_open():
    sink = io.BytesIO()
    with ItchWriter(sink) as writer:
        for unit in iter_units(SAMPLE):
            writer.write(unit)
    assert sink.getvalue() == SAMPLE_BYTES


def test_writer_refuses_a_unit_whose_length_lies():
    with ItchWriter(io.BytesIO()) as writer:
        with pytest.raises(ValueError, match="not a framed unit"):
            writer.write(b"\x00\x0cS")
        writer.write(b"\x00\x00")  # length 0 is framed: the parser counts it


# --- bad input ------------------------------------------------------------------------------

S_UNIT = SAMPLE_BYTES[:14]


def _error(data, **options):
    with pytest.raises(ItchFormatError) as caught:
        for _ in iter_units(io.BytesIO(data), **options):
            pass
    return caught.value


@pytest.mark.parametrize("strict", [True, False])
def test_truncated_file(strict):
    error = _error(SAMPLE_BYTES[:-5], strict=strict)
    assert error.offset == LAST_UNIT_OFFSET and "truncated unit: its length is 39" in str(error)
    error = _error(SAMPLE_BYTES + b"\x00", strict=strict)
    assert error.offset == len(SAMPLE_BYTES) and "2-byte length" in str(error)


def test_length_zero():
    error = _error(S_UNIT + b"\x00\x00" + S_UNIT)
    assert error.offset == 14 and "length 0" in str(error)
    assert isinstance(error, ValueError) and "<stream>: byte 14:" in str(error)
    error = _error(S_UNIT + b"\x00\x00")  # at the very end, where no type byte follows
    assert error.offset == 14


def test_known_type_with_the_wrong_length():
    error = _error(S_UNIT + b"\x00\x0dS" + bytes(12))
    assert error.offset == 14 and "b'S' has length 13, specified 12" in str(error)


def test_unknown_type():
    error = _error(S_UNIT * 2 + b"\x00\x05Z1234")
    assert error.offset == 28 and "unknown message type b'Z'" in str(error)


def test_lenient_mode_passes_bad_units_untouched_for_the_parser_to_count():
    bad = [b"\x00\x05Z1234", b"\x00\x00", b"\x00\x0dS" + bytes(12)]
    stream = S_UNIT + b"".join(bad) + S_UNIT
    units = list(iter_units(io.BytesIO(stream), strict=False))
    assert units == [S_UNIT, *bad, S_UNIT]
    parser = ParserModel()
    parser.feed(b"".join(units))
    assert parser.counters["messages"] == 5
    assert parser.counters["skipped"] == 1 and parser.counters["length_errors"] == 2


def test_corrupt_gzip():
    compressed = bytearray(gzip.compress(SAMPLE_BYTES))
    compressed[len(compressed) // 2] ^= 0xFF
    error = _error(bytes(compressed))
    assert "gzip" in error.problem
    wrong_crc = bytearray(gzip.compress(SAMPLE_BYTES))
    wrong_crc[-8] ^= 0xFF  # the CRC32 in the trailer
    assert "corrupt gzip data" in _error(bytes(wrong_crc)).problem


def test_truncated_gzip():
    compressed = gzip.compress(SAMPLE_BYTES)
    error = _error(compressed[:len(compressed) // 2])
    assert "gzip stream is truncated" in error.problem
    assert 0 < error.offset < len(SAMPLE_BYTES)
    assert "gzip stream is truncated" in _error(compressed[:-4]).problem  # no size trailer
    assert "truncated" in _error(compressed[:5]).problem  # inside the header


def test_garbage_after_a_gzip_member():
    error = _error(gzip.compress(SAMPLE_BYTES) + b"\x1f\x8bnot gzip")
    assert "corrupt gzip data" in error.problem and error.offset == len(SAMPLE_BYTES)
