"""OrderBook's Verilog on Verilator against BookModel (bench: sim/cocotb/bench_book.py), small
enough to hit its limits, on real order flow and on a random mix that reaches every rule, under
each idle/back-pressure pattern."""

import pytest

from tickforge.sim.cocotb.tb import PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("testcase", ["real_data", "random_rules"])
@pytest.mark.parametrize("design", ["book_small"])
def test_book(design, testcase, pattern, run_bench):
    run_bench(design, "bench_book", testcase, pattern)
