"""Properties of the book: its sides stay sorted, unique and free of empty levels."""

from amaranth.hdl import Assert, Assume, Cat, Cover, Mux

from ...hdl.book.levels import LevelOp
from ...hdl.layouts import EventKind, MessageKind, Side


__all__ = ["side_is_well_formed", "side_update_keeps_sides_well_formed",
           "book_events_are_well_formed", "a_full_side_is_exported"]


def side_is_well_formed(levels, count, side, capacity):
    """Whether a book side holds ``count`` levels (at most ``capacity``) best first, bids by
    strictly falling and asks by strictly rising price, each with a quantity, and only zeros
    past ``count``: the shape every consumer of the book (pricing, imbalance, the host) takes
    for granted, and the reason "an empty level is never exported" holds. ``levels`` may be a
    prefix of the side (the exported levels of a book event)."""
    conditions = [count <= capacity]
    for index, level in enumerate(levels):
        inside = index < count
        conditions.append(Mux(inside, level.quantity != 0,
                              (level.price == 0) & (level.quantity == 0)))
        if index + 1 < len(levels):
            following = levels[index + 1].price
            ordered = Mux(side == Side.BID, level.price > following, level.price < following)
            conditions.append(~(index + 1 < count) | ordered)
    return Cat(conditions).all()


def side_update_keeps_sides_well_formed(m, update):
    """Any operation on a well-formed side leaves it well-formed. This is the book's only
    path to its levels, so with it every stored and exported side is well-formed.

    Precondition, besides a well-formed side: an ADD carries shares, as the parser guarantees
    (an add or replace of 0 shares is a ``bad_fields`` error and never reaches the book); an
    ADD of 0 shares at a new price would insert an empty level, in the golden model too.
    """
    tracked = update.tracked_levels
    m.d.comb += [
        Assume(side_is_well_formed(update.before.levels, update.before.count, update.side,
                                   tracked)),
        Assume((update.op != LevelOp.ADD) | (update.quantity != 0)),
        Assert(side_is_well_formed(update.after.levels, update.after.count, update.side,
                                   tracked)),
    ]


def book_events_are_well_formed(m, book):
    """Every BOOK event leaves with its levels sorted, unique, with quantities, and zero only
    past ``depth``, whatever messages came before (legal ones: an add or replace carries
    shares, as the parser guarantees; see :func:`side_update_keeps_sides_well_formed`)."""
    message = book.i.payload
    carries_shares = (message.kind != MessageKind.ADD) & (message.kind != MessageKind.REPLACE)
    m.d.comb += Assume(~book.i.valid | carries_shares | (message.body.order.shares != 0))

    event = book.o.payload
    update = event.body.book
    with m.If(book.o.valid & (event.kind == EventKind.BOOK)):
        m.d.comb += Assert(side_is_well_formed(update.levels, update.depth, update.side,
                                               book.config.tracked_levels))


def a_full_side_is_exported(m, book):
    """A BOOK event with every tracked level filled can leave: a bounded check of
    :func:`book_events_are_well_formed` that never reached one would prove nothing."""
    update = book.o.payload.body.book
    m.d.comb += Cover(book.o.valid & (book.o.payload.kind == EventKind.BOOK) &
                      (update.depth == book.config.tracked_levels))
