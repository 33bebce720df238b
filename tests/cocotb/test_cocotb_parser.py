"""ITCHParser's Verilog on Verilator against ParserModel (bench: sim/cocotb/bench_parser.py),
at widths 8 and 1, on real data and on bad input, under each idle/back-pressure pattern."""

import pytest

from tickforge.sim.cocotb.tb import PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("testcase", ["real_data", "bad_input"])
@pytest.mark.parametrize("design", ["parser_w8", "parser_w1"])
def test_parser(design, testcase, pattern, run_bench):
    run_bench(design, "bench_parser", testcase, pattern)
