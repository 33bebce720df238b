"""The golden model as a transport: the reference every other target is compared with."""

import time

from ..model.core import CoreModel
from .base import Transport, QueuedEvents


__all__ = ["ModelTransport"]


class ModelTransport(Transport):
    """Runs :class:`~tickforge.host.model.core.CoreModel` in the sending thread."""

    def __init__(self, config):
        super().__init__(config)
        self.model = CoreModel(config)
        self._events = QueuedEvents()
        self._bytes = 0
        self._started = None

    def send(self, data):
        if self._started is None:
            self._started = time.perf_counter()
        self._bytes += len(data)
        self._events.put(self.model.feed(data))

    def finish(self):
        self.stats = {"target": "model", "input_bytes": self._bytes,
                      "messages": self.model.parser.counters["messages"],
                      "partial_bytes": self.model.parser.partial_bytes,
                      "wall_seconds": time.perf_counter() - (self._started or time.perf_counter())}
        self._events.end()

    def events(self):
        return iter(self._events)

    def close(self):
        self._events.close()
