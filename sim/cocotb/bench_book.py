"""cocotb bench of :class:`~tickforge.hdl.book.book.OrderBook`, scored against ``BookModel``.

Every event is compared with the model's field by field; ``t_in`` must be the message's (the
book passes it through) and ``t_out`` the cycle the event was first offered.

Needs ``tests/hdl`` on the Python path (message generators shared with the Amaranth-simulator
tests); the runner in ``tests/cocotb`` puts it there.
"""

import cocotb

from parser_bench import split_units
from test_book import random_messages

from ...hdl.layouts import ParsedMessage, event_layout
from ...host.bench import lobster_stream
from ...host.model.book import BookModel
from ...host.model.parser import ParserModel
from ...host.paths import BUNDLED_DATA
from .bits import parsed_bits
from .tb import TB, Beat, check_events, settings


LOBSTER_SLICE = (BUNDLED_DATA / "lobster"
                 / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip")
MESSAGES = 2000


async def run_book(dut, messages_for):
    """Reset, send the messages ``messages_for(rng, config)`` makes, score the events; return
    the model (its counters say which rules the messages reached)."""
    run_settings = settings()
    config = run_settings.config
    tb = TB(dut, run_settings, drives_now=True)
    assert len(dut.i__payload) == ParsedMessage.as_shape().size, "the build is not a book"
    assert len(dut.o__payload) == event_layout(config.exported_levels).size, \
        f"the build does not export {config.exported_levels} levels"
    await tb.reset()
    messages = messages_for(tb.rng, config)
    model = BookModel(config)
    expected = [event for event in map(model.process, messages) if event is not None]
    tb.source.send(Beat(parsed_bits(message)) for message in messages)
    await tb.source.drained()
    await tb.sink.settle(len(expected))

    got = check_events(expected, tb.sink.received, config.exported_levels)
    tb.log.info("%d messages, %d events in %d cycles; counters %s", len(messages), len(got),
                tb.cycle(), model.counters)
    return model


def real_messages(rng, config):
    """The golden parser's messages for a LOBSTER mid-day slice (a deep book being seeded, then
    order flow), stamped with made-up arrival cycles."""
    units = split_units(lobster_stream(LOBSTER_SLICE)[0])[:MESSAGES]
    messages = ParserModel().feed(b"".join(units))
    return [message._replace(t_in=rng.randrange(1 << 32)) for message in messages]


@cocotb.test()
async def real_data(dut):
    """Real order flow, which at a small depth also drops and misses levels."""
    await run_book(dut, real_messages)


@cocotb.test()
async def random_rules(dut):
    """A random mix that reaches every rule (see ``test_book.random_messages``)."""
    model = await run_book(dut, lambda rng, config: random_messages(rng, config, MESSAGES))
    for counter, count in model.counters.items():
        assert count > 0, f"the messages never reached {counter}"
