"""``--target board=PORT`` without a board: the native simulation of the board's gateware,
UARTs in the loop, serves a loopback socket that pyserial opens as a port URL — so the host's
serial code runs for real, byte for byte as it would on a board."""

import pytest

from tickforge.bitstreams.boards import BOARDS, board
from tickforge.hdl.config import CoreConfig
from tickforge.host.cli import main
from tickforge.host.paths import BUNDLED_DATA, REPO
from tickforge.host.transport import target_config
from tickforge.host.transport.link import build_native


SLICE = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines66001-68000.zip"


def test_serial_replay_with_uarts_in_the_loop_equals_the_golden_model(capsys):
    config = target_config("board=", CoreConfig())
    simulator = build_native(config, divisor=4)  # 4 cycles a bit: the fastest the UART allows
    with simulator.serve() as server:
        port = f"socket://{server.host}:{server.port}"
        assert server.host == "127.0.0.1"
        code = main(["replay", "--target", f"board={port}", "--compare", "model",
                     "--config", str(REPO / "host" / "configs" / "amzn.toml"), str(SLICE)])
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert code == 0, captured.err[-2000:]
    compared = next(line for line in out if line.startswith("compared with the golden model"))
    assert int(compared.split()[5].replace(",", "")) > 3000
    assert any(line.startswith("signals: ") and not line.startswith("signals: 0 ")
               for line in out)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_a_named_board_target_takes_the_boards_configuration(name):
    assert target_config(f"board:{name}=/dev/ttyUSB1@115200", CoreConfig()) == board(name).config


def _distinct_gateware():
    """A board name for each distinct gateware the entries make (core configuration and link
    options): the two trading builds differ only in their clocks."""
    names = {}
    for name in sorted(BOARDS):
        names.setdefault((BOARDS[name].config, tuple(sorted(BOARDS[name].link.items()))), name)
    return sorted(names.values())


@pytest.mark.parametrize("name", _distinct_gateware())
def test_a_named_board_runs_with_the_configuration_it_was_built_with(name, capsys):
    entry = board(name)
    trading_options = (["--config", str(REPO / "host" / "configs" / "amzn.toml")]
                       if entry.config.trading else [])
    simulator = build_native(entry.config, divisor=4, **entry.link)
    with simulator.serve() as server:
        code = main(["replay", "--target", f"board:{name}=socket://{server.host}:{server.port}",
                     "--compare", "model", *trading_options, str(SLICE)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    out = captured.out.splitlines()
    compared = next(line for line in out if line.startswith("compared with the golden model"))
    assert int(compared.split()[5].replace(",", "")) > 3000
    # a host that took the default configuration would expect events the board does not send
    # (trading kernels' events, or another number of levels in each book event): the events
    # above matched the model only if the host took the board's configuration
    default = CoreConfig()
    assert ((entry.config.trading, entry.config.exported_levels)
            != (default.trading, default.exported_levels))
    if entry.config.trading:
        assert any(line.startswith("signals: ") and not line.startswith("signals: 0 ")
                   for line in out)
