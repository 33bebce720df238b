"""Backtests: the accounting of the fills a replay produced, and its plots.

The fill model is the core's own paper fills (``paper_fills``), so a backtest on the RTL and
one on the golden model are the same numbers: a quote fills, whole, when a trade on its book
prints strictly through it (below our bid, above our ask); an imbalance or arbitrage order
(a taker) fills at once, at the touch, for at most the size shown there. No queue position,
no fees beyond the arbitrage kernel's own, no market impact.

From the FILL events this computes, per book and in total: cash, inventory, the P&L in the
quote currency marked to the mid of the latest PRICE event (an inverse contract of value v
filled at p counts as v/p of the base asset bought for v), the hit rate (the share of round trips, matched first in
first out, that made money), the maximum drawdown of the P&L, and a Sharpe ratio of the
P&L's changes over each minute of exchange time, scaled by sqrt(minutes of the sample).
"""

import math
from collections import deque
from dataclasses import dataclass, field

from ..hdl.layouts import EventKind, Side, SignalReason


__all__ = ["Backtest", "BacktestReport"]

_Q16 = 1 << 16
_MINUTE_NS = 60 * 10**9
_DUST = 1e-12  # base units below this are rounding left by inverse contracts


@dataclass
class _Book:
    instrument: object
    cash: float = 0.0              # currency
    position: float = 0.0          # base units (shares, BTC)
    inventory: int = 0             # the book's own quantity units, as the FILL events count
    mid: float = 0.0               # currency
    lots: deque = field(default_factory=deque)  # open (signed base qty, price), FIFO
    round_trips: int = 0
    hits: int = 0

    def value(self):
        return self.cash + self.position * self.mid


@dataclass
class BacktestReport:
    pnl: float            # currency
    max_drawdown: float   # currency
    sharpe: float | None  # None: under two minutes of P&L changes, or no variation
    hit_rate: float
    round_trips: int
    fills: int
    inventory: dict       # book name → final inventory
    per_book_pnl: dict    # book name → currency


class Backtest:
    """Feed it every event of a replay (:meth:`event`), then ask for the :meth:`report`;
    it also keeps the series the plots need."""

    def __init__(self, slots, instruments):
        self.names = {slot: name for name, slot in slots.items()}
        self.books = {slot: _Book(instruments[name]) for name, slot in slots.items()}
        self.fills = 0
        # series for the plots: (exchange ns, value)
        self.pnl = []
        self.mids = {slot: [] for slot in self.names}
        self.quotes = {slot: {Side.BID: [], Side.ASK: []} for slot in self.names}
        self.fill_marks = {slot: [] for slot in self.names}
        self.inventory = {slot: [] for slot in self.names}
        self.latencies = []

    def event(self, event):
        kind, body, when = event.kind, event.body, event.timestamp
        book = self.books.get(body.slot) if hasattr(body, "slot") else None
        if book is None:
            if kind == EventKind.SIGNAL:
                self.latencies.append((event.t_out - event.t_in) % (1 << 32))
            return
        scale = book.instrument.price_scale
        if kind == EventKind.PRICE:
            if body.two_sided:
                book.mid = body.mid / _Q16 / scale
                self.mids[body.slot].append((when, book.mid))
            self.pnl.append((when, self.total()))
        elif kind == EventKind.SIGNAL:
            self.latencies.append((event.t_out - event.t_in) % (1 << 32))
            if body.reason == SignalReason.QUOTE:
                self.quotes[body.slot][body.side].append((when, body.price / scale))
        elif kind == EventKind.FILL:
            self._fill(book, body)
            self.fill_marks[body.slot].append((when, body.price / scale, body.side))
            self.inventory[body.slot].append((when, body.inventory))
            self.pnl.append((when, self.total()))

    def _fill(self, book, fill):
        """Book a fill in currency and base units: an inverse contract of value v bought at
        price p is v / p of the base, paid v."""
        self.fills += 1
        instrument = book.instrument
        price = fill.price / instrument.price_scale
        if instrument.contract_value:
            base = fill.qty * instrument.contract_value / price
        else:
            base = fill.qty / instrument.qty_scale
        signed = base if fill.side == Side.BID else -base
        book.cash -= signed * price
        book.position += signed
        book.inventory = fill.inventory
        remaining = signed
        while abs(remaining) > _DUST and book.lots and (book.lots[0][0] > 0) != (remaining > 0):
            lot_qty, lot_price = book.lots[0]
            closed = min(abs(lot_qty), abs(remaining))
            gain = (price - lot_price) * closed * (1 if lot_qty > 0 else -1)
            book.round_trips += 1
            book.hits += gain > 0
            lot_qty += closed if lot_qty < 0 else -closed
            remaining += closed if remaining < 0 else -closed
            if abs(lot_qty) > _DUST:
                book.lots[0] = (lot_qty, lot_price)
            else:
                book.lots.popleft()
        if abs(remaining) > _DUST:
            book.lots.append((remaining, price))

    def total(self):
        """Marked-to-market P&L of every book, in currency."""
        return sum(book.value() for book in self.books.values())

    def report(self):
        peak, drawdown = -math.inf, 0.0
        for _, value in self.pnl:
            peak = max(peak, value)
            drawdown = max(drawdown, peak - value)
        minutes = {}
        for when, value in self.pnl:
            minutes[when // _MINUTE_NS] = value
        changes = [b - a for a, b in zip(list(minutes.values()), list(minutes.values())[1:])]
        sharpe = None
        if len(changes) > 1:
            mean = sum(changes) / len(changes)
            spread = math.sqrt(sum((c - mean) ** 2 for c in changes) / (len(changes) - 1))
            sharpe = mean / spread * math.sqrt(len(changes)) if spread else None
        round_trips = sum(book.round_trips for book in self.books.values())
        hits = sum(book.hits for book in self.books.values())
        return BacktestReport(
            pnl=self.total(), max_drawdown=drawdown, sharpe=sharpe,
            hit_rate=hits / round_trips if round_trips else 0.0, round_trips=round_trips,
            fills=self.fills,
            inventory={self.names[slot]: book.inventory for slot, book in self.books.items()},
            per_book_pnl={self.names[slot]: book.value() for slot, book in self.books.items()})

    def plot(self, folder, *, book=None):
        """Write mid_quotes.png, inventory.png, pnl.png and latency.png into ``folder``;
        ``book`` chooses whose mid and quotes to draw (default: the most traded)."""
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot

        folder.mkdir(parents=True, exist_ok=True)
        slot = self._chosen(book)
        written = []

        def figure(name, title, draw, xlabel="exchange time (s after midnight)"):
            fig, axes = pyplot.subplots(figsize=(10, 4))
            draw(axes)
            axes.set_title(title)
            axes.set_xlabel(xlabel)
            fig.tight_layout()
            path = folder / name
            fig.savefig(path, dpi=110)
            pyplot.close(fig)
            written.append(path)

        def seconds(series):
            return [when / 1e9 for when, *_ in series]

        def mid_quotes(axes):
            axes.plot(seconds(self.mids[slot]), [v for _, v in self.mids[slot]],
                      label="mid", linewidth=0.8)
            for side, colour in ((Side.BID, "tab:green"), (Side.ASK, "tab:red")):
                quotes = self.quotes[slot][side]
                axes.step(seconds(quotes), [v for _, v in quotes], where="post",
                          label=f"{side.name.lower()} quote", color=colour, linewidth=0.6)
            marks = self.fill_marks[slot]
            if marks:
                axes.scatter(seconds(marks), [p for _, p, _ in marks], s=8, color="black",
                             label="fills", zorder=3)
            axes.set_ylabel("price")
            axes.legend(loc="best", fontsize="small")

        def inventory(axes):
            for each, series in self.inventory.items():
                if series:
                    axes.step(seconds(series), [v for _, v in series], where="post",
                              label=self.names[each])
            axes.set_ylabel("inventory")
            axes.legend(loc="best", fontsize="small")

        def pnl(axes):
            axes.plot(seconds(self.pnl), [v for _, v in self.pnl], linewidth=0.8)
            axes.set_ylabel("P&L (marked to mid)")

        def latency(axes):
            if self.latencies:
                axes.hist(self.latencies, bins=range(min(self.latencies),
                                                     max(self.latencies) + 2))
            axes.set_ylabel("signals")

        figure("mid_quotes.png", f"{self.names[slot]}: mid, quotes and fills", mid_quotes)
        figure("inventory.png", "inventory", inventory)
        figure("pnl.png", "P&L", pnl)
        figure("latency.png", "latency: a message's last byte in to its signal out", latency,
               xlabel="cycles (hardware stamps)")
        return written

    def _chosen(self, book):
        if book is not None:
            for slot, name in self.names.items():
                if name == book:
                    return slot
            raise ValueError(f"no book named {book!r}; books: {', '.join(self.names.values())}")
        return max(self.names, key=lambda slot: len(self.fill_marks[slot]) +
                   len(self.mids[slot]))
