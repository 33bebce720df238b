"""The link under faults: every kind of fault, both ways, at high rates on a real-data slice
through each FPGA side of the link (the native simulation of the board's gateware, and the
protocol model around the golden model); nothing lost, nothing damaged applied, the events
equal to the golden model's. Uses the small core build tests/link uses."""

import io
import random
from itertools import islice

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import FrameKind
from tickforge.host import faults
from tickforge.host.bench import lobster_stream
from tickforge.host.feeds.itch import iter_units
from tickforge.host.cli import main
from tickforge.host.link import FrameReader, Frame, encode_frame
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.transport.faults import FAULT_KINDS, FaultyLine

CONFIG = CoreConfig(width=1, symbols=2, order_sets=64, order_ways=2, tracked_levels=8,
                    exported_levels=4)
LOBSTER = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"
SLICE = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip"


TARGETS = {"model": faults.model_link, "sim": faults.sim_link}


@pytest.fixture(scope="module", params=TARGETS)
def open_link(request):
    return TARGETS[request.param](CONFIG)


@pytest.fixture(scope="module")
def data():
    """The first 400 units of the AMZN slice."""
    stream, _ = lobster_stream(LOBSTER)
    return b"".join(islice(iter_units(io.BytesIO(stream)), 400))


@pytest.fixture(scope="module")
def reference(data):
    return faults.model_events(CONFIG, data)


def check(run):
    print(run)
    assert run.damaged > 0, "the injector must really damage frames"
    assert run.detected == run.damaged
    assert run.lost == 0 and run.applied == 0 and run.equal, run.error


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_frame_faults_are_caught_and_repaired(open_link, data, reference, kind, seed):
    check(faults.run_faults(open_link, data, reference, kind, 0.15, seed, "frame"))


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_byte_faults_are_caught_by_the_crc_and_repaired(open_link, data, reference, kind, seed):
    check(faults.run_faults(open_link, data, reference, kind, 3e-4, seed, "byte"))


def frames(count, rng):
    return [encode_frame(FrameKind.DATA, seq, rng.randbytes(rng.randrange(1, 60)))
            for seq in range(count)]


def test_every_damaged_frame_is_counted_and_a_receiver_that_takes_damage_is_caught(seed):
    """The books can fail: a receiver that ignores the CRC shows damaged frames applied."""
    class Careless(FrameReader):
        def feed(self, data):
            return [Frame(FrameKind.DATA, 0, bytes(data[7:-4]))] if data else []

    wire = frames(200, random.Random(seed))
    careful = FaultyLine("flip", 0.2, seed, FrameReader())
    careless = FaultyLine("flip", 0.2, seed, Careless())
    for frame in wire:
        careful.pass_on(frame)
        careless.pass_on(frame)
    good, bad = careful.finish(), careless.finish()
    assert good.frames == 200 and 20 < good.damaged < 60
    assert good.applied == 0 and good.detected == good.damaged
    assert bad.applied > 0 and bad.detected < bad.damaged


def test_messages_lost_counts_each_message_whose_events_differ(reference):
    changed = list(reference)
    changed[5] = changed[5]._replace(timestamp=changed[5].timestamp + 1)
    dropped = [event for event in reference if event.seq != reference[9].seq]
    assert faults.messages_lost(reference, reference) == 0
    assert faults.messages_lost(changed, reference) == 1
    assert faults.messages_lost(dropped, reference) == 1


@pytest.mark.parametrize("target", TARGETS)
def test_cli_runs_the_matrix_and_ends_with_the_totals(capsys, target):
    code = main(["faults", "--target", target, "--kinds", "flip", "--rates", "0,0.05",
                 "--seed", "3",
                 "--config", str(faults.__file__).replace("faults.py", "configs/amzn.toml"),
                 str(SLICE)])
    out = capsys.readouterr().out.splitlines()
    print("\n".join(out))
    assert code == 0
    assert out[-1] == "messages lost: 0, damaged frames applied: 0"
    assert len([line for line in out if " yes " in line]) == 2


def test_cli_fails_when_a_message_is_lost(monkeypatch, capsys):
    lost = faults.FaultRun("drop", 0.5, damaged=9, detected=9, recovered=0, retransmissions=0,
                           messages=10, lost=4, applied=0, equal=False, seconds=1.0,
                           error="gave up")
    monkeypatch.setattr(faults, "fault_matrix", lambda *args, **kwargs: iter([lost]))
    monkeypatch.setattr(faults, "model_link", lambda config: None)
    code = main(["faults", "--target", "model", str(SLICE)])
    assert code == 1
    assert capsys.readouterr().out.splitlines()[-1] == \
        "messages lost: 4, damaged frames applied: 0"
