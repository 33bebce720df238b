"""Every proof tickforge runs, with the component it is about, built small, and how deep.

The components are parametric; the proofs build them small, because the solver's work grows
with the state: two slots (so a slot is picked), an order table of 2 sets x 1 way, three
tracked and two exported levels (so an update can push a level out of the export window);
the collar's bounded check one slot. ``prove`` jobs hold in every reachable state; ``bmc``
jobs for every trace of ``depth`` cycles from the initial state, used where the property is
stated against a shadow of state the component keeps inside (its memories, its top of book,
its counters), which induction cannot relate to the component's own; a ``cover`` job beside
each shows that its depth reaches the case that matters (PASS: a trace reaches it).
"""

import time
from dataclasses import dataclass
from typing import Callable

from ...hdl.book.book import OrderBook
from ...hdl.book.levels import SideUpdate
from ...hdl.config import CoreConfig
from ...hdl.control import EventFilter
from ...hdl.link.framing import Deframer, Framer, FrameSender
from ...hdl.parser.itch import ITCHParser
from ...hdl.risk.gate import RiskGate
from ..toolchain import build_dir
from .book import (side_update_keeps_sides_well_formed, book_events_are_well_formed,
                   a_full_side_is_exported)
from .risk import (signals_keep_order_limits, signals_keep_collar, signals_keep_order_rate,
                   candidates_are_accounted_for, a_signal_leaves, the_rate_limit_is_reached)
from .runner import ProofResult, prove, combinational_path
from .streams import output_holds_until_taken, input_holds_until_taken, mask_holds_while_waiting


__all__ = ["Proof", "NoCombinationalPath", "BOOK_CONFIG", "RISK_CONFIG", "COLLAR_CONFIG",
           "PROOFS"]


BOOK_CONFIG = CoreConfig(symbols=2, order_sets=2, order_ways=1, tracked_levels=3,
                         exported_levels=2)
RISK_CONFIG = CoreConfig(symbols=2, tracked_levels=2, exported_levels=1)
COLLAR_CONFIG = CoreConfig(symbols=1, tracked_levels=2, exported_levels=1)
"""One slot: the collar's shadow top of book makes each cycle of depth cost the most."""


RATE_DEPTH = 5
"""A PRICE (the collar needs a two-sided top), three orders in a row of one window and the
third's SIGNAL out: deep enough for a ``rate_max + 1``-th SIGNAL with ``rate_max`` 2."""


@dataclass(frozen=True)
class Proof:
    """One SymbiYosys job: ``properties`` around ``component()``, by ``mode`` to ``depth``."""
    name:       str
    component:  Callable
    properties: Callable
    mode:       str
    depth:      int

    def run(self):
        return prove(self.component, self.properties, mode=self.mode, depth=self.depth,
                     name=self.name)


@dataclass(frozen=True)
class NoCombinationalPath:
    """A netlist check, no solver: no combinational path from port ``source`` to ``sink``
    (by default: ``o.valid`` does not depend on ``o.ready``, the stream rule induction over
    one trace cannot state)."""
    name:      str
    component: Callable
    source:    str = "o__ready"
    sink:      str = "o__valid"
    mode = "netlist"
    depth = 0

    def run(self):
        start = time.monotonic()
        found = combinational_path(self.component, self.source, self.sink, name=self.name)
        return ProofResult(
            name=self.name, mode=self.mode, depth=self.depth,
            status="FAIL" if found else "PASS", seconds=time.monotonic() - start,
            workdir=build_dir("formal", self.name),
            failed=(f"{self.source} -> {self.sink}",) if found else (), trace=None, log="")


def _all(*properties):
    """The properties together, in one job."""
    def together(m, dut):
        for properties_of in properties:
            properties_of(m, dut)
    return together


def _stream_rules(name, component, properties=output_holds_until_taken):
    """``o`` obeys the stream rules: holds its offer until taken (k-induction, depth 2; with
    ``properties`` assuming what a pass-through needs of its inputs), and ``o.valid`` does
    not depend on ``o.ready``."""
    return (Proof(f"{name}_output_holds", component, properties, "prove", 2),
            NoCombinationalPath(f"{name}_valid_not_from_ready", component))


def _framer():
    """The smallest framer: two one-byte-event frames of two bytes in a ring of four."""
    return Framer(1, ring_bytes=4, max_payload=2, flush_idle=1, frames=2)


def _deframer():
    """The smallest deframer: one-byte payloads, a ring of two whole frames, one queued."""
    return Deframer(ring_bytes=32, max_payload=1, queue_frames=1)


def _book():
    return OrderBook(BOOK_CONFIG)


def _gate():
    return RiskGate(RISK_CONFIG)


def _collar_gate():
    return RiskGate(COLLAR_CONFIG)


PROOFS = (
    # 1, 2: sorted, unique levels; no empty level stored or exported
    Proof("side_update_well_formed", lambda: SideUpdate(BOOK_CONFIG.tracked_levels),
          side_update_keeps_sides_well_formed, "prove", 1),
    Proof("book_events_well_formed", _book, book_events_are_well_formed, "bmc", 7),
    Proof("book_full_side_reached", _book, a_full_side_is_exported, "cover", 7),
    # 3: stream rules
    *_stream_rules("book", _book),
    *_stream_rules("risk", _gate),
    *_stream_rules("parser1", lambda: ITCHParser(1)),
    *_stream_rules("parser8", lambda: ITCHParser(8)),
    *_stream_rules("filter", lambda: EventFilter(RISK_CONFIG),
                   _all(input_holds_until_taken, mask_holds_while_waiting,
                        output_holds_until_taken)),
    *_stream_rules("framer", _framer),
    # the deframer's output is a SyncFIFO's: induction at depth 2 meets unreachable FIFO
    # states (UNKNOWN, no counterexample); only the netlist half is proven so far
    NoCombinationalPath("deframer_valid_not_from_ready", _deframer),
    *_stream_rules("frame_sender", FrameSender,
                   _all(input_holds_until_taken, output_holds_until_taken)),
    # 4: the risk gate's limits
    Proof("risk_order_limits", _gate, signals_keep_order_limits, "prove", 2),
    Proof("risk_collar", _collar_gate, signals_keep_collar, "bmc", 4),
    Proof("risk_signal_reached", _collar_gate, a_signal_leaves, "cover", 4),
    Proof("risk_order_rate", _gate, signals_keep_order_rate, "bmc", RATE_DEPTH),
    Proof("risk_rate_reached", _gate, the_rate_limit_is_reached, "cover", RATE_DEPTH),
    Proof("risk_accounting", _gate, candidates_are_accounted_for, "bmc", 6),
)
