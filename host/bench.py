"""Benchmarks: the RTL (native simulation) and the golden model on the same real data, in one
run, so their figures are ratios taken side by side on one machine."""

import os
import platform
import statistics
import time

from ..hdl.config import CoreConfig
from ..hdl.core import Core
from ..hdl.layouts import EventKind, event_layout
from ..sim.native import NativeSim
from .feeds.lobster import LobsterDay, LobsterToItch
from .model.core import CoreModel
from .protocol import encode


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


def bench_core(stream, messages, config=CoreConfig()):
    """Replay ``stream`` (``messages`` units) through the RTL at full rate, then through the
    golden model; return the figures ``bench.json`` holds."""
    simulator = NativeSim.build(Core(config), "core")
    layout = event_layout(config.exported_levels)
    kind_at, t_in_at, t_out_at = (layout[name].offset for name in ("kind", "t_in", "t_out"))
    header_bytes = (t_out_at + 32 + 7) // 8
    record_bytes = simulator.record_bytes
    latencies = []
    events = 0
    with simulator.run(stream) as run:
        # only the stamps are decoded, so the host keeps up with the simulation
        for block in run.blocks():
            for offset in range(0, len(block), record_bytes):
                header = int.from_bytes(block[offset:offset + header_bytes], "little")
                events += 1
                if (header >> kind_at) & 0xF == EventKind.BOOK.value:
                    t_in = (header >> t_in_at) & 0xFFFF_FFFF
                    t_out = (header >> t_out_at) & 0xFFFF_FFFF
                    latencies.append((t_out - t_in) % (1 << 32))
        stats = run.stats
    latencies.sort()
    input_bound = -(-len(stream) // config.width)

    model = CoreModel(config)
    started = time.perf_counter()
    chunk = 1 << 16
    for offset in range(0, len(stream), chunk):
        model.feed(stream[offset:offset + chunk])
    model_seconds = time.perf_counter() - started

    return {
        "rtl": {
            "messages": messages,
            "events": events,
            "bytes": len(stream),
            "width_bytes": config.width,
            "cycles": stats["busy_cycles"],
            "input_bound_cycles": input_bound,
            "input_bound_fraction": round(input_bound / stats["busy_cycles"], 4),
            "input_stall_cycles": stats["input_stall_cycles"],
            "latency_cycles": {
                "min": latencies[0], "median": statistics.median_low(latencies),
                "p99": _percentile(latencies, 0.99), "max": latencies[-1],
                "measured_on": f"{len(latencies)} book events, t_out - t_in (hardware stamps)",
            } if latencies else None,
            "messages_per_second": round(messages / stats["wall_seconds"]),
            "cycles_per_second": round(stats["cycles_per_second"]),
            "simulation_seconds": round(stats["wall_seconds"], 3),
        },
        "model": {
            "messages_per_second": round(messages / model_seconds),
            "seconds": round(model_seconds, 3),
        },
        "rtl_over_model_speed": round(model_seconds / stats["wall_seconds"], 2),
        "config": config.as_dict(),
    }


def machine():
    """What the figures were measured on."""
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "python": platform.python_version()}
