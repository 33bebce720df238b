"""Run-time parameters of the kernels after the book, declared once.

The host sets them with ConfigWrite (``c``) messages: ``parameter`` is a :class:`Param`'s
``number``, ``index`` the slot (for ``SLOT`` parameters) or the asset (``ASSET``), ``value``
the new value (two's complement for signed parameters). The gateware keeps one register per
parameter and index, the golden model a dict, and the host's TOML configuration is checked
against the ranges here before anything runs. A write the gateware cannot take (unknown
parameter, index out of range, value out of range) changes nothing and is counted as a config
error.
"""

import enum
from dataclasses import dataclass

from amaranth.hdl import unsigned
from amaranth.lib import data

from .layouts import EventKind


__all__ = ["Scope", "Param", "PARAMS", "PARAM_BY_NAME", "PARAM_BY_NUMBER", "ASSETS", "NO_ASSET",
           "EventMask", "SENT_KINDS", "params_layout", "params_init", "param_count",
           "param_limit"]


ASSETS = 8
"""Assets the cross-venue arbitrage kernel can track at once (up to ``symbols`` venues each)."""

NO_ASSET = ASSETS
"""``arb_asset`` of a slot that takes part in no arbitrage."""


class Scope(enum.Enum):
    GLOBAL = "global"
    SLOT = "slot"    # one value per book slot (venue × instrument)
    ASSET = "asset"  # one value per arbitrage asset


class EventMask(enum.IntFlag):
    """Which event kinds leave the core (``event_mask``); the rest are still computed."""
    BOOK = 1 << 0
    TRADE = 1 << 1
    DIRECTORY = 1 << 2
    SYSTEM = 1 << 3
    STATUS = 1 << 4
    PRICE = 1 << 5
    SIGNAL = 1 << 6
    FILL = 1 << 7
    ALL = 0xFF


@dataclass(frozen=True)
class Param:
    number: int
    name: str
    scope: Scope
    width: int
    default: int
    minimum: int
    maximum: int
    doc: str
    fraction_bits: int = 0  # 16 for a Q16 value: the host's configuration takes decimals


_Q16 = 1 << 16
_U32 = (1 << 32) - 1

PARAMS = [
    # --- output and pricing -----------------------------------------------------------------
    Param(0, "event_mask", Scope.GLOBAL, 8, EventMask.ALL, 0, 0xFF,
          "event kinds sent to the host, as EventMask bits"),
    Param(1, "kill", Scope.GLOBAL, 1, 0, 0, 1,
          "kill switch: while set, the risk gate rejects every order"),
    Param(2, "paper_fills", Scope.GLOBAL, 1, 0, 0, 1,
          "simulate fills in the core: takers at once, quotes when a trade goes through them"),
    Param(3, "vwap_window", Scope.GLOBAL, 7, 32, 1, 64,
          "trades in the VWAP window (a write restarts every VWAP)"),
    Param(4, "ema_shift", Scope.GLOBAL, 4, 4, 1, 15,
          "EMA of the mid: ema += (mid - ema) >> ema_shift"),
    Param(5, "vol_shift", Scope.GLOBAL, 4, 4, 1, 15,
          "volatility: vol += (|mid - last mid| - vol) >> vol_shift"),
    Param(16, "imbalance_levels", Scope.SLOT, 5, 5, 1, 16,
          "levels per side summed for the order-book imbalance (at most exported_levels)"),
    # --- imbalance / threshold signal --------------------------------------------------------
    Param(32, "imb_enable", Scope.SLOT, 1, 0, 0, 1, "imbalance signal on this slot"),
    Param(33, "imb_metric", Scope.SLOT, 1, 0, 0, 1,
          "0: order-book imbalance (Q16, -1..1); 1: microprice - mid (Q16 price units)"),
    Param(34, "imb_enter", Scope.SLOT, 32, _Q16 // 2, 0, _U32,
          "signal when the metric reaches +enter (buy) or -enter (sell)",
          fraction_bits=16),
    Param(35, "imb_exit", Scope.SLOT, 32, _Q16 // 4, 0, _U32,
          "re-arm once the metric falls back inside +-exit (hysteresis; exit < enter)",
          fraction_bits=16),
    Param(36, "imb_qty", Scope.SLOT, 32, 100, 1, _U32,
          "order size, capped by the size at the touch"),
    # --- market-making quotes ----------------------------------------------------------------
    Param(48, "mm_enable", Scope.SLOT, 1, 0, 0, 1, "market-making quotes on this slot"),
    Param(49, "mm_half_spread", Scope.SLOT, 32, _Q16, 0, _U32,
          "base half spread around the reservation price (Q16 price units)",
          fraction_bits=16),
    Param(50, "mm_vol_mult", Scope.SLOT, 16, 256, 0, 0xFFFF,
          "half spread widens by vol * mm_vol_mult / 256"),
    Param(51, "mm_skew", Scope.SLOT, 32, 0, 0, _U32,
          "reservation price = microprice - mm_skew * inventory (Q16 price units per unit)",
          fraction_bits=16),
    Param(52, "mm_qty", Scope.SLOT, 32, 100, 1, _U32, "quote size"),
    # --- cross-venue arbitrage ---------------------------------------------------------------
    Param(64, "arb_asset", Scope.SLOT, 4, NO_ASSET, 0, NO_ASSET,
          f"the asset this slot is a venue of (0..{ASSETS - 1}; {NO_ASSET}: none)"),
    Param(65, "arb_fee", Scope.SLOT, 32, 0, 0, _U32,
          "cost per unit traded on this venue, in price units"),
    Param(66, "arb_unit", Scope.SLOT, 32, 1, 1, _U32,
          "this venue's quantity unit in the asset's common unit (sizes legs alike)"),
    Param(80, "arb_enable", Scope.ASSET, 1, 0, 0, 1, "arbitrage signals for this asset"),
    Param(81, "arb_transfer", Scope.ASSET, 32, 0, 0, _U32,
          "edge required beyond both fees, in price units (transfer cost)"),
    Param(82, "arb_max_qty", Scope.ASSET, 32, 100, 1, _U32,
          "largest arbitrage, in the asset's common unit"),
    # --- pre-trade risk ----------------------------------------------------------------------
    Param(96, "max_position", Scope.SLOT, 32, 1000, 0, (1 << 31) - 1,
          "largest |inventory| an accepted order may lead to"),
    Param(97, "max_order_qty", Scope.SLOT, 32, 1000, 0, _U32, "largest order"),
    Param(98, "max_notional", Scope.SLOT, 64, (1 << 64) - 1, 0, (1 << 64) - 1,
          "largest price * quantity of an order, in price units"),
    Param(99, "collar", Scope.SLOT, 32, _U32, 0, _U32,
          "largest |order price - mid|, in price units"),
    Param(100, "rate_max", Scope.SLOT, 16, 0xFFFF, 0, 0xFFFF,
          "orders accepted per rate window"),
    Param(101, "rate_shift", Scope.SLOT, 6, 30, 0, 47,
          "rate window: exchange timestamps (ns) >> rate_shift (30: about a second)"),
]

PARAM_BY_NAME = {param.name: param for param in PARAMS}
PARAM_BY_NUMBER = {param.number: param for param in PARAMS}


def param_count(param, config):
    return {Scope.GLOBAL: 1, Scope.SLOT: config.symbols, Scope.ASSET: ASSETS}[param.scope]


def params_layout(config):
    """Every parameter's register as the kernels see them: a number for a global parameter,
    an array by slot or asset for the others."""
    return data.StructLayout({
        param.name: unsigned(param.width) if param.scope == Scope.GLOBAL
        else data.ArrayLayout(unsigned(param.width), param_count(param, config))
        for param in PARAMS})


def params_init(config):
    """Every register's value after reset: the parameters' defaults."""
    return {param.name: param.default if param.scope == Scope.GLOBAL
            else [param.default] * param_count(param, config) for param in PARAMS}


def param_limit(param, config):
    """The largest value ``param`` may take in a core built with ``config``."""
    if param.name == "imbalance_levels":
        return min(param.maximum, config.exported_levels)
    return param.maximum


SENT_KINDS = {EventKind.BOOK: EventMask.BOOK, EventKind.TRADE: EventMask.TRADE,
              EventKind.DIRECTORY: EventMask.DIRECTORY, EventKind.SYSTEM: EventMask.SYSTEM,
              EventKind.STATUS: EventMask.STATUS, EventKind.PRICE: EventMask.PRICE,
              EventKind.SIGNAL: EventMask.SIGNAL, EventKind.FILL: EventMask.FILL}
"""The event kinds that may leave the core, and the ``event_mask`` bit that lets each out."""
