"""`make privacy` against moto, and the built function obeying what it wrote: hidden plays
leave no trace on any route, and bad input changes nothing."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests
from devstack.local import EVERY_WINDOW, PRIVACY_PARAMETER, LocalStack

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "debug" / "now-playing-privacy"
# What the stand-in plays in its "track" scene (currently_playing_track.json).
TRACK = "4uLU6hMCjMI75M1A2tKUQC"
TRACK_NAME = "Never Gonna Give You Up"
ARTIST = "0gxyHStUsqpMadRV0Di1Qt"


@pytest.fixture(scope="module")
def stack():
    # The parameter exists with no rules; the function reads it at its first request.
    with LocalStack(privacy={}, extra_env=EVERY_WINDOW) as running:
        yield running


def privacy(stack, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ENDPOINT_URL": stack.moto.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return subprocess.run(
        [str(BINARY), "--parameter", PRIVACY_PARAMETER, *args], env=env, capture_output=True, text=True, timeout=60
    )


def stored(stack) -> dict:
    return json.loads(stack.moto.client("ssm").get_parameter(Name=PRIVACY_PARAMETER)["Parameter"]["Value"])


def test_make_privacy_round_trips_and_refuses_bad_input_without_writing(stack):
    done = privacy(stack, "hide", "track", f"https://open.spotify.com/track/{TRACK}?si=abc")
    assert done.returncode == 0, done.stderr
    assert "within 150 s" in done.stdout and "add --purge to ARGS" in done.stdout and "300 s" in done.stdout
    assert "DistributionId output" in done.stdout
    assert stored(stack)["hide"]["tracks"] == [TRACK]
    assert privacy(stack, "quiet", "23:00-07:00", "Europe/Berlin").returncode == 0
    assert stored(stack)["quiet_hours"] == {"from": "23:00", "to": "07:00", "time_zone": "Europe/Berlin"}
    assert privacy(stack, "quiet", "off").returncode == 0
    before = stored(stack)
    for bad in [
        ("hide", "artist", "rick-astley"),
        ("hide", "album", f"https://open.spotify.com/artist/{ARTIST}"),
        ("quiet", "23:00-07:00", "Mars/Base"),
        ("explicit", "maybe"),
        ("unhide", "artist", ARTIST),
        ("shout",),
    ]:
        done = privacy(stack, *bad)
        assert done.returncode == 1 and done.stderr.startswith("make privacy: "), (bad, done.stderr)
        assert "Traceback" not in done.stderr and "panicked" not in done.stderr
    assert stored(stack) == before, "nothing written on bad input"
    shown = privacy(stack, "show")
    assert shown.returncode == 0 and json.loads(shown.stdout)["hide"]["tracks"] == [TRACK]


def test_a_hidden_track_is_on_no_route(stack):
    stack.fake.control("scene", {"scene": "track"})
    assert privacy(stack, "hide", "track", TRACK).returncode == 0
    seen = []
    for path in ["/v1/current", "/v1/current.svg", "/v1/current.svg?theme=dark", "/v1/open", "/v1/art", "/"]:
        r = requests.get(f"{stack.url}{path}", allow_redirects=False, timeout=30)
        seen.append(f"{path} {r.status_code} {dict(r.headers)} {r.text}")
    text = "\n".join(seen)
    # The stand-in's other plays are by the same artist: only the hidden track must be absent.
    assert TRACK_NAME not in text and TRACK not in text, text[:2000]
    assert "Together Forever" in text, "the most recent play the rules show stands in"
    current = requests.get(f"{stack.url}/v1/current", timeout=30).json()
    assert current["item"] is None or current["item"]["id"] != TRACK
    health = requests.get(f"{stack.url}/v1/health", timeout=30).json()
    assert health["privacy"] == "rules"
    assert TRACK not in json.dumps(health), "health never repeats the rules"
