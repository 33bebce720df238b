"""Capacity limits: each is detected, counted alike by the RTL and the golden model, reaches
the host's summary line, and degrades as documented here:

- **order table full** (an add whose set has no free way): the add is not booked, the book
  event carries ``table_full`` and the side unchanged, ``table_full`` +1. Later messages for
  that order are ``unknown_refs`` (counted, no event).
- **more symbols than configured**: a subscription to a slot >= ``symbols`` is refused
  (``config_errors`` +1, no CLEAR); book messages for a locate no slot points at are dropped
  and counted (``unsubscribed``).
- **more price levels than tracked**: a new level better than the worst pushes the worst out,
  a level worse than every level of a full side is not kept; either way ``level_drops`` +1.
  Shares later removed from a dropped level are ``level_misses``.
- **prices and quantities at the edge of the representable range**: a price is 32 bits on the
  wire and in the book; 2**32-1 is kept exactly (pricing's Q16 fields are 48 bits, so the mid
  of two such prices is exact). A level's quantity saturates at 2**32-1 (``qty_overflows``).
  A price that does not fit 32 bits cannot enter: the host refuses to encode it (ValueError),
  and the Binance reader refuses a decimal its scale cannot carry (ScaleError).
"""

import pytest

from tickforge.hdl.layouts import EventKind
from tickforge.host.fuzz import FUZZ_CONFIG as CONFIG
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import encode
from tickforge.host.report import print_counters


TOP = (1 << 32) - 1
LOCATE, STRAY = 1, 2
ADDS = 10
SATURATING = 99


def _add(ref, price, side=b"B", shares=100, locate=LOCATE):
    return encode("A", stock_locate=locate, order_reference_number=ref, buy_sell_indicator=side,
                  shares=shares, stock=b"CAP", price=price)


def _stream():
    units = [encode("s", stock_locate=LOCATE, slot=0),
             encode("s", stock_locate=STRAY, slot=CONFIG.symbols),       # no such slot
             _add(1000, 5000, locate=STRAY),                             # unsubscribed
             encode("l", stock_locate=LOCATE, side=b"S", price=TOP, quantity=TOP),
             _add(SATURATING, TOP, side=b"S", shares=1)]                 # saturates at TOP
    units += [_add(ref, 100 + ref) for ref in range(1, ADDS + 1)]        # a 4 x 1 table
    units += [encode("l", stock_locate=LOCATE, side=b"S", price=200 + level, quantity=1)
              for level in range(CONFIG.tracked_levels + 2)]             # 3 more than fit
    units.append(encode("y", tag=1))
    return b"".join(units)


EXPECTED = {
    "config_errors": 1,
    "unsubscribed": 1,
    "table_full": ADDS - len({CONFIG.order_set(ref) for ref in range(1, ADDS + 1)}
                             - {CONFIG.order_set(SATURATING)}),
    "level_drops": 3,         # TOP and 203 pushed out, 205 worse than every ask of a full side
    "qty_overflows": 1,
}


@pytest.fixture(scope="module")
def runs():
    from tickforge.host.transport.sim import SimTransport
    data = _stream()
    with SimTransport(CONFIG) as sim:
        sim.send(data)
        sim.finish()
        rtl = [event._replace(t_in=0, t_out=0) for event in sim.events()]
    return CoreModel(CONFIG).feed(data), rtl


def _status(events):
    return next(event for event in reversed(events) if event.kind == EventKind.STATUS).body


def test_the_rtl_counts_every_limit_as_the_model_does(runs):
    model, rtl = runs
    assert rtl == model
    counters = _status(rtl).book._asdict()
    assert {name: counters[name] for name in EXPECTED} == EXPECTED


def test_table_full_adds_say_so_and_leave_the_side_unchanged(runs):
    model, _ = runs
    full = [event.body for event in model
            if event.kind == EventKind.BOOK and event.body.flags.table_full]
    assert len(full) == EXPECTED["table_full"]
    assert [body.levels for body in full] == [full[0].levels] * len(full)


def test_the_counters_reach_the_host_summary(runs, capsys):
    _, rtl = runs
    print_counters(_status(rtl))
    line = capsys.readouterr().out.strip()
    for name, value in EXPECTED.items():
        assert f"{name} {value}" in line


def test_a_price_past_32_bits_cannot_enter():
    with pytest.raises(ValueError, match="4294967295"):
        _add(1, TOP + 1)
