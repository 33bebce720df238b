"""Back-pressure on the link: a host that stops reading stalls the gateware (counted in
``event_stalls``), which loses nothing and resumes; a host that sends far faster than the link
loses nothing either. Through the native simulation of the board's gateware."""

import threading

from tickforge.host import faults
from tickforge.host.transport.link import build_native, open_native

from test_fault_matrix import CONFIG, data, reference  # noqa: F401 (fixtures)


class StallingPipe:
    """Stops reading for ``pause`` seconds once ``after`` bytes have been read."""

    def __init__(self, pipe, after, pause):
        self.pipe, self.after, self.pause = pipe, after, pause
        self.name = pipe.name
        self.seen = 0
        self._wake = threading.Event()

    def write(self, data):
        self.pipe.write(data)

    def read(self, timeout):
        if self.seen >= self.after and not self._wake.is_set():
            self._wake.wait(self.pause)
            self._wake.set()
        chunk = self.pipe.read(timeout)
        self.seen += len(chunk)
        return chunk

    def close(self):
        self._wake.set()
        self.pipe.close()


def test_a_host_that_stops_reading_stalls_the_gateware_which_loses_nothing(data, reference):
    pipes = []

    def wrap(pipe):
        pipes.append(StallingPipe(pipe, after=2000, pause=1.5))
        return pipes[-1]

    link = open_native(CONFIG, simulator=build_native(CONFIG), wrap=wrap, timeout=0.3,
                       give_up=10.0)
    events, error = faults._exchange(link, data)
    counters = link.stats["counters"]
    print(counters)
    assert error is None
    assert counters["event_stalls"] > 0, "the host's pause must have stalled the gateware"
    assert counters["events"] == len(events)
    assert faults.messages_lost(events, reference) == 0


def test_a_host_sending_faster_than_the_link_loses_nothing(data, reference):
    """The whole slice in one write: the window holds the host back, nothing overruns."""
    link = open_native(CONFIG, simulator=build_native(CONFIG))
    link.send(data)
    link.finish()
    events = list(link.events())
    link.close()
    counters = link.stats["counters"]
    print(counters)
    assert faults.messages_lost(events, reference) == 0
    assert counters["overruns"] == counters["dropped"] == counters["crc_errors"] == 0
    assert counters["frames"] == link.stats["frames_sent"]
