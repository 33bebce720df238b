"""Every board entry elaborates into a complete build plan without running a tool (as
amaranth-boards' own smoke tests do), and its clock, PLL and UART settings add up."""

import json
import subprocess
import sys

import pytest

from tickforge.bitstreams import boards
from tickforge.bitstreams.build import FOLDER, elaborate, inputs_digest
from tickforge.bitstreams.clocks import ECP5PLL, ICE40PLL, Oscillator


@pytest.mark.parametrize("name", sorted(boards.BOARDS))
def test_top_elaborates_into_its_reference_inputs(name):
    """Every board elaborates into a build plan; each board that builds has its reference
    manifest committed, built from exactly what the sources elaborate to now. CI rebuilds only
    the ULX3S (the suite's longest test): for the other boards this is what notices a gateware
    change that left the reference stale. One elaboration serves both checks (20 s each)."""
    plan = elaborate(name)
    files = plan.files
    assert "top.il" in files
    rtlil = files["top.il"]
    assert "\\src" not in rtlil, "source locations would make the bitstream depend on the path"
    assert str(FOLDER.parent) not in rtlil, "the checkout's path would change the inputs digest"
    constraints = files.get("top.pcf") or files.get("top.lpf")
    assert constraints is not None
    for pin in ("uart_0__rx", "uart_0__tx"):
        assert pin in constraints
    script = next(text for file, text in files.items() if file.startswith("build_top.sh"))
    assert "--seed 1" in script and "--report report.json" in script
    # multiplies go into DSP blocks only on the iCE40 that has them, the UltraPlus
    ultraplus = boards.BOARDS[name].platform.device.startswith("iCE40UP")
    assert ("-dsp" in files.get("top.ys", "")) == ultraplus
    reference = json.loads((FOLDER / name / "manifest.json").read_text())
    config = boards.BOARDS[name].config.as_dict()
    assert reference["timing_met"]
    if boards.BOARDS[name].extension == "bin":   # an iCE40 logic cell: a LUT and a flip-flop
        assert reference["utilisation"]["FF"]["used"] <= reference["utilisation"]["LUT"]["used"]
    assert {key: reference["config"][key] for key in config} == config
    assert reference["inputs_sha256"] == inputs_digest(plan), (
        f"bitstreams/{name}/manifest.json was built from other sources: run `make bitstream "
        f"BOARD={name}` and commit the manifest")


@pytest.mark.parametrize("name", sorted(boards.BOARDS))
def test_clock_and_baud(name):
    entry = boards.BOARDS[name]
    assert entry.clock_hz / entry.divisor == pytest.approx(entry.baud, rel=0.005)
    assert entry.divisor >= 4
    assert entry.config.width == 1


def test_pll_arithmetic():
    """The boards' settings give their clocks; settings outside the datasheet are refused."""
    assert boards.BOARDS["icebreaker"].clock == Oscillator(12e6)
    assert boards.BOARDS["icebreaker"].clock_hz == 12e6
    assert boards.BOARDS["ulx3s"].clock_hz == 30e6
    assert boards.BOARDS["ulx3s"].clock.vco_hz == 600e6
    assert boards.BOARDS["ice40-hx8k"].clock_hz == 36e6
    assert ICE40PLL(12e6, divr=0, divf=63, divq=4, filter_range=1).f_out_hz == 48e6
    assert ICE40PLL(12e6, divr=0, divf=63, divq=4, filter_range=1).primitive == "SB_PLL40_PAD"
    assert boards.BOARDS["ice40-hx8k"].clock.primitive == "SB_PLL40_CORE"
    with pytest.raises(ValueError, match="reference must be 'pad' or 'core'"):
        ICE40PLL(12e6, divr=0, divf=47, divq=4, filter_range=1, reference="pin")
    with pytest.raises(ValueError, match="VCO"):
        ICE40PLL(12e6, divr=0, divf=20, divq=1, filter_range=1)
    with pytest.raises(ValueError, match="VCO"):
        ECP5PLL(25e6, clki_div=1, clkfb_div=4, clkop_div=2, clkop_cphase=1)


def test_baud_mismatch_is_refused():
    import dataclasses
    entry = boards.BOARDS["icebreaker"]
    with pytest.raises(ValueError, match="whole multiple of the baud rate"):
        dataclasses.replace(entry, baud=2_000_000 + 123_456)


def test_unknown_board():
    with pytest.raises(ValueError, match="unknown board 'nope'.*icebreaker"):
        boards.board("nope")
    result = subprocess.run([sys.executable, "-m", "tickforge.host.cli", "bitstream", "nope"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == ("tickforge bitstream: unknown board 'nope'; tickforge builds for: "
                             "ecpix5, ecpix5-trading, ice40-hx8k, icebreaker, ulx3s, ulx3s-trading\n")


def test_elaboration_is_deterministic():
    """Two elaborations give the same inputs digest: nothing random or path-dependent reaches
    the tools (the condition for a reproducible bitstream)."""
    assert inputs_digest(elaborate("icebreaker")) == inputs_digest(elaborate("icebreaker"))
