"""Benchmarks: the RTL (native simulation) and the golden model on the same real data, in one
run, so their figures are ratios taken side by side on one machine."""

import dataclasses
import os
import platform
import statistics
import time

from ..hdl.config import CoreConfig
from ..hdl.layouts import EventKind, event_layout
from .feeds.lobster import LobsterDay, LobsterToItch
from .model.core import CoreModel
from .protocol import encode
from .transport.sim import core_simulator


__all__ = ["lobster_stream", "bench_core", "machine"]


def lobster_stream(source):
    """A LOBSTER day as the byte stream a replay sends: subscription, then every unit."""
    day = LobsterDay(source)
    converter = LobsterToItch.for_day(day)
    units = [encode("s", stock_locate=converter.locate, slot=0)]
    units.extend(converter.units(day.rows()))
    return b"".join(units), len(units)


def _percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _stamps(simulator, stream, config):
    """Run ``stream`` through the simulator at full rate; per event kind, the latencies
    ``t_out - t_in``; and the run's statistics. Only the stamps are decoded, so the host keeps
    up with the simulation."""
    layout = event_layout(config.exported_levels)
    kind_at, t_in_at, t_out_at = (layout[name].offset for name in ("kind", "t_in", "t_out"))
    header_bytes = (t_out_at + 32 + 7) // 8
    record_bytes = simulator.record_bytes
    latencies = {}
    with simulator.run(stream) as run:
        for block in run.blocks():
            for offset in range(0, len(block), record_bytes):
                header = int.from_bytes(block[offset:offset + header_bytes], "little")
                kind = EventKind((header >> kind_at) & 0xF)
                t_in = (header >> t_in_at) & 0xFFFF_FFFF
                t_out = (header >> t_out_at) & 0xFFFF_FFFF
                latencies.setdefault(kind, []).append((t_out - t_in) % (1 << 32))
        return latencies, run.stats


def _distribution(values, what):
    values = sorted(values)
    return {"min": values[0], "median": statistics.median_low(values),
            "p99": _percentile(values, 0.99), "max": values[-1],
            "measured_on": f"{len(values)} {what}, t_out - t_in (hardware stamps)"}


def _rtl_figures(stream, messages, config, latencies, stats):
    input_bound = -(-len(stream) // config.width)
    return {
        "messages": messages,
        "events": sum(map(len, latencies.values())),
        "bytes": len(stream),
        "width_bytes": config.width,
        "cycles": stats["busy_cycles"],
        "input_bound_cycles": input_bound,
        "input_bound_fraction": round(input_bound / stats["busy_cycles"], 4),
        "input_stall_cycles": stats["input_stall_cycles"],
        "messages_per_second": round(messages / stats["wall_seconds"]),
        "cycles_per_second": round(stats["cycles_per_second"]),
        "simulation_seconds": round(stats["wall_seconds"], 3),
    }


def bench_core(stream, messages, setup=b"", config=CoreConfig()):
    """Replay ``stream`` (``messages`` units) at full rate through the RTL twice — the book
    alone (parser and book: the book's latency) and the whole core with the kernels set up by
    ``setup`` (the signal path's latency) — then through the golden model of the whole core;
    return the figures ``bench.json`` holds."""
    book_config = dataclasses.replace(config, trading=False)
    book_latencies, book_stats = _stamps(core_simulator(book_config), stream,
                                         book_config)
    book = _rtl_figures(stream, messages, book_config, book_latencies, book_stats)
    book["latency_cycles"] = _distribution(book_latencies[EventKind.BOOK], "book events")

    trading_stream = setup + stream
    latencies, stats = _stamps(core_simulator(config), trading_stream, config)
    trading = _rtl_figures(trading_stream, messages, config, latencies, stats)
    trading["latency_cycles"] = {
        kind.name.lower(): _distribution(latencies[kind], f"{kind.name.lower()} events")
        for kind in (EventKind.SIGNAL, EventKind.PRICE, EventKind.BOOK) if kind in latencies}
    trading["events_by_kind"] = {kind.name.lower(): len(values)
                                 for kind, values in latencies.items()}

    model = CoreModel(config)
    started = time.perf_counter()
    chunk = 1 << 16
    for offset in range(0, len(trading_stream), chunk):
        model.feed(trading_stream[offset:offset + chunk])
    model_seconds = time.perf_counter() - started

    return {
        "rtl": book,
        "rtl_trading": trading,
        "model": {
            "messages_per_second": round(messages / model_seconds),
            "seconds": round(model_seconds, 3),
            "what": "the golden model of the whole core, with the same settings",
        },
        "rtl_over_model_speed": round(model_seconds / stats["wall_seconds"], 2),
        "config": config.as_dict(),
    }


def machine():
    """What the figures were measured on."""
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "python": platform.python_version()}
