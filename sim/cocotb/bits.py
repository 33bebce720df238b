"""Payload bits of a decoded record: the inverse of :class:`~tickforge.host.codec.BitCodec`.

Compiled once per layout, so a bench can encode thousands of stimuli and expected payloads
(Amaranth's ``Layout.const`` takes about a millisecond each, which would dominate a run). Bits a
record does not fill (union variants other than the tagged one) are 0, as the gateware leaves
them.
"""

from ...hdl.layouts import PARSED_BODY, ParsedMessage
from ...host.codec import encoder


__all__ = ["encoder", "parsed_bits"]


parsed_bits = encoder(ParsedMessage, {"body": ("kind", PARSED_BODY)})
"""Bits of a :data:`~tickforge.host.protocol.PARSED` record: the parser's output, the book's
input."""
