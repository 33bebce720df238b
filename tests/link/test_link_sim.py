"""The link end to end: LinkTransport → (socket | pipes) → native simulation of LinkedCore (the
gateware deframer, core, serializer, framer; with UARTs in the loop in one variant, with the
counters in block RAM in another) → back, on a real-data slice, against the golden model.
Three Verilator builds, shared by every test."""

import random
import threading

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.host.bench import lobster_stream
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.transport.base import TransportError
from tickforge.host.transport.link import LinkTransport, SocketPipe, build_native, open_native
from tickforge.host.transport.model import ModelTransport

from support.cache import found_again_quietly

CONFIG = CoreConfig(width=1, symbols=2, order_sets=64, order_ways=2, tracked_levels=8,
                    exported_levels=4)
LOBSTER = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"


@pytest.fixture(scope="module")
def direct():
    """The link fed straight from the harness, a byte every second cycle."""
    return build_native(CONFIG)


@pytest.fixture(scope="module")
def direct_counter_ram():
    """The same with the counters in block RAM (a :class:`CounterBank`), as on an iCEBreaker."""
    return build_native(CONFIG, counter_ram=True)


@pytest.fixture(scope="module")
def uart():
    """The link behind UARTs at 4 cycles per bit, a model serial line each way."""
    return build_native(CONFIG, divisor=4)


def test_a_build_found_again_warns_of_nothing(direct):
    again, warned = found_again_quietly(lambda: build_native(CONFIG))
    assert again.native_build.cached
    assert again.native_build.binary == direct.native_build.binary
    assert warned == []


def units(count):
    """The first ``count`` units of the AMZN slice as the replay sends them."""
    data, _ = lobster_stream(LOBSTER)
    position = 0
    for _ in range(count):
        position += 2 + int.from_bytes(data[position:position + 2], "big")
    return data[:position]


def model_events(data):
    model = ModelTransport(CONFIG)
    model.send(data)
    model.finish()
    return untimed(model.events())


def untimed(events):
    return [event._replace(t_in=0, t_out=0) for event in events]


def exchange(transport, data, pieces=1, rng=None):
    """Send ``data`` from a producer thread (in ``pieces`` cut anywhere) while collecting the
    events, as the verify commands do."""
    rng = rng or random.Random(0)
    cuts = sorted(rng.sample(range(1, len(data)), pieces - 1)) if pieces > 1 else []
    failure = []

    def produce():
        try:
            start = 0
            for cut in cuts + [len(data)]:
                transport.send(data[start:cut])
                start = cut
        except BaseException as error:
            failure.append(error)
        finally:
            transport.finish()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        events = list(transport.events())
    finally:
        transport.close()
        producer.join()
    if failure:
        raise failure[0]
    return untimed(events)


def report(stats):
    counters = stats["counters"]
    print(f"host→FPGA efficiency {stats['host_to_fpga_efficiency']:.3f}, FPGA→host "
          f"{stats['fpga_to_host_efficiency']:.3f}, retransmitted {stats['retransmitted_frames']}"
          f", FPGA counters {counters}")


@pytest.mark.parametrize("build", ["direct", "direct_counter_ram"])
def test_socket_link_gives_the_models_events(build, seed, request):
    direct = request.getfixturevalue(build)
    data = units(300)
    with open_native(CONFIG, simulator=direct) as link:
        events = exchange(link, data, pieces=7, rng=random.Random(seed))
    report(link.stats)
    assert events == model_events(data)
    assert link.stats["retransmitted_frames"] == 0
    counters = link.stats["counters"]
    assert counters["frames"] == link.stats["frames_sent"]   # the data frames and 2 barriers
    assert counters["events"] == len(events)
    assert not any(counters[name] for name in ("crc_errors", "header_errors", "out_of_order",
                                               "dropped", "overruns", "skipped_bytes"))
    assert link.stats["host_to_fpga_efficiency"] > 0.95   # the host's ACKs of event frames too


def test_pipe_link_gives_the_models_events(direct):
    data = units(100)
    with open_native(CONFIG, simulator=direct, via="pipes") as link:
        events = exchange(link, data)
    report(link.stats)
    assert events == model_events(data)
    assert link.stats["counters"]["skipped_bytes"] > 0, "the fill bytes that kept time going"


def test_uart_link_gives_the_models_events(uart):
    data = units(60)
    with open_native(CONFIG, simulator=uart, timeout=3.0) as link:
        events = exchange(link, data)
    report(link.stats)
    assert events == model_events(data)
    assert link.stats["counters"]["line_errors"] == 0


class FaultyPipe:
    """Damages what the host sends: flips a bit, drops bytes or inserts garbage (with a false
    sync claiming a long frame) in every ``every``-th write, at a seeded place."""

    def __init__(self, pipe, rng, every=3):
        self.pipe, self.rng, self.every = pipe, rng, every
        self.name = f"faulty {pipe.name}"
        self.faults = {"flip": 0, "drop": 0, "garbage": 0}
        self.writes = 0

    def write(self, data):
        data = bytearray(data)
        self.writes += 1
        if self.writes % self.every == 2:
            kind = self.rng.choice(list(self.faults))
            self.faults[kind] += 1
            at = self.rng.randrange(len(data))
            if kind == "flip":
                data[at] ^= 1 << self.rng.randrange(8)
            elif kind == "drop":
                del data[at:at + self.rng.randrange(1, 20)]
            else:
                false_frame = bytes([0xA5, 0x5A, 0x44, 0, 0, 0x01, 0x80])   # 384 bytes, say
                data[at:at] = self.rng.randbytes(self.rng.randrange(30)) + false_frame
        self.pipe.write(bytes(data))

    def read(self, timeout):
        return self.pipe.read(timeout)

    def close(self):
        self.pipe.close()


@pytest.mark.parametrize("build", ["direct", "direct_counter_ram"])
def test_damage_on_the_way_in_is_never_applied_and_retransmission_repairs_it(build, seed,
                                                                             request):
    direct = request.getfixturevalue(build)
    rng = random.Random(seed)
    data = units(200)
    with direct.serve(drain=2000) as server:
        pipe = FaultyPipe(SocketPipe.connect(server.host, server.port), rng)
        link = LinkTransport(CONFIG, pipe, timeout=0.3, max_payload=200)
        events = exchange(link, data, pieces=5, rng=rng)
    report(link.stats)
    print("faults injected:", pipe.faults)
    assert sum(pipe.faults.values()) >= 3
    assert events == model_events(data)
    counters = link.stats["counters"]
    assert counters["crc_errors"] + counters["out_of_order"] + counters["header_errors"] > 0
    assert link.stats["retransmitted_frames"] > 0


def test_an_event_frame_damaged_on_the_way_back_is_sent_again(direct):
    """The host NACKs the frame it lost; the FPGA kept it and sends it (and those after it)
    again, so the events still equal the model's."""
    data = units(150)

    class Damaging:
        def __init__(self, pipe):
            self.pipe, self.name, self.seen = pipe, pipe.name, 0

        def write(self, data):
            self.pipe.write(data)

        def read(self, timeout):
            chunk = bytearray(self.pipe.read(timeout))
            if self.seen < 3000 <= self.seen + len(chunk):
                chunk[3000 - self.seen] ^= 0x10
            self.seen += len(chunk)
            return bytes(chunk)

        def close(self):
            self.pipe.close()

    with direct.serve(drain=2000) as server:
        link = LinkTransport(CONFIG, Damaging(SocketPipe.connect(server.host, server.port)),
                             timeout=0.3)
        events = exchange(link, data)
    report(link.stats)
    assert events == model_events(data)
    assert link.stats["received_crc_errors"] == 1
    assert link.stats["event_nacks_sent"] >= 1 and link.stats["counters"]["resent"] >= 1
