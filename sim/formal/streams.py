"""Properties of stream ports: the Amaranth stream rules, as a consumer relies on them."""

from amaranth.hdl import Assert, Assume, Signal, Value


__all__ = ["output_holds_until_taken", "input_holds_until_taken", "mask_holds_while_waiting"]


def _offer_not_taken(m, port, name):
    """Registers: whether ``port`` offered a payload last cycle that was not taken, and
    that payload."""
    waiting = Signal(name=f"{name}_waiting")
    offered = Signal(len(Value.cast(port.payload)), name=f"{name}_offered")
    m.d.sync += [waiting.eq(port.valid & ~port.ready), offered.eq(port.payload)]
    return waiting, offered


def output_holds_until_taken(m, dut):
    """Once ``o.valid`` rises, ``o.valid`` and ``o.payload`` stay put until the transfer: a
    consumer may look at an offer over several cycles, or be slow to take it, and still get
    exactly what was offered first."""
    waiting, offered = _offer_not_taken(m, dut.o, "o")
    with m.If(waiting):
        m.d.comb += [Assert(dut.o.valid), Assert(Value.cast(dut.o.payload) == offered)]


def input_holds_until_taken(m, dut):
    """Assumes ``i`` obeys the stream rules too: a pass-through stage can only keep them on
    ``o`` if its producer keeps them on ``i``."""
    waiting, offered = _offer_not_taken(m, dut.i, "i")
    with m.If(waiting):
        m.d.comb += [Assume(dut.i.valid), Assume(Value.cast(dut.i.payload) == offered)]


def mask_holds_while_waiting(m, dut):
    """Assumes ``event_mask`` does not change while an event waits on ``i``: the core only
    writes parameters once every kernel after the parameter store is idle and the risk gate's
    output is empty, so no event is waiting at either filter then."""
    waiting, _ = _offer_not_taken(m, dut.i, "mask_i")
    mask = Signal.like(dut.event_mask)
    m.d.sync += mask.eq(dut.event_mask)
    with m.If(waiting):
        m.d.comb += Assume(dut.event_mask == mask)
