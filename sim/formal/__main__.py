"""``python -m tickforge.sim.formal [NAME ...]``: run every proof (or those named), print a
table of the results, and exit 1 if any fails (naming its counterexample) or 2 if the tools
cannot run."""

import sys

from .proofs import PROOFS
from .runner import FormalToolError


ROW = "{:<34} {:<8} {:>5}  {:<7} {:>8}"


def main(proofs=PROOFS, out=None):
    """Runs ``proofs`` one by one, printing a row to ``out`` (standard output) as each ends;
    returns the exit code."""
    out = out or sys.stdout
    print(ROW.format("property", "mode", "depth", "result", "seconds"), file=out, flush=True)
    failures = []
    for proof in proofs:
        try:
            result = proof.run()
        except FormalToolError as error:
            print(f"error: {error}", file=out)
            return 2
        print(ROW.format(result.name, result.mode, result.depth, result.status,
                         f"{result.seconds:.1f}"), file=out, flush=True)
        if not result.passed:
            failures.append(result)
    for result in failures:
        where = result.trace or result.workdir
        print(f"{result.name}: {result.status}; failed {', '.join(result.failed) or '-'}; "
              f"see {where}", file=out)
    return 1 if failures else 0


def _selected(names):
    known = {proof.name: proof for proof in PROOFS}
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(f"unknown proof(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names] if names else PROOFS


if __name__ == "__main__":
    sys.exit(main(_selected(sys.argv[1:])))
