"""Where the bundled slices and the full real-data files are."""

import os
from pathlib import Path


__all__ = ["REPO", "BUNDLED_DATA", "SHARED_DATA", "full_or_bundled"]


REPO = Path(__file__).resolve().parent.parent

BUNDLED_DATA = REPO / "tests" / "data"
"""Small slices of real data, committed so a fresh clone can test and demo without anything."""

SHARED_DATA = Path(os.environ.get("TICKFORGE_SHARED_DATA", REPO.parent / "shared" / "data"))
"""The full real-data files (see their README); absent on most machines."""


def full_or_bundled(full, bundled):
    """The full file if this machine has it, else the bundled slice; and which it is."""
    path = SHARED_DATA / full
    if path.exists():
        return path, "full"
    return BUNDLED_DATA / bundled, "bundled slice"
