"""The command line as a user runs it: exit codes, the summary's last line, clear errors."""

import shutil

import pytest

from tickforge.host.cli import main
from tickforge.host.paths import BUNDLED_DATA


LOBSTER = BUNDLED_DATA / "lobster"
AAPL10 = LOBSTER / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
AMZN5_MIDDAY = LOBSTER / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip"


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out.rstrip("\n").splitlines(), err


def test_verify_lobster_on_the_rtl_matches_every_row(capsys):
    code, lines, _ = run(capsys, "verify-lobster", "--target", "sim", AMZN5_MIDDAY)
    assert code == 0
    assert lines[-1] == "rows matched: 2000/2000"
    assert any(line.startswith("seeded levels: ") for line in lines)
    assert any("messages/s" in line for line in lines)


def test_verify_lobster_finds_a_row_that_disagrees(capsys, tmp_path):
    for path in LOBSTER.glob("AAPL_*_10.csv"):
        shutil.copy(path, tmp_path / path.name)
    orderbook = tmp_path / AAPL10.name.replace("message", "orderbook")
    rows = orderbook.read_text().splitlines()
    fields = rows[500].split(",")
    fields[3] = str(int(fields[3]) + 1)  # row 500's best bid size, which no re-seed reads
    rows[500] = ",".join(fields)
    orderbook.write_text("\n".join(rows) + "\n")
    code, lines, _ = run(capsys, "verify-lobster", tmp_path / AAPL10.name)
    assert code == 1
    assert lines[-1] == "rows matched: 998/999"
    assert any(line.startswith("row 500: expected") for line in lines)


def test_verify_lobster_refuses_more_levels_than_the_file_has(capsys):
    code, lines, err = run(capsys, "verify-lobster", "--levels", "11", AAPL10)
    assert code == 2
    assert "--levels must be 1..10" in err


def test_verify_lobster_reports_a_missing_file(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["verify-lobster", "no/such/file.zip"])
    assert exit_.value.code == 2
    assert "no such file: no/such/file.zip" in capsys.readouterr().err


def test_verify_binance_on_the_model(capsys):
    files = sorted((BUNDLED_DATA / "binance").glob("*/*0808*.gz"))
    code, lines, _ = run(capsys, "verify-binance", *files)
    assert code == 0
    matched, total = map(int, lines[-1].removeprefix("bbo matched: ").split("/"))
    assert lines[-1].startswith("bbo matched: ") and total > 5000 and matched == total


@pytest.mark.parametrize("terminal", [False, True])
def test_replay_counts_messages_on_a_terminal_only(capsys, monkeypatch, terminal):
    # a log (CI's, a file) would get every count on one line, joined by carriage returns
    monkeypatch.setattr("sys.stderr.isatty", lambda: terminal)
    code, lines, err = run(capsys, "replay", "--target", "model", AMZN5_MIDDAY)
    counts = [line.removeprefix("messages: ") for line in lines if line.startswith("messages: ")]
    assert code == 0 and len(counts) == 1
    messages = counts[0]
    if terminal:
        assert err.endswith(f"\r{messages} messages\n")
    else:
        assert "\r" not in err and "messages" not in err


@pytest.mark.parametrize("devices, found", [([], "found none"),
                                            (["/dev/ttyUSB0", "/dev/ttyUSB1"],
                                             "found /dev/ttyUSB0, /dev/ttyUSB1")])
def test_target_board_needs_exactly_one_usb_serial_port(capsys, monkeypatch, devices, found):
    from types import SimpleNamespace
    from serial.tools import list_ports
    ports = [SimpleNamespace(device=device, vid=0x0403) for device in devices]
    ports.append(SimpleNamespace(device="/dev/ttyS0", vid=None))   # not USB: never chosen
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    code, _, err = run(capsys, "replay", "--target", "board", AMZN5_MIDDAY)
    assert code == 2
    assert f"looks for the one USB serial port attached and {found}; name it" in err


def test_an_unknown_board_name_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "--target", "board:nope=/dev/ttyUSB0", str(AMZN5_MIDDAY)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ("unknown board 'nope'; tickforge builds for: "
            "ecpix5, ecpix5-trading, ice40-hx8k, icebreaker, ulx3s, ulx3s-trading" in err)
