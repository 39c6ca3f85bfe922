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


def privacy(stack, *args, table=True):
    """The tool as `make privacy` runs it: the deployment's table and credentials for the
    look-up (`table=False`: as where none is named), Spotify the stand-in."""
    function = stack.function_env()
    looked_up = ("STATE_TABLE", "CREDENTIALS_PARAMETER", "SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in looked_up} | {
        "AWS_ENDPOINT_URL": stack.moto.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **{k: function[k] for k in looked_up if table or k != "STATE_TABLE"},
    }
    return subprocess.run(
        [str(BINARY), "--parameter", PRIVACY_PARAMETER, *args], env=env, capture_output=True, text=True, timeout=60
    )


def stored(stack) -> dict:
    return json.loads(stack.moto.client("ssm").get_parameter(Name=PRIVACY_PARAMETER)["Parameter"]["Value"])


def test_make_privacy_round_trips_and_refuses_bad_input_without_writing(stack):
    done = privacy(stack, "hide", "track", f"https://open.spotify.com/track/{TRACK}?si=abc")
    assert done.returncode == 0, done.stderr
    assert f"Hiding the track {TRACK_NAME} ({TRACK})." in done.stdout, done.stdout
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


def test_an_id_spotify_does_not_know_is_refused_and_one_it_cannot_be_asked_about_is_hidden_unchecked(stack):
    before, calls = stored(stack), stack.fake.calls()["catalog"]
    # The right shape, the wrong case: it could never match a play.
    done = privacy(stack, "hide", "artist", ARTIST.upper())
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Spotify knows no artist with the id {ARTIST.upper()}" in done.stderr and "case-sensitive" in done.stderr
    assert stored(stack) == before, "nothing written"
    assert stack.fake.calls()["catalog"] == calls + 1, "one look-up"
    done = privacy(stack, "hide", "artist", ARTIST)
    assert done.returncode == 0 and "Hiding the artist Rick Astley" in done.stdout, done.stdout + done.stderr
    assert privacy(stack, "unhide", "artist", ARTIST).returncode == 0
    # A private playlist of the owner's is found with the owner's token.
    stack.fake.control("playlist", {"id": "7ZbEHpc8LuxzVMPbsHpmTe", "name": "Guilty pleasures"})
    done = privacy(stack, "hide", "playlist", "spotify:playlist:7ZbEHpc8LuxzVMPbsHpmTe")
    assert done.returncode == 0 and "Hiding the playlist Guilty pleasures" in done.stdout, done.stdout + done.stderr
    assert privacy(stack, "unhide", "playlist", "7ZbEHpc8LuxzVMPbsHpmTe").returncode == 0
    # No table named (no deployed stack to read it from): written, saying it is unchecked.
    done = privacy(stack, "hide", "album", "6XhjNHCyCDyyGJRM5mg40G", table=False)
    assert done.returncode == 0, done.stderr
    assert "could not ask Spotify whether that album exists" in done.stderr and "unchecked" in done.stderr
    assert stored(stack)["hide"]["albums"] == ["6XhjNHCyCDyyGJRM5mg40G"]
    assert privacy(stack, "unhide", "album", "6XhjNHCyCDyyGJRM5mg40G").returncode == 0
    # Spotify failing: the same.
    stack.fake.control("fail", {"path": "/v1/shows/", "status": 503, "times": 2})
    done = privacy(stack, "hide", "show", "2mTUnDkuKUkhiueKcVWoP0")
    assert done.returncode == 0 and "unchecked" in done.stderr, done.stderr
    assert privacy(stack, "unhide", "show", "2mTUnDkuKUkhiueKcVWoP0").returncode == 0
    assert "refresh_token" not in done.stdout + done.stderr and "access" not in done.stderr.lower(), done.stderr


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
