"""``tickforge bitstream`` and ``tickforge flash``. The build and flash code (and
amaranth-boards) is imported only when one of these runs, so the other commands start fast.
Errors are :class:`RuntimeError` or :class:`ValueError` subclasses with the reason and the fix,
which the CLI prints without a traceback."""


def bitstream(args):
    if args.parts:
        return _parts(args.board)
    from .build import build, summary
    manifest = build(args.board, output=args.output)
    print(f"{args.board}: {manifest['bitstream']} sha256 {manifest['sha256']}, built in "
          f"{manifest['build_seconds']} s\n  {summary(manifest)}")
    return 0


def _parts(name):
    from .parts import part_sizes
    sizes = part_sizes(name)
    kinds = list(next(iter(sizes.values())))
    print(f"{name}: each part synthesized alone (cells before placement)")
    print(f"  {'part':<12}" + "".join(f"{kind:>8}" for kind in kinds))
    for part, counts in sizes.items():
        print(f"  {part:<12}" + "".join(f"{counts[kind]:>8,}" for kind in kinds))
    return 0


def flash(args):
    from .flash import flash
    flash(args.board, dry_run=args.dry_run, bitstream=args.bitstream)
    return 0
