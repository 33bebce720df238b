"""Both sides of a one-slot book in block RAM, changed a byte at a time: the smallest parts'."""

from contextlib import contextmanager

from amaranth.hdl import Module, Signal, Mux, Cat
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import Side, Level
from ..ram import CollisionFreeMemory
from .levels import LevelOp


__all__ = ["SerialSides"]


class _Change(enum.Enum, shape=2):
    NONE   = 0
    INSERT = 1
    DELETE = 2
    MODIFY = 3


class _New(enum.Enum, shape=2):
    """Where a modified level's new quantity comes from."""
    SUM        = 0   # its quantity plus the operation's, saturating
    DIFFERENCE = 1   # its quantity minus the operation's
    QUANTITY   = 2   # the operation's


_LEVEL_BYTES = Level.as_shape().size // 8   # price bytes 0-3, quantity bytes 4-7, little-endian


class SerialSides(wiring.Component):
    """The bid and ask sides of one book slot, kept in one block RAM of bytes, and the
    :class:`~tickforge.hdl.book.levels.LevelOp` step that changes them, worked one byte at a
    time through one byte-wide adder. It gives :class:`~tickforge.hdl.book.levels.SideUpdate`'s
    results and flags (the golden model's level rules), and keeps only the side counts and the
    exported levels of the last side touched in registers.

    Why: a side held in registers costs a flip-flop per bit and a 4-way choice per bit for its
    update (about 1,000 logic cells for two sides of two levels). A byte-wide book behind a
    UART has thousands of cycles per message, so the step may take a few dozen.

    Members
    -------
    start : ``In(1)``
        Begins a step with the inputs below, which must hold until ``done``.
    clear : ``In(1)``
        With ``start``: empty both sides (a subscription).
    changes : ``In(1)``
        With ``start``: apply ``op`` to ``side``; otherwise only show ``side`` as it is.
    side, op, price, quantity : ``In``
        The step.
    done : ``Out(1)``
        The step is complete; the outputs below hold until the next ``start``.
    count : ``Out``
        ``side``'s depth (after the step, once ``done``).
    levels : ``Out``
        The first ``exported_levels`` levels of the step's side as the step left them (zero
        past its depth), held until the next ``start``.
    dropped, missing, overflow : ``Out(1)``
        The step's flags, as :class:`~tickforge.hdl.book.levels.SideUpdate` defines them.

    Latency: 9 cycles per level scanned, 8 more for a quantity (16 to change it), 16 per level
    moved, 8 to write a new one and 16 per exported level: up to about 280 cycles with 16
    levels, one exported, when a level enters a full side at the top. One step at a time.
    """

    def __init__(self, tracked_levels, exported_levels):
        self.tracked_levels = tracked_levels
        self.exported_levels = exported_levels
        super().__init__({
            "start":    In(1),
            "clear":    In(1),
            "changes":  In(1),
            "side":     In(Side),
            "op":       In(LevelOp),
            "price":    In(32),
            "quantity": In(32),
            "done":     Out(1),
            "count":    Out(range(tracked_levels + 1)),
            "levels":   Out(data.ArrayLayout(Level, exported_levels)),
            "dropped":  Out(1),
            "missing":  Out(1),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        tracked = self.tracked_levels
        level_bits = (tracked - 1).bit_length()
        # a byte is read, then written, never both in one cycle: no collision to resolve
        m.submodules.ram = ram = CollisionFreeMemory(shape=8, depth=2 << (level_bits + 3),
                                                     init=[])
        write = ram.write_port()
        read = ram.read_port()

        counts = [Signal(range(tracked + 1), name=f"{side.name.lower()}_count") for side in Side]
        count = Mux(self.side == Side.BID, counts[0], counts[1])
        m.d.comb += self.count.eq(count)

        level = Signal(range(tracked + 1))     # the level a loop is at (and writes)
        source = Signal(range(tracked + 1))    # the level it reads: a move's neighbour
        byte = Signal(range(_LEVEL_BYTES))     # ... and their byte
        last_byte = byte == _LEVEL_BYTES - 1
        fetched = Signal()                      # the byte read last cycle is on read.data
        m.d.comb += [source.eq(level),
                     read.addr.eq(Cat(byte, source[:level_bits], self.side)),
                     write.addr.eq(Cat(byte, level[:level_bits], self.side)),
                     read.en.eq(~write.en)]

        @contextmanager
        def fetched_byte():   # a loop's read takes two cycles: the body runs in the second,
                              # with the byte on read.data
            with m.If(~fetched):
                m.d.sync += fetched.eq(1)
            with m.Else():
                m.d.sync += fetched.eq(0)
                yield

        @contextmanager
        def next_byte(last=last_byte):   # on to the loop's next byte; the body runs at its last
            with m.If(last):
                yield
            with m.Else():
                m.d.sync += byte.eq(byte + 1)

        def set_count(value):
            for side, side_count in zip(Side, counts):
                with m.If(self.side == side):
                    m.d.sync += side_count.eq(value)

        def move(step):   # a loop over the level's bytes, each the same byte of ``source``
            m.d.comb += source.eq(level + step)
            with fetched_byte():
                m.d.comb += [write.data.eq(read.data), write.en.eq(1)]
                with next_byte():
                    m.d.sync += [byte.eq(0), level.eq(level + step)]

        # One adder for every comparison and sum: a RAM byte plus the operation's byte (or its
        # complement, carry in 1, to subtract), least significant byte first.
        subtract = Signal()
        carry = Signal()
        nonzero = Signal()                      # a result byte so far was not 0
        operand = Mux(byte < 4, self.price.word_select(byte[:2], 8),
                      self.quantity.word_select(byte[:2], 8))
        total = Signal(9)
        m.d.comb += total.eq(read.data + Mux(subtract, ~operand, operand) + carry)
        restart = [carry.eq(subtract), nonzero.eq(0)]

        def accumulate():
            m.d.sync += [carry.eq(total[8]), nonzero.eq(nonzero | (total[:8] != 0))]

        at = Signal(range(tracked + 1))         # the operation's level: the first not ahead
        present = Signal()                      # ... which holds its price
        change = Signal(_Change)
        new = Signal(_New)
        saturate = Signal()
        is_bid = self.side == Side.BID
        full = count == tracked

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.done.eq(0), self.dropped.eq(0), self.missing.eq(0),
                                 self.overflow.eq(0), level.eq(0), byte.eq(0), fetched.eq(0),
                                 subtract.eq(1), carry.eq(1), nonzero.eq(0)]
                    with m.If(self.clear):   # (and show the empty side: no reset per bit)
                        m.d.sync += [c.eq(0) for c in counts]
                        m.next = "SHOW"
                    with m.Elif(self.changes):
                        m.next = "SCAN"
                    with m.Else():
                        m.next = "SHOW"

            # Find the first level not ahead of the price (bids fall, asks rise): level minus
            # price over the four price bytes; carry out: level >= price.
            with m.State("SCAN"):
                with m.If(level == count):
                    m.d.sync += [at.eq(level), present.eq(0)]
                    m.next = "DECIDE"
                with m.Elif(~fetched):   # (fetched_byte's two cycles, in this chain)
                    m.d.sync += fetched.eq(1)
                with m.Else():
                    m.d.sync += fetched.eq(0)
                    accumulate()
                    with next_byte(last=byte == 3):   # the price's last byte
                        differs = nonzero | (total[:8] != 0)
                        m.d.sync += [byte.eq(0), *restart]
                        with m.If(Mux(is_bid, total[8] & differs, ~total[8])):   # ahead
                            m.d.sync += level.eq(level + 1)
                        with m.Else():
                            m.d.sync += [at.eq(level), present.eq(~differs)]
                            m.next = "DECIDE"

            with m.State("DECIDE"):
                # a present level's quantity and the operation's, summed or subtracted first
                m.d.sync += [level.eq(at), byte.eq(4), fetched.eq(0),
                             subtract.eq(self.op == LevelOp.REMOVE),
                             carry.eq(self.op == LevelOp.REMOVE), nonzero.eq(0)]
                with m.If(present & (self.op != LevelOp.SET)):
                    m.next = "SUM"
                with m.Else():
                    m.next = "APPLY"

            with m.State("SUM"):
                with fetched_byte():
                    accumulate()
                    with next_byte():
                        m.d.sync += byte.eq(4)
                        m.next = "APPLY"

            with m.State("APPLY"):
                # the golden model's rules, as SideUpdate applies them
                def insert():
                    m.d.sync += self.dropped.eq(full)
                    with m.If(at != tracked):   # else worse than every level of a full side
                        m.d.sync += change.eq(_Change.INSERT)

                def modify(source):
                    m.d.sync += [new.eq(source), change.eq(_Change.MODIFY)]

                m.d.sync += [change.eq(_Change.NONE), saturate.eq(carry),
                             subtract.eq(self.op == LevelOp.REMOVE),
                             carry.eq(self.op == LevelOp.REMOVE), fetched.eq(0)]
                with m.Switch(self.op):
                    with m.Case(LevelOp.ADD):
                        with m.If(present):
                            m.d.sync += self.overflow.eq(carry)
                            modify(_New.SUM)
                        with m.Else():
                            insert()
                    with m.Case(LevelOp.REMOVE):
                        with m.If(self.quantity != 0):
                            with m.If(~present):
                                m.d.sync += self.missing.eq(1)
                            with m.Elif(carry & nonzero):
                                modify(_New.DIFFERENCE)
                            with m.Else():
                                m.d.sync += [self.missing.eq(~carry), change.eq(_Change.DELETE)]
                    with m.Case(LevelOp.SET):
                        with m.If(present):
                            with m.If(self.quantity != 0):
                                modify(_New.QUANTITY)
                            with m.Else():
                                m.d.sync += change.eq(_Change.DELETE)
                        with m.Elif(self.quantity != 0):
                            insert()
                m.next = "CHANGE"

            with m.State("CHANGE"):
                with m.Switch(change):
                    with m.Case(_Change.MODIFY):
                        m.next = "MODIFY"
                    with m.Case(_Change.INSERT):   # from the new last level
                        m.d.sync += [level.eq(Mux(full, tracked - 1, count)), byte.eq(0)]
                        m.next = "OPEN"
                    with m.Case(_Change.DELETE):
                        m.d.sync += [level.eq(at), byte.eq(0)]
                        m.next = "CLOSE"
                    with m.Default():
                        m.d.sync += [level.eq(0), byte.eq(0)]
                        m.next = "SHOW"

            # The present level's quantity, again through the adder, now written back.
            with m.State("MODIFY"):
                with fetched_byte():
                    accumulate()
                    with m.Switch(new):
                        with m.Case(_New.SUM):
                            m.d.comb += write.data.eq(Mux(saturate, 0xff, total[:8]))
                        with m.Case(_New.DIFFERENCE):
                            m.d.comb += write.data.eq(total[:8])
                        with m.Default():
                            m.d.comb += write.data.eq(operand)
                    m.d.comb += write.en.eq(1)
                    with next_byte():
                        m.d.sync += [level.eq(0), byte.eq(0)]
                        m.next = "SHOW"

            # Insert: each level from the new last one down to the new one's takes the level
            # above it (on a full side the last one falls off), then the new level is written.
            with m.State("OPEN"):
                with m.If(level == at):
                    m.d.comb += [write.data.eq(operand), write.en.eq(1)]
                    with next_byte():
                        set_count(Mux(full, tracked, count + 1))
                        m.d.sync += [level.eq(0), byte.eq(0)]
                        m.next = "SHOW"
                with m.Else():
                    move(-1)

            # Delete: each level from the removed one down takes the level below it.
            with m.State("CLOSE"):
                with m.If(level + 1 >= count):
                    set_count(count - 1)
                    m.d.sync += [level.eq(0), byte.eq(0)]
                    m.next = "SHOW"
                with m.Else():
                    move(+1)

            # The side's exported levels into the output register, a byte at a time.
            with m.State("SHOW"):
                with m.If(level == self.exported_levels):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Elif(~fetched):   # (fetched_byte's two cycles, in this chain)
                    m.d.sync += fetched.eq(1)
                with m.Else():
                    m.d.sync += [fetched.eq(0),
                                 self.levels.eq(Cat(self.levels.as_value()[8:],
                                                    Mux(level < count, read.data, 0)))]
                    with next_byte():
                        m.d.sync += [level.eq(level + 1), byte.eq(0)]
        return m
