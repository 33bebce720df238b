"""Shared test fixtures: where the bundled slices and the full real-data files live."""

import os

import pytest

from tickforge.host.paths import REPO, BUNDLED_DATA as TEST_DATA, SHARED_DATA


@pytest.fixture
def shared_data():
    """Path of a file under the full real-data folder; skips the test when it is absent."""
    def locate(relative):
        path = SHARED_DATA / relative
        if not path.exists():
            pytest.skip(f"full real-data file {path} is absent "
                        f"(set TICKFORGE_SHARED_DATA to the folder holding it)")
        return path
    return locate


@pytest.fixture
def seed(request):
    """The seed of a test's random streams: ``$TICKFORGE_SEED`` if set, else fixed per test so
    runs are reproducible; printed so a failure can be replayed."""
    import zlib
    value = int(os.environ.get("TICKFORGE_SEED", zlib.crc32(request.node.nodeid.encode())))
    print(f"seed={value} (replay with TICKFORGE_SEED={value})")
    return value
