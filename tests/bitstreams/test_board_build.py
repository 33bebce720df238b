"""The real builds, with the pip toolchain: the ULX3S (ECP5) and iCEBreaker (iCE40UP5K)
bitstreams fit, meet timing with margin and are bit-identical to the committed reference builds
whenever their inputs are.

Each board is built once per run: the build lands in a folder shared by the xdist workers of
the run, under a file lock, so a second worker reuses the first one's result.
"""

import fcntl
import json
import os
from contextlib import contextmanager

import pytest

from tickforge.bitstreams.boards import BOARDS
from tickforge.bitstreams.build import FOLDER, BuildError, build


@contextmanager
def _locked(path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _built(name, factory):
    """The manifest of this run's build of ``name`` (built by whichever worker came first), or
    the BuildError it raised."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    output, failure = root / name, root / f"{name}.failure"
    with _locked(root / f"{name}.lock"):
        if not (output / "manifest.json").exists() and not failure.exists():
            try:
                build(name, output=output, build_dir=root / f"{name}-build")
            except BuildError as error:
                failure.write_text(str(error))
        if failure.exists():
            raise BuildError(failure.read_text())
        return json.loads((output / "manifest.json").read_text()), output


BUILT_IN_CI = ["icebreaker", "ulx3s"]
"""One board of each FPGA family, the smallest parts: the ULX3S is the suite's longest test
(about 11 minutes), the iCEBreaker's takes 1 to 3. The iCE40-HX8K runs the iCEBreaker's
gateware but for its clock, so the smoke test's check of its reference inputs suffices."""


@pytest.fixture(scope="module", params=BUILT_IN_CI)
def built(request, tmp_path_factory):
    return request.param, *_built(request.param, tmp_path_factory)


def test_fits_and_meets_timing(built):
    name, manifest, output = built
    assert manifest["timing_met"]
    needed = manifest["constraint_mhz"] * (1 + manifest["margin"])
    assert min(manifest["fmax_mhz"].values()) >= needed
    for kind, cells in manifest["utilisation"].items():
        assert cells["used"] <= cells["available"], kind
    if BOARDS[name].extension == "bin":   # an iCE40 logic cell holds a LUT and a flip-flop
        assert manifest["utilisation"]["FF"]["used"] <= manifest["utilisation"]["LUT"]["used"]
    config = BOARDS[name].config.as_dict()
    assert {key: manifest["config"][key] for key in config} == config
    bitstream = output / f"{name}.{BOARDS[name].extension}"
    assert bitstream.stat().st_size == manifest["bytes"]


def test_rebuild_matches_the_reference(built):
    """The committed bitstreams/<board>/manifest.json is a build of the same inputs on another
    machine: the checksums must agree. When the gateware changes, the reference must be rebuilt
    (the message says how) so the figures in it and in the README stay true."""
    name, manifest, output = built
    reference = json.loads((FOLDER / name / "manifest.json").read_text())
    assert reference["inputs_sha256"] == manifest["inputs_sha256"], (
        f"bitstreams/{name}/manifest.json was built from other sources: run `make bitstream "
        f"BOARD={name}`, check the figures in bitstreams/README.md and commit the manifest "
        f"(this run's is {output / 'manifest.json'})")
    assert reference["sha256"] == manifest["sha256"], "same inputs built a different bitstream"
