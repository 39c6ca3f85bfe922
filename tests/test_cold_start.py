"""The function binary at start: it refuses a missing or malformed setting, and says which;
it reads its credentials before its first request."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from devstack.local import LocalStack

BINARY = Path(__file__).resolve().parent.parent / "target" / "debug" / "now-playing"
VALID = {
    "STATE_TABLE": "now-playing-state",
    "CREDENTIALS_PARAMETER": "/now-playing/spotify",
    # Nothing listens here: a binary that got past its configuration would hang or fail
    # on the runtime API instead of exiting with the configuration message.
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",
    "AWS_REGION": "us-east-1",
}


@pytest.mark.parametrize(
    "change, named",
    [
        ({"STATE_TABLE": None}, "STATE_TABLE is not set"),
        ({"CREDENTIALS_PARAMETER": None}, "CREDENTIALS_PARAMETER is not set"),
        ({"CACHE_SECONDS": "soon"}, "CACHE_SECONDS is invalid"),
        ({"SPOTIFY_API_URL": "api.spotify.com"}, "SPOTIFY_API_URL is invalid"),
        ({"ALLOWED_ORIGINS": "example.com"}, "ALLOWED_ORIGINS is invalid"),
        # No root certificate to be found: the start names the fix, in a debug build too.
        (
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "SSL_CERT_FILE": "/dev/null",
                "SSL_CERT_DIR": "/nonexistent",
            },
            "point SSL_CERT_FILE at a PEM bundle",
        ),
    ],
)
def test_a_bad_setting_stops_the_cold_start_naming_it(change, named):
    assert BINARY.exists(), f"{BINARY} is not built: run `make test` (it builds the workspace first)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKEN_", "CREDENTIALS_", "SPOTIFY_"))}
    env |= {k: v for k, v in (VALID | change).items() if v is not None}
    done = subprocess.run([str(BINARY)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert named in output, output
    assert "panicked" not in output


def test_a_new_process_reads_its_credentials_before_its_first_request():
    """So that the first request's token refresh never waits for SSM: the read is made at
    start, once, whether or not a request comes."""
    with LocalStack(processes=1) as stack:
        proxy = stack.moto.proxy
        deadline = time.monotonic() + 20
        while proxy.snapshot().get("GetParameter", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = proxy.snapshot()
        assert counts.get("GetParameter") == 1, counts
        assert not {"GetItem", "UpdateItem", "PutItem"} & counts.keys(), f"no request came yet: {counts}"
        # The first request finds nothing cached: it refreshes the token with what was read.
        assert requests.get(f"{stack.url}/v1/current", timeout=30).status_code == 200
        assert stack.fake.calls()["token"] == 1
        assert proxy.snapshot().get("GetParameter") == 1, "read once per process"
