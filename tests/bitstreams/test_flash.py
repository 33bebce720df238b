"""Flashing with no board attached: a clear error and a non-zero exit, never a traceback;
missing system libraries are named with the package to install; ``--dry-run`` prints the
openFPGALoader command. Both library branches are forced by monkeypatching, so the tests do not
depend on what this machine has installed."""

import ctypes.util
import subprocess
import sys

import pytest

from tickforge.bitstreams import flash as flashing
from tickforge.bitstreams.boards import BOARDS


NO_BOARD_OUTPUT = ("unable to open ftdi device: -3 (device not found)\n"
                   "JTAG init failed with: unable to open ftdi device\n")
"""What openFPGALoader 1.1.1 prints when no board is plugged in."""


@pytest.fixture
def libraries_present(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so")


@pytest.fixture
def a_bitstream(tmp_path):
    def make(name):
        path = tmp_path / f"{name}.{BOARDS[name].extension}"
        path.write_bytes(bytes(64))
        return path
    return make


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dry_run_prints_the_command(name, capsys, libraries_present):
    line = flashing.flash(name, dry_run=True)
    assert line[0].endswith("openfpgaloader-cli")
    assert line[1:-1] == list(BOARDS[name].loader)
    assert line[-1].endswith(f"bitstreams/{name}/{name}.{BOARDS[name].extension}")
    assert capsys.readouterr().out.split() == line


def test_missing_libusb_is_named(monkeypatch, a_bitstream):
    """Without libusb-1.0 the loader is not even started."""
    monkeypatch.setattr(ctypes.util, "find_library",
                        lambda name: None if name == "usb-1.0" else f"lib{name}.so")
    monkeypatch.setattr(flashing.subprocess, "run", pytest.fail)
    with pytest.raises(flashing.FlashError, match=r"apt-get install libusb-1\.0-0`"):
        flashing.flash("ulx3s", bitstream=a_bitstream("ulx3s"))


def test_dry_run_notes_missing_libraries(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    printed = []
    flashing.flash("icebreaker", dry_run=True, echo=printed.append)
    assert "libusb-1.0-0 libftdi1-2 libudev1" in printed[1]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_no_board_attached_is_a_clear_error(name, monkeypatch, libraries_present, a_bitstream):
    def run(line, **options):
        return subprocess.CompletedProcess(line, 1, "", NO_BOARD_OUTPUT)
    monkeypatch.setattr(flashing.subprocess, "run", run)
    with pytest.raises(flashing.FlashError) as caught:
        flashing.flash(name, bitstream=a_bitstream(name))
    message = str(caught.value)
    assert "no board found" in message and BOARDS[name].title in message
    assert "device not found" in message


def test_other_loader_failures_are_reported(monkeypatch, libraries_present, a_bitstream):
    def run(line, **options):
        return subprocess.CompletedProcess(line, 3, "", "something else went wrong\n")
    monkeypatch.setattr(flashing.subprocess, "run", run)
    with pytest.raises(flashing.FlashError, match=r"failed \(exit 3\): something else"):
        flashing.flash("ulx3s", bitstream=a_bitstream("ulx3s"))


def test_missing_bitstream(tmp_path):
    with pytest.raises(flashing.FlashError, match="no bitstream at .*tickforge bitstream ulx3s"):
        flashing.flash("ulx3s", bitstream=tmp_path / "ulx3s.bit")


def test_bitstream_not_matching_its_manifest(tmp_path):
    (tmp_path / "ulx3s.bit").write_bytes(b"truncated")
    (tmp_path / "manifest.json").write_text('{"bitstream": "ulx3s.bit", "sha256": "00"}')
    with pytest.raises(flashing.FlashError, match="does not match the sha256"):
        flashing.flash("ulx3s", bitstream=tmp_path / "ulx3s.bit")


def tickforge(*arguments):
    return subprocess.run([sys.executable, "-m", "tickforge.host.cli", *arguments],
                          capture_output=True, text=True, timeout=120)


def test_command_line_with_no_board(a_bitstream):
    """The real loader, whatever this machine has: one line on stderr, exit 2. The iCEBreaker
    because its loader looks for the cable before it reads the file."""
    result = tickforge("flash", "icebreaker", "--bitstream", str(a_bitstream("icebreaker")))
    assert result.returncode == 2
    assert result.stderr.startswith("tickforge flash: icebreaker: ")
    assert ("no board found" in result.stderr) or ("apt-get install" in result.stderr)
    assert "Traceback" not in result.stderr


def test_command_line_refusals():
    result = tickforge("flash", "nope")
    assert result.returncode == 2
    assert ("unknown board 'nope'; tickforge builds for: "
            "ecpix5, ecpix5-trading, ice40-hx8k, icebreaker, ulx3s, ulx3s-trading" in result.stderr)
    result = tickforge("flash", "ulx3s", "--dry-run")
    assert result.returncode == 0 and "openfpgaloader-cli -b ulx3s -m" in result.stdout
    result = tickforge("flash", "ecpix5", "--dry-run")
    assert result.returncode == 0 and "openfpgaloader-cli -b ecpix5 -m" in result.stdout
    result = tickforge("flash", "ulx3s-trading", "--dry-run")   # the same board, its own build
    assert result.returncode == 0 and "openfpgaloader-cli -b ulx3s -m" in result.stdout
    assert "ulx3s-trading/ulx3s-trading.bit" in result.stdout
