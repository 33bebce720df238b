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


def cmd_verify_lobster(args):
    from .feeds.lobster import LobsterDay
    from .transport import open_transport
    from .verify.lobster import verify_lobster

    config = CoreConfig()
    day = LobsterDay(args.messages, args.orderbook)
    total = _count_rows(day)
    levels = day.levels if args.levels is None else args.levels
    print(f"{day.ticker} {day.date}: {total} message rows, {day.levels}-level book; "
          f"checking the top {levels} levels on target '{args.target}'")
    update, close = _progress(total, "rows")
    try:
        with open_transport(args.target, config) as transport:
            result = verify_lobster(args.messages, args.orderbook, transport=transport,
                                    levels=args.levels, progress=update)
    finally:
        close()
    for row, want, got in result.mismatches:
        print(f"row {row}: expected bids {want[Side.BID]} asks {want[Side.ASK]}")
        print(f"{'':>{len(str(row)) + 5}} got      bids {got[Side.BID]} asks {got[Side.ASK]}")
    print(f"seeded levels: {result.seeded_levels} "
          f"(row 0: {result.initial_seeds}, re-seeded later: {result.reseeds})")
    seconds = max(result.wall_seconds, 1e-9)
    print(f"units sent: {result.units}; throughput: {result.rows / seconds:,.0f} rows/s, "
          f"{result.units / seconds:,.0f} messages/s ({result.wall_seconds:.1f} s)")
    stats = result.target_stats
    if "cycles" in stats:
        print(f"RTL: {stats['cycles']:,} cycles, "
              f"{stats['cycles'] / max(stats.get('wall_seconds', seconds), 1e-9):,.0f} cycles/s")
    if result.status is not None:
        counters = {**result.status.parser._asdict(), **result.status.book._asdict()}
        print("counters: " + ", ".join(f"{name} {value}" for name, value in counters.items()))
    print(f"rows matched: {result.matched}/{result.rows}")
    return 0 if result.ok else 1


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
