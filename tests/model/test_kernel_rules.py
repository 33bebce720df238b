"""The golden model's pricing, signal and risk rules on hand-worked examples: each expected
number below was computed by hand from the rule's definition, not by the code."""

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import EventKind, Side, SignalReason, FillSource
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import encode

from support.stages import config_writes

Q16 = 1 << 16
CONFIG = CoreConfig(symbols=3, exported_levels=4, tracked_levels=8, order_sets=16)


def level(locate, side, price, quantity, timestamp=0):
    return encode("l", stock_locate=locate, side=side, price=price, quantity=quantity,
                  timestamp=timestamp)


def trade(locate, price, shares, side=b"B"):
    return encode("P", stock_locate=locate, order_reference_number=0, buy_sell_indicator=side,
                  shares=shares, stock=b"X", price=price)


def subscribe(*locates):
    return b"".join(encode("s", stock_locate=locate, slot=slot)
                    for slot, locate in enumerate(locates))


def of(events, kind):
    return [event.body for event in events if event.kind == kind]


def test_prices_of_a_two_level_book():
    model = CoreModel(CONFIG)
    events = model.feed(subscribe(1) + config_writes({("imbalance_levels", 0): 2}) +
                        level(1, b"B", 100, 300) + level(1, b"B", 99, 200) +
                        level(1, b"S", 104, 100) + level(1, b"S", 105, 100))
    price = of(events, EventKind.PRICE)[-1]
    assert (price.bid_price, price.bid_qty, price.ask_price, price.ask_qty) == (100, 300, 104, 100)
    assert price.two_sided and not price.crossed
    assert price.spread == 4
    assert price.mid == 102 * Q16
    assert price.microprice == 103 * Q16           # (100*100 + 104*300) / 400
    assert price.imbalance == 2 * 46811 - Q16      # (500 - 200) / 700, the weight floored
    assert not price.vwap_valid and price.vwap == 0


def test_one_sided_and_crossed_books():
    model = CoreModel(CONFIG)
    events = model.feed(subscribe(1) + level(1, b"B", 100, 5))
    price = of(events, EventKind.PRICE)[-1]
    assert not price.two_sided and price.mid == price.microprice == price.spread == 0
    assert price.imbalance == Q16                  # all the visible size is on the bid
    events = model.feed(level(1, b"S", 99, 5))
    price = of(events, EventKind.PRICE)[-1]
    assert price.crossed and price.spread == -1


def test_vwap_over_a_window_of_trades():
    model = CoreModel(CONFIG)
    events = model.feed(subscribe(1) + trade(1, 100, 10) + trade(1, 110, 30))
    price = of(events, EventKind.PRICE)[-1]
    assert price.vwap_valid and price.vwap == int(107.5 * Q16)  # 4300 / 40
    assert (price.trade_price, price.trade_qty) == (110, 30)
    events = model.feed(config_writes({"vwap_window": 1}) + trade(1, 90, 1) + trade(1, 120, 5))
    assert of(events, EventKind.PRICE)[-1].vwap == 120 * Q16  # only the last trade counts


def test_ema_and_volatility_of_the_mid():
    model = CoreModel(CONFIG)
    events = model.feed(subscribe(1) + config_writes({"ema_shift": 1, "vol_shift": 1}) +
                        level(1, b"B", 100, 1) + level(1, b"S", 104, 1))
    first = of(events, EventKind.PRICE)[-1]
    assert first.ema == 102 * Q16 and first.vol == 0   # the first two-sided mid sets the EMA
    events = model.feed(level(1, b"S", 108, 1) + level(1, b"S", 104, 0))  # mid 102, then 104
    second = of(events, EventKind.PRICE)[-1]
    assert second.mid == 104 * Q16
    assert second.ema == 103 * Q16                     # 102 + (104 - 102) / 2
    assert second.vol == Q16                           # 0 + (2 - 0) / 2


def test_imbalance_signal_with_hysteresis():
    model = CoreModel(CONFIG)
    setup = config_writes({("imb_enable", 0): 1, ("imb_enter", 0): Q16 // 4,
                           ("imb_exit", 0): Q16 // 8, ("imb_qty", 0): 50,
                           ("imbalance_levels", 0): 1})
    events = model.feed(subscribe(1) + setup + level(1, b"B", 100, 100) +
                        level(1, b"S", 104, 100))
    assert of(events, EventKind.SIGNAL) == []          # balanced: 0
    events = model.feed(level(1, b"B", 100, 300))      # (300-100)/400 = 0.5 >= 0.25
    [buy] = of(events, EventKind.SIGNAL)
    assert (buy.side, buy.price, buy.qty, buy.reason) == (Side.BID, 104, 50,
                                                          SignalReason.IMBALANCE)
    events = model.feed(level(1, b"B", 100, 200))      # 1/3: still long, no new signal
    assert of(events, EventKind.SIGNAL) == []
    events = model.feed(level(1, b"B", 100, 110))      # 10/210 < 0.125: re-armed, no signal
    assert of(events, EventKind.SIGNAL) == []
    events = model.feed(level(1, b"B", 100, 300))      # long again
    assert len(of(events, EventKind.SIGNAL)) == 1
    events = model.feed(level(1, b"B", 100, 20))       # (20-100)/120 <= -0.25: sell at the bid
    [sell] = of(events, EventKind.SIGNAL)
    assert (sell.side, sell.price, sell.qty) == (Side.ASK, 100, 20)  # capped by the touch


def test_market_making_quotes_skew_with_inventory():
    model = CoreModel(CONFIG)
    setup = config_writes({("mm_enable", 0): 1, ("mm_half_spread", 0): 2 * Q16,
                           ("mm_vol_mult", 0): 0, ("mm_qty", 0): 10, ("mm_skew", 0): Q16})
    events = model.feed(subscribe(1) + setup + level(1, b"B", 100, 300) +
                        level(1, b"S", 104, 100))
    quotes = [(q.side, q.price, q.qty) for q in of(events, EventKind.SIGNAL)]
    assert quotes == [(Side.BID, 101, 10), (Side.ASK, 105, 10)]  # micro 103 ± 2
    events = model.feed(encode("f", stock_locate=1, side=b"B", shares=1, price=101))
    [fill] = of(events, EventKind.FILL)
    assert (fill.source, fill.inventory) == (FillSource.HOST, 1)
    events = model.feed(level(1, b"S", 104, 100))      # same book, inventory 1: r = 102
    quotes = [(q.side, q.price) for q in of(events, EventKind.SIGNAL)]
    assert quotes == [(Side.BID, 100), (Side.ASK, 104)]
    events = model.feed(level(1, b"S", 104, 100))      # nothing changed: nothing re-quoted
    assert of(events, EventKind.SIGNAL) == []


def test_quotes_never_cross_the_touch():
    model = CoreModel(CONFIG)
    setup = config_writes({("mm_enable", 0): 1, ("mm_half_spread", 0): 0,
                           ("mm_vol_mult", 0): 0, ("mm_qty", 0): 1})
    events = model.feed(subscribe(1) + setup + level(1, b"B", 100, 1) + level(1, b"S", 101, 1))
    quotes = [(q.side, q.price) for q in of(events, EventKind.SIGNAL)]
    assert quotes == [(Side.BID, 100), (Side.ASK, 101)]  # micro 100.5 ± 0, clamped


def test_paper_fills_of_quotes_and_takers():
    model = CoreModel(CONFIG)
    setup = config_writes({"paper_fills": 1, ("mm_enable", 0): 1, ("mm_half_spread", 0): Q16,
                           ("mm_vol_mult", 0): 0, ("mm_qty", 0): 7})
    model.feed(subscribe(1) + setup + level(1, b"B", 100, 100) + level(1, b"S", 110, 100))
    events = model.feed(trade(1, 104, 1))             # prints through the bid quote 104?
    assert of(events, EventKind.FILL) == []           # micro 105: bid 104, not strictly below
    events = model.feed(trade(1, 103, 1))
    [fill] = of(events, EventKind.FILL)
    assert (fill.side, fill.price, fill.qty, fill.source, fill.inventory) == \
        (Side.BID, 104, 7, FillSource.QUOTE, 7)


def test_arbitrage_between_two_venues():
    model = CoreModel(CONFIG)
    setup = config_writes({("arb_asset", 0): 0, ("arb_asset", 1): 0, ("arb_enable", 0): 1,
                           ("arb_fee", 0): 1, ("arb_fee", 1): 1, ("arb_transfer", 0): 0,
                           ("arb_max_qty", 0): 1000, ("arb_unit", 0): 1, ("arb_unit", 1): 10})
    model.feed(subscribe(1, 2) + setup + level(1, b"B", 100, 50) + level(1, b"S", 101, 40))
    events = model.feed(level(2, b"B", 103, 30) + level(2, b"S", 104, 5))
    assert of(events, EventKind.SIGNAL) == []          # 103-1 vs 101+1: no edge after fees
    events = model.feed(level(2, b"B", 104, 30))       # 104-1 > 101+1
    buy, sell = of(events, EventKind.SIGNAL)
    # common units: buy 40*1 on venue 0, sell 30*10 on venue 1: q = 40
    assert (buy.slot, buy.side, buy.price, buy.qty) == (0, Side.BID, 101, 40)
    assert (sell.slot, sell.side, sell.price, sell.qty) == (1, Side.ASK, 104, 4)
    events = model.feed(level(2, b"S", 105, 5))        # same pair again: not repeated
    assert of(events, EventKind.SIGNAL) == []


@pytest.mark.parametrize("limit,value,order", [
    ("kill", 1, "kill"), ("max_order_qty", 49, "qty"), ("max_notional", 104 * 50 - 1, "notional"),
    ("collar", 1, "collar"), ("max_position", 49, "position"), ("rate_max", 0, "rate")])
def test_each_risk_limit_rejects_and_counts(limit, value, order):
    model = CoreModel(CONFIG)
    key = limit if limit == "kill" else (limit, 0)
    setup = config_writes({("imb_enable", 0): 1, ("imb_enter", 0): Q16 // 4,
                           ("imb_qty", 0): 50, ("imbalance_levels", 0): 1, key: value})
    events = model.feed(subscribe(1) + setup + level(1, b"B", 100, 300) +
                        level(1, b"S", 104, 100) + encode("y", tag=1))
    assert of(events, EventKind.SIGNAL) == []          # the buy of 50 at 104 was stopped
    risk = of(events, EventKind.STATUS)[-1].risk
    assert getattr(risk, order) == 1 and risk.accepted == 0
