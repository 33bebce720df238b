"""The host's side of the wire protocol, derived from :mod:`tickforge.hdl.layouts`.

Input is a byte stream of units, each a 2-byte big-endian length and one message (ITCH 5.0
BinaryFILE framing); :func:`encode` builds one unit. Output is a stream of events; a
:class:`~tickforge.host.codec.BitCodec` from :func:`event_codec` decodes them.
"""

from functools import lru_cache

from ..hdl.layouts import (WIRE_MESSAGES, ParsedMessage, PARSED_BODY, event_layout, EVENT_BODY,
                           Side)
from .codec import WireFormat, BitCodec


__all__ = ["WIRE", "MESSAGE_LENGTH", "encode", "unit", "PARSED", "event_codec", "SIDE_CODE",
           "side_of"]


WIRE = {message_type: WireFormat(layout) for message_type, layout in WIRE_MESSAGES.items()}
"""Message type (one byte) → its :class:`WireFormat`."""

MESSAGE_LENGTH = {message_type: wire.size for message_type, wire in WIRE.items()}
"""Message type → the length every message of that type must have."""

SIDE_CODE = {Side.BID: b"B", Side.ASK: b"S"}


def side_of(code):
    """The book side of a wire side code; raise ValueError for anything but B and S."""
    if code == b"B":
        return Side.BID
    if code == b"S":
        return Side.ASK
    raise ValueError(f"side must be b'B' or b'S', not {code!r}")


def unit(message):
    """Frame one message as a BinaryFILE unit (2-byte big-endian length first)."""
    if not 0 < len(message) < 1 << 16:
        raise ValueError(f"a message must be 1..65535 bytes, not {len(message)}")
    return len(message).to_bytes(2, "big") + message


def encode(message_type, **fields):
    """One framed unit of a known message type; the type byte is filled in for you."""
    if isinstance(message_type, str):
        message_type = message_type.encode("ascii")
    try:
        wire = WIRE[message_type]
    except KeyError:
        raise ValueError(f"unknown message type {message_type!r}") from None
    return unit(wire.pack(message_type=message_type, **fields))


PARSED = BitCodec(ParsedMessage, tags={"body": ("kind", PARSED_BODY)}, name="Parsed")
"""Decoder (and record classes) for the parser's output."""


@lru_cache(maxsize=None)
def event_codec(exported_levels):
    """Decoder (and record classes) for the events of a core exporting ``exported_levels``."""
    return BitCodec(event_layout(exported_levels), tags={"body": ("kind", EVENT_BODY)},
                    name="Event")
