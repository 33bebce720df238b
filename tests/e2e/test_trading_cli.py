"""The host loop from the command line: replays with signals, the golden model beside the RTL,
backtests with plots, and settings that are refused before anything runs."""

import csv

import pytest

from tickforge.host import transport as transports
from tickforge.host.cli import main
from tickforge.host.paths import BUNDLED_DATA, REPO

CONFIGS = REPO / "host" / "configs"
AMZN = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip"
BTC = sorted((BUNDLED_DATA / "binance").glob("*/*0808*.gz"))


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_replay_on_the_rtl_equals_the_golden_model_event_for_event(capsys, tmp_path):
    signals = tmp_path / "signals.csv"
    code, lines, _ = run(capsys, "replay", "--target", "rtl", "--compare", "model",
                         "--config", CONFIGS / "amzn.toml", "--output", signals, AMZN)
    assert code == 0
    compared = next(line for line in lines if line.startswith("compared with the golden"))
    assert int(compared.split()[5].replace(",", "")) > 2000
    rows = list(csv.DictReader(signals.open()))
    summary = next(line for line in lines if line.startswith("signals: "))
    assert len(rows) == int(summary.split()[1].replace(",", "")) > 100
    assert {row["reason"] for row in rows} == {"imbalance", "quote"}
    latency = next(line for line in lines if line.startswith("latency"))
    assert "min" in latency and all(int(row["latency_cycles"]) >= 10 for row in rows)


def test_replay_of_three_venues_on_the_simulated_board(capsys):
    code, lines, _ = run(capsys, "replay", "--target", "sim", "--compare", "model",
                         "--config", CONFIGS / "btc.toml", *BTC)
    assert code == 0
    summary = next(line for line in lines if line.startswith("signals: "))
    assert "arbitrage" in summary
    assert any(line.startswith("compared with the golden model") for line in lines)


def test_backtest_reports_and_plots(capsys, tmp_path):
    code, lines, _ = run(capsys, "backtest", "--config", CONFIGS / "amzn.toml",
                         "--plots", tmp_path, AMZN)
    assert code == 0
    for prefix in ("P&L: ", "Sharpe", "hit rate: "):
        assert any(line.startswith(prefix) for line in lines), prefix
    for name in ("mid_quotes.png", "inventory.png", "pnl.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("text,problem", [
    ("[core]\nkill = 2\n", "kill: 2 is outside 0..1"),
    ("[core]\nimb_enable = true\n", "imb_enable is a slot parameter"),
    ("[symbols.MSFT]\nimb_enable = true\n", "no book named 'MSFT'"),
    ("[symbols.AMZN]\nimb_enter = 'high'\n", "imb_enter must be a number"),
    ("[sideways]\n", "unknown section"),
    ("[core\n", "not valid TOML"),
    ("[core]\nevent_mask = ['BOOK', 'NOISE']\n", "'NOISE' is not one of"),
])
def test_bad_settings_are_refused_before_anything_runs(capsys, tmp_path, monkeypatch, text,
                                                        problem):
    def no_target(*args, **kwargs):
        raise AssertionError("a transport was opened for bad settings")
    monkeypatch.setattr(transports, "open_transport", no_target)
    settings = tmp_path / "bad.toml"
    settings.write_text(text)
    code, _, err = run(capsys, "replay", "--config", settings, AMZN)
    assert code == 2
    assert problem in err and str(settings) in err
