"""Golden model of the gateware book: parsed messages in, events out.

The rules, which the gateware follows bit for bit:

Slots. ``s`` (subscribe) points slot ``code`` at the message's locate, clears that slot's
levels and unpoints any other slot at the same locate; a slot that does not exist is a config
error. Book messages (add, execute, cancel, delete, replace, trade, level) for a locate no slot
points at are counted as unsubscribed and produce nothing.

Orders. The order table has ``order_sets`` sets of ``order_ways`` ways; an order lives in set
``config.order_set(ref)``, in the lowest free way. An add whose reference is live in its set is
a duplicate; an add that finds its set full is ``table_full``: either way nothing is booked and
the event says why. Execute, cancel, delete and replace find their order by reference *and*
slot; not found is an unknown reference, counted, with no event. Removing more shares than an
order has is an overexecution: clamped to what it has. An order left with 0 shares is freed.
A replace removes the old order entirely, then adds the new one on the same side.

Levels. Each slot has a bid and an ask side: up to ``tracked_levels`` (price, quantity) pairs,
best first (bids by falling price, asks by rising price), each with quantity > 0. Adding shares
to a price not on the side inserts a level; if the side is then over-full its worst level is
dropped, and a price worse than every level of a full side is not inserted: both are
``level_dropped``. Removing shares from a price not on the side (or more shares than the level
holds, which then empties it) is ``level_missing``. Removing 0 shares changes nothing. A level
quantity saturates at 2**32-1 (``qty_overflow``). A level message (``l``) sets the quantity
outright, 0 removing the level (removing an absent level is no error: venues do that).

Events. Every book message on a slot gives one BOOK event with the side it touched (or would
have: duplicate and table_full add events show the unchanged side); trades give a TRADE event;
R gives DIRECTORY for every locate; S gives SYSTEM; y gives STATUS with the parser's and the
book's counters (the risk gate fills in its own). An execution's event carries the shares
removed and the price (C's own price if it has one); a non-printable C carries 0 shares. Each
flag raised by a message adds 1 to its counter. For the kernels after it the book also passes
on a subscription as CLEAR (its slot), a parameter write as CONFIG and a host fill as FILL (its
slot looked up like a book message's; the risk gate fills in the inventory).
"""

from ...hdl.layouts import MessageKind, EventKind, Side, FillSource
from ...hdl.book.levels import LevelOp
from ..protocol import event_codec


__all__ = ["BookModel"]


_MAX32 = (1 << 32) - 1
_BOOK_KINDS = {MessageKind.ADD, MessageKind.EXECUTE, MessageKind.CANCEL, MessageKind.DELETE,
               MessageKind.REPLACE, MessageKind.TRADE, MessageKind.LEVEL, MessageKind.FILL}
_FLAG_COUNTERS = {"duplicate_ref": "duplicate_refs", "table_full": "table_full",
                  "level_dropped": "level_drops", "level_missing": "level_misses",
                  "overexecution": "overexecutions", "qty_overflow": "qty_overflows"}


class _Order:
    __slots__ = ("ref", "slot", "side", "price", "shares")

    def __init__(self, ref, slot, side, price, shares):
        self.ref, self.slot, self.side, self.price, self.shares = ref, slot, side, price, shares


class BookModel:
    def __init__(self, config):
        self.config = config
        codec = event_codec(config.exported_levels)
        self._Event = codec.Record
        self._Book = codec.records["book"]
        self._Flags = codec.records["BookFlags"]
        self._Level = codec.records["Level"]
        self._Trade = codec.records["trade"]
        self._Directory = codec.records["directory"]
        self._System = codec.records["system"]
        self._Status = codec.records["status"]
        self._Fill = codec.records["FillFields"]
        risk_counters = codec.records["RiskCounters"]
        self._no_risk_counters = risk_counters(*[0] * len(risk_counters._fields))
        self._Config = codec.records["ConfigFields"]
        self._BookCounters = codec.records["BookCounters"]
        self.counters = dict.fromkeys(self._BookCounters._fields, 0)
        self.slots = [None] * config.symbols             # slot → locate
        self._slot_of = {}                               # locate → slot
        self.table = [[None] * config.order_ways for _ in range(config.order_sets)]
        # levels[slot][side] is a list of [price, quantity], best first
        self.levels = [([], []) for _ in range(config.symbols)]
        self._empty_levels = (self._Level(price=0, quantity=0),) * config.exported_levels

    def process(self, message):
        """Apply one parsed message; return its event or None."""
        kind = message.kind
        if kind in _BOOK_KINDS:
            slot = self._slot_of.get(message.locate)
            if slot is None:
                self._count("unsubscribed")
                return None
            return self._book_message(kind, slot, message)
        if kind == MessageKind.SUBSCRIBE:
            if self._subscribe(message.locate, message.body):
                return self._event(EventKind.CLEAR, message, message.body)
            return None
        if kind == MessageKind.CONFIG:
            return self._event(EventKind.CONFIG, message, self._Config(*message.body))
        if kind == MessageKind.DIRECTORY:
            body = self._Directory(locate=message.locate, stock=message.body.stock,
                                   round_lot_size=message.body.round_lot_size)
            return self._event(EventKind.DIRECTORY, message, body)
        if kind == MessageKind.SYSTEM:
            return self._event(EventKind.SYSTEM, message, self._System(code=bytes([message.body])))
        if kind == MessageKind.STATUS:
            body = self._Status(tag=message.body.tag, parser=message.body.parser,
                                book=self._BookCounters(**self.counters),
                                risk=self._no_risk_counters)
            return self._event(EventKind.STATUS, message, body)
        raise ValueError(f"the book has no rule for {kind}")

    def apply_level_op(self, levels, side, op, price, quantity):
        """One level operation on a side (a list of [price, quantity], best first), as the
        gateware's ``SideUpdate`` does it; returns the set of flags it raised."""
        flags = set()
        if op == LevelOp.ADD:
            self._add_shares(levels, side, price, quantity, flags)
        elif op == LevelOp.REMOVE:
            self._remove_shares(levels, price, quantity, flags)
        else:
            self._set_level(levels, side, price, quantity, flags)
        return flags

    def side_levels(self, slot, side):
        """The tracked levels of one side as (price, quantity) tuples, best first."""
        return [tuple(level) for level in self.levels[slot][side.value]]

    # --- messages -------------------------------------------------------------------------

    def _subscribe(self, locate, slot):
        if slot >= self.config.symbols:
            self._count("config_errors")
            return False
        previous = self._slot_of.pop(locate, None)
        if previous is not None:
            self.slots[previous] = None
        old_locate = self.slots[slot]
        if old_locate is not None:
            del self._slot_of[old_locate]
        self.slots[slot] = locate
        self._slot_of[locate] = slot
        self.levels[slot] = ([], [])
        return True

    def _book_message(self, kind, slot, message):
        o = message.body
        if kind == MessageKind.FILL:
            body = self._Fill(slot=slot, side=o.side, price=o.price, qty=o.shares,
                              source=FillSource.HOST, inventory=0)
            return self._event(EventKind.FILL, message, body)
        if kind == MessageKind.TRADE:
            body = self._Trade(slot=slot, side=o.side, price=o.price, quantity=o.shares)
            return self._event(EventKind.TRADE, message, body)
        flags = set()
        trade_price = trade_qty = 0
        if kind == MessageKind.ADD:
            side = o.side
            self._add_order(o.ref, slot, side, o.price, o.shares, flags)
        elif kind == MessageKind.LEVEL:
            side = o.side
            self._set_level(self.levels[slot][side.value], side, o.price, o.shares, flags)
        else:
            found = self._find(o.ref, slot)
            if found is None:
                self._count("unknown_refs")
                return None
            ways, way, order = found
            side = order.side
            if kind == MessageKind.REPLACE:
                amount = order.shares
            elif kind == MessageKind.DELETE:
                amount = order.shares
            else:
                amount = o.shares
                if amount > order.shares:
                    flags.add("overexecution")
                    amount = order.shares
            order.shares -= amount
            if order.shares == 0:
                ways[way] = None
            self._remove_shares(self.levels[slot][side.value], order.price, amount, flags)
            if kind == MessageKind.EXECUTE:
                trade_price = o.price if o.has_price else order.price
                trade_qty = amount if o.printable else 0
            elif kind == MessageKind.REPLACE:
                self._add_order(o.new_ref, slot, side, o.price, o.shares, flags)
        for flag in flags:
            self._count(_FLAG_COUNTERS[flag])
        levels = self.levels[slot][side.value]
        exported = tuple(self._Level(price=p, quantity=q)
                         for p, q in levels[:self.config.exported_levels])
        exported += self._empty_levels[len(exported):]
        body = self._Book(
            slot=slot, side=side, cause=kind,
            flags=self._Flags(**{name: int(name in flags) for name in self._Flags._fields}),
            depth=len(levels), trade_price=trade_price, trade_qty=trade_qty, levels=exported)
        return self._event(EventKind.BOOK, message, body)

    # --- the order table ------------------------------------------------------------------

    def _find(self, ref, slot):
        ways = self.table[self.config.order_set(ref)]
        for way, order in enumerate(ways):
            if order is not None and order.ref == ref and order.slot == slot:
                return ways, way, order
        return None

    def _add_order(self, ref, slot, side, price, shares, flags):
        ways = self.table[self.config.order_set(ref)]
        if any(order is not None and order.ref == ref for order in ways):
            flags.add("duplicate_ref")
            return
        for way, order in enumerate(ways):
            if order is None:
                ways[way] = _Order(ref, slot, side, price, shares)
                self._add_shares(self.levels[slot][side.value], side, price, shares, flags)
                return
        flags.add("table_full")

    # --- price levels -----------------------------------------------------------------------

    def _position(self, levels, side, price):
        """Index of ``price`` on the side, or where it would go; and whether it is there."""
        for index, (level_price, _) in enumerate(levels):
            if level_price == price:
                return index, True
            if (price > level_price) if side == Side.BID else (price < level_price):
                return index, False
        return len(levels), False

    def _add_shares(self, levels, side, price, shares, flags):
        index, present = self._position(levels, side, price)
        if present:
            total = levels[index][1] + shares
            if total > _MAX32:
                flags.add("qty_overflow")
                total = _MAX32
            levels[index][1] = total
        else:
            self._insert(levels, index, price, shares, flags)

    def _insert(self, levels, index, price, quantity, flags):
        if index == self.config.tracked_levels:
            flags.add("level_dropped")
            return
        levels.insert(index, [price, quantity])
        if len(levels) > self.config.tracked_levels:
            levels.pop()
            flags.add("level_dropped")

    def _remove_shares(self, levels, price, shares, flags):
        if shares == 0:
            return
        for index, level in enumerate(levels):
            if level[0] == price:
                if level[1] > shares:
                    level[1] -= shares
                else:
                    if level[1] < shares:
                        flags.add("level_missing")
                    del levels[index]
                return
        flags.add("level_missing")

    def _set_level(self, levels, side, price, quantity, flags):
        index, present = self._position(levels, side, price)
        if present:
            if quantity:
                levels[index][1] = quantity
            else:
                del levels[index]
        elif quantity:
            self._insert(levels, index, price, quantity, flags)

    # --- events -----------------------------------------------------------------------------

    def _count(self, name):
        self.counters[name] = (self.counters[name] + 1) & _MAX32

    def _event(self, kind, message, body):
        return self._Event(kind=kind, seq=message.seq, t_in=message.t_in, t_out=0,
                           timestamp=message.timestamp, body=body)
