"""The limit order book kernel: an order table and price-level books, per symbol and side."""

from amaranth.hdl import Array, Module, Signal, Mux, Cat, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import (ParsedMessage, MessageKind, Side, EventKind, BookCounters, BookFlags,
                       FillSource, event_layout)
from ..ram import CollisionFreeMemory
from .levels import LevelOp, SideUpdate, side_layout
from .serial import SerialSides


__all__ = ["OrderEntry", "OrderBook"]


class OrderEntry(data.Struct):
    """One live order in the order table."""
    valid:  1
    ref:    64
    slot:   8
    side:   Side
    price:  32
    shares: 32


_KEY_FIELDS = ("ref", "slot", "side", "price")
"""The fields of an :class:`OrderEntry` only an add writes; a removal changes the rest (its
``valid`` and ``shares``)."""


def _entry_part(names):
    layout = OrderEntry.as_shape()
    return data.StructLayout({name: layout[name].shape for name in names})


_BOOK_KINDS = (MessageKind.ADD, MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE,
               MessageKind.REPLACE, MessageKind.TRADE, MessageKind.LEVEL, MessageKind.FILL)


class OrderBook(wiring.Component):
    """Applies parsed messages to per-symbol books and emits one event per message that
    changes or reports something; the rules are the golden model's (``host/model/book.py``).

    Structure. A subscription table (``symbols`` registers, compared in parallel) maps a
    message's locate to a slot. The order table is a block RAM of ``order_sets`` rows, each a
    set of ``order_ways`` orders, addressed by ``config.order_set(ref)`` (a holding book, below,
    splits it in two, the fields only an add writes and the rest). Bid and ask sides
    live in two RAMs of ``symbols`` rows, each row a whole side (``tracked_levels`` levels) so
    one read fetches everything a message can touch.

    Pipeline. Cycle 0 (accept): look the slot up and start the RAM reads. Cycle 1 (match):
    find the order in its set, write the order table back, and pick the side and the level
    operation. Cycle 2 (update): run :class:`SideUpdate` on the side, write it back and load
    the event register. Two stages, not one, because order RAM → match → level insert → side
    RAM in one cycle was the design's longest path (26.6 MHz on the ULX3S; split, 42).
    The order table reads are transparent to its writes; the side a message read is one update
    behind, and the update stage's write is forwarded into it, so a message a cycle still sees
    every earlier one: one message per cycle, except a replace (two: its new order lives in
    another set).

    A byte-wide core (``config.width == 1``, the boards') spends more cycles a stage: the match
    (two cycles) registers each way's comparisons before it uses them; the update (three)
    registers the side update's comparisons, then its result, before it writes the side and
    loads the event. Its parser delivers a message in no fewer cycles than the message has
    bytes (14 at least), so the book still never holds it up, and the board's clock is no
    longer set by the book's longest paths. The side is read in the comparison cycle, not on
    acceptance, so forwarding still suffices: the update ahead wrote it by then (or writes it
    as it is read), or has not yet, and the match waits for it to write and takes the side
    forwarded.

    A one-slot byte-wide book (the smallest parts') "holds": it copies neither sides, messages nor
    events. Its sides live in block RAM and change a byte at a time (:class:`SerialSides`, a few
    dozen cycles a step, where a side in registers cost a flip-flop and a 4-way choice per bit);
    it works on the parser's output, which holds still; it offers its event straight from its
    registers and that message; and it takes the message only as the match drops it or the
    cycle after its event is taken. So it holds one message at a time: a side step takes at most
    about 280 cycles with the boards' 16 levels (a replace makes two), and a message that moves
    a side is 21 bytes or more with its length, 840 cycles on the fastest board's line (the
    iCEBreaker's, 40 cycles a byte), so behind a UART the book keeps up.

    For the kernels after it, a subscription leaves as CLEAR, a parameter write as CONFIG and a
    host fill as FILL (see the model).

    Latency: an event is offered 3 cycles after its message is taken from ``i`` (6 at width 1;
    holding, the side step's more: see :class:`SerialSides`).
    Throughput: 1 message/cycle (replace 1/2) while ``o`` is ready (at width 1, a message every
    3 cycles, a replace every 6; holding, one message at a time).
    Back-pressure: when ``o`` is not ready the update and match stages hold and ``i`` is not
    ready; nothing is dropped. (At width 1 the update completes only once ``o`` is empty, so
    ``i.ready`` does not depend on ``o.ready``.) Bad input (unknown references, duplicates, a
    full set, levels beyond the tracked depth, quantities that overflow, unsubscribed locates,
    bad slots) is counted in the status event's ``book`` counters and, where a book event is
    emitted, flagged in it.

    ``counters_port`` (a holding book only: one slot, width 1): the book's counters come out
    live on ``counters: Out(BookCounters)``, and its STATUS events leave their ``parser`` and
    ``book`` counters at 0, for the link to fill in (see :class:`~tickforge.hdl.core.Core`).
    """

    def __init__(self, config=CoreConfig(), *, counters_port=False):
        if counters_port and not (config.symbols == 1 and config.width == 1):
            raise ValueError(f"OrderBook: only a one-slot byte-wide book (which holds its "
                             f"counters still while it offers an event) has a counters port, "
                             f"not {config.symbols} slots at width {config.width}")
        self.config = config
        self.counters_port = counters_port
        super().__init__({
            "i":   In(stream.Signature(ParsedMessage)),
            "o":   Out(stream.Signature(event_layout(config.exported_levels))),
            "now": In(32),
            **({"counters": Out(BookCounters)} if counters_port else {}),
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
        # With one slot a side is a register, read where it is: a registered read, or the
        # update stage's copy of the side, would copy it (see the update stage); a holding
        # book keeps its sides in a SerialSides instead
        one_slot = cfg.symbols == 1
        # A one-slot byte-wide book (the smallest parts') keeps no copy of the message either: it
        # works on the parser's output, which holds still, and takes it as its event leaves.
        # Taking one message at a time, it never reads the order table as it writes it (a
        # replace reads its new order's set the cycle after writing the old one's), so the
        # table is a CollisionFreeMemory (:mod:`tickforge.hdl.ram`), where a pipelined book needs
        # a transparent read
        holds = one_slot and cfg.width == 1
        set_layout = data.ArrayLayout(OrderEntry, cfg.order_ways)
        if holds:   # an add writes a whole order, a removal only its state: two tables, written
                    # a way at a time, so no write needs the old entry multiplexed back in
            parts = {"keys": _KEY_FIELDS,
                     "states": [name for name, _ in OrderEntry.as_shape() if name not in
                                _KEY_FIELDS]}
            tables = {}
            for part, names in parts.items():
                shape = data.ArrayLayout(_entry_part(names), cfg.order_ways)
                m.submodules[f"order_{part}"] = table = CollisionFreeMemory(
                    shape=shape, depth=cfg.order_sets, init=[])
                tables[part] = table.write_port(granularity=1), table.read_port()
            order_reads = [read for _, read in tables.values()]
            entries = Signal(set_layout)
            for part, names in parts.items():
                for w in range(cfg.order_ways):
                    m.d.comb += [entries[w][name].eq(tables[part][1].data[w][name])
                                 for name in names]
        else:
            m.submodules.orders = orders = Memory(shape=set_layout, depth=cfg.order_sets,
                                                  init=[])
            orders_w = orders.write_port()
            orders_r = orders.read_port(transparent_for=(orders_w,))
            order_reads = [orders_r]
            entries = orders_r.data
        sides_w, sides_r = [], []
        for side in () if holds else Side:   # holding, the sides are a SerialSides' RAM
            memory = Memory(shape=side_layout(cfg.tracked_levels), depth=cfg.symbols, init=[])
            m.submodules[f"{side.name.lower()}s"] = memory
            sides_w.append(memory.write_port())
            sides_r.append(memory.read_port(domain="comb") if one_slot else
                           memory.read_port(transparent_for=(sides_w[-1],)))

        # --- the match stage: the message whose order and side reads have returned -----------
        busy = Signal()                  # the match stage holds a message
        msg = incoming if holds else Signal(ParsedMessage)
        slot = Signal(8)
        second_pass = Signal()           # a replace adding its new order
        carried_flags = Signal(BookFlags)
        carried_side = Signal(Side)
        unsubscribed = Signal()          # refused at acceptance, counted as it leaves the stage
        bad_slot = Signal()              # (so a status request ahead of it does not count it)
        refused = unsubscribed | bad_slot
        order = msg.body.order
        first_pass_of_replace = busy & ~refused & (msg.kind == MessageKind.REPLACE) & ~second_pass

        reread = Signal()                # (holds) a replace's new order's set is read
        two_cycle = cfg.width == 1       # stages take two cycles or more (see above)
        counters = Signal(BookCounters)
        compared = Signal()              # the match stage's comparisons are ready
        advance = Signal()               # the match stage hands its message on this cycle
        u_busy = Signal()                # the update stage holds a message
        u_computed = Signal()            # ... its side update is ready
        u_advance = Signal()             # ... and completes it this cycle
        if two_cycle:
            u_compared = Signal()        # ... its side update's comparisons are registered
                                         #     (holding: its side step has begun)
            m.d.sync += [compared.eq(busy & ~advance & ~reread if holds else busy & ~advance),
                         u_compared.eq(u_busy & ~u_advance)]
            if not holds:   # (holding, the side update says when it is done)
                m.d.sync += u_computed.eq(u_compared & ~u_advance)
        else:
            m.d.comb += [compared.eq(1), u_computed.eq(1)]
        held = Signal()                  # (holds) a message is in the book, not yet taken
        release = Signal()               # (holds) ... and is taken this cycle
        m.d.comb += [
            advance.eq(busy & compared & (~u_busy | u_advance)),
            self.i.ready.eq(release if holds else ~busy | (advance & ~first_pass_of_replace)),
        ]
        accept = self.i.valid & (~held if holds else self.i.ready)   # the message enters
        is_book_kind = Cat(incoming.kind == kind for kind in _BOOK_KINDS).any()

        # --- RAM reads: for the accepted message, or for the new order of a replace -----------
        lookup_ref = Mux(second_pass, order.new_ref, order.ref)
        if holds:   # the new order's set is read the cycle after the old one's is written
            m.d.sync += reread.eq(first_pass_of_replace & advance)
            start_read = accept | reread
            m.d.comb += [read.addr.eq(cfg.order_set(lookup_ref)) for read in order_reads]
        else:
            start_read = accept | (first_pass_of_replace & advance)
            m.d.comb += orders_r.addr.eq(cfg.order_set(Mux(first_pass_of_replace, order.new_ref,
                                                           incoming.body.order.ref)))
        m.d.comb += [read.en.eq(start_read) for read in order_reads]
        for port in sides_r if not one_slot else ():
            if two_cycle:   # in the comparison cycle (see above)
                m.d.comb += [port.addr.eq(slot), port.en.eq(busy & ~compared)]
            else:
                m.d.comb += [port.addr.eq(Mux(first_pass_of_replace, slot, incoming_slot)),
                             port.en.eq(start_read)]

        # --- match: find the order in its set ---------------------------------------------------
        ways = cfg.order_ways
        compare = m.d.sync if two_cycle else m.d.comb
        same_ref = Signal(ways)   # a live order with this reference, on any slot
        owned = Signal(ways)      # ... on this message's slot
        free = Signal(ways)
        same_ref_now, owned_now, free_now = Signal(ways), Signal(ways), Signal(ways)
        for w in range(ways):
            m.d.comb += [
                same_ref_now[w].eq(entries[w].valid & (entries[w].ref == lookup_ref)),
                owned_now[w].eq(same_ref_now[w] & (entries[w].slot == slot)),
                free_now[w].eq(~entries[w].valid),
            ]
        hit_way = Signal(range(ways))
        free_way = Signal(range(ways))
        compare += [same_ref.eq(same_ref_now), owned.eq(owned_now), free.eq(free_now),
                    hit_way.eq(0), free_way.eq(0)]
        for w in reversed(range(ways)):
            with m.If(owned_now[w]):
                compare += hit_way.eq(w)
            with m.If(free_now[w]):
                compare += free_way.eq(w)
        hit = entries[hit_way]
        found = owned.any()

        kind = msg.kind
        is_add = second_pass | (kind == MessageKind.ADD)
        is_removal = ~second_pass & Cat(kind == k for k in (
            MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE,
            MessageKind.REPLACE)).any()
        removes_all = (kind == MessageKind.DELETE) | (kind == MessageKind.REPLACE)
        # Each way's shares after a removal are worked out beside the reference match, not after
        # it: the order table's read-modify-write is the book's longest path.
        kept = Array(Signal(33, name=f"kept_{w}") for w in range(ways))  # bit 32: too few
        for w in range(ways):
            compare += kept[w].eq(entries[w].shares - order.shares)
        overexecuted = ~removes_all & kept[hit_way][32]
        amount = Mux(removes_all | kept[hit_way][32], hit.shares, order.shares)
        books_order = is_add & ~same_ref.any() & free.any()
        applies_removal = is_removal & found
        op_side = Signal(Side)
        m.d.comb += op_side.eq(Mux(second_pass, carried_side,
                                   Mux(is_removal, hit.side, order.side)))
        changes_levels = books_order | applies_removal | (kind == MessageKind.LEVEL)

        flags = Signal(BookFlags)        # what the order table says; the update adds the levels'
        m.d.comb += [
            flags.duplicate_ref.eq(carried_flags.duplicate_ref | (is_add & same_ref.any())),
            flags.table_full.eq(carried_flags.table_full |
                                (is_add & ~same_ref.any() & ~free.any())),
            flags.overexecution.eq(carried_flags.overexecution | (applies_removal & overexecuted)),
        ]

        emits = Signal()
        with m.Switch(kind):
            with m.Case(MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE):
                m.d.comb += emits.eq(found)
            with m.Case(MessageKind.REPLACE):
                m.d.comb += emits.eq(second_pass)
            with m.Default():
                m.d.comb += emits.eq(1)

        # --- match: the order table is written back here --------------------------------------
        added = Signal(OrderEntry)
        m.d.comb += [added.valid.eq(1), added.ref.eq(lookup_ref), added.slot.eq(slot),
                     added.side.eq(Mux(second_pass, carried_side, order.side)),
                     added.price.eq(order.price), added.shares.eq(order.shares)]
        new_set = Signal(set_layout)
        adding = [books_order & (free_way == w) for w in range(ways)]
        for w in range(ways):   # a reference is live in one way at most: owned is one-hot
            reduced = Signal(OrderEntry, name=f"reduced_{w}")
            empties = removes_all | kept[w][32]
            m.d.comb += [reduced.eq(entries[w]),
                         reduced.shares.eq(Mux(empties, 0, kept[w][:32])),
                         reduced.valid.eq(~empties & (kept[w][:32] != 0)),
                         new_set[w].eq(Mux(adding[w], added,
                                           reduced if holds else Mux(owned[w], reduced,
                                                                     entries[w])))]
        writes_order = advance & ~refused & (books_order | applies_removal)
        if holds:
            for part, names in parts.items():
                write = tables[part][0]
                changed = Cat(adding) if part == "keys" else \
                    Cat(adding) | Mux(applies_removal, owned, 0)
                m.d.comb += [write.addr.eq(cfg.order_set(lookup_ref)),
                             write.en.eq(Mux(writes_order, changed, 0))]
                for w in range(ways):   # a key is written only by an add
                    written = added if part == "keys" else new_set[w]
                    m.d.comb += [write.data[w][name].eq(written[name]) for name in names]
        else:
            m.d.comb += [orders_w.addr.eq(cfg.order_set(lookup_ref)), orders_w.data.eq(new_set),
                         orders_w.en.eq(writes_order)]

        # --- the update stage: the side's levels, the side write and the event ------------------
        u_msg = incoming if holds else Signal(ParsedMessage)
        u_slot = Signal(8)
        u_side = Signal(Side)
        u_changes = Signal()             # the side changes (else it is only reported)
        u_emits = Signal()
        u_flags = Signal(BookFlags)
        u_before = Signal(side_layout(cfg.tracked_levels))
        u_update = Signal(data.StructLayout({"op": LevelOp, "price": 32, "quantity": 32}))
        u_trade = Signal(data.StructLayout({"price": 32, "quantity": 32}))
        level_flags_carry = Signal(BookFlags)   # a replace's removal, for its add's event
        u_kind = u_msg.kind
        u_order = u_msg.body.order
        u_clears = u_kind == MessageKind.SUBSCRIBE
        u_second_pass = (u_kind == MessageKind.REPLACE) & u_emits

        level_flags = Signal(BookFlags)
        if holds:   # both sides in block RAM, stepped a byte at a time (see SerialSides)
            m.submodules.sides = sides = SerialSides(cfg.tracked_levels, cfg.exported_levels)
            m.d.comb += [sides.start.eq(u_busy & ~u_compared), sides.clear.eq(u_clears),
                         sides.changes.eq(u_changes), sides.side.eq(u_side),
                         sides.op.eq(u_update.op), sides.price.eq(u_update.price),
                         sides.quantity.eq(u_update.quantity),
                         u_computed.eq(u_compared & sides.done),
                         level_flags.level_dropped.eq(sides.dropped),
                         level_flags.level_missing.eq(sides.missing),
                         level_flags.qty_overflow.eq(sides.overflow)]
            depth, shown = sides.count, sides.levels
        else:
            m.submodules.side_update = update = SideUpdate(cfg.tracked_levels,
                                                           two_cycle=two_cycle)
            m.d.comb += [update.side.eq(u_side), update.before.eq(u_before),
                         update.op.eq(u_update.op), update.price.eq(u_update.price),
                         update.quantity.eq(u_update.quantity)]
            updated = m.d.sync if two_cycle else m.d.comb
            u_after = Signal(side_layout(cfg.tracked_levels))
            updated += [
                u_after.eq(update.after),
                level_flags.level_dropped.eq(u_changes & update.dropped),
                level_flags.level_missing.eq(u_changes & update.missing),
                level_flags.qty_overflow.eq(u_changes & update.overflow),
            ]
            side_after = Signal(side_layout(cfg.tracked_levels))
            m.d.comb += side_after.eq(Mux(u_changes, u_after, u_before))
            depth = side_after.count
            shown = [side_after.levels[level] for level in range(cfg.exported_levels)]
        u_all_flags = Signal(BookFlags)
        m.d.comb += u_all_flags.eq(Value.cast(u_flags) | Value.cast(level_flags) |
                                   Mux(u_second_pass, level_flags_carry, 0))

        # A byte-wide core loads an event only into an empty output register: a cycle lost per
        # event, which its three-cycle update never misses, and no path from ``o.ready`` into the
        # book (the ready chain from the link into the side and order RAMs' enables was the
        # boards' longest path).
        # Holding, the book offers its event straight from its registers and the held message,
        # and its update completes the cycle after the event is taken: no copy of the event,
        # and still no path from ``o.ready`` into the book.
        taken = Signal()                 # (holds) the event was taken last cycle
        if holds:
            o_free = taken
        else:
            o_free = ~self.o.valid if two_cycle else ~self.o.valid | self.o.ready
        m.d.comb += u_advance.eq(u_busy & u_computed & (o_free | ~u_emits))
        write_slot = Mux(u_clears, u_msg.body.code, u_slot)
        if not holds:
            side_written = Mux(u_clears, 0, u_after)
        if one_slot and not holds:   # the side holds still while its update runs: no copy
            m.d.comb += u_before.eq(Mux(u_side == Side.BID, sides_r[0].data, sides_r[1].data))
        sides_before = []
        for side, write, read in zip(Side, sides_w, sides_r):
            writes = u_clears | (u_changes & (u_side == side))
            m.d.comb += [write.addr.eq(write_slot), write.data.eq(side_written),
                         write.en.eq(u_advance & writes)]
            if one_slot:
                continue
            # the match stage's read missed the write the update stage makes as both advance:
            # forward it, so a message a cycle still sees every earlier one
            forward = Signal(name=f"forward_{side.name.lower()}")
            if two_cycle:   # a cycle early: the update stage's message stays until the match
                            # advances, or leaves as the side is read (which sees its write)
                m.d.sync += forward.eq(u_busy & ~u_advance & writes & (write_slot == slot))
            else:
                m.d.comb += forward.eq(u_busy & writes & (write_slot == slot))
            sides_before.append(Mux(forward, side_written, read.data))

        # --- completion of each stage, then acceptance (which may happen in the same cycle) ------
        with m.If(u_advance):
            m.d.sync += u_busy.eq(0)
            with m.If((u_kind == MessageKind.REPLACE) & ~u_emits):
                m.d.sync += level_flags_carry.eq(level_flags)
            with m.Elif(u_emits):
                for flag, counter in _FLAG_COUNTERS.items():
                    with m.If(u_all_flags[flag]):
                        m.d.sync += counters[counter].eq(counters[counter] + 1)

        with m.If(advance):
            m.d.sync += [busy.eq(0), second_pass.eq(0)]
            with m.If(unsubscribed):
                m.d.sync += counters.unsubscribed.eq(counters.unsubscribed + 1)
            with m.Elif(bad_slot):
                m.d.sync += counters.config_errors.eq(counters.config_errors + 1)
            with m.Elif(is_removal & ~found):
                m.d.sync += counters.unknown_refs.eq(counters.unknown_refs + 1)
            with m.Else():
                m.d.sync += [
                    u_busy.eq(1), *([] if holds else [u_msg.eq(msg)]), u_slot.eq(slot),
                    u_side.eq(op_side),
                    u_changes.eq(changes_levels), u_emits.eq(emits), u_flags.eq(flags),
                    *([] if one_slot else
                      [u_before.eq(Mux(op_side == Side.BID, sides_before[0], sides_before[1]))]),
                    u_update.op.eq(Mux(is_removal, LevelOp.REMOVE,
                                       Mux(kind == MessageKind.LEVEL, LevelOp.SET, LevelOp.ADD))),
                    u_update.price.eq(Mux(is_removal, hit.price, order.price)),
                    u_update.quantity.eq(Mux(is_removal, amount, order.shares)),
                    u_trade.price.eq(Mux(order.has_price, order.price, hit.price)),
                    u_trade.quantity.eq(Mux(order.printable, amount, 0)),
                ]
                with m.If(first_pass_of_replace):
                    m.d.sync += [busy.eq(1), second_pass.eq(1), carried_flags.eq(flags),
                                 carried_side.eq(hit.side)]

        with m.If(accept):
            m.d.sync += [*([] if holds else [msg.eq(incoming)]), slot.eq(incoming_slot),
                         second_pass.eq(0),
                         carried_flags.eq(0), busy.eq(1),
                         unsubscribed.eq(is_book_kind & ~slot_hit.any()), bad_slot.eq(0)]
            with m.If(incoming.kind == MessageKind.SUBSCRIBE):
                new_slot = incoming.body.code
                with m.If(new_slot >= cfg.symbols):
                    m.d.sync += bad_slot.eq(1)
                with m.Else():
                    for s in range(cfg.symbols):
                        with m.If(new_slot == s):
                            m.d.sync += [slot_locate[s].eq(incoming.locate), slot_valid[s].eq(1)]
                        with m.Elif(slot_hit[s]):
                            m.d.sync += slot_valid[s].eq(0)

        if holds:   # taken once it leaves: dropped by the match, or its (last) update is done
            dropped = unsubscribed | bad_slot | (is_removal & ~found)
            removal_of_replace = (u_kind == MessageKind.REPLACE) & ~u_emits   # its add follows
            m.d.comb += release.eq((advance & dropped) | (u_advance & ~removal_of_replace))
            with m.If(accept):
                m.d.sync += held.eq(1)
            with m.If(release):
                m.d.sync += held.eq(0)

        # --- the event ------------------------------------------------------------------------------
        event = self.o.payload

        def load_event(load, t_out):
            load += [event.eq(0), event.seq.eq(u_msg.seq), event.t_in.eq(u_msg.t_in),
                     event.t_out.eq(t_out), event.timestamp.eq(u_msg.timestamp)]
            with m.Switch(u_kind):
                with m.Case(MessageKind.SUBSCRIBE):
                    load += [event.kind.eq(EventKind.CLEAR),
                             event.body.slot.eq(u_msg.body.code)]
                with m.Case(MessageKind.CONFIG):
                    load += [event.kind.eq(EventKind.CONFIG),
                             event.body.config.eq(u_msg.body.config)]
                with m.Case(MessageKind.FILL):
                    fill = event.body.fill
                    load += [event.kind.eq(EventKind.FILL), fill.slot.eq(u_slot),
                             fill.side.eq(u_order.side), fill.price.eq(u_order.price),
                             fill.qty.eq(u_order.shares), fill.source.eq(FillSource.HOST)]
                with m.Case(MessageKind.TRADE):
                    trade = event.body.trade
                    load += [event.kind.eq(EventKind.TRADE), trade.slot.eq(u_slot),
                             trade.side.eq(u_order.side), trade.price.eq(u_order.price),
                             trade.quantity.eq(u_order.shares)]
                with m.Case(MessageKind.DIRECTORY):
                    directory = event.body.directory
                    load += [event.kind.eq(EventKind.DIRECTORY),
                             directory.locate.eq(u_msg.locate),
                             directory.stock.eq(u_msg.body.directory.stock),
                             directory.round_lot_size.eq(
                                 u_msg.body.directory.round_lot_size)]
                with m.Case(MessageKind.SYSTEM):
                    load += [event.kind.eq(EventKind.SYSTEM),
                             event.body.system.code.eq(u_msg.body.code)]
                with m.Case(MessageKind.STATUS):
                    status = event.body.status
                    load += [event.kind.eq(EventKind.STATUS),
                             status.tag.eq(u_msg.body.status.tag)]
                    if not self.counters_port:   # else the link fills them in
                        load += [status.parser.eq(u_msg.body.status.parser),
                                 status.book.eq(counters)]
                with m.Default():
                    book = event.body.book
                    load += [event.kind.eq(EventKind.BOOK), book.slot.eq(u_slot),
                             book.side.eq(u_side), book.cause.eq(u_kind),
                             book.flags.eq(u_all_flags), book.depth.eq(depth)]
                    with m.If(u_kind == MessageKind.EXECUTE):
                        load += [book.trade_price.eq(u_trade.price),
                                 book.trade_qty.eq(u_trade.quantity)]
                    for level in range(cfg.exported_levels):
                        load += book.levels[level].eq(shown[level])

        if self.counters_port:
            m.d.comb += self.counters.eq(counters)
        if holds:
            t_out = Signal(32)           # the cycle the event is first offered
            with m.If(~u_computed):
                m.d.sync += t_out.eq(self.now + 1)
            m.d.comb += self.o.valid.eq(u_busy & u_computed & u_emits & ~taken)
            m.d.sync += taken.eq(self.o.valid & self.o.ready)
            load_event(m.d.comb, t_out)
        else:
            with m.If(u_advance & u_emits):
                m.d.sync += self.o.valid.eq(1)
                load_event(m.d.sync, self.now + 1)
            with m.Elif(self.o.ready):
                m.d.sync += self.o.valid.eq(0)

        return m


_FLAG_COUNTERS = {"duplicate_ref": "duplicate_refs", "table_full": "table_full",
                  "level_dropped": "level_drops", "level_missing": "level_misses",
                  "overexecution": "overexecutions", "qty_overflow": "qty_overflows"}
