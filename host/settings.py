"""A run's settings file (TOML): the kernels' parameters by name, checked before anything runs.

```toml
[core]                        # global parameters
event_mask = ["SIGNAL", "FILL", "PRICE", "STATUS"]
paper_fills = true

[symbols.AMZN]                # per-slot parameters of the book named AMZN
imb_enable = true
imb_enter = 0.5               # Q16 parameters take decimals
mm_half_spread = 300.0        # price units (ITCH: 1/10000 $)

[assets.BTC]                  # per-asset parameters; ``venues`` makes them one asset
venues = ["spot/btcusdt", "usdm/btcusdt", "cm/btcusd_perp"]
arb_enable = true
```

A book is named by its ITCH or LOBSTER ticker, or a Binance venue as ``market/symbol``
(``spot/btcusdt``). Unknown sections, names, parameters, values out of range, a parameter in
the wrong section, or a book the data does not have: each is a :class:`SettingsError` naming
the file and what is wrong.
"""

import tomllib
from dataclasses import dataclass, field

from ..hdl.params import PARAM_BY_NAME, Scope, EventMask, ASSETS
from .model.params import ParamStore
from .protocol import encode


__all__ = ["SettingsError", "Settings", "load_settings"]


class SettingsError(ValueError):
    """A settings file that cannot be used, with the reason."""


@dataclass
class Settings:
    """Parameter values by scope: ``core`` {name: value}, ``symbols`` {book: {name: value}},
    ``assets`` {asset: {"venues": [book, ...], name: value}} — values already in register
    units (integers)."""
    path: str = "<defaults>"
    core: dict = field(default_factory=dict)
    symbols: dict = field(default_factory=dict)
    assets: dict = field(default_factory=dict)

    def config_units(self, config, slots):
        """The ConfigWrite units that set every parameter, for books at ``slots``
        ({book name: slot}); raises SettingsError for a book the run has no slot for."""
        checker = ParamStore(config)
        writes = []

        def write(name, index, value):
            try:
                param = checker.check(name, index, value)
            except ValueError as error:
                raise SettingsError(f"{self.path}: {error}") from None
            writes.append(encode("c", parameter=param.number, index=index, value=value))

        for name, value in self.core.items():
            write(name, 0, value)
        for book, values in self.symbols.items():
            for name, value in values.items():
                write(name, self._slot(book, slots), value)
        for asset_index, (asset, values) in enumerate(self.assets.items()):
            for book in values["venues"]:
                write("arb_asset", self._slot(book, slots), asset_index)
            for name, value in values.items():
                if name != "venues":
                    write(name, asset_index, value)
        return writes

    def _slot(self, book, slots):
        if book not in slots:
            known = ", ".join(sorted(slots)) or "none"
            raise SettingsError(f"{self.path}: the data has no book named {book!r} "
                                f"(books in this run: {known})")
        return slots[book]


def _register_value(path, section, name, value):
    param = PARAM_BY_NAME.get(name)
    if param is None:
        raise SettingsError(f"{path}: [{section}] has an unknown parameter {name!r}")
    if name == "event_mask" and isinstance(value, list):
        mask = 0
        for kind in value:
            if not isinstance(kind, str) or kind.upper() not in EventMask.__members__:
                raise SettingsError(f"{path}: event_mask: {kind!r} is not one of "
                                    f"{', '.join(m.name for m in EventMask if m != EventMask.ALL)}")
            mask |= EventMask[kind.upper()]
        return param, mask
    if isinstance(value, bool):
        return param, int(value)
    if isinstance(value, float) and param.fraction_bits:
        return param, round(value * (1 << param.fraction_bits))
    if not isinstance(value, int):
        kind = "a number" if param.fraction_bits else "an integer"
        raise SettingsError(f"{path}: [{section}] {name} must be {kind}, not {value!r}")
    return param, value


def _section(path, section, table, scope):
    values = {}
    for name, value in table.items():
        if name == "venues" and scope == Scope.ASSET:
            continue
        param, number = _register_value(path, section, name, value)
        if param.scope != scope:
            raise SettingsError(f"{path}: {name} is a {param.scope.value} parameter; it "
                                f"belongs in the {_SECTION_OF[param.scope]} section, "
                                f"not [{section}]")
        if name == "arb_asset":
            raise SettingsError(f"{path}: set arb_asset by listing the venues of an "
                                f"[assets.NAME] section")
        values[name] = number
    return values


_SECTION_OF = {Scope.GLOBAL: "[core]", Scope.SLOT: "[symbols.NAME]",
               Scope.ASSET: "[assets.NAME]"}


def load_settings(path):
    """Read and check a settings file (values still checked against a core's build when
    :meth:`Settings.config_units` turns them into writes)."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise SettingsError(f"cannot read settings {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None
    unknown = set(document) - {"core", "symbols", "assets"}
    if unknown:
        raise SettingsError(f"{path}: unknown section(s) {sorted(unknown)}; "
                            f"use [core], [symbols.NAME] and [assets.NAME]")
    settings = Settings(path=str(path))
    settings.core = _section(path, "core", document.get("core", {}), Scope.GLOBAL)
    for book, table in document.get("symbols", {}).items():
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: [symbols.{book}] must be a table")
        settings.symbols[book] = _section(path, f"symbols.{book}", table, Scope.SLOT)
    assets = document.get("assets", {})
    if len(assets) > ASSETS:
        raise SettingsError(f"{path}: at most {ASSETS} assets, not {len(assets)}")
    for asset, table in assets.items():
        venues = table.get("venues")
        if not (isinstance(venues, list) and len(venues) >= 2 and
                all(isinstance(venue, str) for venue in venues)):
            raise SettingsError(f"{path}: [assets.{asset}] needs venues = [two or more "
                                f"book names]")
        for venue in venues:
            if any(venue in other["venues"] for other in settings.assets.values()):
                raise SettingsError(f"{path}: {venue} is a venue of two assets")
        values = _section(path, f"assets.{asset}", table, Scope.ASSET)
        settings.assets[asset] = {"venues": venues, **values}
    return settings

