"""Fixtures that start the built system from outside: moto, the Spotify stand-in and the
built function under the Runtime API emulator, exactly as `make dev` does."""

import pytest
from devstack.local import LocalStack

WINDOW = 1


@pytest.fixture(scope="session")
def stack():
    # Trace logging on, so the secret checks see everything the function could print.
    # A one-second cache window, so each test can see Spotify's answer change.
    with LocalStack(log_level="trace", extra_env={"CACHE_SECONDS": str(WINDOW)}) as running:
        yield running
