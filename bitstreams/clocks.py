"""What makes a board's core clock: its oscillator, alone or through a phase-locked loop.

Each PLL class holds the divider settings (what ``icepll`` / ``ecppll`` would print), checks
them against the datasheet's ranges in its constructor, and computes the output frequency, so a
board entry states its settings once and the build, the manifest and the tests all read the
frequency from the same arithmetic. ``instance(m, pad)`` takes the oscillator's pin, adds what
it needs to a module and returns ``(clk_out, locked)``.
"""

from dataclasses import dataclass

from amaranth.hdl import Const, Instance, Signal
from amaranth.lib import io


__all__ = ["Oscillator", "ICE40PLL", "ECP5PLL"]


def _need(condition, message):
    if not condition:
        raise ValueError(message)


def _need_within(owner, what, hz, low, high):
    """A frequency inside its datasheet range, or a message naming both."""
    _need(low <= hz <= high,
          f"{owner}: {what} {hz / 1e6:.3f} MHz is outside {low / 1e6:g}..{high / 1e6:g} MHz")


@dataclass(frozen=True)
class Oscillator:
    """No PLL: the oscillator is the core clock, for a design whose Fmax is below what a PLL
    could usefully make (the iCE40's PLL gives 16 MHz at least)."""
    f_in_hz: float

    @property
    def f_out_hz(self):
        return self.f_in_hz

    def instance(self, m, pad):
        m.submodules.oscillator = buffer = io.Buffer("i", pad)
        return buffer.i, Const(1)

    def as_dict(self):
        return None


@dataclass(frozen=True)
class ICE40PLL:
    """An iCE40 PLL in SIMPLE feedback mode: ``f_out = f_in × (divf + 1) / ((divr + 1) ×
    2**divq)``. ``reference="pad"`` (``SB_PLL40_PAD``) where the oscillator is wired to the PLL's
    own package pin, as on the iCEBreaker's iCE40UP5K (pin 35), which must take it from there;
    ``reference="core"`` (``SB_PLL40_CORE``) where it reaches the PLL through a global buffer,
    as on the iCE40-HX8K breakout board (J3, not a PLL pin).

    Ranges (iCE40 sysCLOCK PLL design guide): PFD ``f_in / (divr + 1)`` 10..133 MHz, VCO
    ``f_in × (divf + 1) / (divr + 1)`` 533..1066 MHz, output 16..275 MHz.
    """
    f_in_hz:      float
    divr:         int
    divf:         int
    divq:         int
    filter_range: int
    reference:    str = "pad"

    def __post_init__(self):
        _need(self.reference in ("pad", "core"),
              f"ICE40PLL: reference must be 'pad' or 'core', not {self.reference!r}")
        _need(0 <= self.divr <= 15 and 0 <= self.divf <= 127 and 1 <= self.divq <= 6
              and 0 <= self.filter_range <= 7, f"ICE40PLL: a divider is out of range: {self}")
        _need_within("ICE40PLL", "PFD", self.f_in_hz / (self.divr + 1), 10e6, 133e6)
        _need_within("ICE40PLL", "VCO", self.vco_hz, 533e6, 1066e6)
        _need_within("ICE40PLL", "output", self.f_out_hz, 16e6, 275e6)

    @property
    def vco_hz(self):
        return self.f_in_hz * (self.divf + 1) / (self.divr + 1)

    @property
    def f_out_hz(self):
        return self.vco_hz / 2 ** self.divq

    @property
    def primitive(self):
        return {"pad": "SB_PLL40_PAD", "core": "SB_PLL40_CORE"}[self.reference]

    def instance(self, m, pad):
        """``pad``: the oscillator's pin as an I/O port (``platform.request(..., dir="-")``)."""
        clk, locked = Signal(name="pll_clk"), Signal(name="pll_locked")
        if self.reference == "pad":
            reference = {"i_PACKAGEPIN": pad.io}
        else:
            m.submodules.oscillator = buffer = io.Buffer("i", pad)
            reference = {"i_REFERENCECLK": buffer.i}
        m.submodules.pll = Instance(
            self.primitive,
            p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
            p_DIVR=self.divr, p_DIVF=self.divf, p_DIVQ=self.divq,
            p_FILTER_RANGE=self.filter_range,
            **reference, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk, o_LOCK=locked)
        return clk, locked

    def as_dict(self):
        return {"primitive": self.primitive, "divr": self.divr, "divf": self.divf,
                "divq": self.divq, "filter_range": self.filter_range,
                "vco_mhz": round(self.vco_hz / 1e6, 6)}


@dataclass(frozen=True)
class ECP5PLL:
    """``EHXPLLL`` with CLKOP fed back: ``f_out = f_in × clkfb_div / clki_div``, the VCO
    running at ``f_out × clkop_div``.

    Ranges (ECP5 sysCLOCK PLL usage guide, TN1263): PFD ``f_in / clki_div`` 3.125..400 MHz,
    VCO 400..800 MHz, output 3.125..400 MHz. ``clkop_cphase`` is what ``ecppll`` picks for a
    zero-degree output.
    """
    f_in_hz:      float
    clki_div:     int
    clkfb_div:    int
    clkop_div:    int
    clkop_cphase: int

    def __post_init__(self):
        _need(1 <= self.clki_div <= 128 and 1 <= self.clkfb_div <= 128
              and 1 <= self.clkop_div <= 128 and 0 <= self.clkop_cphase < 128,
              f"ECP5PLL: a divider is out of range: {self}")
        _need_within("ECP5PLL", "PFD", self.f_in_hz / self.clki_div, 3.125e6, 400e6)
        _need_within("ECP5PLL", "VCO", self.vco_hz, 400e6, 800e6)
        _need_within("ECP5PLL", "output", self.f_out_hz, 3.125e6, 400e6)

    @property
    def f_out_hz(self):
        return self.f_in_hz * self.clkfb_div / self.clki_div

    @property
    def vco_hz(self):
        return self.f_out_hz * self.clkop_div

    def instance(self, m, pad):
        m.submodules.oscillator = buffer = io.Buffer("i", pad)
        clk, locked = Signal(name="pll_clk"), Signal(name="pll_locked")
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.f_in_hz / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{self.f_out_hz / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=self.clkop_div,
            p_CLKOP_CPHASE=self.clkop_cphase, p_CLKOP_FPHASE=0,
            p_CLKI_DIV=self.clki_div, p_CLKFB_DIV=self.clkfb_div, p_FEEDBK_PATH="CLKOP",
            i_CLKI=buffer.i, i_CLKFB=clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
            i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk, o_LOCK=locked)
        return clk, locked

    def as_dict(self):
        return {"primitive": "EHXPLLL", "clki_div": self.clki_div, "clkfb_div": self.clkfb_div,
                "clkop_div": self.clkop_div, "clkop_cphase": self.clkop_cphase,
                "vco_mhz": round(self.vco_hz / 1e6, 6)}
