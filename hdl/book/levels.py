"""One side of a price-level book, and the step that changes it."""

from amaranth.hdl import Module, Signal, Mux, Const, Value
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import Side, Level


__all__ = ["LevelOp", "side_layout", "SideUpdate"]


class LevelOp(enum.Enum, shape=2):
    ADD    = 0  # add shares at a price, inserting the level if it is new
    REMOVE = 1  # remove shares at a price, deleting the level when it empties
    SET    = 2  # set a level's quantity outright; 0 deletes it


class _Change(enum.Enum, shape=2):
    """What an operation does to a side's levels."""
    NONE   = 0
    INSERT = 1
    DELETE = 2
    MODIFY = 3


def side_layout(tracked_levels):
    """A book side as stored: ``count`` levels, best first; entries past ``count`` are zero."""
    return data.StructLayout({
        "count":  range(tracked_levels + 1),
        "levels": data.ArrayLayout(Level, tracked_levels),
    })


class SideUpdate(wiring.Component):
    """Applies one :class:`LevelOp` to one book side: combinationally, or in two cycles.

    Bids are kept by falling price and asks by rising price. Because a side is sorted, the
    levels better than the operation's price form a prefix, so the insert position is where that
    prefix ends and every output level is a 3-way choice (keep, new, neighbour): no adders or
    priority encoders in the data path, only one 32-bit comparison per level.

    Flags, as the golden model (``host/model/book.py``) defines them: ``dropped`` when a level
    falls off the tracked depth or a new price is worse than every level of a full side;
    ``missing`` when shares are removed from an absent level or from a level holding fewer;
    ``overflow`` when an add would pass 2**32-1 (the quantity saturates). Removing 0 shares and
    setting an absent level to 0 change nothing.

    With ``two_cycle`` the comparisons and the matching level's sum and difference are
    registered, so ``after`` and the flags follow the inputs a cycle later and the inputs must
    be held for two cycles: the carry chains and the wide choice of levels then take a cycle
    each (together they were a byte-wide board's longest path).
    """

    def __init__(self, tracked_levels, *, two_cycle=False):
        self.tracked_levels = tracked_levels
        self.two_cycle = two_cycle
        super().__init__({
            "side":     In(Side),
            "op":       In(LevelOp),
            "price":    In(32),
            "quantity": In(32),
            "before":   In(side_layout(tracked_levels)),
            "after":    Out(side_layout(tracked_levels)),
            "dropped":  Out(1),
            "missing":  Out(1),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        count = self.tracked_levels
        levels = self.before.levels

        valid = [i < self.before.count for i in range(count)]
        better_now = Signal(count)   # a prefix: the levels that stay ahead of the price
        match_now = Signal(count)    # at most one level holds the price
        for i in range(count):
            price_i = levels[i].price
            ahead = Mux(self.side == Side.BID, price_i > self.price, price_i < self.price)
            m.d.comb += [
                better_now[i].eq(valid[i] & ahead),
                match_now[i].eq(valid[i] & (price_i == self.price)),
            ]

        # The matching level's quantity plus and minus the operation's, worked out for every
        # level beside the price comparisons and then picked by the match (one-hot), not after
        # it: two carry chains in a row were the side update's longest path.
        total_now = Const(0, 33)    # bit 32: past 2**32-1
        left_now = Const(0, 33)     # bit 32: fewer shares than removed
        for i in range(count):
            total_i, left_i = Signal(33, name=f"total_{i}"), Signal(33, name=f"left_{i}")
            m.d.comb += [total_i.eq(levels[i].quantity + self.quantity),
                         left_i.eq(levels[i].quantity - self.quantity)]
            total_now = total_now | Mux(match_now[i], total_i, 0)
            left_now = left_now | Mux(match_now[i], left_i, 0)

        better, match = Signal(count), Signal(count)
        total, left = Signal(33), Signal(33)
        compared = m.d.sync if self.two_cycle else m.d.comb
        compared += [better.eq(better_now), match.eq(match_now),
                     total.eq(total_now), left.eq(left_now)]
        present = match.any()
        at = [~better[i] & (better[i - 1] if i else 1) for i in range(count)]  # insert position
        full = self.before.count == count

        new_level = Signal(Level)
        zero = Const(0, Level.as_shape().size)
        raw = [Value.cast(level) for level in levels]

        def inserted(i):
            return Mux(better[i], raw[i], Mux(at[i], Value.cast(new_level),
                                              raw[i - 1] if i else zero))

        def removed(i):
            return Mux(better[i], raw[i], raw[i + 1] if i + 1 < count else zero)

        def modified(i):
            return Mux(match[i], Value.cast(new_level), raw[i])

        # The operation decides its change once; each level is then one 4-way choice. (Writing
        # ``after`` in every branch of the operation built a chain of 2-way choices per bit.)
        change = Signal(_Change)
        m.d.comb += new_level.price.eq(self.price)

        def insert():
            m.d.comb += [new_level.quantity.eq(self.quantity), self.dropped.eq(full)]
            with m.If(~better.all()):  # else worse than every level of a full side: not kept
                m.d.comb += change.eq(_Change.INSERT)

        def modify(quantity):
            m.d.comb += [new_level.quantity.eq(quantity), change.eq(_Change.MODIFY)]

        with m.Switch(self.op):
            with m.Case(LevelOp.ADD):
                with m.If(present):
                    m.d.comb += self.overflow.eq(total[32])
                    modify(Mux(total[32], Const((1 << 32) - 1, 32), total[:32]))
                with m.Else():
                    insert()
            with m.Case(LevelOp.REMOVE):
                with m.If(self.quantity != 0):
                    with m.If(~present):
                        m.d.comb += self.missing.eq(1)
                    with m.Elif(~left[32] & (left[:32] != 0)):
                        modify(left[:32])
                    with m.Else():
                        m.d.comb += [self.missing.eq(left[32]), change.eq(_Change.DELETE)]
            with m.Case(LevelOp.SET):
                with m.If(present):
                    with m.If(self.quantity != 0):
                        modify(self.quantity)
                    with m.Else():
                        m.d.comb += change.eq(_Change.DELETE)
                with m.Elif(self.quantity != 0):
                    insert()

        with m.Switch(change):
            with m.Case(_Change.INSERT):
                m.d.comb += self.after.count.eq(Mux(full, count, self.before.count + 1))
                m.d.comb += [self.after.levels[i].eq(inserted(i)) for i in range(count)]
            with m.Case(_Change.DELETE):
                m.d.comb += self.after.count.eq(self.before.count - 1)
                m.d.comb += [self.after.levels[i].eq(removed(i)) for i in range(count)]
            with m.Case(_Change.MODIFY):
                m.d.comb += self.after.count.eq(self.before.count)
                m.d.comb += [self.after.levels[i].eq(modified(i)) for i in range(count)]
            with m.Default():
                m.d.comb += self.after.eq(self.before)
        return m
