"""The whole core as the native simulation runs it, against the golden model and real data."""

import random

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind
from tickforge.host.feeds.itch import Directory, iter_units
from tickforge.host.model.core import CoreModel
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.protocol import encode
from tickforge.host.transport.sim import SimTransport, core_simulator

from support.cache import found_again_quietly


ITCH_SAMPLE = BUNDLED_DATA / "itch" / "12302019.NASDAQ_ITCH50.first1000"
LOBSTER_SLICE = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"



def run_sim(config, data, **options):
    with SimTransport(config, **options) as sim:
        sim.send(data)
        sim.finish()
        events = list(sim.events())
    return events, sim.stats


def untimed(events):
    return [event._replace(t_in=0, t_out=0) for event in events]


def test_real_itch_sample_parses_without_errors_and_its_directory_comes_back():
    config = CoreConfig()
    data = ITCH_SAMPLE.read_bytes() + encode("y", tag=1)
    events, _ = run_sim(config, data)
    directory = {event.body.locate: event.body.stock.decode().rstrip()
                 for event in events if event.kind == EventKind.DIRECTORY}
    expected = Directory.from_source(ITCH_SAMPLE)
    assert len(directory) == len(expected) == 993
    assert directory == dict(expected.items())
    status = events[-1]
    assert status.kind == EventKind.STATUS and status.body.tag == 1
    assert status.body.parser.messages == 1001
    assert not any(status.body.parser[1:]) and not any(status.body.book)
    assert untimed(events) == CoreModel(config).feed(data)


def test_lobster_slice_with_idle_and_backpressure_matches_the_model(seed):
    from tickforge.host.bench import lobster_stream
    config = CoreConfig()
    data, _ = lobster_stream(LOBSTER_SLICE)
    data += encode("y", tag=2)
    expected = CoreModel(config).feed(data)
    events, stats = run_sim(config, data, idle=0.3, backpressure=0.3, seed=seed)
    assert stats["idle_cycles"] > 0 and stats["backpressure_cycles"] > 0
    assert untimed(events) == expected


def _hostile_stream(rng):
    """Real units with wrong types and lengths, framed garbage of any length (up to long
    units that are skipped by counting), bad fields, orders a tiny table cannot hold and
    references it never saw. The framing itself stays intact: realigning after broken framing
    needs the link's frame marks, which the parser tests cover."""
    units = list(iter_units(ITCH_SAMPLE))[:300]
    out = [encode("s", stock_locate=7, slot=0)]
    for ref in range(1, 60):  # more orders than a 4 x 1 table: most adds find their set full
        out.append(encode("A", stock_locate=7, order_reference_number=ref,
                          buy_sell_indicator=rng.choice([b"B", b"S"]), shares=100,
                          stock=b"ZVZZT", price=rng.randrange(10000, 10100)))
        out.append(encode("X", stock_locate=7, order_reference_number=rng.randrange(1, 200),
                          cancelled_shares=rng.randrange(1, 300)))
    for unit in units:
        roll = rng.random()
        if roll < 0.1:
            garbage = bytes(rng.randrange(256) for _ in range(rng.choice([1, 20, 300, 2000])))
            out.append(len(garbage).to_bytes(2, "big") + garbage)
        elif roll < 0.2:
            out.append(len(unit[2:]).to_bytes(2, "big") + b"Z" + unit[3:])   # unknown type
        elif roll < 0.3:
            out.append((len(unit) - 1).to_bytes(2, "big") + unit[2:] + b"!")  # wrong length
        else:
            out.append(unit)
    out.append(b"\x00\x00")                                                    # length 0
    out.append(encode("A", stock_locate=7, order_reference_number=1, buy_sell_indicator=b"Q",
                      shares=1, stock=b"ZVZZT", price=1))                       # bad side
    out.append(encode("y", tag=3))
    return b"".join(out)


def test_hostile_input_is_counted_alike_and_never_hangs(seed):
    config = CoreConfig(order_sets=4, order_ways=1, tracked_levels=4, exported_levels=2)
    rng = random.Random(seed)
    data = _hostile_stream(rng)
    model = CoreModel(config)
    expected = model.feed(data)
    events, _ = run_sim(config, data)
    assert untimed(events) == expected
    status = events[-1].body
    assert status.book.table_full > 0 and status.book.unknown_refs > 0
    for counter in ("skipped", "length_errors", "bad_fields"):
        assert getattr(status.parser, counter) > 0, counter


def test_a_core_found_again_warns_of_nothing():
    core_simulator(CoreConfig())   # built here, or by a test before
    again, warned = found_again_quietly(lambda: core_simulator(CoreConfig()))
    assert again.native_build.cached
    assert warned == []
