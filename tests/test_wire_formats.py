"""The declared layouts against the ITCH 5.0 specification, and the host codecs against Amaranth."""

import random

import pytest
from amaranth.hdl import Const

from tickforge.hdl.layouts import (ITCH_MESSAGES, WIRE_MESSAGES, event_layout, EventKind,
                                   MessageKind, ParsedMessage)
from tickforge.hdl.wire import Text
from tickforge.host.codec import to_bytes, from_bytes
from tickforge.host.protocol import WIRE, MESSAGE_LENGTH, PARSED, event_codec, encode, unit


# Message lengths from the NASDAQ TotalView-ITCH 5.0 specification, section 1.
SPECIFIED_LENGTHS = {
    b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"V": 35, b"W": 12, b"K": 28, b"J": 35,
    b"h": 21, b"A": 36, b"F": 40, b"E": 31, b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44,
    b"Q": 40, b"B": 19, b"I": 50, b"N": 20, b"O": 48,
}


def test_every_itch_type_is_declared_with_its_specified_length():
    assert set(ITCH_MESSAGES) == set(SPECIFIED_LENGTHS)
    for message_type, length in SPECIFIED_LENGTHS.items():
        assert MESSAGE_LENGTH[message_type] == length, message_type


def test_tickforge_types_do_not_collide_with_itch():
    assert len(WIRE_MESSAGES) == len(ITCH_MESSAGES) + 5
    assert all(t.islower() for t in set(WIRE_MESSAGES) - set(ITCH_MESSAGES))


def _random_fields(wire, rng):
    fields = {}
    for name, shape in zip(wire.fields, wire.shapes):
        if isinstance(shape, Text):
            fields[name] = bytes(rng.randrange(0x20, 0x7f) for _ in range(shape.nbytes))
        else:
            fields[name] = rng.getrandbits(8 * shape.nbytes)
    return fields


@pytest.mark.parametrize("message_type", sorted(WIRE_MESSAGES))
def test_struct_codec_agrees_with_amaranth_layout(message_type):
    rng = random.Random(message_type)
    wire = WIRE[message_type]
    for _ in range(20):
        fields = _random_fields(wire, rng)
        packed = wire.pack(**fields)
        assert len(packed) == MESSAGE_LENGTH[message_type]
        decoded = from_bytes(wire.layout, packed)
        assert decoded.header.stock_locate == fields["stock_locate"]
        assert decoded.header.timestamp == fields["timestamp"]
        assert wire.unpack(packed)._asdict() == fields
        nested = {"header": {k: fields[k] for k in ("message_type", "stock_locate",
                                                    "tracking_number", "timestamp")},
                  **{k: v for k, v in fields.items() if k not in
                     ("message_type", "stock_locate", "tracking_number", "timestamp")}}
        assert to_bytes(wire.layout, nested) == packed


def test_wire_integers_are_big_endian_and_text_space_padded():
    raw = encode("A", stock_locate=0x0102, timestamp=0x0A0B0C0D0E0F, order_reference_number=5,
                 buy_sell_indicator=b"S", shares=0x11223344, stock=b"AMZN", price=2231000)
    assert raw[:2] == (36).to_bytes(2, "big")
    body = raw[2:]
    assert body[0:1] == b"A" and body[1:3] == b"\x01\x02"
    assert body[5:11] == bytes.fromhex("0A0B0C0D0E0F")
    assert body[20:24] == bytes.fromhex("11223344")
    assert body[24:32] == b"AMZN    "


def test_encoder_rejects_what_does_not_fit():
    with pytest.raises(ValueError, match="cannot encode OrderCancel"):
        encode("X", order_reference_number=1, cancelled_shares=1 << 32)
    with pytest.raises(ValueError, match="longer than"):
        encode("R", stock=b"TOOLONGNAME")
    with pytest.raises(ValueError, match="unknown message type"):
        encode("Z")
    with pytest.raises(ValueError, match="no field"):
        encode("D", shares=3)
    with pytest.raises(ValueError):
        unit(b"")


def test_event_codec_matches_amaranth_from_bits():
    layout = event_layout(3)
    codec = event_codec(3)
    rng = random.Random(1)
    for kind, variant in ((EventKind.BOOK, "book"), (EventKind.STATUS, "status")):
        for _ in range(10):
            raw = rng.getrandbits(layout.size)
            raw &= ~0xF
            raw |= kind.value
            if kind == EventKind.BOOK:  # keep the enum fields valid
                offset = layout["body"].offset + layout["body"].shape["book"].shape["cause"].offset
                raw &= ~(0xF << offset)
            view = layout.from_bits(raw)
            record = codec.decode(raw)
            assert record.kind == kind and record.seq == view.seq and record.t_out == view.t_out
            body = getattr(view.body, variant)
            if kind == EventKind.BOOK:
                assert record.body.levels[2].price == body.levels[2].price
                assert record.body.flags.level_missing == body.flags.level_missing
                assert record.body.depth == body.depth
            else:
                assert record.body.book.level_misses == body.book.level_misses
                assert record.body.parser.bad_fields == body.parser.bad_fields


def test_parsed_codec_round_trips_through_amaranth():
    fields = {"kind": MessageKind.REPLACE, "seq": 77, "t_in": 5, "locate": 9,
              "body": {"order": {"ref": 1 << 63, "new_ref": 12, "shares": 300, "price": 99}}}
    raw = Const.cast(ParsedMessage.const(fields)).value
    record = PARSED.decode(raw)
    assert record.kind == MessageKind.REPLACE and record.seq == 77
    assert record.body.ref == 1 << 63 and record.body.new_ref == 12 and record.body.price == 99


def test_event_codec_decodes_signed_fields_and_encodes_back():
    layout = event_layout(10)
    codec = event_codec(10)
    rng = random.Random(2)
    for kind in EventKind:
        for _ in range(20):
            raw = (rng.getrandbits(layout.size) & ~0xF) | kind.value
            record = codec.decode(raw)
            view = layout.from_bits(raw)
            if kind == EventKind.PRICE:
                assert record.body.spread == view.body.price.spread
                assert record.body.imbalance == view.body.price.imbalance
            elif kind == EventKind.FILL:
                assert record.body.inventory == view.body.fill.inventory
            assert codec.decode(codec.encode(record)) == record
    price = codec.decode(EventKind.PRICE.value)
    negative = price._replace(body=price.body._replace(spread=-5, imbalance=-(1 << 16)))
    assert codec.decode(codec.encode(negative)) == negative
