"""Amaranth-simulator helpers shared by the kernel tests: drive and collect stream ports."""

import random

from amaranth.hdl import Const


def to_fields(record, tags=None):
    """A decoded record (named tuples from a BitCodec) as the nested dict ``Layout.const`` takes.

    ``tags`` maps a union field to (tag field, {tag: variant}) as for BitCodec.
    """
    tags = tags or {}
    fields = {}
    for name, value in record._asdict().items():
        if name in tags:
            tag_field, variants = tags[name]
            variant = variants.get(getattr(record, tag_field))
            if variant is not None:
                fields[name] = {variant: _plain(value)}
        else:
            fields[name] = _plain(value)
    return fields


def _plain(value):
    if hasattr(value, "_asdict"):
        return {name: _plain(v) for name, v in value._asdict().items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def as_int(value):
    """The raw bits of a value read with ``ctx.get`` (a layout constant or a number)."""
    if isinstance(value, int):
        return value
    return Const.cast(value).value


async def drive(ctx, port, payloads, *, idle=0.0, rng=None, on_transfer=None):
    """Send payloads on a stream port, with random idle cycles between them."""
    rng = rng or random.Random(0)
    for payload in payloads:
        while idle and rng.random() < idle:
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(port.payload, payload)
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
        if on_transfer:
            on_transfer(payload)
    ctx.set(port.valid, 0)


async def collect(ctx, port, count, *, backpressure=0.0, rng=None, timeout=100_000):
    """Receive ``count`` payloads from a stream port (as ints), with random back-pressure.

    Also checks the stream rule that a payload stays put while it waits for ready.
    """
    rng = rng or random.Random(1)
    received = []
    waiting = None
    cycles = 0
    while len(received) < count:
        ready = not (backpressure and rng.random() < backpressure)
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        cycles += 1
        if cycles > timeout:
            raise TimeoutError(f"only {len(received)} of {count} payloads after {timeout} cycles")
        if valid:
            value = as_int(payload)
            if waiting is not None:
                assert value == waiting, "payload changed while waiting for ready"
            if ready:
                received.append(value)
                waiting = None
            else:
                waiting = value
    ctx.set(port.ready, 0)
    return received


def cycle_counter(now):
    """A process setting ``now`` (a component's cycle-counter input) to the cycle number, as
    the core's free-running counter does."""
    async def count(ctx):
        cycle = 0
        async for _ in ctx.tick():
            cycle += 1
            ctx.set(now, cycle)
    return count
