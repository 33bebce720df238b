"""Golden model of the whole core, in the gateware's order: parser, then book."""

from .parser import ParserModel
from .book import BookModel


__all__ = ["CoreModel"]


class CoreModel:
    """Bytes in (any chunking), events out: what the gateware core must produce, bit for bit,
    apart from the cycle stamps ``t_in`` and ``t_out``, which the model leaves at 0."""

    def __init__(self, config):
        self.config = config
        self.parser = ParserModel()
        self.book = BookModel(config)

    def feed(self, data, first=False):
        events = []
        for message in self.parser.feed(data, first):
            event = self.book.process(message)
            if event is not None:
                events.append(event)
        return events
