"""Every message tickforge sends or receives, declared once.

The gateware views its buffers through these layouts, the golden model produces and consumes
values of them, and the host encodes and decodes wire bytes with them (see
:mod:`tickforge.host.codec`). Nothing else in the project writes down a field offset.

Input (host → FPGA) is NASDAQ TotalView-ITCH 5.0 BinaryFILE framing: a 2-byte big-endian
length, then the message. Every ITCH 5.0 message type is declared below with its specified
length; tickforge's own messages (price-level deltas for venues without order ids,
subscriptions, status requests) use the same 11-byte header and lower-case type letters that
ITCH leaves unused.

Output (FPGA → host) is a stream of :func:`event_layout` values, one per message that changed
or reported something, in input order and tagged with the input message's sequence number.
"""

from amaranth.hdl import unsigned, signed
from amaranth.lib import data, enum

from .wire import BigEndian, Text


__all__ = [
    "MessageHeader", "ITCH_MESSAGES", "TICKFORGE_MESSAGES", "WIRE_MESSAGES", "MAX_MESSAGE_LENGTH",
    "Side", "MessageKind", "OrderFields", "ConfigFields", "DirectoryFields", "ParserCounters",
    "ParsedMessage", "PARSED_BODY", "EventKind", "SignalReason", "RejectReason", "FillSource",
    "BookFlags", "Level", "BookCounters", "StatusCounters", "RiskCounters", "PriceFields",
    "OrderSignal", "FillFields", "EVENT_BODY",
    "book_update_layout", "event_layout", "input_beat_layout",
]


class MessageHeader(data.Struct):
    """The 11 bytes that open every ITCH 5.0 message (and every tickforge input message)."""
    message_type:    Text(1)
    stock_locate:    BigEndian(2)
    tracking_number: BigEndian(2)
    timestamp:       BigEndian(6)  # nanoseconds since midnight


# --- NASDAQ TotalView-ITCH 5.0, in the order of the specification -------------------------------

class SystemEvent(data.Struct):                          # S
    header:     MessageHeader
    event_code: Text(1)


class StockDirectory(data.Struct):                       # R
    header:                          MessageHeader
    stock:                           Text(8)
    market_category:                 Text(1)
    financial_status_indicator:      Text(1)
    round_lot_size:                  BigEndian(4)
    round_lots_only:                 Text(1)
    issue_classification:            Text(1)
    issue_sub_type:                  Text(2)
    authenticity:                    Text(1)
    short_sale_threshold_indicator:  Text(1)
    ipo_flag:                        Text(1)
    luld_reference_price_tier:       Text(1)
    etp_flag:                        Text(1)
    etp_leverage_factor:             BigEndian(4)
    inverse_indicator:               Text(1)


class StockTradingAction(data.Struct):                   # H
    header:        MessageHeader
    stock:         Text(8)
    trading_state: Text(1)
    reserved:      Text(1)
    reason:        Text(4)


class RegSHORestriction(data.Struct):                    # Y
    header:         MessageHeader
    stock:          Text(8)
    reg_sho_action: Text(1)


class MarketParticipantPosition(data.Struct):            # L
    header:                   MessageHeader
    mpid:                     Text(4)
    stock:                    Text(8)
    primary_market_maker:     Text(1)
    market_maker_mode:        Text(1)
    market_participant_state: Text(1)


class MWCBDeclineLevel(data.Struct):                     # V
    header: MessageHeader
    level1: BigEndian(8)
    level2: BigEndian(8)
    level3: BigEndian(8)


class MWCBStatus(data.Struct):                           # W
    header:         MessageHeader
    breached_level: Text(1)


class IPOQuotingPeriodUpdate(data.Struct):               # K
    header:                          MessageHeader
    stock:                           Text(8)
    ipo_quotation_release_time:      BigEndian(4)
    ipo_quotation_release_qualifier: Text(1)
    ipo_price:                       BigEndian(4)


class LULDAuctionCollar(data.Struct):                    # J
    header:                         MessageHeader
    stock:                          Text(8)
    auction_collar_reference_price: BigEndian(4)
    upper_auction_collar_price:     BigEndian(4)
    lower_auction_collar_price:     BigEndian(4)
    auction_collar_extension:       BigEndian(4)


class OperationalHalt(data.Struct):                      # h
    header:                  MessageHeader
    stock:                   Text(8)
    market_code:             Text(1)
    operational_halt_action: Text(1)


class AddOrder(data.Struct):                             # A
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    buy_sell_indicator:     Text(1)
    shares:                 BigEndian(4)
    stock:                  Text(8)
    price:                  BigEndian(4)


class AddOrderMPID(data.Struct):                         # F
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    buy_sell_indicator:     Text(1)
    shares:                 BigEndian(4)
    stock:                  Text(8)
    price:                  BigEndian(4)
    attribution:            Text(4)


class OrderExecuted(data.Struct):                        # E
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    executed_shares:        BigEndian(4)
    match_number:           BigEndian(8)


class OrderExecutedWithPrice(data.Struct):               # C
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    executed_shares:        BigEndian(4)
    match_number:           BigEndian(8)
    printable:              Text(1)
    execution_price:        BigEndian(4)


class OrderCancel(data.Struct):                          # X
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    cancelled_shares:       BigEndian(4)


class OrderDelete(data.Struct):                          # D
    header:                 MessageHeader
    order_reference_number: BigEndian(8)


class OrderReplace(data.Struct):                         # U
    header:                          MessageHeader
    original_order_reference_number: BigEndian(8)
    new_order_reference_number:      BigEndian(8)
    shares:                          BigEndian(4)
    price:                           BigEndian(4)


class Trade(data.Struct):                                # P
    header:                 MessageHeader
    order_reference_number: BigEndian(8)
    buy_sell_indicator:     Text(1)
    shares:                 BigEndian(4)
    stock:                  Text(8)
    price:                  BigEndian(4)
    match_number:           BigEndian(8)


class CrossTrade(data.Struct):                           # Q
    header:       MessageHeader
    shares:       BigEndian(8)
    stock:        Text(8)
    cross_price:  BigEndian(4)
    match_number: BigEndian(8)
    cross_type:   Text(1)


class BrokenTrade(data.Struct):                          # B
    header:       MessageHeader
    match_number: BigEndian(8)


class NOII(data.Struct):                                 # I
    header:                    MessageHeader
    paired_shares:             BigEndian(8)
    imbalance_shares:          BigEndian(8)
    imbalance_direction:       Text(1)
    stock:                     Text(8)
    far_price:                 BigEndian(4)
    near_price:                BigEndian(4)
    current_reference_price:   BigEndian(4)
    cross_type:                Text(1)
    price_variation_indicator: Text(1)


class RetailPriceImprovementIndicator(data.Struct):      # N
    header:        MessageHeader
    stock:         Text(8)
    interest_flag: Text(1)


class DirectListingCapitalRaise(data.Struct):            # O
    header:                   MessageHeader
    stock:                    Text(8)
    open_eligibility_status:  Text(1)
    minimum_allowable_price:  BigEndian(4)
    maximum_allowable_price:  BigEndian(4)
    near_execution_price:     BigEndian(4)
    near_execution_time:      BigEndian(8)
    lower_price_range_collar: BigEndian(4)
    upper_price_range_collar: BigEndian(4)


ITCH_MESSAGES = {
    b"S": SystemEvent, b"R": StockDirectory, b"H": StockTradingAction, b"Y": RegSHORestriction,
    b"L": MarketParticipantPosition, b"V": MWCBDeclineLevel, b"W": MWCBStatus,
    b"K": IPOQuotingPeriodUpdate, b"J": LULDAuctionCollar, b"h": OperationalHalt,
    b"A": AddOrder, b"F": AddOrderMPID, b"E": OrderExecuted, b"C": OrderExecutedWithPrice,
    b"X": OrderCancel, b"D": OrderDelete, b"U": OrderReplace, b"P": Trade, b"Q": CrossTrade,
    b"B": BrokenTrade, b"I": NOII, b"N": RetailPriceImprovementIndicator,
    b"O": DirectListingCapitalRaise,
}
"""ITCH 5.0 message type → layout. A message's specified length is its layout's size in bytes."""


# --- tickforge's own input messages --------------------------------------------------------------
# The header's stock_locate names the book (venue × instrument) a message is for.

class LevelUpdate(data.Struct):                          # l
    """Set one price level of a book without order ids: quantity 0 removes the level."""
    header:   MessageHeader
    side:     Text(1)        # b"B" bid, b"S" ask, as ITCH's buy_sell_indicator
    price:    BigEndian(4)
    quantity: BigEndian(4)


class Subscribe(data.Struct):                            # s
    """Track the book of ``header.stock_locate`` in book slot ``slot``."""
    header: MessageHeader
    slot:   BigEndian(1)


class StatusRequest(data.Struct):                        # y
    """Ask for a status event carrying ``tag`` and every counter, after all earlier messages."""
    header: MessageHeader
    tag:    BigEndian(4)


class ConfigWrite(data.Struct):                          # c
    """Set a run-time parameter of the kernels after the book (see :mod:`.params`)."""
    header:    MessageHeader
    parameter: BigEndian(2)  # Param.number
    index:     BigEndian(1)  # slot or asset, for per-slot and per-asset parameters
    value:     BigEndian(8)  # two's complement for signed parameters


class Fill(data.Struct):                                 # f
    """An execution of one of our orders, reported by the host: moves the slot's inventory."""
    header: MessageHeader
    side:   Text(1)        # b"B" we bought, b"S" we sold
    shares: BigEndian(4)
    price:  BigEndian(4)


TICKFORGE_MESSAGES = {b"l": LevelUpdate, b"s": Subscribe, b"y": StatusRequest,
                      b"c": ConfigWrite, b"f": Fill}

WIRE_MESSAGES = {**ITCH_MESSAGES, **TICKFORGE_MESSAGES}
"""Every message type the parser knows, ITCH and tickforge's own."""

MAX_MESSAGE_LENGTH = max(layout.as_shape().size // 8 for layout in WIRE_MESSAGES.values())


# --- parser → book ------------------------------------------------------------------------------

class Side(enum.Enum, shape=1):
    BID = 0  # buy orders, wire b"B"
    ASK = 1  # sell orders, wire b"S"


class MessageKind(enum.Enum, shape=4):
    """What a parsed message asks of the kernels after the parser."""
    ADD       = 0   # A, F
    EXECUTE   = 1   # E; C with execute_price set
    CANCEL    = 2   # X
    DELETE    = 3   # D
    REPLACE   = 4   # U
    TRADE     = 5   # P, Q: a trade against no displayed order
    LEVEL     = 6   # l
    DIRECTORY = 7   # R
    SYSTEM    = 8   # S
    SUBSCRIBE = 9   # s
    STATUS    = 10  # y
    CONFIG    = 11  # c
    FILL      = 12  # f


class OrderFields(data.Struct):
    ref:           64  # order reference number (U: the original order)
    new_ref:       64  # U: the replacing order
    side:          Side
    shares:        32  # A/F/U/P/Q/l shares; E/C executed; X cancelled
    price:         32  # A/F/U/P/Q/l price; C execution price
    has_price:     1   # C: trades at its own price, not the order's
    printable:     1   # E/P/Q: 1; C: printable flag; a trade with 0 here is not volume


class ParserCounters(data.Struct):
    """The parser's counts, carried by a status request so they line up with the book's."""
    messages:      32  # framed units seen, the status request included
    skipped:       32  # unknown message types, skipped by their length
    length_errors: 32  # known types with a length other than specified (or length 0)
    truncated:     32  # units cut short by a new frame (``first`` beat)
    bad_fields:    32  # known types with an invalid field (side not B/S, add of 0 shares): dropped


class ConfigFields(data.Struct):
    parameter: 16
    index:     8
    value:     64


class DirectoryFields(data.Struct):
    stock:          Text(8)
    round_lot_size: 32


class ParsedMessage(data.Struct):
    """One message as the parser hands it on: the wire's fields converted to numbers."""
    kind:      MessageKind
    seq:       32  # index of the message in the input stream, counting every framed unit
    t_in:      32  # cycle counter when the message's last byte was accepted
    locate:    16  # header.stock_locate
    timestamp: 48  # header.timestamp: the exchange's clock, ns since midnight
    body:      data.UnionLayout({
        "order":     OrderFields,
        "directory": DirectoryFields,
        "code":      unsigned(8),   # S: event code; s: slot
        "status":    data.StructLayout({"tag": unsigned(32), "parser": ParserCounters}),  # y
        "config":    ConfigFields,  # c
    })


PARSED_BODY = {
    **{kind: "order" for kind in (MessageKind.ADD, MessageKind.EXECUTE, MessageKind.CANCEL,
                                  MessageKind.DELETE, MessageKind.REPLACE, MessageKind.TRADE,
                                  MessageKind.LEVEL, MessageKind.FILL)},
    MessageKind.DIRECTORY: "directory", MessageKind.SYSTEM: "code",
    MessageKind.SUBSCRIBE: "code", MessageKind.STATUS: "status", MessageKind.CONFIG: "config",
}
"""Which variant of :class:`ParsedMessage` ``body`` each kind fills."""


# --- FPGA → host ------------------------------------------------------------------------------

class EventKind(enum.Enum, shape=4):
    BOOK      = 0   # a book side changed (A/F/E/C/X/D/U/l); carries the side's top levels
    TRADE     = 1   # P or Q on a tracked book
    DIRECTORY = 2   # R, for every locate, tracked or not
    SYSTEM    = 3   # S
    STATUS    = 4   # y: every counter
    PRICE     = 5   # the pricing kernel's metrics after a BOOK or TRADE
    SIGNAL    = 6   # an order the risk gate let through
    FILL      = 7   # an execution of our orders (reported by the host, or paper)
    # inside the core only, never sent:
    CONFIG    = 8   # a parameter write on its way to the kernels
    CLEAR     = 9   # a slot was subscribed anew: the kernels forget it
    CANDIDATE = 10  # an order a signal kernel proposes, on its way to the risk gate


class SignalReason(enum.Enum, shape=2):
    IMBALANCE = 0
    QUOTE     = 1
    ARBITRAGE = 2


class RejectReason(enum.Enum, shape=3):
    """The risk gate's checks, in the order it makes them; the first to fail rejects."""
    KILL     = 0
    QTY      = 1
    NOTIONAL = 2
    COLLAR   = 3
    POSITION = 4
    RATE     = 5


class FillSource(enum.Enum, shape=2):
    HOST  = 0  # reported by the host: a real execution
    TAKER = 1  # paper: an accepted imbalance or arbitrage order, at its price
    QUOTE = 2  # paper: a trade printed through a live quote


class BookFlags(data.Struct):
    """Why a book update is not simply what the message said; each also has a counter."""
    duplicate_ref: 1  # an add named a live order: ignored
    table_full:    1  # an add found its order table set full: order and its shares not booked
    level_dropped: 1  # a level fell (or was not let) into the book below the tracked depth
    level_missing: 1  # shares left an order whose price level is not tracked
    overexecution: 1  # more shares executed or cancelled than the order had: clamped
    qty_overflow:  1  # a level's quantity would pass 2**32-1: saturated


class Level(data.Struct):
    price:    32
    quantity: 32  # 0 only for an empty slot past the side's depth


class BookCounters(data.Struct):
    """The book's cumulative counts; each names a way input can be bad or a limit be hit."""
    unsubscribed:   32  # book messages for locates without a slot
    unknown_refs:   32  # E/C/X/D/U naming no live order
    duplicate_refs: 32
    table_full:     32
    level_drops:    32
    level_misses:   32
    overexecutions: 32
    qty_overflows:  32
    config_errors:  32  # subscriptions to a slot that does not exist


class StatusCounters(data.Struct):
    """The parser's and the book's counters, in the order a STATUS event carries them (its
    ``parser`` then ``book`` fields): what a small part's core hands its link, which keeps them
    in block RAM (:class:`~tickforge.hdl.link.counters.StatusBank`)."""
    parser: ParserCounters
    book:   BookCounters


class RiskCounters(data.Struct):
    """The risk gate's counts: rejected orders by reason, and what it let through."""
    kill:         32
    qty:          32
    notional:     32
    collar:       32
    position:     32
    rate:         32
    accepted:     32
    fills:        32  # FILL events, reported and paper
    param_errors: 32  # parameter writes refused (unknown, index or value out of range)


class PriceFields(data.Struct):
    """A slot's metrics after a book change or trade (see ``host/model/pricing.py``).
    Q16: price units times 2**16."""
    slot:        8
    two_sided:   1
    crossed:     1
    vwap_valid:  1
    bid_price:   32
    bid_qty:     32
    ask_price:   32
    ask_qty:     32
    spread:      signed(33)
    mid:         48  # Q16
    microprice:  48  # Q16
    imbalance:   signed(18)  # Q16, -1..+1
    vwap:        48  # Q16
    ema:         48  # Q16
    vol:         48  # Q16
    trade_price: 32
    trade_qty:   32


class OrderSignal(data.Struct):
    """An order a signal kernel proposes (CANDIDATE) or the risk gate lets through (SIGNAL)."""
    slot:   8
    side:   Side   # BID: buy, ASK: sell
    price:  32
    qty:    32
    reason: SignalReason


class FillFields(data.Struct):
    slot:      8
    side:      Side
    price:     32
    qty:       32
    source:    FillSource
    inventory: signed(32)  # the slot's inventory after this fill


def book_update_layout(exported_levels):
    """One side of one book after a message changed it, best level first."""
    return data.StructLayout({
        "slot":        unsigned(8),
        "side":        Side,
        "cause":       MessageKind,
        "flags":       BookFlags,
        "depth":       unsigned(8),   # levels tracked on this side (may exceed exported_levels)
        "trade_price": unsigned(32),  # E/C: price executed at, else 0
        "trade_qty":   unsigned(32),  # E/C: shares executed, else 0
        "levels":      data.ArrayLayout(Level, exported_levels),
    })


def event_layout(exported_levels):
    """One output event; ``body`` is read according to ``kind``."""
    return data.StructLayout({
        "kind":      EventKind,
        "seq":       unsigned(32),  # the input message's seq
        "t_in":      unsigned(32),  # cycle the input message's last byte was accepted
        "t_out":     unsigned(32),  # cycle the event was offered at the output
        "timestamp": unsigned(48),  # the input message's exchange timestamp
        "body":      data.UnionLayout({
            "book":      book_update_layout(exported_levels),
            "trade":     data.StructLayout({"slot": unsigned(8), "side": Side,
                                            "price": unsigned(32), "quantity": unsigned(32)}),
            "directory": data.StructLayout({"locate": unsigned(16),
                                            "stock": Text(8), "round_lot_size": unsigned(32)}),
            "system":    data.StructLayout({"code": Text(1)}),
            "status":    data.StructLayout({"tag": unsigned(32), "parser": ParserCounters,
                                            "book": BookCounters, "risk": RiskCounters}),
            "price":     PriceFields,
            "order":     OrderSignal,   # CANDIDATE and SIGNAL
            "fill":      FillFields,
            "config":    ConfigFields,
            "slot":      unsigned(8),   # CLEAR
        }),
    })


EVENT_BODY = {EventKind.BOOK: "book", EventKind.TRADE: "trade", EventKind.DIRECTORY: "directory",
              EventKind.SYSTEM: "system", EventKind.STATUS: "status", EventKind.PRICE: "price",
              EventKind.SIGNAL: "order", EventKind.CANDIDATE: "order", EventKind.FILL: "fill",
              EventKind.CONFIG: "config", EventKind.CLEAR: "slot"}
"""Which variant of an event's ``body`` each kind fills."""


def input_beat_layout(width_bytes):
    """One beat of the input byte stream: up to ``width_bytes`` bytes, first byte in lane 0.

    ``first`` marks a beat that starts a new unit at lane 0 (the start of a link frame): any
    partial unit before it is discarded and counted as truncated, so the parser realigns on it.
    """
    return data.StructLayout({
        "data":  data.ArrayLayout(unsigned(8), width_bytes),
        "count": unsigned(max(1, width_bytes.bit_length())),  # bytes valid, 1..width_bytes
        "first": unsigned(1),
    })


# --- link frames (host ⇄ FPGA over a serial line; see tickforge.hdl.link) -----------------------

LINK_SYNC = 0xA55A
"""The two bytes that open every link frame, 0xA5 then 0x5A."""

LINK_MAX_PAYLOAD = 1024
"""Largest frame payload in bytes, both directions; a longer ``length`` marks a bad frame."""


class FrameKind(enum.Enum, shape=8):
    """The ``kind`` byte of a link frame (ASCII, to be legible in a hex dump)."""
    DATA = ord("D")  # host → FPGA: whole input units; FPGA → host: serialized events
    ACK  = ord("A")  # FPGA → host: frames up to ``seq`` have been played into the core;
                     # host → FPGA (empty): the host has every event frame up to ``seq``
    NACK = ord("N")  # FPGA → host: a frame was dropped; send again from ``seq`` (expected);
                     # host → FPGA (empty): send the event frames again from ``seq``


class FrameHeader(data.Struct):
    """The 7 bytes before a frame's payload; the CRC covers ``kind`` through the payload."""
    sync:   BigEndian(2)  # LINK_SYNC
    kind:   BigEndian(1)  # a FrameKind
    seq:    BigEndian(2)  # DATA: the frame's number (mod 2**16); ACK: last played (last
                          # received, from the host); NACK: expected (first missing, from the host)
    length: BigEndian(2)  # payload bytes, 0..LINK_MAX_PAYLOAD


class FrameTrailer(data.Struct):
    """The 4 bytes after a frame's payload: CRC-32/ISO-HDLC (``zlib.crc32``) of kind..payload."""
    crc: BigEndian(4)


class LinkCounters(data.Struct):
    """The payload of every ACK and NACK, little-endian like an event: the link's state and
    every way a byte or frame can be lost or refused. Counters are 32 bits and wrap."""
    expected:      16  # seq of the next DATA frame the FPGA accepts
    acked:         16  # seq of the last DATA frame played into the core (expected - 1 at reset)
    frames:        32  # DATA frames accepted
    crc_errors:    32  # frames whose CRC did not match (or lost a byte to ``overruns``)
    header_errors: 32  # frames with a kind other than DATA or a length over the maximum
    out_of_order:  32  # good frames with a seq other than ``expected``: dropped
    dropped:       32  # good in-order frames dropped because the play queue was full
    skipped_bytes: 32  # bytes passed over while hunting for a frame's sync
    overruns:      32  # bytes lost because the receive ring was full
    line_errors:   32  # bytes the UART received with a bad stop bit (a break, a wrong baud rate)
    events:        32  # events serialized to the host
    frames_sent:   32  # DATA frames sent to the host, those sent again included
    event_stalls:  32  # cycles an event waited for room in the transmit ring
    tx_next:       16  # seq of the next event frame to send (moves back on a host NACK)
    tx_closed:     16  # seq the next new event frame gets: every frame before it is made
    tx_acked:      16  # the host's last acknowledgement; frames after it are kept to resend
    resent:        32  # event frames sent again because the host asked (NACK)
    ring_bytes:    16  # receive ring size: the host keeps at most this minus one frame unacked
    queue_frames:  8   # play queue depth: the host keeps at most this many frames unacked


__all__ += ["LINK_SYNC", "LINK_MAX_PAYLOAD", "FrameKind", "FrameHeader", "FrameTrailer",
            "LinkCounters"]
