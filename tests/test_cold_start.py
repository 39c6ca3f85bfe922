"""The function binary refuses to start on a missing or malformed setting, and says which."""

import os
import subprocess
from pathlib import Path

import pytest

BINARY = Path(__file__).resolve().parent.parent / "target" / "debug" / "now-playing"
VALID = {
    "TOKEN_TABLE": "now-playing-tokens",
    "CREDENTIALS_PARAMETER": "/now-playing/spotify",
    # Nothing listens here: a binary that got past its configuration would hang or fail
    # on the runtime API instead of exiting with the configuration message.
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",
    "AWS_REGION": "us-east-1",
}


@pytest.mark.parametrize(
    "change, named",
    [
        ({"TOKEN_TABLE": None}, "TOKEN_TABLE is not set"),
        ({"CREDENTIALS_PARAMETER": None}, "CREDENTIALS_PARAMETER is not set"),
        ({"CACHE_SECONDS": "soon"}, "CACHE_SECONDS is invalid"),
        ({"SPOTIFY_API_URL": "api.spotify.com"}, "SPOTIFY_API_URL is invalid"),
        ({"ALLOWED_ORIGINS": "example.com"}, "ALLOWED_ORIGINS is invalid"),
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
