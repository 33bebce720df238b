"""What every transport provides."""

import queue
import threading


__all__ = ["Transport", "TransportError"]


class TransportError(RuntimeError):
    """The target failed (a simulator exited, a port vanished); the message says how."""


class Transport:
    """Send bytes with :meth:`send`, say there are no more with :meth:`finish`, and iterate
    decoded events with :meth:`events` (which ends once every event has arrived).

    :meth:`send` and :meth:`events` may be used from two threads: a producer converting and
    sending a trading day while the consumer checks events as they come back. ``stats`` holds
    what the target reports about the run once :meth:`events` has ended.
    """

    def __init__(self, config):
        self.config = config
        self.stats = {}

    def send(self, data):
        raise NotImplementedError

    def finish(self):
        raise NotImplementedError

    def events(self):
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class QueuedEvents:
    """A thread-safe, bounded hand-over of event batches from a producer to
    :meth:`Transport.events`; an exception put in the queue is raised in the consumer. Once the
    consumer gives up (:meth:`close`), puts return at once so a producer never blocks forever."""

    _END = object()

    def __init__(self, maxsize=256):
        self._queue = queue.Queue(maxsize)
        self.closed = threading.Event()

    def put(self, batch):
        while batch and not self.closed.is_set():
            try:
                self._queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self):
        self.closed.set()

    def end(self, error=None):
        self.put([error if error is not None else self._END])

    def __iter__(self):
        while True:
            batch = self._queue.get()
            for item in batch:
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
