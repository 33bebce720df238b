"""The bench library every cocotb bench shares: one :class:`TB` owns clock, reset, the source
on the DUT's ``i`` stream, the sink on its ``o`` stream and the cycle count.

Sampling: after ``await RisingEdge(clk)`` a signal reads as the DUT sampled it at that edge, and
a write takes effect for the next edge. So a source or sink sees a transfer as ``valid`` and
``ready`` both high when it wakes at an edge, and :meth:`TB.cycle` at that moment is the value
the core's cycle counter (or the ``now`` input the bench drives) had at that edge.
"""

import json
import os
import random
from collections import deque
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Event, RisingEdge

from ...hdl.config import CoreConfig
from ...host.protocol import event_codec


__all__ = ["PATTERNS", "Pattern", "Settings", "settings", "pauses", "Beat", "Received",
           "StreamSource", "StreamSink", "TB", "check_in_order"]


PERIOD_NS = 10
RESET_CYCLES = 4
NOW_MASK = (1 << 32) - 1


@dataclass(frozen=True)
class Pattern:
    """How often, and in how long runs, the source idles and the sink refuses."""
    idle:          float  # fraction of cycles the source idles before a beat
    idle_run:      float  # mean length of an idle run, in cycles
    backpressure:  float  # fraction of cycles ``o.ready`` is low
    stall_run:     float  # mean length of a run of low ``o.ready``


PATTERNS = {
    "none":  Pattern(idle=0.0, idle_run=1, backpressure=0.0, stall_run=1),
    "light": Pattern(idle=0.1, idle_run=1, backpressure=0.1, stall_run=1),
    # long refusals fill the pipeline, so the stall reaches back to the input
    "heavy": Pattern(idle=0.3, idle_run=3, backpressure=0.6, stall_run=8),
}


@dataclass(frozen=True)
class Settings:
    """What a bench run is parametrised by; the runner passes them in the environment."""
    seed:    int
    pattern: str
    config:  CoreConfig


def settings():
    """This run's settings: ``TICKFORGE_SEED`` (else cocotb's seed), ``TICKFORGE_PATTERN``
    (else ``light``) and ``TICKFORGE_CONFIG`` (JSON of a CoreConfig, else the default)."""
    seed = int(os.environ.get("TICKFORGE_SEED", cocotb.RANDOM_SEED))
    pattern = os.environ.get("TICKFORGE_PATTERN", "light")
    if pattern not in PATTERNS:
        raise ValueError(f"TICKFORGE_PATTERN must be one of {sorted(PATTERNS)}, not {pattern!r}")
    config = CoreConfig(**json.loads(os.environ.get("TICKFORGE_CONFIG", "{}")))
    return Settings(seed, pattern, config)


def pauses(rng, rate, mean_run):
    """Endless per-cycle flags, True on about ``rate`` of cycles, in runs of mean length
    ``mean_run`` (a two-state Markov chain, so heavy patterns come in bursts)."""
    if rate <= 0:
        while True:
            yield False
    stay = 1 - 1 / mean_run
    start = min(1.0, rate / (mean_run * (1 - rate)))
    paused = False
    while True:
        paused = rng.random() < (stay if paused else start)
        yield paused


@dataclass(frozen=True)
class Beat:
    """One input payload (``bits``) and what it stands for, handed back on its transfer."""
    bits:  int
    data:  bytes = b""    # the bytes of a byte-stream beat
    first: bool = False   # its ``first`` flag


@dataclass(frozen=True)
class Received:
    bits:       int
    offered_at: int  # cycle the payload was first seen valid


class StreamSource:
    """Drives ``<name>__payload`` and ``<name>__valid`` from a queue of :class:`Beat`.

    Idles only between transfers: once valid, a beat holds until ``ready``. Calls
    ``on_transfer(beat, cycle)`` for each transfer, at the edge it happens on.
    """

    def __init__(self, dut, name, clock, pause_flags, cycle):
        self.payload = getattr(dut, f"{name}__payload")
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.on_transfer = None
        self._clock = clock
        self._pauses = pause_flags
        self._cycle = cycle
        self._queue = deque()
        self._wake = Event()
        self._drained = Event()
        self._drained.set()
        self.valid.value = 0
        cocotb.start_soon(self._run())

    def send(self, beats):
        self._queue.extend(beats)
        if self._queue:
            self._drained.clear()
            self._wake.set()

    async def drained(self):
        """Wait until every beat sent has been transferred."""
        await self._drained.wait()

    async def _run(self):
        edge = RisingEdge(self._clock)
        holding = None
        while True:
            await edge
            if holding is not None and self.ready.value:
                if self.on_transfer:
                    self.on_transfer(holding, self._cycle())
                holding = None
            if holding is None:
                if self._queue and not next(self._pauses):
                    holding = self._queue.popleft()
                    self.payload.value = holding.bits
                    self.valid.value = 1
                else:
                    self.valid.value = 0
                    if not self._queue:
                        self._drained.set()
                        self._wake.clear()
                        await self._wake.wait()


class StreamSink:
    """Takes payloads from ``<name>__payload``/``__valid``, driving ``__ready`` low on the
    pattern's cycles, and checks the stream rules: once valid, a payload holds (and valid stays
    high) until taken."""

    def __init__(self, dut, name, clock, pause_flags, cycle):
        self.payload = getattr(dut, f"{name}__payload")
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.name = name
        self.received = []
        self._clock = clock
        self._pauses = pause_flags
        self._cycle = cycle
        self.ready.value = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        edge = RisingEdge(self._clock)
        ready = False
        waiting = None  # (bits, offered_at) of a payload offered and not yet taken
        while True:
            await edge
            if self.valid.value:
                bits = self.payload.value.to_unsigned()
                if waiting is None:
                    offered_at = self._cycle()
                else:
                    assert bits == waiting[0], (
                        f"{self.name}: payload changed while valid and not ready (offered at "
                        f"cycle {waiting[1]}, changed at {self._cycle()})")
                    offered_at = waiting[1]
                if ready:
                    self.received.append(Received(bits, offered_at))
                    waiting = None
                else:
                    waiting = (bits, offered_at)
            else:
                assert waiting is None, (f"{self.name}: valid fell at cycle {self._cycle()} "
                                         f"before the payload offered at {waiting[1]} was taken")
            next_ready = not next(self._pauses)
            if next_ready != ready:
                self.ready.value = int(next_ready)
                ready = next_ready

    async def settle(self, count, quiet=300):
        """Wait until ``count`` payloads are in (or ``quiet`` cycles bring none), then ``quiet``
        cycles more, so anything extra is received too."""
        seen, still = len(self.received), 0
        while len(self.received) < count and still < quiet:
            await RisingEdge(self._clock)
            still = 0 if len(self.received) != seen else still + 1
            seen = len(self.received)
        await ClockCycles(self._clock, quiet)


class TB:
    """Clock, reset, ``source`` on ``i``, ``sink`` on ``o``; with ``drives_now`` also the DUT's
    ``now`` input, counting cycles as the core's own counter does (0 at the first edge out of
    reset)."""

    def __init__(self, dut, run_settings, *, drives_now):
        self.dut = dut
        self.log = dut._log
        pattern = PATTERNS[run_settings.pattern]
        self.log.info("seed=%d pattern=%s config=%s (replay: TICKFORGE_SEED=%d "
                      "TICKFORGE_PATTERN=%s)", run_settings.seed, run_settings.pattern,
                      run_settings.config, run_settings.seed, run_settings.pattern)
        self.rng = random.Random(run_settings.seed)
        self._release_ns = None
        self._drives_now = drives_now
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        source_pauses = pauses(random.Random(self.rng.random()), pattern.idle, pattern.idle_run)
        sink_pauses = pauses(random.Random(self.rng.random()), pattern.backpressure,
                             pattern.stall_run)
        self.source = StreamSource(dut, "i", dut.clk, source_pauses, self.cycle)
        self.sink = StreamSink(dut, "o", dut.clk, sink_pauses, self.cycle)

    def cycle(self):
        """Edges since reset was released, at the edge just passed: the cycle stamp the DUT
        gives something it took at this edge."""
        return round((get_sim_time("ns") - self._release_ns) / PERIOD_NS)

    async def reset(self):
        self.dut.rst.value = 1
        if self._drives_now:
            self.dut.now.value = 0
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        self._release_ns = get_sim_time("ns") + PERIOD_NS
        if self._drives_now:
            cocotb.start_soon(self._drive_now())

    async def _drive_now(self):
        edge = RisingEdge(self.dut.clk)
        while True:
            await edge
            self.dut.now.value = (self.cycle() + 1) & NOW_MASK


def check_in_order(what, expected, got):
    """Assert two sequences of records are equal, naming the first difference."""
    for index, (want, have) in enumerate(zip(expected, got)):
        assert have == want, f"{what} {index}: got\n  {have}\nexpected\n  {want}"
    assert len(got) == len(expected), \
        f"{len(got)} {what}s out, the model says {len(expected)}"


def check_events(expected, received, exported_levels):
    """Decode the events ``received`` (sink items), assert they equal ``expected`` in order,
    and that each one's ``t_out`` is the cycle it was offered; return them decoded."""
    codec = event_codec(exported_levels)
    got = [codec.decode(item.bits) for item in received]
    check_in_order("event", expected, [event._replace(t_out=0) for event in got])
    for index, (event, item) in enumerate(zip(got, received)):
        assert event.t_out == item.offered_at, (f"event {index} (seq {event.seq}): t_out "
                                                f"{event.t_out}, offered at {item.offered_at}")
    return got
