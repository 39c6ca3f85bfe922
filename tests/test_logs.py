"""What the function logs at the most verbose level an owner can ask for: never a token."""

import time
from datetime import UTC, datetime, timedelta

import requests
from devstack.local import EVERY_WINDOW, LocalStack


def test_no_token_reaches_the_log_even_at_trace_level():
    with LocalStack(processes=1, log_level="trace", extra_env=EVERY_WINDOW) as stack:
        # A token already in the table: the SDK's TRACE output of the GetItem answer held it.
        stored = stack.fake.state.new_token("fake-access")
        stack.fake.state.issued.add(stored)
        stack.seed_token(stored, datetime.now(UTC) + timedelta(minutes=50))
        assert requests.get(f"{stack.url}/v1/current", timeout=30).status_code == 200
        # And a refresh, whose new token is written to the table.
        stack.fake.control("expire-access-tokens")
        time.sleep(5.2)
        assert requests.get(f"{stack.url}/v1/current", timeout=30).status_code == 200
        logs = stack.logs()
        assert "TRACE" in logs, "the function logged at trace level, so the check means something"
        secrets = [
            stack.credentials["client_secret"],
            stack.credentials["refresh_token"],
            *stack.fake.state.ever_issued,
        ]
        assert len(stack.fake.state.ever_issued) >= 2
        for secret in secrets:
            assert secret not in logs, "a secret appears in the trace-level log"
