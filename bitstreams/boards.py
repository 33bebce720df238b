"""The boards tickforge builds for: one declarative entry per build (a board's trading build,
every kernel at a slower clock, is an entry of its own beside its book-only one).

An entry names the amaranth-boards platform, what makes the core clock (a PLL's settings, or
the oscillator alone), the baud rate of the board's USB-serial bridge, the
:class:`~tickforge.hdl.config.CoreConfig` it runs (the largest whose build completed, fits and
meets timing: see bitstreams/README.md for what was tried), the link's ring sizes, the LEDs,
and how openFPGALoader reaches the board.
"""

from dataclasses import dataclass, field, replace

from amaranth_boards.ecpix5 import ECPIX585Platform
from amaranth_boards.ice40_hx8k_b_evn import ICE40HX8KBEVNPlatform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from ..hdl.config import CoreConfig
from ..hdl.layouts import LINK_MAX_PAYLOAD
from .clocks import ECP5PLL, ICE40PLL, Oscillator


__all__ = ["Board", "BOARDS", "board"]


@dataclass(frozen=True)
class Board:
    """One board. ``link`` holds the :class:`~tickforge.hdl.link.Link` options (the host must
    use the same ``max_payload``); ``leds`` maps ``(resource, number)`` (or ``(resource, number,
    colour)`` for one colour of an RGB LED) to the
    :data:`~tickforge.bitstreams.top.LED_ROLES` that light it; ``reset_button`` is a resource
    that resets link and core while pressed (None: the board has none); ``loader`` is
    openFPGALoader's arguments before the file (``cable`` overrides its default cable)."""
    name:         str
    title:        str
    platform:     type
    clock:        object   # a clocks.Oscillator, ICE40PLL or ECP5PLL
    baud:         int
    config:       CoreConfig
    link:         dict
    leds:         dict
    reset_button: tuple
    loader:       tuple
    extension:    str
    resources:    dict = field(default_factory=dict)   # what the FPGA has, for the manifest

    def __post_init__(self):
        error = abs(self.clock_hz / self.divisor - self.baud) / self.baud
        if error > 0.005:
            raise ValueError(f"{self.name}: {self.clock_hz / 1e6:g} MHz / {self.baud} baud is "
                             f"{self.clock_hz / self.baud:.2f} cycles per bit; pick a clock "
                             f"within 0.5 % of a whole multiple of the baud rate")
        if self.config.width != 1:
            raise ValueError(f"{self.name}: the serial link feeds the core one byte per beat, "
                             f"so the config needs width=1")

    @property
    def clock_hz(self):
        return self.clock.f_out_hz

    @property
    def max_payload(self):
        """The largest frame payload the board's link takes: the host must send within it."""
        return self.link.get("max_payload", LINK_MAX_PAYLOAD)

    @property
    def divisor(self):
        """UART clock cycles per bit."""
        return round(self.clock_hz / self.baud)


_ECP5_85F_RESOURCES = {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156}
"""What an 85F has, ECP5 and ECP5-5G alike."""

_SMALL_PART_CONFIG = CoreConfig(width=1, symbols=1, order_sets=512, order_ways=1,
                                tracked_levels=16, exported_levels=1, trading=False)
"""The iCE40s' config: one symbol (the small-part book), 512 orders (in 18 block RAMs the order
table needs fewer logic cells than 2 orders in flip-flops), 16 tracked levels (the default's
depth: the small-part book keeps its sides in block RAM, where 16 levels cost some 60 logic
cells more than 2) and 1 exported."""

_SMALL_PART_LINK = dict(rx_ring=512, tx_ring=256, max_payload=128, queue_frames=2, tx_frames=2,
                        counter_ram=True, status_bank=True, collision_free=True)
"""The iCE40s' link: small rings and frames, its counters and the core's in block RAM."""

_ULX3S_CONFIG = CoreConfig(width=1, symbols=16, order_sets=4096, order_ways=4,
                           tracked_levels=8, exported_levels=5, trading=False)
"""The ULX3S's config: 16 symbols, 16,384 orders (128 of 208 block RAMs), 8 tracked and 5
exported levels, no trading kernels (they have a build of their own, ``ulx3s-trading``,
at half the clock). With 16 and 10 levels its build placed
(40 % of the LUTs) but did not route: see bitstreams/README.md."""

_ECPIX5_CONFIG = replace(_ULX3S_CONFIG, tracked_levels=16, exported_levels=10)
"""The ECPIX-5's: the same with 16 tracked and 10 exported levels, the default's depth (and
that of LOBSTER's level-10 files), which its build routes."""

_TRADING_CONFIG = CoreConfig(width=1, symbols=2, order_sets=1024, order_ways=4,
                             tracked_levels=8, exported_levels=5, trading=True)
"""The trading builds': every kernel, parser to risk gate, for 2 slots (one instrument on two
venues, the least cross-venue arbitrage needs) and 4,096 orders, at a slower clock than the
book-only builds. With 4 slots the builds placed (59 % of the LUTs) but did not route: see
bitstreams/README.md."""


BOARDS = {board.name: board for board in [
    Board(
        name="icebreaker",
        title="1BitSquared iCEBreaker (Lattice iCE40UP5K, FT2232H)",
        platform=ICEBreakerPlatform,
        # the 12 MHz oscillator, no PLL: this config reaches some 17 MHz on the nearly full
        # UP5K, and the PLL's lowest output, 16 MHz, is no whole multiple of 3 Mbaud.
        # 12 MHz / 3 Mbaud = 4 cycles per bit
        clock=Oscillator(12e6),
        baud=3_000_000,
        config=_SMALL_PART_CONFIG,
        link=_SMALL_PART_LINK,
        leds={("led_g", 0): ("alive", "rx", "tx"), ("led_r", 0): ("error",)},
        reset_button=("button", 0),
        loader=("-b", "ice40_generic"),
        extension="bin",
        resources={"LUT": 5280, "FF": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8},
    ),
    Board(
        name="ice40-hx8k",
        title="Lattice iCE40-HX8K Breakout Board (iCE40HX8K-CT256, FT2232H)",
        platform=ICE40HX8KBEVNPlatform,
        # 12 MHz × 48 / 16 = 36 MHz; 36 MHz / 6 Mbaud (the FT2232H's 12 MHz ÷ 2) = 6 cycles per
        # bit. The oscillator reaches the PLL through a global buffer (J3 is no PLL pin)
        clock=ICE40PLL(12e6, divr=0, divf=47, divq=4, filter_range=1, reference="core"),
        baud=6_000_000,
        # the iCEBreaker's gateware, which fits this part's 7,680 logic cells
        config=_SMALL_PART_CONFIG,
        link=_SMALL_PART_LINK,
        leds={("led", 0): ("alive",), ("led", 1): ("rx",), ("led", 2): ("tx",),
              ("led", 7): ("error",)},
        reset_button=None,   # the board's one button reloads the FPGA from flash
        loader=("-b", "ice40_generic"),
        extension="bin",
        resources={"LUT": 7680, "FF": 7680, "BRAM": 32},
    ),
    Board(
        name="ulx3s",
        title="Radiona ULX3S 85F (Lattice ECP5 LFE5U-85F, FT231X)",
        platform=ULX3S_85F_Platform,
        # 25 MHz × 6 / 5 = 30 MHz; 30 MHz / 3 Mbaud (the FT231X's fastest) = 10 cycles per bit.
        # This speed grade 6 part reaches 39.7 MHz with this config: see bitstreams/README.md
        clock=ECP5PLL(25e6, clki_div=5, clkfb_div=6, clkop_div=20, clkop_cphase=19),
        baud=3_000_000,
        config=_ULX3S_CONFIG,
        link=dict(),
        leds={("led", 0): ("alive",), ("led", 1): ("rx",), ("led", 2): ("tx",),
              ("led", 7): ("error",)},
        reset_button=("button_fire", 0),
        loader=("-b", "ulx3s", "-m"),
        extension="bit",
        resources=_ECP5_85F_RESOURCES,
    ),
    Board(
        name="ecpix5",
        title="LambdaConcept ECPIX-5 85F (Lattice ECP5-5G LFE5UM5G-85F, FT2232H)",
        platform=ECPIX585Platform,
        # 100 MHz × 12 / 25 = 48 MHz; 48 MHz / 12 Mbaud (the FT2232H's fastest) = 4 cycles per
        # bit. On this speed grade 8 part the ULX3S's design runs half as fast again
        clock=ECP5PLL(100e6, clki_div=25, clkfb_div=12, clkop_div=12, clkop_cphase=11),
        baud=12_000_000,
        config=_ECPIX5_CONFIG,
        link=dict(),
        leds={("rgb_led", 0, "g"): ("alive",), ("rgb_led", 1, "g"): ("rx",),
              ("rgb_led", 2, "b"): ("tx",), ("rgb_led", 3, "r"): ("error",)},
        reset_button=("rst", 0),
        loader=("-b", "ecpix5", "-m"),
        extension="bit",
        resources=_ECP5_85F_RESOURCES,
    ),
]}
"""Every board, by name."""

BOARDS.update((board.name, board) for board in [
    replace(
        BOARDS["ulx3s"], name="ulx3s-trading", title=BOARDS["ulx3s"].title + ", trading kernels",
        # 25 MHz × 3 / 5 = 15 MHz; 15 MHz / 3 Mbaud = 5 cycles per bit
        clock=ECP5PLL(25e6, clki_div=5, clkfb_div=3, clkop_div=40, clkop_cphase=39),
        config=_TRADING_CONFIG),
    replace(
        BOARDS["ecpix5"], name="ecpix5-trading", title=BOARDS["ecpix5"].title + ", trading kernels",
        # 100 MHz × 6 / 25 = 24 MHz; 24 MHz / 6 Mbaud = 4 cycles per bit
        clock=ECP5PLL(100e6, clki_div=25, clkfb_div=6, clkop_div=25, clkop_cphase=24),
        baud=6_000_000, config=_TRADING_CONFIG),
])
"""The trading builds: the same boards, every kernel, a slower clock (see bitstreams/README.md)."""


def board(name):
    """The entry for ``name``; a clear error for an unknown one."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; tickforge builds for: "
                         f"{', '.join(sorted(BOARDS))}") from None
