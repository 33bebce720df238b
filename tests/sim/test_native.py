"""The native Verilator harness, checked on toy designs with the core's port shapes against
Python models of them. Four builds in all (one per toy), shared by every test."""

import json
import random
import socket
import subprocess
import threading
import time

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from tickforge.host.codec import BitCodec
from tickforge.hdl.layouts import input_beat_layout
from tickforge.sim.native import NativeSim, NativeSimError, NativeSimHang, port_shapes
from tickforge.sim.native.build import _publish, _recipe_digest, _toolchain
from tickforge.sim.toolchain import build_dir

from native_toys import (BeatSummer, beat_summer_model, WindowRecorder, window_recorder_model,
                         Stopper, FirstBeatEcho)



DRAIN = 200  # short: every run ends with this many quiet cycles


@pytest.fixture(scope="module")
def summer():
    sim = NativeSim.build(BeatSummer(width=8), "beat_summer")
    print(f"beat_summer: built in {sim.native_build.build_seconds:.1f} s, "
          f"this call {sim.native_build.seconds:.1f} s (cached: {sim.native_build.cached})")
    return sim


@pytest.fixture(scope="module")
def window():
    sim = NativeSim.build(WindowRecorder(width=4), "window_recorder")
    print(f"window_recorder: built in {sim.native_build.build_seconds:.1f} s")
    return sim


@pytest.fixture(scope="module")
def stopper():
    return NativeSim.build(Stopper(accept=100), "stopper")


@pytest.fixture(scope="module")
def first_beat_echo():
    return NativeSim.build(FirstBeatEcho(), "first_beat_echo")


def random_bytes(seed, length):
    print(f"seed {seed}")
    return random.Random(seed).randbytes(length)


# --- exact output under every pacing ------------------------------------------------------------

@pytest.mark.parametrize("idle, backpressure", [(0, 0), (0.3, 0), (0, 0.4), (0.5, 0.5)])
def test_records_match_model_whatever_the_pacing(summer, idle, backpressure):
    seed = 1000 + int(idle * 10) * 10 + int(backpressure * 10)
    data = random_bytes(seed, 20_003)  # ends in a partial beat
    run = summer.run(data, idle=idle, backpressure=backpressure, seed=seed, drain=DRAIN)
    records = [tuple(record) for record in run.decoded(BitCodec(BeatSummer.RECORD))]
    assert records == beat_summer_model(data, 8)

    stats = run.stats
    beats = (len(data) + 7) // 8
    assert (stats["input_bytes"], stats["input_beats"], stats["output_records"]) == \
        (len(data), beats, beats)
    assert (stats["idle_cycles"] > 0) == (idle > 0)
    assert (stats["backpressure_cycles"] > 0) == (backpressure > 0)
    # Full rate: one beat a cycle, the last record one cycle after the last beat, then drain.
    full_rate = beats + 1 + DRAIN
    if backpressure == 0:
        assert stats["cycles"] == full_rate + stats["idle_cycles"]
    elif idle == 0:
        assert stats["cycles"] == full_rate + stats["backpressure_cycles"]
        assert 0 < stats["input_stall_cycles"] <= stats["backpressure_cycles"]
    else:
        assert stats["cycles"] > full_rate + max(stats["idle_cycles"],
                                                 stats["backpressure_cycles"])
    if idle == backpressure == 0:
        assert (stats["first_input_cycle"], stats["busy_cycles"]) == (0, beats + 1)


def test_same_seed_same_cycles(summer):
    data = random_bytes(7, 5000)
    def cycles(seed):
        run = summer.run(data, idle=0.2, backpressure=0.2, seed=seed, drain=DRAIN)
        list(run)
        return run.stats["cycles"], run.stats["idle_cycles"], run.stats["backpressure_cycles"]
    assert cycles(1) == cycles(1)
    assert cycles(1) != cycles(2)


def test_empty_input_just_drains(summer):
    run = summer.run(b"", drain=DRAIN)
    assert list(run) == []
    assert (run.stats["cycles"], run.stats["busy_cycles"], run.stats["first_input_cycle"]) == \
        (DRAIN, 0, None)


def test_wide_records_round_trip(window):
    data = random_bytes(2024, 4999)
    run = window.run(data, idle=0.2, backpressure=0.3, seed=5, drain=DRAIN)
    assert window.record_bits == 830 and run.record_bytes == 104
    expected = [value.to_bytes(104, "little") for value in window_recorder_model(data, 4)]
    records = list(run)
    assert len(records) == len(expected)
    assert records == expected  # padding bits 830, 831 included: must be 0


def test_decoded_checks_the_codec_size(summer):
    with summer.run(b"") as run:
        with pytest.raises(ValueError, match="8 bytes"):
            run.decoded(BitCodec(WindowRecorder.RECORD))


# --- volume -------------------------------------------------------------------------------------

def test_large_input_streams_without_deadlock(summer):
    data = random_bytes(99, 10_000_000)
    chunks = (data[start:start + 65536] for start in range(0, len(data), 65536))
    started = time.perf_counter()
    run = summer.run(chunks, drain=DRAIN)
    received = 0
    for block in run.blocks():
        received += len(block)
        last = block[-8:]
    seconds = time.perf_counter() - started
    print(f"10 MB in {seconds:.2f} s; simulator {run.stats['cycles_per_second'] / 1e6:.1f} "
          f"M cycles/s")
    assert received == len(data)  # one 8-byte record per 8-byte beat
    assert BitCodec(BeatSummer.RECORD).decode(last).total == sum(data) & 0xFFFF_FFFF


def test_large_output_streams_without_deadlock(window):
    data = random_bytes(98, 2_000_000)
    started = time.perf_counter()
    run = window.run(data, drain=DRAIN)
    received = 0
    for block in run.blocks():
        received += len(block)
        last = block[-104:]
    seconds = time.perf_counter() - started
    print(f"2 MB in, {received / 1e6:.0f} MB out in {seconds:.2f} s; simulator "
          f"{run.stats['cycles_per_second'] / 1e6:.1f} M cycles/s")
    beats = len(data) // 4
    assert received == beats * 104
    newest_first = data[-WindowRecorder.WINDOW:][::-1]
    check = ~sum(data) & (1 << 30) - 1
    assert int.from_bytes(last, "little") == \
        beats - 1 | int.from_bytes(newest_first, "little") << 32 | check << 800


def test_records_are_handed_over_while_input_keeps_coming(first_beat_echo):
    # A host that waits for an answer (a link's ACK) before it stops sending must get it: the
    # harness hands over its records whenever it waits to read, even with input always waiting.
    # Before it did, this record stayed in the harness until the input ended.
    limit = 64 << 20
    chunk = b"\x5a" + bytes(65535)
    sent = 0
    answered = threading.Event()

    def endless():
        nonlocal sent
        while not answered.is_set() and sent < limit:
            yield chunk
            sent += len(chunk)

    with first_beat_echo.run(endless(), drain=DRAIN) as run:
        first = next(run.blocks())
        sent_when_answered = sent
        answered.set()
    assert first == b"\x5a"
    print(f"answered after {sent_when_answered / 1e6:.1f} MB sent")
    assert sent_when_answered < limit // 4, "the record waited for the end of the input"


def test_closing_a_run_early_stops_the_simulator(summer):
    with summer.run(random_bytes(3, 1_000_000), drain=DRAIN) as run:
        next(iter(run))
    assert run._process.process.returncode is not None


def test_input_source_errors_reach_the_caller(summer):
    def chunks():
        yield b"\x01" * 800
        raise RuntimeError("capture file truncated")
    with pytest.raises(RuntimeError, match="capture file truncated"):
        list(summer.run(chunks(), drain=DRAIN))


# --- failures -----------------------------------------------------------------------------------

def test_hang_is_reported_with_the_input_position(stopper):
    data = random_bytes(11, 1000)
    run = stopper.run(data, hang=10_000, drain=DRAIN)
    records = []
    with pytest.raises(NativeSimHang,
                       match=r"^hung: 10000 cycles without progress at input byte 100 ") as error:
        for record in run:
            records.append(record)
    assert b"".join(records) == data[:100]
    assert error.value.stats["result"] == "hung"
    assert error.value.stats["input_bytes"] == 100


def test_cycle_limit(summer):
    with pytest.raises(NativeSimError, match="^cycle limit: stopped after 50 cycles") as error:
        list(summer.run(bytes(10_000), max_cycles=50))
    assert error.value.stats["cycles"] == 50


@pytest.mark.parametrize("options, message", [
    ({"idle": 1.0}, "idle must be a probability"),
    ({"backpressure": -0.1}, "backpressure must be a probability"),
    ({"drain": 0}, "drain must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"max_cycles": 0}, "max_cycles must be an integer >= 1"),
])
def test_bad_options_are_refused(summer, options, message):
    with pytest.raises(ValueError, match=message):
        summer.run(b"", **options)


@pytest.mark.parametrize("arguments, message", [
    (["--idle", "2"], "error: --idle needs a probability in [0, 1), not '2'"),
    (["--hang", "0"], "error: --hang needs an integer >= 1, not '0'"),
    (["--seed", "x"], "error: --seed needs an integer >= 0, not 'x'"),
    (["--listen", "70000"], "error: --listen port 70000 is above 65535"),
    (["--stats"], "error: --stats needs a value"),
    (["--fast"], "error: --fast needs a value"),
    (["--fast", "1"], "error: unknown option '--fast'"),
])
def test_binary_refuses_bad_arguments(summer, arguments, message):
    result = subprocess.run([summer.binary, *arguments], input=b"", capture_output=True,
                            timeout=30)
    assert result.returncode == 2
    assert message in result.stderr.decode()


class _Ports(wiring.Component):
    def elaborate(self, platform):
        return Module()


@pytest.mark.parametrize("ports, message", [
    ({"i": In(stream.Signature(input_beat_layout(8)))}, "has no port 'o'"),
    ({"i": Out(stream.Signature(input_beat_layout(8))), "o": Out(stream.Signature(8))},
     "port i of _Ports must be In"),
    ({"i": In(stream.Signature(16)), "o": Out(stream.Signature(8))},
     "must carry input_beat_layout"),
    ({"i": In(stream.Signature(input_beat_layout(8))),
      "o": Out(stream.Signature(8, always_ready=True))}, "no always_valid or always_ready"),
    ({"i": In(stream.Signature(input_beat_layout(8))), "o": Out(stream.Signature(8)),
      "status": Out(8)}, r"also has \['status'\]"),
])
def test_ports_are_checked_before_building(ports, message):
    with pytest.raises(TypeError, match=message):
        port_shapes(_Ports(ports))


# --- cache --------------------------------------------------------------------------------------

def test_second_build_is_a_cache_hit(summer):
    again = NativeSim.build(BeatSummer(width=8), "beat_summer")
    print(f"cache hit in {again.native_build.seconds:.2f} s "
          f"(the build took {again.native_build.build_seconds:.1f} s)")
    assert again.native_build.cached
    assert again.binary == summer.binary
    assert again.native_build.seconds < 5


def test_a_recipe_finds_its_build_without_making_the_design(summer):
    first = NativeSim.from_recipe("BeatSummer(width=8)", lambda: BeatSummer(width=8),
                                  "beat_summer")

    def make_again():
        raise AssertionError("the design was made again: its recipe did not find the build")

    again = NativeSim.from_recipe("BeatSummer(width=8)", make_again, "beat_summer")
    assert again.native_build.cached
    assert again.binary == first.binary == summer.binary
    assert again.shapes == summer.shapes   # kept with the recipe, not read from a design


def test_a_damaged_recipe_is_built_again_and_mended(summer):
    recipe = "BeatSummer(width=8), to be damaged"   # a file of its own: other tests read theirs
    NativeSim.from_recipe(recipe, lambda: BeatSummer(width=8), "beat_summer")
    path = (build_dir("native") / "recipes" /
            f"beat_summer-{_recipe_digest(recipe, _toolchain())[:20]}.json")
    assert json.loads(path.read_text())["shapes"]
    path.write_text("{not json")
    made = []

    def make():
        made.append(True)
        return BeatSummer(width=8)

    again = NativeSim.from_recipe(recipe, make, "beat_summer")
    assert made == [True] and again.binary == summer.binary
    assert again.shapes == summer.shapes
    assert json.loads(path.read_text())["shapes"]   # mended
    assert NativeSim.from_recipe(recipe, lambda: None, "beat_summer").binary == summer.binary


def test_a_build_published_first_is_kept(tmp_path):
    first, late = tmp_path / "first", tmp_path / "late"
    for folder in first, late:
        folder.mkdir()
        (folder / "Vdut").write_text(folder.name)
    final = tmp_path / "design"
    assert _publish(first, final)
    assert not _publish(late, final)
    assert (final / "Vdut").read_text() == "first"


# --- socket mode --------------------------------------------------------------------------------

def _receive(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def test_socket_mode_answers_like_a_board(summer):
    codec = BitCodec(BeatSummer.RECORD)
    with summer.serve(drain=DRAIN) as server:
        assert server.host == "127.0.0.1"
        with server.connect(timeout=30) as connection:
            # The answer to each request comes back before the next is sent.
            connection.sendall(bytes(range(80)))
            first = [codec.decode(_receive(connection, 8)) for _ in range(10)]
            connection.sendall(b"\xff" * 5)  # a partial beat, sent because nothing follows
            last = codec.decode(_receive(connection, 8))
            connection.shutdown(socket.SHUT_WR)
            assert connection.recv(1) == b""
        stats = server.wait()
    assert [(record.index, record.count) for record in first] == [(i, 8) for i in range(10)]
    assert (last.index, last.count, last.total) == (10, 5, sum(range(80)) + 5 * 255)
    assert (stats["input_bytes"], stats["output_records"]) == (85, 11)
    assert stats["starved_cycles"] > 0
