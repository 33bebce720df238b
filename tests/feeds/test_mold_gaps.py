"""ITCH feed gaps: a real LOBSTER day as ITCH in MoldUDP64 packets, packets dropped; every gap
is detected and reported, and after the snapshot the target's books equal the complete feed's
(golden model, and the RTL through the native simulation)."""

import random

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, Side
from tickforge.host.feeds.lobster import LobsterDay, LobsterToItch
from tickforge.host.feeds.mold import (FeedGap, GapRecovery, GlimpseModel, MoldFormatError,
                                       MoldSequencer, pack, parse_packet)
from tickforge.host.model.core import CoreModel
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.protocol import encode


SLICE = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
CONFIG = CoreConfig(trading=False)
PER_PACKET = 8


@pytest.fixture(scope="module")
def day():
    """``(prelude, feed units)`` of the slice: the subscription, then every converted unit."""
    lobster = LobsterDay(SLICE)
    converter = LobsterToItch.for_day(lobster)
    return [encode("s", stock_locate=converter.locate, slot=0)], list(
        converter.units(lobster.rows()))


def _book_bodies(events):
    return [event.body for event in events if event.kind == EventKind.BOOK]


def _recover(prelude, feed, dropped):
    """The units a :class:`GapRecovery` sends for the feed with packets ``dropped`` lost, and
    the recovery; plus, per packet sent, where its units start."""
    recovery = GapRecovery(CONFIG, GlimpseModel(CONFIG, prelude, feed))
    units = recovery.control(prelude)
    for index, packet in enumerate(pack(feed, per_packet=PER_PACKET)):
        if index not in dropped:
            units += recovery.packet(packet)
    return units, recovery


def _assert_same_books(held, truth):
    assert held.slots == truth.slots
    for slot, locate in enumerate(truth.slots):
        if locate is not None:
            for side in Side:
                assert held.side_levels(slot, side) == truth.side_levels(slot, side)
    assert ({(o.ref, o.slot, o.side, o.price, o.shares) for ways in held.table for o in ways if o}
            == {(o.ref, o.slot, o.side, o.price, o.shares) for ways in truth.table
                for o in ways if o})


def test_packets_round_trip_and_bad_packets_are_clear_errors(day):
    _, feed = day
    packets = pack(feed[:20], per_packet=PER_PACKET)
    parsed = [parse_packet(packet) for packet in packets]
    assert [packet.sequence for packet in parsed] == [1, 9, 17]
    assert [unit for packet in parsed for unit in packet.units] == feed[:20]
    with pytest.raises(MoldFormatError, match="20-byte header"):
        parse_packet(packets[0][:19])
    with pytest.raises(MoldFormatError, match="message 8 of 8 is truncated"):
        parse_packet(packets[0][:-1])
    with pytest.raises(MoldFormatError, match="1 bytes after its 8 messages"):
        parse_packet(packets[0] + b"\x00")


def test_sequencer_reports_gaps_and_drops_duplicates(day):
    _, feed = day
    sequencer = MoldSequencer()
    first, second, third = (parse_packet(p) for p in pack(feed[:24], per_packet=PER_PACKET))
    assert sequencer.accept(first) == (None, first.units)
    gap, units = sequencer.accept(third)
    assert gap == FeedGap(b"TICKFORGE ", 9, 17) and units == third.units
    assert str(gap) == "MoldUDP64 session 'TICKFORGE': sequence gap: expected message 9, " \
                       "got 17 (8 lost)"
    assert sequencer.accept(third) == (None, [])          # a retransmission, seen already
    assert (sequencer.lost, sequencer.duplicates, sequencer.next) == (8, 8, 25)


@pytest.mark.parametrize("gaps", [1, 3])
def test_dropped_packets_are_recovered_and_the_book_converges(day, seed, gaps):
    prelude, feed = day
    packets = len(feed) // PER_PACKET
    dropped = set(random.Random(seed).sample(range(1, packets - 1), gaps))
    print(f"dropping packets {sorted(dropped)} of {packets}")
    units, recovery = _recover(prelude, feed, dropped)

    assert len(recovery.gaps) == len(dropped)           # adjacent drops would be one gap
    assert recovery.sequencer.lost == PER_PACKET * len(dropped)
    truth = CoreModel(CONFIG)
    truth_bodies = _book_bodies(truth.feed(b"".join(prelude + feed)))
    target = CoreModel(CONFIG)
    target_bodies = _book_bodies(target.feed(b"".join(units)))
    _assert_same_books(target.book, truth.book)
    _assert_same_books(recovery.held, truth.book)
    # after the last recovery every book update is the complete feed's, message for message
    last = max(dropped) + 1
    tail = sum(1 for unit in feed[last * PER_PACKET:] if unit[2:3] in b"AFEXCDU")
    assert target_bodies[-tail:] == truth_bodies[-tail:]


def test_without_recovery_the_book_stays_wrong(day):
    """The check above has teeth: dropping a packet and not recovering leaves a wrong book."""
    prelude, feed = day
    packets = pack(feed, per_packet=PER_PACKET)
    lossy = [unit for index, packet in enumerate(packets) if index != 3
             for unit in parse_packet(packet).units]
    target, truth = CoreModel(CONFIG), CoreModel(CONFIG)
    target.feed(b"".join(prelude + lossy))
    truth.feed(b"".join(prelude + feed))
    with pytest.raises(AssertionError):
        _assert_same_books(target.book, truth.book)


def test_the_rtl_recovers_alike(day, seed):
    """The recovered stream through the native simulation: event for event the golden model's,
    so the RTL's books converge as the model's do."""
    from tickforge.host.transport.sim import SimTransport
    prelude, feed = day
    units, recovery = _recover(prelude, feed, {5, 200})
    data = b"".join(units) + encode("y", tag=1)
    config = CoreConfig()  # the trading core (its build is cached); the same book sizes
    with SimTransport(config) as sim:
        sim.send(data)
        sim.finish()
        events = [event._replace(t_in=0, t_out=0) for event in sim.events()]
    assert len(recovery.gaps) == 2
    assert events == CoreModel(config).feed(data)
