"""Fixtures that start the built system from outside: moto, the Spotify stand-in and the
built function under the Runtime API emulator, exactly as `make dev` does."""

import pytest
import quota_session
from devstack.local import EVERY_WINDOW, LocalStack

WINDOW = 1


@pytest.fixture(scope="session")
def stack():
    # Trace logging on, so the secret checks see everything the function could print.
    # A one-second cache window, so each test can see Spotify's answer change.
    with LocalStack(log_level="trace", extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def listening_session(request):
    """The timed session of tests/test_quota.py, started with the test session so that its
    100 s of real time pass beside the other tests; None when that test is not selected."""
    wanted = any(item.path.name == "test_quota.py" for item in request.session.items)
    run = quota_session.start() if wanted else None
    yield run
    if run is not None:
        run.done.wait(timeout=300)
