"""The pricing kernel: per-slot metrics after every book change or trade, bit for bit as the
golden model (``host/model/pricing.py``) computes them."""

from amaranth.hdl import Module, Signal, Mux, Cat, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..layouts import EventKind, Side, PriceFields, event_layout
from ..params import PARAM_BY_NAME, params_layout
from .divider import PipelinedDivider


__all__ = ["SideState", "SlotState", "PriceSequencer", "Pricing"]


VWAP_CAPACITY = PARAM_BY_NAME["vwap_window"].maximum               # 64 trades per slot
_IMBALANCE_LEVELS = PARAM_BY_NAME["imbalance_levels"].maximum      # 16 levels per side at most
_INDEX_BITS = (VWAP_CAPACITY - 1).bit_length()                     # 6
_DEPTH_QTY_BITS = 32 + (_IMBALANCE_LEVELS - 1).bit_length()        # 36: 16 quantities
_SUM_Q_BITS = 32 + _INDEX_BITS                                     # 38: 64 quantities
_SUM_PQ_BITS = 64 + _INDEX_BITS                                    # 70: 64 products


class SideState(data.Struct):
    """One side of a slot as the kernel remembers it."""
    price:     32
    qty:       32
    depth_qty: _DEPTH_QTY_BITS  # the top ``imbalance_levels`` quantities, summed


class SlotState(data.Struct):
    """One slot's metrics state (the model's ``SlotPricing`` but for the trades themselves,
    which live in the VWAP ring)."""
    bid:            SideState
    ask:            SideState
    ema:            48
    last_mid:       48
    vol:            48
    seen_two_sided: 1
    sum_pq:         _SUM_PQ_BITS  # over the trades in the window
    sum_q:          _SUM_Q_BITS


class _Window(data.Struct):
    """Where a slot's VWAP window sits in its ring of ``VWAP_CAPACITY`` entries."""
    head:  _INDEX_BITS            # the entry the next trade is written to
    count: _INDEX_BITS + 1        # trades in the window, oldest at ``head - count``


class _WindowTrade(data.Struct):
    """One trade in a VWAP ring; the product is kept so dropping it needs no multiplier."""
    notional: 64   # price × quantity
    qty:      32


class _Taken(data.Struct):
    """What stage 1 needs of a BOOK or TRADE event, captured as the event is taken."""
    slot:          8
    updates_side:  1     # a BOOK event: ``side`` gets ``best`` and ``depth_qty``
    side:          Side
    best_price:    32
    best_qty:      32
    depth_qty:     _DEPTH_QTY_BITS
    trade_price:   32    # 0 unless there is a trade
    trade_qty:     32
    notional:      64    # trade_price × trade_qty
    evicts:        1     # the window is full: the oldest trade leaves it
    window_live:   1     # the slot's sums and ring count are valid (not restarted or cleared)


class _Metrics(data.Struct):
    """A PRICE body on its way through the dividers: all but the three quotients filled in."""
    price:        PriceFields
    has_depth:    1      # some quantity on the imbalance levels: the imbalance is defined


def _tree_sum(values):
    """Sum as a balanced adder tree, so ``n`` operands cost ``log2(n)`` adder delays."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


class PriceSequencer(wiring.Component):
    """Emits the events taken on ``i`` in order, each BOOK or TRADE followed at once by its
    PRICE, which arrives on ``price`` (one ``price_valid`` cycle per BOOK or TRADE, in order,
    some cycles after the event was taken).

    Events wait in a queue of ``depth`` entries (``i.ready`` while it has room); results wait in
    a second queue of the same depth, which can never overflow: each result belongs to a BOOK or
    TRADE still in the first queue, which leaves it only when its PRICE is emitted. So results
    are never refused and the pipeline computing them needs no stall logic.

    Latency: an event taken in cycle N is offered in cycle N+2 if the queue is empty; a result
    that arrives while its event is out (or going out) is offered the next cycle.
    Throughput: one event per cycle while ``o`` is ready. ``o.valid`` is a register; the
    payload holds until the transfer. ``t_out`` is stamped ``now + 1`` as an event is loaded.
    ``idle``: nothing taken and not yet fully emitted.
    """

    def __init__(self, exported_levels, depth):
        self.depth = depth
        self._event_layout = event_layout(exported_levels)
        super().__init__({
            "i":           In(stream.Signature(self._event_layout)),
            "price":       In(PriceFields),
            "price_valid": In(1),
            "o":           Out(stream.Signature(self._event_layout)),
            "now":         In(32),
            "idle":        Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.events = events = SyncFIFO(width=self._event_layout.size, depth=self.depth)
        m.submodules.results = results = SyncFIFO(width=PriceFields.as_shape().size,
                                                  depth=self.depth)
        m.d.comb += [events.w_data.eq(self.i.payload), events.w_en.eq(self.i.valid),
                     self.i.ready.eq(events.w_rdy)]
        head = data.View(self._event_layout, events.r_data)
        head_has_price = (head.kind == EventKind.BOOK) | (head.kind == EventKind.TRADE)

        price_due = Signal()    # the head event is out: its PRICE goes next
        o_free = ~self.o.valid | self.o.ready
        takes_arriving = o_free & price_due & ~results.r_rdy & self.price_valid
        price = Signal(PriceFields)
        m.d.comb += [
            results.w_data.eq(self.price),
            results.w_en.eq(self.price_valid & ~takes_arriving),
            price.eq(Mux(results.r_rdy, results.r_data, self.price)),
        ]

        out = self.o.payload
        with m.If(o_free):
            with m.If(~price_due & events.r_rdy):
                m.d.sync += [self.o.valid.eq(1), out.eq(head), out.t_out.eq(self.now + 1)]
                with m.If(head_has_price):
                    m.d.sync += price_due.eq(1)
                with m.Else():
                    m.d.comb += events.r_en.eq(1)
            with m.Elif(price_due & (results.r_rdy | self.price_valid)):
                m.d.sync += [self.o.valid.eq(1), out.eq(0), out.kind.eq(EventKind.PRICE),
                             out.seq.eq(head.seq), out.t_in.eq(head.t_in),
                             out.timestamp.eq(head.timestamp), out.t_out.eq(self.now + 1),
                             out.body.price.eq(price), price_due.eq(0)]
                m.d.comb += [events.r_en.eq(1), results.r_en.eq(1)]
            with m.Else():
                m.d.sync += self.o.valid.eq(0)

        m.d.comb += self.idle.eq(~events.r_rdy & ~self.o.valid)
        return m


class Pricing(wiring.Component):
    """Passes every event on in order and follows each BOOK or TRADE with the PRICE event of
    its slot, exactly as :class:`~tickforge.host.model.pricing.PricingModel` does (but for
    ``t_out``). A CLEAR forgets its slot; ``restart_vwap`` empties every VWAP window.

    Structure. Per slot, a RAM row (:class:`SlotState`) holds the best level and the imbalance
    sum of each side, the EMA, last mid, volatility and the VWAP window's running sums; a second
    RAM holds each slot's ring of the last ``VWAP_CAPACITY`` trades (price × quantity and
    quantity), and a small third one where each slot's window sits in its ring (read
    combinationally). Two bit vectors say which
    slots' rows and windows are live, so a CLEAR or a window restart takes one cycle whatever
    the number of slots.

    Pipeline of a BOOK or TRADE taken in cycle N:

    - N (stage 0, from the input): the side's best level and imbalance sum, the trade's
      product; the slot's state row and the window's oldest trade are read, the new trade is
      written to the ring.
    - N+1 (stage 1): the slot's new state (sides, EMA, vol, sums), written back; the three
      divisions start: the microprice weight, the imbalance weight and the VWAP.
    - N+1 ... N+1+``divider_stages``: the :class:`PipelinedDivider` s; the other metrics ride
      alongside. In the last of these cycles the quotients become the microprice, imbalance
      and VWAP and the PRICE is loaded, unless the output is busy (then it queues).

    The state reads are transparent to the write-back, and the ring pointers move as the
    event is taken, so a BOOK or TRADE of the same slot may follow in the very next cycle.

    A byte-wide core (``config.width == 1``, the boards') spreads stage 1 over three cycles:
    N+1 the sides, mid, spread and window sums; N+2 the EMA and volatility steps (their
    variable shifts); N+3 the new EMA and volatility, the write-back and the divisions' start.
    It takes no event in N+1 and N+2 after a BOOK or TRADE (its book delivers one every 3
    cycles at most), and its dividers have 8 stages by default, 3 steps a stage for the weights
    and 6 for the VWAP: the ring read, the sums and the first 16 VWAP steps in one cycle were a
    trading board's longest path (11 MHz on the ULX3S).

    Latency (no back-pressure): the event itself is offered 2 cycles after it is taken, its
    PRICE ``price_latency`` cycles after (``divider_stages + 2``, 5 by default; at width 1
    ``divider_stages + 4``, 12); other events 2 cycles, or after the PRICE of a BOOK or TRADE
    ahead of them.
    Throughput: one event per cycle on ``o``, so one other event per cycle or one BOOK or TRADE
    every 2 cycles, sustained (at width 1, nothing is taken for 2 cycles after a BOOK or
    TRADE); up to ``queue_depth`` events are taken ahead.
    Back-pressure: while ``o`` is not ready the held event stays put and events queue; when the
    queue is full ``i`` is not ready. Nothing is dropped; the arithmetic never stalls.
    ``idle`` is high when no event is inside (taken but not yet fully emitted): only then may
    parameters change and ``restart_vwap`` pulse.

    Bad input, as the model: a one-sided or empty book gives ``two_sided`` 0 and zero spread,
    mid and microprice, and leaves EMA and vol as they were; a best level of quantity 0 counts
    as empty; no quantity on either side's imbalance levels gives imbalance 0; a trade of
    quantity 0 is no trade; an empty window gives ``vwap_valid`` 0 and vwap 0. Quantities and
    prices up to 2**32-1 are exact (the window sums are 70 and 38 bits). A BOOK or TRADE must
    name a slot below ``config.symbols`` (the book guarantees it); a CLEAR of another slot
    changes nothing.
    """

    def __init__(self, config=CoreConfig(), *, divider_stages=None):
        if divider_stages is None:
            divider_stages = 8 if config.width == 1 else 3
        if not isinstance(divider_stages, int) or not 1 <= divider_stages <= 17:
            raise ValueError(f"divider_stages must be an integer 1..17, not {divider_stages!r}")
        self.config = config
        self.divider_stages = divider_stages
        self.state_cycles = 3 if config.width == 1 else 1   # stage 1's cycles (see above)
        self.price_latency = divider_stages + 1 + self.state_cycles
        # enough to take a BOOK or TRADE every 2 cycles while earlier PRICEs are computed
        self.queue_depth = (divider_stages + 1) // 2 + 2
        layout = event_layout(config.exported_levels)
        super().__init__({
            "i":            In(stream.Signature(layout)),
            "o":            Out(stream.Signature(layout)),
            "now":          In(32),
            "params":       In(params_layout(config)),
            "restart_vwap": In(1),
            "idle":         Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        params = self.params

        m.submodules.sequencer = sequencer = PriceSequencer(cfg.exported_levels,
                                                            self.queue_depth)
        holding = Signal()   # stage 1 takes more than a cycle: nothing is taken meanwhile
        m.d.comb += [sequencer.i.payload.eq(self.i.payload),
                     sequencer.i.valid.eq(self.i.valid & ~holding),
                     self.i.ready.eq(sequencer.i.ready & ~holding)]
        wiring.connect(m, sequencer.o, wiring.flipped(self.o))
        m.d.comb += [sequencer.now.eq(self.now), self.idle.eq(sequencer.idle)]

        # --- memories and live bits ---------------------------------------------------------
        m.submodules.slots = slots = Memory(shape=SlotState, depth=cfg.symbols, init=[])
        slots_w = slots.write_port()
        slots_r = slots.read_port(transparent_for=(slots_w,))
        m.submodules.windows = windows = Memory(shape=_Window, depth=cfg.symbols, init=[])
        windows_w = windows.write_port()
        windows_r = windows.read_port(domain="comb")
        m.submodules.trades = trades = Memory(shape=_WindowTrade,
                                              depth=cfg.symbols * VWAP_CAPACITY, init=[])
        trades_w = trades.write_port()
        # not transparent: in a full 64-trade window the oldest trade is where the new one goes
        trades_r = trades.read_port()
        slot_live = Signal(cfg.symbols)    # the slot's state row is valid (else all zero)
        window_live = Signal(cfg.symbols)  # the slot's window pointers and sums are valid

        # --- stage 0: the event being taken ---------------------------------------------------
        event = self.i.payload
        book, trade = event.body.book, event.body.trade
        is_trade = event.kind == EventKind.TRADE
        has_price = (event.kind == EventKind.BOOK) | is_trade
        taking = self.i.valid & self.i.ready
        slot = Mux(is_trade, trade.slot, book.slot)
        trade_price = Mux(is_trade, trade.price, book.trade_price)
        trade_qty = Mux(is_trade, trade.quantity, book.trade_qty)
        has_trade = trade_qty != 0
        notional = Signal(64)
        m.d.comb += notional.eq(trade_price * trade_qty)

        counted_levels = params.imbalance_levels[slot]
        depth_qty = _tree_sum(Mux(level < counted_levels, book.levels[level].quantity, 0)
                              for level in range(min(cfg.exported_levels, _IMBALANCE_LEVELS)))

        window = windows_r.data
        window_is_live = window_live.bit_select(slot, 1)
        count = Mux(window_is_live, window.count, 0)
        evicts = has_trade & (count == params.vwap_window)
        oldest = Signal(_INDEX_BITS)
        m.d.comb += [
            windows_r.addr.eq(slot),
            windows_w.addr.eq(slot),
            windows_w.data.head.eq(window.head + 1),
            windows_w.data.count.eq(Mux(evicts, count, count + 1)),
            windows_w.en.eq(taking & has_price & has_trade),
            oldest.eq(window.head - count),
            trades_r.addr.eq(Cat(oldest, slot)),
            trades_w.addr.eq(Cat(window.head, slot)),
            trades_w.data.notional.eq(notional),
            trades_w.data.qty.eq(trade_qty),
            trades_w.en.eq(taking & has_price & has_trade),
            slots_r.addr.eq(slot),
        ]

        taken = Signal(_Taken)
        taken_valid = Signal()
        m.d.sync += taken_valid.eq(taking & has_price)
        with m.If(taking):
            m.d.sync += [
                taken.slot.eq(slot),
                taken.updates_side.eq(~is_trade),
                taken.side.eq(book.side),
                taken.best_price.eq(Mux(book.depth != 0, book.levels[0].price, 0)),
                taken.best_qty.eq(Mux(book.depth != 0, book.levels[0].quantity, 0)),
                taken.depth_qty.eq(depth_qty),
                taken.trade_price.eq(Mux(has_trade, trade_price, 0)),
                taken.trade_qty.eq(trade_qty),
                taken.notional.eq(notional),
                taken.evicts.eq(evicts),
                taken.window_live.eq(window_is_live),
            ]

        # --- stage 1: the slot's new state (three cycles at width 1: see above) ---------------
        state_valid = Signal()   # N+3 (N+1 at full width): write-back, the divisions start
        before = Signal(SlotState)
        m.d.comb += before.eq(Mux(slot_live.bit_select(taken.slot, 1), slots_r.data, 0))
        book_side = Signal(SideState)
        m.d.comb += [book_side.price.eq(taken.best_price), book_side.qty.eq(taken.best_qty),
                     book_side.depth_qty.eq(taken.depth_qty)]
        bid_now, ask_now = Signal(SideState), Signal(SideState)
        mid_now = Signal(48)
        m.d.comb += [
            bid_now.eq(Mux(taken.updates_side & (taken.side == Side.BID), book_side, before.bid)),
            ask_now.eq(Mux(taken.updates_side & (taken.side == Side.ASK), book_side, before.ask)),
            mid_now.eq((bid_now.price + ask_now.price) << 15),
        ]
        leaving = trades_r.data

        prior = Signal(SlotState)   # the state before, as far as stage 1 still needs it
        bid, ask = Signal(SideState), Signal(SideState)
        mid = Signal(48)
        ema_move = Signal(signed(49))
        mid_move = Signal(48)
        sum_pq, sum_q = Signal(_SUM_PQ_BITS), Signal(_SUM_Q_BITS)
        sides_done = [   # N+1
            prior.eq(before), bid.eq(bid_now), ask.eq(ask_now), mid.eq(mid_now),
            ema_move.eq(mid_now - before.ema),
            mid_move.eq(abs(mid_now - before.last_mid)),
            sum_pq.eq(Mux(taken.window_live, slots_r.data.sum_pq, 0) + taken.notional
                      - Mux(taken.evicts, leaving.notional, 0)),
            sum_q.eq(Mux(taken.window_live, slots_r.data.sum_q, 0) + taken.trade_qty
                     - Mux(taken.evicts, leaving.qty, 0)),
        ]
        ema_step = Signal(signed(49))
        vol_step = Signal(signed(49))
        steps_done = [   # N+2
            ema_step.eq(ema_move >> params.ema_shift),
            vol_step.eq((mid_move - prior.vol) >> params.vol_shift),
        ]
        if self.state_cycles == 3:
            settling = Signal(2)
            m.d.sync += settling.eq(Cat(taken_valid, settling[0]))
            m.d.comb += [state_valid.eq(settling[1]), holding.eq(taken_valid | settling[0])]
            with m.If(taken_valid):
                m.d.sync += sides_done
            with m.If(settling[0]):
                m.d.sync += steps_done
        else:
            m.d.comb += [state_valid.eq(taken_valid), *sides_done, *steps_done]

        two_sided = (bid.qty != 0) & (ask.qty != 0)
        spread = Signal(signed(33))
        m.d.comb += spread.eq(ask.price - bid.price)
        after = Signal(SlotState)
        m.d.comb += [after.bid.eq(bid), after.ask.eq(ask), after.ema.eq(prior.ema),
                     after.last_mid.eq(prior.last_mid), after.vol.eq(prior.vol),
                     after.seen_two_sided.eq(prior.seen_two_sided),
                     after.sum_pq.eq(sum_pq), after.sum_q.eq(sum_q)]
        with m.If(two_sided):
            m.d.comb += [after.last_mid.eq(mid), after.seen_two_sided.eq(1)]
            with m.If(prior.seen_two_sided):
                m.d.comb += [after.ema.eq(prior.ema + ema_step),
                             after.vol.eq(prior.vol + vol_step)]
            with m.Else():
                m.d.comb += after.ema.eq(mid)
        m.d.comb += [
            slots_w.addr.eq(taken.slot),
            slots_w.data.eq(after),
            slots_w.en.eq(state_valid),
        ]

        stages = self.divider_stages
        m.submodules.weight = weight = PipelinedDivider(48, 33, 17, stages)
        m.submodules.imbalance = imbalance = PipelinedDivider(
            _DEPTH_QTY_BITS + 16, _DEPTH_QTY_BITS + 1, 17, stages)
        m.submodules.vwap = vwap = PipelinedDivider(_SUM_PQ_BITS + 16, _SUM_Q_BITS, 48, stages)
        m.d.comb += [
            weight.advance.eq(1),
            weight.numerator.eq(bid.qty << 16),
            weight.denominator.eq(bid.qty + ask.qty),
            imbalance.advance.eq(1),
            imbalance.numerator.eq(bid.depth_qty << 16),
            imbalance.denominator.eq(bid.depth_qty + ask.depth_qty),
            vwap.advance.eq(1),
            vwap.numerator.eq(after.sum_pq << 16),
            vwap.denominator.eq(after.sum_q),
        ]

        metrics = Signal(_Metrics)
        price = metrics.price
        m.d.comb += [
            price.slot.eq(taken.slot),
            price.two_sided.eq(two_sided),
            price.crossed.eq(two_sided & (bid.price >= ask.price)),
            price.vwap_valid.eq(after.sum_q != 0),
            price.bid_price.eq(bid.price), price.bid_qty.eq(bid.qty),
            price.ask_price.eq(ask.price), price.ask_qty.eq(ask.qty),
            price.spread.eq(Mux(two_sided, spread, 0)),
            price.mid.eq(Mux(two_sided, mid, 0)),
            price.ema.eq(after.ema), price.vol.eq(after.vol),
            price.trade_price.eq(taken.trade_price), price.trade_qty.eq(taken.trade_qty),
            metrics.has_depth.eq((bid.depth_qty != 0) | (ask.depth_qty != 0)),
        ]
        with m.If(taken_valid):
            m.d.sync += slot_live.bit_select(taken.slot, 1).eq(1)

        # --- live bits: a trade opens its window, CLEAR and restart close them (later wins) ---
        with m.If(taking & has_price & has_trade):
            m.d.sync += window_live.bit_select(slot, 1).eq(1)
        with m.If(taking & (event.kind == EventKind.CLEAR)):
            m.d.sync += [slot_live.bit_select(event.body.slot, 1).eq(0),
                         window_live.bit_select(event.body.slot, 1).eq(0)]
        with m.If(self.restart_vwap):
            m.d.sync += window_live.eq(0)

        # --- the divider stages, then the quotients' metrics ----------------------------------
        valid = state_valid
        for stage in range(stages):
            metrics_r = Signal(_Metrics, name=f"metrics{stage}")
            valid_r = Signal(name=f"metrics{stage}_valid")
            m.d.sync += [metrics_r.eq(metrics), valid_r.eq(valid)]
            metrics, valid = metrics_r, valid_r
        carried = metrics.price
        result = Signal(PriceFields)
        m.d.comb += result.eq(carried)
        with m.If(carried.two_sided):
            m.d.comb += result.microprice.eq((carried.bid_price << 16)
                                             + carried.spread * weight.quotient)
        with m.If(metrics.has_depth):
            m.d.comb += result.imbalance.eq((imbalance.quotient << 1) - (1 << 16))
        with m.If(carried.vwap_valid):
            m.d.comb += result.vwap.eq(vwap.quotient)
        m.d.comb += [sequencer.price.eq(result), sequencer.price_valid.eq(valid)]
        return m
