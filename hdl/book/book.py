"""The limit order book kernel: an order table and price-level books, per symbol and side."""

from amaranth.hdl import Module, Signal, Mux, Cat
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import (ParsedMessage, MessageKind, Side, EventKind, BookCounters, BookFlags,
                       FillSource, event_layout)
from .levels import LevelOp, SideUpdate, side_layout


__all__ = ["OrderEntry", "OrderBook"]


class OrderEntry(data.Struct):
    """One live order in the order table."""
    valid:  1
    ref:    64
    slot:   8
    side:   Side
    price:  32
    shares: 32


_BOOK_KINDS = (MessageKind.ADD, MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE,
               MessageKind.REPLACE, MessageKind.TRADE, MessageKind.LEVEL, MessageKind.FILL)


class OrderBook(wiring.Component):
    """Applies parsed messages to per-symbol books and emits one event per message that
    changes or reports something; the rules are the golden model's (``host/model/book.py``).

    Structure. A subscription table (``symbols`` registers, compared in parallel) maps a
    message's locate to a slot. The order table is a block RAM of ``order_sets`` rows, each a
    set of ``order_ways`` orders, addressed by ``config.order_set(ref)``. Bid and ask sides
    live in two RAMs of ``symbols`` rows, each row a whole side (``tracked_levels`` levels) so
    one read fetches everything a message can touch.

    Pipeline. Cycle 0 (accept): look the slot up and start the RAM reads. Cycle 1 (apply):
    match the order in its set, run :class:`SideUpdate` on the side, write order and side back
    and load the event register. The reads are transparent to the writes, so the next message
    can be accepted during the apply cycle and still sees this one's writes: one message per
    cycle, except a replace (two: its new order lives in another set).

    For the kernels after it, a subscription leaves as CLEAR, a parameter write as CONFIG and a
    host fill as FILL (see the model).

    Latency: an event is offered 2 cycles after its message is taken from ``i``.
    Throughput: 1 message/cycle (replace 1/2) while ``o`` is ready.
    Back-pressure: when ``o`` is not ready the apply stage holds and ``i`` is not ready;
    nothing is dropped. Bad input (unknown references, duplicates, a full set, levels beyond
    the tracked depth, quantities that overflow, unsubscribed locates, bad slots) is counted
    in the status event's ``book`` counters and, where a book event is emitted, flagged in it.
    """

    def __init__(self, config=CoreConfig()):
        self.config = config
        super().__init__({
            "i":   In(stream.Signature(ParsedMessage)),
            "o":   Out(stream.Signature(event_layout(config.exported_levels))),
            "now": In(32),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        incoming = self.i.payload

        # --- subscriptions: slot → locate ---------------------------------------------------
        slot_locate = [Signal(16, name=f"slot{s}_locate") for s in range(cfg.symbols)]
        slot_valid = Signal(cfg.symbols)
        slot_hit = Signal(cfg.symbols)
        for s in range(cfg.symbols):
            m.d.comb += slot_hit[s].eq(slot_valid[s] & (slot_locate[s] == incoming.locate))
        incoming_slot = Signal(8)
        for s in reversed(range(cfg.symbols)):
            with m.If(slot_hit[s]):
                m.d.comb += incoming_slot.eq(s)

        # --- memories -------------------------------------------------------------------------
        set_layout = data.ArrayLayout(OrderEntry, cfg.order_ways)
        m.submodules.orders = orders = Memory(shape=set_layout, depth=cfg.order_sets, init=[])
        orders_w = orders.write_port()
        orders_r = orders.read_port(transparent_for=(orders_w,))
        sides_w, sides_r = [], []
        for side in Side:
            memory = Memory(shape=side_layout(cfg.tracked_levels), depth=cfg.symbols, init=[])
            m.submodules[f"{side.name.lower()}s"] = memory
            sides_w.append(memory.write_port())
            sides_r.append(memory.read_port(transparent_for=(sides_w[-1],)))

        # --- the message in the apply stage ---------------------------------------------------
        busy = Signal()                  # the apply stage holds a message
        msg = Signal(ParsedMessage)
        slot = Signal(8)
        second_pass = Signal()           # a replace adding its new order
        carried_flags = Signal(BookFlags)
        carried_side = Signal(Side)
        order = msg.body.order

        counters = Signal(BookCounters)
        o_free = ~self.o.valid | self.o.ready
        advance = Signal()               # the apply stage completes this cycle
        first_pass_of_replace = busy & (msg.kind == MessageKind.REPLACE) & ~second_pass
        m.d.comb += self.i.ready.eq(~busy | (advance & ~first_pass_of_replace))
        accept = self.i.valid & self.i.ready
        is_book_kind = Cat(incoming.kind == kind for kind in _BOOK_KINDS).any()

        # --- RAM reads: for the accepted message, or for the new order of a replace -----------
        start_read = accept | (first_pass_of_replace & advance)
        m.d.comb += [
            orders_r.addr.eq(cfg.order_set(Mux(first_pass_of_replace, order.new_ref,
                                               incoming.body.order.ref))),
            orders_r.en.eq(start_read),
        ]
        for port in sides_r:
            m.d.comb += [port.addr.eq(Mux(first_pass_of_replace, slot, incoming_slot)),
                         port.en.eq(start_read)]

        # --- apply: find the order in its set ---------------------------------------------------
        ways = cfg.order_ways
        entries = orders_r.data
        lookup_ref = Mux(second_pass, order.new_ref, order.ref)
        same_ref = Signal(ways)   # a live order with this reference, on any slot
        owned = Signal(ways)      # ... on this message's slot
        free = Signal(ways)
        for w in range(ways):
            m.d.comb += [
                same_ref[w].eq(entries[w].valid & (entries[w].ref == lookup_ref)),
                owned[w].eq(same_ref[w] & (entries[w].slot == slot)),
                free[w].eq(~entries[w].valid),
            ]
        hit_way = Signal(range(ways))
        free_way = Signal(range(ways))
        for w in reversed(range(ways)):
            with m.If(owned[w]):
                m.d.comb += hit_way.eq(w)
            with m.If(free[w]):
                m.d.comb += free_way.eq(w)
        hit = entries[hit_way]
        found = owned.any()

        kind = msg.kind
        is_add = second_pass | (kind == MessageKind.ADD)
        is_removal = ~second_pass & Cat(kind == k for k in (
            MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE,
            MessageKind.REPLACE)).any()
        removes_all = (kind == MessageKind.DELETE) | (kind == MessageKind.REPLACE)
        overexecuted = ~removes_all & (order.shares > hit.shares)
        amount = Mux(removes_all | overexecuted, hit.shares, order.shares)
        remaining = hit.shares - amount
        books_order = is_add & ~same_ref.any() & free.any()
        applies_removal = is_removal & found
        op_side = Mux(second_pass, carried_side, Mux(is_removal, hit.side, order.side))

        # --- apply: the side's levels -------------------------------------------------------------
        m.submodules.side_update = update = SideUpdate(cfg.tracked_levels)
        side_before = Mux(op_side == Side.BID, sides_r[0].data, sides_r[1].data)
        changes_levels = books_order | applies_removal | (kind == MessageKind.LEVEL)
        m.d.comb += [
            update.side.eq(op_side),
            update.before.eq(side_before),
            update.price.eq(Mux(is_removal, hit.price, order.price)),
            update.quantity.eq(Mux(is_removal, amount, order.shares)),
            update.op.eq(Mux(is_removal, LevelOp.REMOVE,
                             Mux(kind == MessageKind.LEVEL, LevelOp.SET, LevelOp.ADD))),
        ]
        side_after = Signal(side_layout(cfg.tracked_levels))
        m.d.comb += side_after.eq(Mux(changes_levels, update.after, side_before))

        flags = Signal(BookFlags)
        m.d.comb += [
            flags.duplicate_ref.eq(carried_flags.duplicate_ref | (is_add & same_ref.any())),
            flags.table_full.eq(carried_flags.table_full |
                                (is_add & ~same_ref.any() & ~free.any())),
            flags.level_dropped.eq(carried_flags.level_dropped | (changes_levels & update.dropped)),
            flags.level_missing.eq(carried_flags.level_missing | (changes_levels & update.missing)),
            flags.overexecution.eq(carried_flags.overexecution | (applies_removal & overexecuted)),
            flags.qty_overflow.eq(carried_flags.qty_overflow | (changes_levels & update.overflow)),
        ]

        # --- apply: which messages give an event, and when the stage completes -------------------
        emits = Signal()
        with m.Switch(kind):
            with m.Case(MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE):
                m.d.comb += emits.eq(found)
            with m.Case(MessageKind.REPLACE):
                m.d.comb += emits.eq(second_pass)
            with m.Default():
                m.d.comb += emits.eq(1)
        m.d.comb += advance.eq(busy & (o_free | ~emits))

        # --- apply: write back --------------------------------------------------------------------
        new_entry = Signal(OrderEntry)
        with m.If(books_order):
            m.d.comb += [new_entry.valid.eq(1), new_entry.ref.eq(lookup_ref),
                         new_entry.slot.eq(slot), new_entry.side.eq(op_side),
                         new_entry.price.eq(order.price), new_entry.shares.eq(order.shares)]
        with m.Else():
            m.d.comb += [new_entry.eq(hit), new_entry.shares.eq(remaining),
                         new_entry.valid.eq(remaining != 0)]
        new_set = Signal(set_layout)
        written_way = Mux(books_order, free_way, hit_way)
        for w in range(ways):
            m.d.comb += new_set[w].eq(Mux(written_way == w, new_entry, entries[w]))
        m.d.comb += [
            orders_w.addr.eq(cfg.order_set(lookup_ref)),
            orders_w.data.eq(new_set),
            orders_w.en.eq(advance & (books_order | applies_removal)),
        ]
        clears_slot = kind == MessageKind.SUBSCRIBE
        for side, port in zip(Side, sides_w):
            m.d.comb += [
                port.addr.eq(Mux(clears_slot, msg.body.code, slot)),
                port.data.eq(Mux(clears_slot, 0, update.after)),
                port.en.eq(advance & (clears_slot | (changes_levels & (op_side == side)))),
            ]


        # --- completion, then acceptance (which may happen in the same cycle and wins) -----------
        with m.If(advance):
            m.d.sync += [busy.eq(0), second_pass.eq(0)]
            with m.If(is_removal & ~found):
                m.d.sync += counters.unknown_refs.eq(counters.unknown_refs + 1)
            with m.Elif(first_pass_of_replace):
                m.d.sync += [busy.eq(1), second_pass.eq(1), carried_flags.eq(flags),
                             carried_side.eq(hit.side)]
            with m.Elif(emits):
                for flag, counter in _FLAG_COUNTERS.items():
                    with m.If(flags[flag]):
                        m.d.sync += counters[counter].eq(counters[counter] + 1)

        with m.If(accept):
            m.d.sync += [msg.eq(incoming), slot.eq(incoming_slot), second_pass.eq(0),
                         carried_flags.eq(0), busy.eq(1)]
            with m.If(is_book_kind & ~slot_hit.any()):
                m.d.sync += [busy.eq(0), counters.unsubscribed.eq(counters.unsubscribed + 1)]
            with m.If(incoming.kind == MessageKind.SUBSCRIBE):
                new_slot = incoming.body.code
                with m.If(new_slot >= cfg.symbols):
                    m.d.sync += [busy.eq(0),
                                 counters.config_errors.eq(counters.config_errors + 1)]
                with m.Else():
                    for s in range(cfg.symbols):
                        with m.If(new_slot == s):
                            m.d.sync += [slot_locate[s].eq(incoming.locate), slot_valid[s].eq(1)]
                        with m.Elif(slot_hit[s]):
                            m.d.sync += slot_valid[s].eq(0)

        # --- the event ------------------------------------------------------------------------------
        event = self.o.payload
        with m.If(advance & emits):
            m.d.sync += [self.o.valid.eq(1), event.eq(0), event.seq.eq(msg.seq),
                         event.t_in.eq(msg.t_in), event.t_out.eq(self.now + 1),
                         event.timestamp.eq(msg.timestamp)]
            with m.Switch(kind):
                with m.Case(MessageKind.SUBSCRIBE):
                    m.d.sync += [event.kind.eq(EventKind.CLEAR), event.body.slot.eq(msg.body.code)]
                with m.Case(MessageKind.CONFIG):
                    m.d.sync += [event.kind.eq(EventKind.CONFIG),
                                 event.body.config.eq(msg.body.config)]
                with m.Case(MessageKind.FILL):
                    fill = event.body.fill
                    m.d.sync += [event.kind.eq(EventKind.FILL), fill.slot.eq(slot),
                                 fill.side.eq(order.side), fill.price.eq(order.price),
                                 fill.qty.eq(order.shares), fill.source.eq(FillSource.HOST)]
                with m.Case(MessageKind.TRADE):
                    trade = event.body.trade
                    m.d.sync += [event.kind.eq(EventKind.TRADE), trade.slot.eq(slot),
                                 trade.side.eq(order.side), trade.price.eq(order.price),
                                 trade.quantity.eq(order.shares)]
                with m.Case(MessageKind.DIRECTORY):
                    directory = event.body.directory
                    m.d.sync += [event.kind.eq(EventKind.DIRECTORY),
                                 directory.locate.eq(msg.locate),
                                 directory.stock.eq(msg.body.directory.stock),
                                 directory.round_lot_size.eq(msg.body.directory.round_lot_size)]
                with m.Case(MessageKind.SYSTEM):
                    m.d.sync += [event.kind.eq(EventKind.SYSTEM),
                                 event.body.system.code.eq(msg.body.code)]
                with m.Case(MessageKind.STATUS):
                    status = event.body.status
                    m.d.sync += [event.kind.eq(EventKind.STATUS),
                                 status.tag.eq(msg.body.status.tag),
                                 status.parser.eq(msg.body.status.parser),
                                 status.book.eq(counters)]
                with m.Default():
                    book = event.body.book
                    executed = kind == MessageKind.EXECUTE
                    m.d.sync += [event.kind.eq(EventKind.BOOK), book.slot.eq(slot),
                                 book.side.eq(op_side), book.cause.eq(kind),
                                 book.flags.eq(flags), book.depth.eq(side_after.count)]
                    with m.If(executed):
                        m.d.sync += book.trade_price.eq(Mux(order.has_price, order.price,
                                                            hit.price))
                        with m.If(order.printable):
                            m.d.sync += book.trade_qty.eq(amount)
                    for level in range(cfg.exported_levels):
                        m.d.sync += book.levels[level].eq(side_after.levels[level])
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        return m


_FLAG_COUNTERS = {"duplicate_ref": "duplicate_refs", "table_full": "table_full",
                  "level_dropped": "level_drops", "level_missing": "level_misses",
                  "overexecution": "overexecutions", "qty_overflow": "qty_overflows"}
