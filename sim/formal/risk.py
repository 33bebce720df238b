"""Properties of the risk gate: no order it lets through breaks a limit, and every order
proposed to it is accounted for.

The limits are those of ``host/model/risk.py``, written here a second way (comparisons
instead of the gate's differences) and judged by what the gate saw when it took the order:
the parameters of that cycle (they are free inputs, any value, changing at will), the
slot's inventory on the ``inventory`` port, and the slot's top of book as the PRICE and
CLEAR events taken so far define it.
"""

from amaranth.hdl import Assert, Assume, Cover, Mux, Signal, Value, signed
from amaranth.lib import data

from ...hdl.layouts import EventKind, OrderSignal, RejectReason, Side
from ...hdl.params import PARAM_BY_NAME
from ...hdl.risk.checks import TopOfBook


__all__ = ["signals_keep_order_limits", "signals_keep_collar", "signals_keep_order_rate",
           "candidates_are_accounted_for", "a_signal_leaves", "the_rate_limit_is_reached"]


def _no_forged_signals(m, gate):
    """Assumes no SIGNAL arrives on ``i``: the gate makes SIGNALs from CANDIDATEs and passes
    other kinds on unchanged, and in the core nothing before it makes a SIGNAL."""
    m.d.comb += Assume(~gate.i.valid | (gate.i.payload.kind != EventKind.SIGNAL))


def _at(values, slot):
    """``values[slot]``, or 0 past the last slot: a slot the gate has no state or limits for."""
    value = 0
    for index in range(values.shape().length):
        value = Mux(slot == index, values[index], value)
    return value


def _width(name):
    return PARAM_BY_NAME[name].width


def signals_keep_order_limits(m, gate):
    """A SIGNAL leaves only with the kill switch off, ``1 <= qty <= max_order_qty``,
    ``price * qty <= max_notional`` and ``|inventory ± qty| <= max_position`` (buy +, sell -),
    each as it stood when the gate took the order: the limits a trading firm sets so that
    no bug in a signal kernel, no bad market data, can send an order beyond them."""
    _no_forged_signals(m, gate)
    params, taken = gate.params, gate.i.payload
    order = taken.body.order
    judged = Signal(data.StructLayout({
        "order": OrderSignal, "notional": 64, "kill": 1, "inventory": signed(32),
        **{name: _width(name) for name in ("max_order_qty", "max_notional", "max_position")},
    }))
    with m.If(gate.i.valid & gate.i.ready):
        m.d.sync += [
            judged.order.eq(order),
            judged.notional.eq(order.price * order.qty),
            judged.kill.eq(params.kill),
            judged.inventory.eq(_at(gate.inventory, order.slot)),
        ]
        m.d.sync += [judged[name].eq(_at(params[name], order.slot))
                     for name in ("max_order_qty", "max_notional", "max_position")]

    out = gate.o.payload
    signal = out.body.order
    position = Mux(signal.side == Side.BID, judged.inventory + signal.qty,
                   judged.inventory - signal.qty)
    with m.If(gate.o.valid & (out.kind == EventKind.SIGNAL)):
        m.d.comb += [
            Assert(Value.cast(signal) == Value.cast(judged.order), "the order judged"),
            Assert(~judged.kill, "kill switch"),
            Assert((signal.qty >= 1) & (signal.qty <= judged.max_order_qty), "quantity"),
            Assert(judged.notional <= judged.max_notional, "notional"),
            Assert((position <= judged.max_position) & (position >= -judged.max_position),
                   "position"),
        ]


def signals_keep_collar(m, gate):
    """A SIGNAL leaves only for a slot with a two-sided top of book and a price within
    ``collar`` of its mid, ``|2*price - (bid + ask)| <= 2*collar``: a fat-finger price is
    caught however the kernel that proposed it went wrong. The top of book is each slot's
    last PRICE update taken, none after a CLEAR."""
    _no_forged_signals(m, gate)
    taken = gate.i.payload
    take = gate.i.valid & gate.i.ready
    symbols = gate.config.symbols

    tops = Signal(data.ArrayLayout(TopOfBook, symbols))
    update = taken.body.price
    with m.If(take):
        for slot in range(symbols):
            with m.If((taken.kind == EventKind.PRICE) & (update.slot == slot)):
                m.d.sync += [tops[slot].two_sided.eq((update.bid_qty != 0) &
                                                     (update.ask_qty != 0)),
                             tops[slot].bid_price.eq(update.bid_price),
                             tops[slot].ask_price.eq(update.ask_price)]
            with m.If((taken.kind == EventKind.CLEAR) & (taken.body.slot == slot)):
                m.d.sync += tops[slot].eq(0)

    order = taken.body.order
    judged = Signal(data.StructLayout({"order": OrderSignal, "top": TopOfBook,
                                       "collar": _width("collar")}))
    with m.If(take):
        m.d.sync += [judged.order.eq(order), judged.top.eq(_at(tops, order.slot)),
                     judged.collar.eq(_at(gate.params.collar, order.slot))]

    out = gate.o.payload
    signal = out.body.order
    twice_price = signal.price << 1
    book_sum = judged.top.bid_price + judged.top.ask_price
    reach = judged.collar << 1
    with m.If(gate.o.valid & (out.kind == EventKind.SIGNAL)):
        m.d.comb += [
            Assert(Value.cast(signal) == Value.cast(judged.order), "the order judged"),
            Assert(judged.top.two_sided, "two-sided top"),
            Assert((twice_price <= book_sum + reach) & (book_sum <= twice_price + reach),
                   "collar"),
        ]


RATE_SHIFT_MAX = 3
"""The largest ``rate_shift`` the rate properties try (windows of 1 to 8 ns): every shift is
the same logic, and the solver must match the gate's window against the shadow's through
two 48-bit shifters, which at any shift up to 63 takes it over 10 minutes at depth 5 (about
6 s so)."""


def _rate_runs(m, gate):
    """The rate windows, as the SIGNALs that leave define them: the rate parameters of the
    order in ``o`` as they stood when the gate took it (``judged``), that order's window
    ``timestamp >> rate_shift``, and per slot the window of its last SIGNAL transferred and
    how many of its SIGNALs transferred in a row carry that window (``runs``)."""
    _no_forged_signals(m, gate)
    m.d.comb += [Assume(shift <= RATE_SHIFT_MAX) for shift in gate.params.rate_shift]
    symbols = gate.config.symbols
    order = gate.i.payload.body.order
    judged = Signal(data.StructLayout({name: _width(name) for name in ("rate_max",
                                                                      "rate_shift")}))
    with m.If(gate.i.valid & gate.i.ready):
        m.d.sync += [judged[name].eq(_at(gate.params[name], order.slot))
                     for name in ("rate_max", "rate_shift")]

    out = gate.o.payload
    window = Signal(48)
    m.d.comb += window.eq(out.timestamp >> judged.rate_shift)
    runs = Signal(data.ArrayLayout(data.StructLayout({"window": 48, "count": 17}), symbols))
    signal = gate.o.valid & (out.kind == EventKind.SIGNAL)
    slot = out.body.order.slot
    with m.If(signal & gate.o.ready):
        for index in range(symbols):
            with m.If(slot == index):
                with m.If(window == runs[index].window):
                    m.d.sync += runs[index].count.eq(runs[index].count + 1)
                with m.Else():
                    m.d.sync += [runs[index].window.eq(window), runs[index].count.eq(1)]
    run = Signal(runs.shape().elem_shape)   # the SIGNAL's slot's run
    m.d.comb += run.eq(_at(runs, slot))
    before = Mux(window == run.window, run.count, 0)   # earlier SIGNALs of its run
    return signal & (slot < symbols), judged, window, run, before


def signals_keep_order_rate(m, gate):
    """No more than ``rate_max`` SIGNALs leave for a slot within one rate window: the
    throttle that stops a runaway kernel from flooding the exchange.

    The rule, as ``host/model/risk.py`` and the gate define it: an order's window is its
    exchange ``timestamp >> rate_shift`` (the slot's ``rate_shift`` when the gate takes it);
    each slot remembers the window of its last accepted order and how many it accepted in a
    row in that window, the count starting again at the first accepted order in a different
    window. An order is accepted only while fewer than ``rate_max`` (the slot's, when taken)
    precede it in its run. Checked where it matters, on the SIGNALs that leave: each is at
    most the ``rate_max``-th of its slot's consecutive SIGNALs with the same window.

    No assumption on the timestamps or the parameters (free, changing at will) but
    ``rate_shift <= RATE_SHIFT_MAX`` (see there). So with
    exchange timestamps that never go back and a fixed ``rate_shift`` (a feed's clock; the
    core only writes parameters while idle), a window's SIGNALs are consecutive and at most
    ``rate_max`` of them leave per window and slot. A window left and then met again (an
    earlier timestamp, or a new ``rate_shift``) counts from 0 again: the throttle bounds
    runs, not calendar windows, in the model as in the gate.
    """
    signal, judged, _window, _run, before = _rate_runs(m, gate)
    with m.If(signal):
        m.d.comb += Assert(before < judged.rate_max, "rate")


RATE_MAX_REACHED = 2
"""The ``rate_max`` :func:`the_rate_limit_is_reached` reaches: more than one, so a run is
counted, not just a first order let through."""


def the_rate_limit_is_reached(m, gate):
    """A slot's ``rate_max``-th SIGNAL of a window can leave, and (after a window that
    reached ``rate_max``) one in a new window: a bounded check of
    :func:`signals_keep_order_rate` whose depth allows these allows a ``rate_max + 1``-th in
    the same window too, so the check would have seen one the gate let through."""
    signal, judged, window, run, before = _rate_runs(m, gate)
    limit = judged.rate_max == RATE_MAX_REACHED
    m.d.comb += [
        Cover(signal & limit & (before == RATE_MAX_REACHED - 1)),
        Cover(signal & limit & (window != run.window) & (run.count == RATE_MAX_REACHED)),
    ]


def candidates_are_accounted_for(m, gate):
    """Nothing proposed is lost: every CANDIDATE taken ends as exactly one SIGNAL out or
    one counted reject. Checked where the host sees it, on each STATUS event: its
    ``accepted`` is the SIGNALs that left before it, and ``accepted`` plus the rejects by
    reason is the CANDIDATEs taken before it."""
    _no_forged_signals(m, gate)
    taken = gate.i.payload
    out = gate.o.payload
    candidates = Signal(32)   # CANDIDATEs taken so far
    signals = Signal(32)      # SIGNALs transferred so far
    signal_leaves = gate.o.valid & gate.o.ready & (out.kind == EventKind.SIGNAL)
    take = gate.i.valid & gate.i.ready
    m.d.sync += [candidates.eq(candidates + (take & (taken.kind == EventKind.CANDIDATE))),
                 signals.eq(signals + signal_leaves)]

    before_status = Signal(data.StructLayout({"candidates": 32, "signals": 32}))
    with m.If(take & (taken.kind == EventKind.STATUS)):
        m.d.sync += [before_status.candidates.eq(candidates),
                     before_status.signals.eq(signals + signal_leaves)]

    risk = out.body.status.risk
    decided = risk.accepted
    for reason in RejectReason:
        decided = decided + risk[reason.name.lower()]
    with m.If(gate.o.valid & (out.kind == EventKind.STATUS)):
        m.d.comb += [Assert(risk.accepted == before_status.signals, "accepted"),
                     Assert(decided[:32] == before_status.candidates, "decided")]


def a_signal_leaves(m, gate):
    """A SIGNAL can leave (so within the collar, after a PRICE): a bounded check of
    :func:`signals_keep_collar` that never reached one would prove nothing."""
    m.d.comb += Cover(gate.o.valid & (gate.o.payload.kind == EventKind.SIGNAL))
