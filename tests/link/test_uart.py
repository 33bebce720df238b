"""The UART against a model serial line: exact 8N1 timing out, mid-bit sampling in (baud error,
glitches, breaks)."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from tickforge.hdl.link.uart import UARTRx, UARTTx


def character(byte):
    """The 10 line levels of one 8N1 character."""
    return [0] + [(byte >> bit) & 1 for bit in range(8)] + [1]


def line_levels(segments, period):
    """Per-cycle levels of a line described as (levels, bit periods each) segments, with bits
    ``period`` cycles long (a float: the sender's clock differs from ours)."""
    edges = []
    time = 0.0
    for level, bits in segments:
        edges.append((time, level))
        time += bits * period
    cycles = int(time) + 1
    levels, edge = [], 0
    for cycle in range(cycles):
        while edge + 1 < len(edges) and edges[edge + 1][0] <= cycle:
            edge += 1
        levels.append(edges[edge][1])
    return levels


def run_rx(divisor, levels):
    dut = UARTRx(divisor)
    got, line_errors = [], 0

    async def bench(ctx):
        nonlocal line_errors
        ctx.set(dut.o.ready, 1)
        for level in levels + [1] * (12 * divisor):
            ctx.set(dut.rx, level)
            _, _, valid, payload, error = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                   dut.line_error)
            if valid:
                got.append(payload)
            line_errors += error

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, line_errors


@pytest.mark.parametrize("divisor, error", [(4, 0.0), (4, 0.02), (4, -0.02), (5, 0.0),
                                            (16, 0.04), (16, -0.04), (25, 0.03)])
def test_rx_takes_bytes_back_to_back_and_apart_within_baud_error(seed, divisor, error):
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55, 0xAA]
    segments = [(1, 2)]
    for byte in sent:
        segments += [(bit, 1) for bit in character(byte)]
        if rng.random() < 0.5:
            segments.append((1, rng.choice([0.3, 1, 3])))   # idle, else back to back
    got, line_errors = run_rx(divisor, line_levels(segments, divisor * (1 + error)))
    assert got == sent
    assert line_errors == 0


@pytest.mark.parametrize("divisor", [4, 16])
def test_rx_ignores_glitches_counts_a_break_once_and_recovers(divisor):
    segments = [(1, 2)] + [(bit, 1) for bit in character(0x3C)]
    segments += [(0, 0.4 / divisor * 1), (1, 2)]                 # a one-cycle-ish glitch
    segments += [(0, 0.2), (1, 2)]                                # shorter than half a bit
    segments += [(0, 25), (1, 1.5)]                               # a break: 2.5 characters low
    segments += [(bit, 1) for bit in character(0xC3)]
    wrong_stop = character(0x81)[:-1] + [0]                       # stop bit 0: framing error
    segments += [(bit, 1) for bit in wrong_stop] + [(1, 2)]
    segments += [(bit, 1) for bit in character(0x7E)]
    got, line_errors = run_rx(divisor, line_levels(segments, divisor))
    assert got == [0x3C, 0xC3, 0x7E]
    assert line_errors == 2


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_tx_sends_exact_8n1_back_to_back(seed, divisor):
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(12)]
    dut = UARTTx(divisor)
    line = []

    async def bench(ctx):
        assert ctx.get(dut.tx) == 1
        index = 0
        for _ in range(len(sent) * 10 * divisor + 3 * divisor):
            ctx.set(dut.i.valid, index < len(sent))
            ctx.set(dut.i.payload, sent[index] if index < len(sent) else 0)
            _, _, ready, tx = await ctx.tick().sample(dut.i.ready, dut.tx)
            line.append(tx)
            if ready and index < len(sent):
                index += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    start = line.index(0)
    expected = [level for byte in sent for bit in character(byte) for level in [bit] * divisor]
    assert line[start:start + len(expected)] == expected
    assert set(line[start + len(expected):]) == {1}


def test_tx_into_rx_with_a_faster_receiver_clock(seed):
    """A 33-cycle sender into a receiver built for 32: both UARTs, one line, 3 % apart."""
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(30)]
    m = Module()
    m.submodules.tx = tx = UARTTx(33)
    m.submodules.rx = rx = UARTRx(32)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def bench(ctx):
        ctx.set(rx.o.ready, 1)
        index = 0
        for _ in range(len(sent) * 330 + 700):
            ctx.set(tx.i.valid, index < len(sent))
            ctx.set(tx.i.payload, sent[index] if index < len(sent) else 0)
            _, _, ready, valid, payload = await ctx.tick().sample(tx.i.ready, rx.o.valid,
                                                                  rx.o.payload)
            if ready and index < len(sent):
                index += 1
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == sent


@pytest.mark.parametrize("divisor", [3, 4.0, True])
def test_divisor_is_checked(divisor):
    with pytest.raises((TypeError, ValueError), match="divisor"):
        UARTRx(divisor)
    with pytest.raises((TypeError, ValueError), match="divisor"):
        UARTTx(divisor)
