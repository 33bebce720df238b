"""The backtest's statistics on hand-worked P&L series."""

import pytest

from tickforge.host.backtest import Backtest


MINUTE = 60_000_000_000


def report_of(pnl):
    backtest = Backtest({}, {})
    backtest.pnl = [(minute * MINUTE + 1, value) for minute, value in pnl]
    return backtest.report()


def test_sharpe_and_drawdown_of_per_minute_changes():
    # changes 1, 2, -1, 2: mean 1, sample deviation sqrt(2), times sqrt(4 changes)
    report = report_of([(0, 0.0), (1, 1.0), (2, 3.0), (3, 2.0), (4, 4.0)])
    assert report.sharpe == pytest.approx(1 / 2 ** 0.5 * 2)
    assert report.max_drawdown == 1.0


@pytest.mark.parametrize("pnl", [
    [(0, 0.0), (0, 5.0)],                     # one minute: no change to measure
    [(0, 0.0), (1, 2.0)],                     # one change: no deviation
    [(0, 0.0), (1, 1.0), (2, 2.0)],           # equal changes: no deviation
])
def test_sharpe_is_undefined_without_two_varying_changes(pnl):
    assert report_of(pnl).sharpe is None
