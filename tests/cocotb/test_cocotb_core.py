"""The shipped Core (default CoreConfig) as Verilog on Verilator against CoreModel (bench:
sim/cocotb/bench_core.py), on real data and on bad input, each ending with a status request
whose counters are checked, under each idle/back-pressure pattern."""

import pytest

from tickforge.sim.cocotb.tb import PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("testcase", ["real_data", "bad_input"])
@pytest.mark.parametrize("design", ["core"])
def test_core(design, testcase, pattern, run_bench):
    run_bench(design, "bench_core", testcase, pattern)
