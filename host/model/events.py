"""Event records as the model's kernels build them: the classes the event codec decodes into,
so a model event and a gateware event compare with ``==``."""

from ..protocol import event_codec


__all__ = ["EventFactory"]


class EventFactory:
    """Record classes of one core configuration's events, and the one way to derive an event
    from the event that caused it."""

    def __init__(self, config):
        codec = event_codec(config.exported_levels)
        self.Event = codec.Record
        self.records = codec.records

    def __getattr__(self, name):
        try:
            return self.records[name]
        except KeyError:
            raise AttributeError(name) from None

    def derived(self, cause, kind, body):
        """An event a kernel adds for the message that caused ``cause``: same seq, stamps and
        timestamp."""
        return cause._replace(kind=kind, body=body)
