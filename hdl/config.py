"""Build parameters of the tickforge core, shared by gateware, golden model and host."""

from dataclasses import dataclass, asdict


__all__ = ["CoreConfig"]


@dataclass(frozen=True)
class CoreConfig:
    """Sizes of one core build; the golden model takes the same object and behaves identically.

    ``width``: bytes the parser accepts per cycle (1 for UART boards, 8 for a 64-bit datapath).
    ``symbols``: book slots (one per venue × instrument). ``order_sets`` × ``order_ways``: the
    order table, a set-associative hash table of live orders. ``tracked_levels``: price levels
    kept per book side; ``exported_levels``: how many of them each book update carries.
    ``trading``: whether the pricing, signal and risk kernels follow the book (a board too
    small for them still parses and keeps books).
    """
    width:           int = 8
    symbols:         int = 8
    order_sets:      int = 4096
    order_ways:      int = 4
    tracked_levels:  int = 16
    exported_levels: int = 10
    trading:         bool = True

    def __post_init__(self):
        def need(condition, message):
            if not condition:
                raise ValueError(f"CoreConfig: {message}")
        for name, value in asdict(self).items():
            if name == "trading":
                need(isinstance(value, bool), f"trading must be True or False, not {value!r}")
            else:
                need(isinstance(value, int) and not isinstance(value, bool),
                     f"{name} must be an integer, not {value!r}")
        need(self.width in (1, 2, 4, 8), f"width must be 1, 2, 4 or 8 bytes, not {self.width}")
        need(1 <= self.symbols <= 256, f"symbols must be 1..256, not {self.symbols}")
        need(self.order_sets >= 2 and self.order_sets & (self.order_sets - 1) == 0,
             f"order_sets must be a power of two of at least 2, not {self.order_sets}")
        need(1 <= self.order_ways <= 8, f"order_ways must be 1..8, not {self.order_ways}")
        need(2 <= self.tracked_levels <= 64,
             f"tracked_levels must be 2..64, not {self.tracked_levels}")
        need(1 <= self.exported_levels <= self.tracked_levels,
             f"exported_levels must be 1..tracked_levels ({self.tracked_levels}), "
             f"not {self.exported_levels}")

    @property
    def orders(self):
        """Live orders the order table can hold when no set overflows."""
        return self.order_sets * self.order_ways

    @property
    def set_bits(self):
        return self.order_sets.bit_length() - 1

    def order_set(self, ref):
        """The order table set of order reference ``ref``: its 64 bits folded by XOR.

        Works on a Python int (golden model) and on an Amaranth value (gateware) alike.
        Exchanges hand out references sequentially, so the low bits alone would spread them
        evenly; folding keeps that and also mixes in the high bits some venues use for shards.
        """
        mask = self.order_sets - 1
        folded = ref & mask
        for shift in range(self.set_bits, 64, self.set_bits):
            folded = folded ^ ((ref >> shift) & mask)
        return folded

    def as_dict(self):
        return asdict(self)
