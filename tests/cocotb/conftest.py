"""Shared by the cocotb entry points: the designs under test, their builds, running a bench.

A test names its design with a ``design`` parameter. The first test to need a build builds
every design the session's selected tests name, skipping any another process is building at
that moment and waiting for those at the end, so parallel workers build different designs at
once whatever order they receive the tests in (``--dist loadgroup`` groups are only a hint:
with pytest 9.2 and xdist 3.8 they are ignored, pytest-dev/pytest-xdist#1386).
"""

import json
import os

import pytest

from tickforge.hdl.book.book import OrderBook
from tickforge.hdl.config import CoreConfig
from tickforge.hdl.core import Core
from tickforge.hdl.parser import ITCHParser
from tickforge.host.paths import REPO
from tickforge.sim.cocotb import runner


SMALL_BOOK = CoreConfig(width=8, symbols=3, order_sets=8, order_ways=2, tracked_levels=4,
                        exported_levels=3)
"""A book small enough that a few thousand messages fill its order sets and its sides, so the
table-full, level-drop and level-miss rules are reached often (the Amaranth tests' config)."""

DESIGNS = {
    "core":       (lambda: Core(CoreConfig()), CoreConfig()),  # the shipped build
    "book_small": (lambda: OrderBook(SMALL_BOOK), SMALL_BOOK),
    "parser_w8":  (lambda: ITCHParser(8), CoreConfig(width=8)),
    "parser_w1":  (lambda: ITCHParser(1), CoreConfig(width=1)),
}
"""Design name (its Verilog module) → (component factory, the CoreConfig its bench is told);
longest build first."""

PYTHON_PATH = (REPO / "tests" / "hdl",)
"""Where the benches find the input generators of the Amaranth-simulator tests."""


@pytest.fixture(scope="session")
def cocotb_builds(request):
    """Every design the selected tests name, built (or reused from an earlier session).
    ``WAVES=1`` builds with tracing."""
    waves = os.environ.get("WAVES") == "1"
    names = {item.callspec.params["design"] for item in request.session.items
             if "design" in getattr(getattr(item, "callspec", None), "params", {})}
    sources = {name: runner.emit(make(), name) for name, (make, _) in DESIGNS.items()
               if name in names}
    builds = {}
    for wait in (False, True):  # first what nobody else is building, then the rest
        for name, text in sources.items():
            if name not in builds:
                built = runner.build(text, name, waves=waves, wait=wait)
                if built:
                    builds[name] = built
                    print(f"{name}: {'reused' if built.cached else 'built'} {built.folder} "
                          f"(Verilator and compiler: {built.build_seconds:.1f} s)")
    return builds


@pytest.fixture
def run_bench(seed, cocotb_builds):
    """``run_bench(design, bench, testcase, pattern)``: run cocotb test ``testcase`` of bench
    module ``bench`` on a design with this test's seed; fail with the bench's failures and
    the end of its log."""
    def run(design, bench, testcase, pattern):
        env = {"TICKFORGE_SEED": str(seed), "TICKFORGE_PATTERN": pattern,
               "TICKFORGE_CONFIG": json.dumps(DESIGNS[design][1].as_dict())}
        result = runner.run(cocotb_builds[design], f"tickforge.sim.cocotb.{bench}", testcase,
                            run_name=f"{testcase}-{pattern}", env=env, python_path=PYTHON_PATH)
        print(f"log: {result.log}")
        if result.tests != 1 or result.failures:
            pytest.fail(result.summary(), pytrace=False)
    return run
