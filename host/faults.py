"""The fault matrix: real data through the link with faults injected both ways
(:mod:`tickforge.host.transport.faults`), one run per fault kind and rate, each checked against
the golden model.

Per run it reports the frames damaged, detected and recovered (both directions together),
the retransmissions (the host's and the FPGA's), the input messages lost and the damaged
frames applied:

- *messages lost*: input messages (by the ``seq`` every event carries) whose events differ
  from the golden model's, or never came (all of them when the link gave up);
- *damaged frames applied*: frames the receiver accepted whose bytes differ from every frame
  sent (checked with the receiver's own acceptance rules on the damaged bytes), plus DATA
  frames the FPGA counts as accepted beyond those the host sent.
"""

import argparse
import itertools
import threading
import time
from dataclasses import dataclass

from .link import FrameError
from .replay import SEND_CHUNK
from .transport.base import TransportError
from .transport.faults import FAULT_KINDS, UNITS, FaultyPipe
from .transport.model import ModelTransport


__all__ = ["RATES", "FaultRun", "fault_matrix", "messages_lost", "print_matrix", "sim_link",
           "model_link", "cmd_faults", "rate_list", "kind_list", "FAULT_KINDS", "UNITS"]


RATES = (0.0, 1e-4, 1e-3, 1e-2)
"""Fault rates of the matrix: probabilities per frame (per byte with ``--unit byte``), each way."""


@dataclass
class FaultRun:
    kind: str
    rate: float
    damaged: int
    detected: int
    recovered: int
    retransmissions: int
    messages: int
    lost: int
    applied: int
    equal: bool
    seconds: float
    error: str = None

    @property
    def ok(self):
        return self.lost == 0 and self.applied == 0 and self.equal


def messages_lost(events, reference):
    """How many input messages (by event ``seq``) have events unlike the reference's."""
    def by_message(stream):
        grouped = {}
        for event in stream:
            grouped.setdefault(event.seq, []).append(event._replace(t_in=0, t_out=0))
        return grouped
    got, want = by_message(events), by_message(reference)
    return sum(got.get(seq) != want.get(seq) for seq in set(got) | set(want))


def _exchange(transport, data):
    """Send ``data`` from a producer thread while collecting events; the events that came and
    the error that ended the run early, if any."""
    failure = []

    def produce():
        try:
            for start in range(0, len(data), SEND_CHUNK):
                transport.send(data[start:start + SEND_CHUNK])
        except TransportError as error:
            failure.append(error)
        finally:
            transport.finish()

    producer = threading.Thread(target=produce, name="faults-producer", daemon=True)
    producer.start()
    events = []
    try:
        events.extend(transport.events())
    except (TransportError, FrameError) as error:
        failure.append(error)
    finally:
        transport.close()
        producer.join()
    return events, (str(failure[0]) if failure else None)


def count_units(data):
    """Input units (2-byte length, then the message) in ``data``."""
    count = position = 0
    while position + 2 <= len(data):
        position += 2 + int.from_bytes(data[position:position + 2], "big")
        count += 1
    return count


def run_faults(open_link, data, reference, kind, rate, seed, unit):
    """One run of the matrix: ``open_link(wrap)`` opens a link transport whose pipe is
    ``wrap(pipe)``."""
    pipes = []

    def wrap(pipe):
        pipes.append(FaultyPipe.around(pipe, kind, rate, seed, unit))
        return pipes[-1]

    started = time.perf_counter()
    transport = open_link(wrap)
    events, error = _exchange(transport, data)
    seconds = time.perf_counter() - started
    pipe, = pipes
    outbound, inbound = pipe.outbound.finish(), pipe.inbound.finish()
    stats = transport.stats
    counters = stats.get("counters") or {}
    extra_accepted = max(0, counters.get("frames", 0) - stats.get("frames_sent", 0))
    lost = messages_lost(events, reference)
    return FaultRun(
        kind, rate,
        damaged=outbound.damaged + inbound.damaged,
        detected=outbound.detected + inbound.detected,
        recovered=outbound.recovered + inbound.recovered,
        retransmissions=stats.get("retransmitted_frames", 0) + counters.get("resent", 0),
        messages=count_units(data),
        lost=lost, applied=outbound.applied + inbound.applied + extra_accepted,
        equal=error is None and lost == 0, seconds=seconds, error=error)


def model_events(config, data):
    """The golden model's events for ``data``."""
    model = ModelTransport(config)
    model.send(data)
    model.finish()
    return list(model.events())


def fault_matrix(open_link, config, data, *, kinds=FAULT_KINDS, rates=RATES, seed=0,
                 unit="frame"):
    """Yield a :class:`FaultRun` per (kind, rate); rate 0 is run once, as ``none``."""
    reference = model_events(config, data)
    if 0 in rates:
        yield run_faults(open_link, data, reference, kinds[0], 0.0, seed, unit)
    for kind, rate in itertools.product(kinds, [rate for rate in rates if rate]):
        yield run_faults(open_link, data, reference, kind, rate, seed, unit)


_COLUMNS = ("kind", "rate", "damaged", "detected", "recovered", "resent", "messages", "lost",
            "applied", "= model", "seconds")


def print_header():
    print("  ".join(f"{name:>9}" for name in _COLUMNS))


def print_run(run):
    kind = run.kind if run.rate else "none"
    cells = (kind, f"{run.rate:g}", run.damaged, run.detected, run.recovered,
             run.retransmissions, run.messages, run.lost, run.applied,
             "yes" if run.equal else "NO", f"{run.seconds:.1f}")
    print("  ".join(f"{cell:>9}" for cell in cells), flush=True)
    if run.error:
        print(f"    the link gave up: {run.error}", flush=True)


def print_matrix(runs):
    """Print each run as it finishes; return (messages lost, damaged frames applied)."""
    print_header()
    lost = applied = 0
    for run in runs:
        print_run(run)
        lost += run.lost
        applied += run.applied
    print(f"messages lost: {lost}, damaged frames applied: {applied}")
    return lost, applied


def sim_link(config, timeout=0.3):
    """An ``open_link`` for :func:`fault_matrix`: the native simulation of the board's
    gateware (built once), a fresh run for each matrix run."""
    from .transport.link import build_native, open_native
    simulator = build_native(config)
    return lambda wrap: open_native(config, simulator=simulator, wrap=wrap, timeout=timeout)


def model_link(config, timeout=0.3):
    """An ``open_link`` for :func:`fault_matrix`: the link protocol's FPGA side around the
    golden model (:mod:`tickforge.host.transport.model_link`), no simulator needed."""
    from .transport.model_link import open_model_link
    return lambda wrap: open_model_link(config, wrap=wrap, timeout=timeout)


def rate_list(text):
    """``--rates``: comma-separated probabilities in [0, 1)."""
    try:
        rates = [float(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: rates are numbers such as 0,1e-3") from None
    if not all(0 <= rate < 1 for rate in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: a rate is a probability in [0, 1)")
    return rates


def kind_list(text):
    """``--kinds``: comma-separated fault kinds."""
    kinds = text.split(",")
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kind {unknown[0]!r}; choose from "
                                         f"{', '.join(FAULT_KINDS)}")
    return kinds


def cmd_faults(args, config, the_plan, setup):
    """``tickforge faults``: the matrix on the plan's data; 0 only if nothing was lost or
    applied."""
    from .protocol import encode
    from .transport import target_config

    config = target_config("sim", config)   # the link feeds the core a byte a beat
    data = b"".join(setup) + b"".join(the_plan.units()) + encode("y", tag=0)
    kinds = tuple(args.kinds)
    print(f"{the_plan.description}: {len(data):,} bytes through the link on target "
          f"'{args.target}'; faults per {args.unit} each way, kinds {', '.join(kinds)}, rates "
          f"{', '.join(f'{rate:g}' for rate in args.rates)}, seed {args.seed}")
    open_link = {"sim": sim_link, "model": model_link}[args.target](config)
    lost, applied = print_matrix(fault_matrix(open_link, config, data, kinds=kinds,
                                              rates=tuple(args.rates), seed=args.seed,
                                              unit=args.unit))
    return 0 if lost == 0 and applied == 0 else 1
