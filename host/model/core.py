"""Golden model of the whole core, kernel by kernel in the gateware's order:
parser → book → parameters → pricing → signals → risk → output."""

from ...hdl.params import SENT_KINDS
from .parser import ParserModel
from .book import BookModel
from .params import ParamStore
from .pricing import PricingModel
from .signals import SignalModel
from .risk import RiskModel
from .events import EventFactory


__all__ = ["CoreModel"]


class CoreModel:
    """Bytes in (any chunking), events out: what the gateware core must produce, bit for bit,
    apart from the cycle stamps ``t_in`` and ``t_out``, which the model leaves at 0.

    Every kernel after the book is a stage taking one event and returning the events it lets
    through or adds (:meth:`stages`), so each gateware kernel can be checked against its own
    stage. Per input message the events leave in this order: the book's event; for a BOOK or
    TRADE the PRICE it causes, then the paper fills of quotes its trade went through, then for
    each order the signal kernels propose and the risk gate accepts, a SIGNAL and its paper
    fill. Only kinds whose ``event_mask`` bit is set leave.
    """

    def __init__(self, config):
        self.config = config
        events = EventFactory(config)
        self.parser = ParserModel()
        self.book = BookModel(config)
        self.params = ParamStore(config)
        self.pricing = PricingModel(config, self.params, events)
        self.risk = RiskModel(config, self.params, events)
        self.signals = SignalModel(config, self.params, self.risk, events)
        self.params.on_write["vwap_window"] = self.pricing.restart_vwap

    def stages(self):
        """The kernels after the book, in order, as event → events functions."""
        if not self.config.trading:
            return [self.params.process, self.output]
        return [self.params.process, self.pricing.process, self.signals.process,
                self.risk.process, self.output]

    def output(self, event):
        """The last stage: only kinds the host may see, and only those ``event_mask`` lets."""
        return [event] if SENT_KINDS.get(event.kind, 0) & self.params.value("event_mask") \
            else []

    def feed(self, data, first=False):
        out = []
        stages = self.stages()
        for message in self.parser.feed(data, first):
            event = self.book.process(message)
            if event is not None:
                self._through(stages, event, out)
        return out

    @staticmethod
    def _through(stages, event, out):
        events = [event]
        for stage in stages:
            events = [result for item in events for result in stage(item)]
        out.extend(events)
