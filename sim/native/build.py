"""Verilate a stream component together with the native harness, once per distinct design.

The binary is cached under ``build_dir("native", ...)`` by a hash of everything that shapes it
(Verilog, harness source, port shapes, flags, Verilator version), so a second build of the same
design costs only the Verilog conversion, and one found by its recipe
(:func:`build_recipe`) not even that. Builds happen in a private staging folder that is
renamed into place, so two processes building the same design at once (pytest-xdist workers)
both end up with a complete binary and neither sees a half-written one.

Verilator's runtime (``verilated.cpp`` and friends) takes most of a small design's compile
time and is the same for every design, so its objects are cached too, by Verilator version and
flags, and copied into each new build.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape, unsigned
from amaranth.lib import data, stream, wiring

from ... import hdl as gateware
from ..toolchain import build_dir, verilator_env


__all__ = ["PortShapes", "NativeBuild", "NativeBuildError", "port_shapes", "build",
           "build_recipe"]


HARNESS = Path(__file__).with_name("harness.cpp")
BINARY = "Vdut"
TOP = "tickforge_native_top"

VERILATOR_FLAGS = (
    "--cc", "--exe", "--prefix", BINARY, "-o", BINARY, "--top-module", TOP,
    "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "--no-timing",
    # Amaranth's Verilog trips width and unused-signal lints that say nothing about behaviour.
    "-Wno-fatal", "-Wno-lint", "-Wno-style",
)

MAKE_VARIABLES = (
    # Verilator's makefile compiles with -Os: -O2 runs the model and harness faster; the runtime
    # library and the model's initialisation are not hot, and compile faster at -O1.
    "OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O1",
    # The wheel was configured without GCC's flag for reading a precompiled header, which the
    # makefile uses once a design is large enough to be compiled in several files.
    "CFG_CXXFLAGS_PCH_I=-include",
)


class NativeBuildError(RuntimeError):
    """Verilator or the C++ compiler rejected the design or the harness."""


@dataclasses.dataclass(frozen=True)
class PortShapes:
    """Where the harness finds things in the ``i`` and ``o`` payloads, in bits."""
    width:        int  # byte lanes per input beat
    data_offset:  int  # bit offset of lane 0 (a multiple of 8)
    count_offset: int  # bit offset of the ``count`` field (bytes valid in the beat)
    count_bits:   int
    in_bits:      int  # whole input payload
    out_bits:     int  # whole output payload

    @property
    def record_bytes(self):
        """Bytes of one output record: the ``o`` payload, little-endian, rounded up."""
        return (self.out_bits + 7) // 8

    def config_header(self):
        return "".join(f"#define TF_{name} {value}\n" for name, value in (
            ("WIDTH", self.width), ("DATA_BYTE", self.data_offset // 8),
            ("COUNT_OFFSET", self.count_offset), ("COUNT_BITS", self.count_bits),
            ("IN_BITS", self.in_bits), ("OUT_BITS", self.out_bits)))

    def wrapper(self, name):
        """Verilog top that renames Amaranth's ports: Verilator mangles the ``__`` in them."""
        return (f"module {TOP}(\n"
                f"  input clk, input rst,\n"
                f"  input [{self.in_bits - 1}:0] i_payload, input i_valid, output i_ready,\n"
                f"  output [{self.out_bits - 1}:0] o_payload, output o_valid, input o_ready);\n"
                f"  {name} dut(.clk(clk), .rst(rst),\n"
                f"    .i__payload(i_payload), .i__valid(i_valid), .i__ready(i_ready),\n"
                f"    .o__payload(o_payload), .o__valid(o_valid), .o__ready(o_ready));\n"
                f"endmodule\n")


def _stream_member(component, name, flow):
    members = component.signature.members
    if name not in members:
        raise TypeError(f"{type(component).__name__} has no port {name!r}; the native harness "
                        f"drives a component with ports i: In(stream) and o: Out(stream)")
    member = members[name]
    signature = member.signature if member.is_signature else None
    if isinstance(signature, wiring.FlippedSignature):
        signature = signature.flip()
    if member.flow != flow or not isinstance(signature, stream.Signature):
        raise TypeError(f"port {name} of {type(component).__name__} must be "
                        f"{flow.name}(stream.Signature(...)), not {member!r}")
    if signature.always_valid or signature.always_ready:
        raise TypeError(f"port {name} must have both valid and ready (no always_valid or "
                        f"always_ready)")
    return signature.members["payload"].shape


def port_shapes(component):
    """Check ``component`` has the ports the harness drives and read their shapes."""
    if not isinstance(component, wiring.Component):
        raise TypeError(f"expected an amaranth.lib.wiring.Component, not {component!r}")
    extra = sorted(set(component.signature.members) - {"i", "o"})
    if extra:
        raise TypeError(f"the native harness drives only ports i and o; "
                        f"{type(component).__name__} also has {extra}")
    in_shape = _stream_member(component, "i", wiring.In)
    out_shape = _stream_member(component, "o", wiring.Out)
    try:
        layout = data.Layout.cast(in_shape)
        lanes, count = layout["data"], layout["count"]
    except (TypeError, KeyError):
        raise TypeError(f"port i must carry input_beat_layout(width) (fields data and count), "
                        f"not {in_shape!r}") from None
    if not (isinstance(lanes.shape, data.ArrayLayout) and lanes.shape.elem_shape == unsigned(8)
            and lanes.offset % 8 == 0):
        raise TypeError(f"field data of port i must be a byte-aligned array of unsigned(8), "
                        f"not {lanes.shape!r}")
    width = lanes.shape.length
    count_bits = Shape.cast(count.shape).width
    if count.shape != unsigned(count_bits) or width >= 1 << count_bits:
        raise TypeError(f"field count of port i must be unsigned and hold {width}, "
                        f"not {count.shape!r}")
    return PortShapes(width=width, data_offset=lanes.offset, count_offset=count.offset,
                      count_bits=count_bits, in_bits=layout.size,
                      out_bits=Shape.cast(out_shape).width)


@dataclasses.dataclass(frozen=True)
class NativeBuild:
    binary:        Path
    shapes:        PortShapes
    cached:        bool   # found in the cache (possibly built moments ago by another process)
    seconds:       float  # spent in this call
    build_seconds: float  # spent by the call that ran Verilator


def build(component, name="dut", *, jobs=2):
    """Emit Verilog for ``component``, verilate and compile it with the harness (or reuse the
    cached binary), and say where the binary is."""
    started = time.perf_counter()
    _check_name(name)
    final, shapes, cached = _build(component, name, jobs)
    return _found(final, shapes, cached, started)


def build_recipe(recipe, make, name="dut", *, jobs=2):
    """Like :func:`build` for the component ``make()`` returns, where ``recipe`` (a string: how
    ``make`` makes it from the gateware, e.g. its class and arguments) fully determines it
    together with ``tickforge.hdl``. The binary and the port shapes are then found by the
    recipe, the gateware's sources and the toolchain, and ``make`` is called only when they
    are not: the Verilog conversion takes most of a minute for the whole core, and a design
    made and never elaborated draws Amaranth's "created but never used" warning."""
    started = time.perf_counter()
    _check_name(name)
    toolchain = _toolchain()
    cache = build_dir("native")
    recipe_file = cache / "recipes" / f"{name}-{_recipe_digest(recipe, toolchain)[:20]}.json"
    try:
        found = json.loads(recipe_file.read_text())
        final, shapes = cache / found["build"], PortShapes(**found["shapes"])
    except (OSError, ValueError, KeyError, TypeError):
        pass   # no recipe yet, or not one this module wrote: built, and the file written below
    else:
        if (final / BINARY).exists():
            return _found(final, shapes, True, started)
    final, shapes, cached = _build(make(), name, jobs)
    recipe_file.parent.mkdir(exist_ok=True)
    staging = recipe_file.with_name(f".{recipe_file.name}.{os.getpid()}")
    staging.write_text(json.dumps({"build": final.name, "shapes": dataclasses.asdict(shapes)}))
    staging.replace(recipe_file)   # atomic: a reader sees the old text or the new one
    return _found(final, shapes, cached, started)


def _toolchain():
    return [importlib.metadata.version("verilator"), VERILATOR_FLAGS, MAKE_VARIABLES]


def _check_name(name):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be a Verilog identifier, not {name!r}")
    if name == TOP:
        raise ValueError(f"name {TOP!r} is taken by the harness's wrapper module")


def _build(component, name, jobs):
    """Convert, then build into the cache unless the same sources are there: (folder, shapes,
    whether it was there)."""
    shapes = port_shapes(component)
    toolchain = _toolchain()
    cache = build_dir("native")
    # Source locations say nothing about behaviour; dropping them keeps the cache key stable
    # when code only moves.
    verilog_text = re.sub(r'\(\* src = "[^"]*" \*\)\s*', "",
                          verilog.convert(component, name=name))
    for port in ("clk", "rst"):
        if not re.search(rf"\binput\s+(wire\s+)?{port}\b", verilog_text):
            raise TypeError(f"{type(component).__name__} has no {port} port: the harness needs "
                            f"a design with synchronous logic in the sync domain")
    sources = {"dut.v": verilog_text, "top.v": shapes.wrapper(name),
               "harness.cpp": HARNESS.read_text(), "harness_config.h": shapes.config_header()}
    digest = hashlib.sha256(json.dumps([toolchain, sources]).encode()).hexdigest()
    final = cache / f"{name}-{digest[:20]}"
    with _locked(cache / f"{final.name}.lock"):  # a second process waits, then finds it
        cached = _build_once(final, cache, sources, toolchain, jobs)
    return final, shapes, cached


def _found(final, shapes, cached, started):
    return NativeBuild(binary=final / BINARY, shapes=shapes, cached=cached,
                       seconds=time.perf_counter() - started, build_seconds=_build_seconds(final))


def _build_seconds(final):
    return json.loads((final / "build.json").read_text())["seconds"]


def _recipe_digest(recipe, toolchain):
    """What a recipe's binary depends on besides the recipe: every source file of the gateware
    package, Amaranth's version, the harness, this module (its wrapper) and the toolchain."""
    hdl = Path(gateware.__file__).parent
    sources = {str(path.relative_to(hdl)): path.read_text() for path in sorted(hdl.rglob("*.py"))}
    return hashlib.sha256(json.dumps(
        [recipe, sources, importlib.metadata.version("amaranth"), HARNESS.read_text(),
         Path(__file__).read_text(), toolchain]).encode()).hexdigest()


@contextlib.contextmanager
def _locked(path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_once(final, cache, sources, toolchain, jobs):
    """Build into the cache unless it is there already; True if it was."""
    cached = (final / BINARY).exists()
    if not cached:
        runtime_digest = hashlib.sha256(json.dumps(toolchain).encode()).hexdigest()
        runtime = cache / f"runtime-{runtime_digest[:20]}"
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache))
        try:
            seconds = _verilate(staging, sources, jobs, runtime,
                                failed_log=cache / f"{final.name}.failed.log")
            (staging / "build.json").write_text(json.dumps({"seconds": seconds}))
            cached = not _publish(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return cached


def _verilate(folder, sources, jobs, runtime, failed_log):
    """Run Verilator in ``folder``; leave the binary, sources and log there; return seconds.

    Reuses the runtime objects in folder ``runtime``, or saves them there. On failure the log
    is kept as ``failed_log``: the folder is removed.
    """
    for filename, text in sources.items():
        (folder / filename).write_text(text)
    objects = folder / "obj_dir"
    log_path = folder / "build.log"
    env = verilator_env()
    # Verilator's makefile runs `python` for its includer: make it this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    started = time.perf_counter()
    _step(["verilator", *VERILATOR_FLAGS, "-j", str(jobs), "-Mdir", objects.name,
           "top.v", "dut.v", "harness.cpp"], folder, env, log_path, failed_log)
    # Copied after Verilator wrote Vdut.mk, on which make makes them depend.
    if runtime.exists():
        for library_object in runtime.iterdir():
            shutil.copyfile(library_object, objects / library_object.name)
    _step(["make", "-f", f"{BINARY}.mk", "-j", str(jobs), *MAKE_VARIABLES], objects, env,
          log_path, failed_log)
    seconds = time.perf_counter() - started
    if not runtime.exists():
        saving = Path(tempfile.mkdtemp(prefix=f".{runtime.name}.", dir=runtime.parent))
        for library_object in objects.glob("verilated*.o"):
            shutil.copyfile(library_object, saving / library_object.name)
        if not _publish(saving, runtime):
            shutil.rmtree(saving)
    os.replace(objects / BINARY, folder / BINARY)
    shutil.rmtree(objects)
    return seconds


def _step(command, cwd, env, log_path, failed_log):
    """Run one build command, appending its output to ``log_path``."""
    with open(log_path, "a") as log:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        shutil.copyfile(log_path, failed_log)
        tail = "\n".join(failed_log.read_text().splitlines()[-30:])
        raise NativeBuildError(f"{command[0]} failed (exit {result.returncode}); full log in "
                               f"{failed_log}:\n{tail}")


def _publish(staging, final):
    """Rename a finished folder into the cache; False if another process published it first
    (a folder appears in the cache only complete, so its existence is enough)."""
    try:
        os.rename(staging, final)
        return True
    except OSError:
        if final.exists():
            return False
        raise
