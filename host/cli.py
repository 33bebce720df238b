"""The ``tickforge`` command line."""

import argparse
import sys
from pathlib import Path

from ..hdl.config import CoreConfig
from ..hdl.layouts import Side


__all__ = ["main"]


class CommandError(Exception):
    """A problem to report in one line, without a traceback."""


def _existing_file(text):
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def _progress(total, description):
    """A progress bar on stderr; returns (update(done), close())."""
    from rich.progress import Progress, BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.console import Console
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=False)
    task = bar.add_task(description, total=total)
    bar.start()
    return (lambda done: bar.update(task, completed=done)), bar.stop


def _count_rows(day):
    return sum(1 for _ in day.messages())


def _verify_lobster(target, messages, orderbook=None, levels=None):
    from .feeds.lobster import LobsterDay
    from .transport import open_transport
    from .verify.lobster import verify_lobster

    config = CoreConfig()
    day = LobsterDay(messages, orderbook)
    total = _count_rows(day)
    levels = day.levels if levels is None else levels
    print(f"{day.ticker} {day.date}: {total} message rows, {day.levels}-level book; "
          f"checking the top {levels} levels on target '{target}'")
    update, close = _progress(total, "rows")
    try:
        with open_transport(target, config) as transport:
            result = verify_lobster(messages, orderbook, transport=transport, levels=levels,
                                    progress=update)
    finally:
        close()
    _print_lobster_check(result)
    return result


def _print_lobster_check(result):
    for row, want, got in result.mismatches:
        print(f"row {row}: expected bids {want[Side.BID]} asks {want[Side.ASK]}")
        print(f"{'':>{len(str(row)) + 5}} got      bids {got[Side.BID]} asks {got[Side.ASK]}")
    print(f"seeded levels: {result.seeded_levels} "
          f"(row 0: {result.initial_seeds}, re-seeded later: {result.reseeds})")
    seconds = max(result.wall_seconds, 1e-9)
    print(f"units sent: {result.units}; throughput: {result.rows / seconds:,.0f} rows/s, "
          f"{result.units / seconds:,.0f} messages/s ({result.wall_seconds:.1f} s)")
    stats = result.target_stats
    if "busy_cycles" in stats:
        print(f"RTL: {stats['busy_cycles']:,} cycles for {result.units:,} messages "
              f"({stats['busy_cycles'] / max(result.units, 1):.2f} cycles/message)")
    _print_counters(result.status)
    print(f"rows matched: {result.matched}/{result.rows}")


def cmd_verify_lobster(args):
    result = _verify_lobster(args.target, args.messages, args.orderbook, args.levels)
    return 0 if result.ok else 1


def cmd_verify_binance(args):
    from .transport import open_transport
    from .verify.binance import verify_binance

    print(f"Binance: {len(args.files)} capture files; checking best bid/ask against the "
          f"bookTicker stream on target '{args.target}'")
    with open_transport(args.target, CoreConfig()) as transport:
        result = verify_binance(args.files, transport=transport, levels=args.levels,
                                progress=_dots("diffs"))
    print(file=sys.stderr)
    for venue in result.venues:
        print(f"{venue.name} (slot {venue.slot}): bbo matched {venue.matched}/{venue.total} "
              f"(prices {venue.prices_matched}); applied {venue.applied}, stale {venue.stale}, "
              f"unsynced {venue.unsynced}, no truth {venue.no_truth}, gaps {venue.gaps}"
              + ("" if venue.in_sync else "; OUT OF SYNC at the end"))
    for gap in result.gaps:
        print(f"sequence gap: {gap}")
    for mismatch in result.mismatches:
        print(f"mismatch: {mismatch}")
    seconds = max(result.wall_seconds, 1e-9)
    print(f"units sent: {result.units}; throughput: {result.units / seconds:,.0f} messages/s "
          f"({result.wall_seconds:.1f} s)")
    _print_counters(result.status)
    print(f"bbo matched: {result.matched}/{result.total}")
    return 0 if result.ok else 1


def _dots(what):
    """Progress without a known total: a count on stderr now and then."""
    def update(done):
        print(f"\r{done:,} {what}", end="", file=sys.stderr, flush=True)
    return update


def _print_counters(status):
    if status is not None:
        counters = {**status.parser._asdict(), **status.book._asdict()}
        print("counters: " + ", ".join(f"{name} {value}" for name, value in counters.items()))


def cmd_demo(args):
    from rich.console import Console
    from rich.table import Table
    from .paths import BUNDLED_DATA

    source = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
    print("tickforge demo: real NASDAQ data (LOBSTER AMZN 2012-06-21) through the simulated "
          "FPGA\n")
    result = _verify_lobster("sim", source)
    table = Table(title="final book (AMZN, top 5)")
    for column in ("bid size", "bid", "ask", "ask size"):
        table.add_column(column, justify="right")
    bids, asks = result.book.get(Side.BID, []), result.book.get(Side.ASK, [])
    for level in range(5):
        bid = bids[level] if level < len(bids) else None
        ask = asks[level] if level < len(asks) else None
        table.add_row(f"{bid[1]:,}" if bid else "", f"{bid[0] / 10000:.2f}" if bid else "",
                      f"{ask[0] / 10000:.2f}" if ask else "", f"{ask[1]:,}" if ask else "")
    Console().print(table)
    print(f"rows matched: {result.matched}/{result.rows}")
    return 0 if result.ok else 1


def cmd_bench(args):
    import json
    from .bench import lobster_stream, bench_core, machine
    from .paths import full_or_bundled

    source, kind = full_or_bundled(
        "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip",
        "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip")
    print(f"bench: {source} ({kind}), converting to ITCH ...", file=sys.stderr)
    stream, messages = lobster_stream(source)
    print(f"bench: {messages:,} messages, {len(stream):,} bytes; RTL, then golden model ...",
          file=sys.stderr)
    figures = bench_core(stream, messages)
    figures = {**figures, "data": {"source": str(source), "kind": kind}, "machine": machine()}
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    rtl, model = figures["rtl"], figures["model"]
    print(f"RTL: {rtl['cycles']:,} cycles for {rtl['messages']:,} messages; input bound "
          f"{rtl['input_bound_cycles']:,} ({rtl['input_bound_fraction']:.1%} of it reached); "
          f"latency {rtl['latency_cycles']}")
    print(f"speed: RTL {rtl['messages_per_second']:,} msg/s, model "
          f"{model['messages_per_second']:,} msg/s (ratio {figures['rtl_over_model_speed']})")
    print(f"wrote {args.output}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tickforge",
        description="FPGA market-data kernels: replay, verify and benchmark them.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = commands.add_parser(
        "verify-lobster",
        help="replay a LOBSTER day and compare the book after every message",
        description="Replay a LOBSTER day (the sample .zip, or a message csv with its "
                    "order-book csv) through a target and compare its book with the "
                    "order-book file after every message row.")
    verify.add_argument("--target", choices=("model", "sim"), default="model",
                        help="golden model in-process, or the RTL in the native simulation")
    verify.add_argument("--levels", type=int, default=None, metavar="N",
                        help="compare the top N levels per side (default: the file's)")
    verify.add_argument("messages", type=_existing_file, metavar="MESSAGE_CSV_OR_ZIP")
    verify.add_argument("orderbook", type=_existing_file, nargs="?", default=None,
                        metavar="ORDERBOOK_CSV")
    verify.set_defaults(run=cmd_verify_lobster)

    binance = commands.add_parser(
        "verify-binance",
        help="replay Binance depth captures and compare best bid/ask with bookTicker",
        description="Replay Binance depth-stream captures (several venues may feed one run) "
                    "through a target and compare its best bid/ask after every applied diff "
                    "with the venue's own bookTicker stream.")
    binance.add_argument("--target", choices=("model", "sim"), default="model")
    binance.add_argument("--levels", type=int, default=10, metavar="K",
                         help="levels a side sent to the target (default 10)")
    binance.add_argument("files", type=_existing_file, nargs="+", metavar="FILES")
    binance.set_defaults(run=cmd_verify_binance)

    demo = commands.add_parser("demo", help="replay bundled real data through the simulated FPGA")
    demo.set_defaults(run=cmd_demo)

    bench = commands.add_parser(
        "bench", help="benchmark the RTL and the golden model side by side; write JSON",
        description="Replay the full AMZN 5-level LOBSTER day (or the bundled slice when the "
                    "full file is absent) through the RTL at 64-bit width and through the "
                    "golden model, in one run.")
    bench.add_argument("--output", type=Path, default=Path("bench.json"), metavar="JSON")
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError, RuntimeError) as error:
        print(f"tickforge {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
