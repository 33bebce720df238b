"""Summaries printed at the end of a run, and the files a replay writes."""

import csv
import json

from ..hdl.layouts import EventKind, SignalReason


__all__ = ["print_counters", "print_replay", "print_backtest", "SignalWriter"]


def print_counters(status):
    """Every counter of a status event, on one line."""
    if status is None:
        return
    counters = {**status.parser._asdict(), **status.book._asdict()}
    print("counters: " + ", ".join(f"{name} {value}" for name, value in counters.items()))


def print_replay(result, timed):
    """The replay summary; ``timed`` when the target stamps events with hardware cycles."""
    print(f"messages: {result.messages:,}")
    signals = ", ".join(f"{reason.name.lower()} {result.signals[reason]:,}"
                        for reason in SignalReason)
    print(f"signals: {sum(result.signals.values()):,} ({signals})")
    rejects = result.rejects
    if rejects:
        print(f"rejects: {sum(rejects.values()):,} (" +
              ", ".join(f"{reason.name.lower()} {count:,}" for reason, count in rejects.items())
              + ")")
    print(f"fills: {result.fills:,}")
    seconds = max(result.wall_seconds, 1e-9)
    print(f"throughput: {result.messages / seconds:,.0f} messages/s "
          f"({result.wall_seconds:.1f} s wall)")
    if result.compared:
        print(f"compared with the golden model: {result.compared:,} events identical")
    latency = result.latency_summary()
    if timed and latency:
        print(f"latency, message's last byte in to signal out (cycles): min {latency['min']}, "
              f"median {latency['median']}, p99 {latency['p99']}, max {latency['max']} "
              f"over {latency['count']:,} signals")
    if result.status is not None:
        print_counters(result.status)


def print_backtest(report):
    print(f"P&L: {report.pnl:,.2f} (marked to mid); max drawdown {report.max_drawdown:,.2f}")
    sharpe = "n/a (fewer than two minutes with P&L changes)" if report.sharpe is None else \
        f"{report.sharpe:.2f}"
    print(f"Sharpe (per-minute P&L changes, x sqrt(minutes)): {sharpe}")
    print(f"hit rate: {report.hit_rate:.1%} of {report.round_trips:,} round trips; "
          f"{report.fills:,} fills")
    for book, pnl in report.per_book_pnl.items():
        print(f"  {book}: P&L {pnl:,.2f}, inventory {report.inventory[book]:,}")


_FIELDS = ["seq", "timestamp_ns", "book", "slot", "side", "price", "qty", "reason",
           "t_in", "t_out", "latency_cycles"]


class SignalWriter:
    """Writes every SIGNAL event to a CSV or JSON-lines file (by the file's suffix)."""

    def __init__(self, path, books):
        if path.suffix not in (".csv", ".jsonl"):
            raise ValueError(f"signals are written as .csv or .jsonl, not {path.name}")
        self._names = {slot: name for name, slot in books.items()}
        self._file = open(path, "w", newline="")
        self._json = path.suffix == ".jsonl"
        self._csv = None if self._json else csv.DictWriter(self._file, _FIELDS)
        if self._csv:
            self._csv.writeheader()

    def __call__(self, event):
        if event.kind != EventKind.SIGNAL:
            return
        order = event.body
        row = {"seq": event.seq, "timestamp_ns": event.timestamp,
               "book": self._names.get(order.slot, str(order.slot)), "slot": order.slot,
               "side": "buy" if order.side.value == 0 else "sell", "price": order.price,
               "qty": order.qty, "reason": order.reason.name.lower(), "t_in": event.t_in,
               "t_out": event.t_out, "latency_cycles": (event.t_out - event.t_in) % (1 << 32)}
        if self._json:
            self._file.write(json.dumps(row) + "\n")
        else:
            self._csv.writerow(row)

    def close(self):
        self._file.close()

