"""Issue-5 behaviour of the real binary: several function processes under the local
runtime, a fault-injecting Spotify stand-in that counts every call, and moto."""

import math
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from devstack.local import EVERY_WINDOW, LocalStack
from load import report, run

WINDOW = 2  # CACHE_SECONDS for these stacks


def current(stack):
    response = requests.get(f"{stack.url}/v1/current", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def crowd():
    """Four function processes sharing one table."""
    with LocalStack(processes=4, extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}) as stack:
        yield stack


def test_a_crowd_on_a_cold_cache_makes_one_token_refresh_and_one_player_call_per_window(crowd):
    crowd.seed_token("expired-access-token", datetime.now(UTC) - timedelta(minutes=5))
    crowd.fake.control("scene", {"scene": "track"})
    crowd.fake.control("delay", {"seconds": 0.3})  # a realistic Spotify, so requests overlap
    figures = run(crowd.url, clients=200, seconds=30, spotify=crowd.fake.url, max_requests=600)
    crowd.fake.control("delay", {"seconds": 0})
    print("\n" + report(figures))
    assert figures["requests"] == 600
    assert figures["statuses"] == {200: 600}, figures
    assert figures["token_refreshes"] == 1
    windows = math.ceil(figures["seconds"] / WINDOW) + 1
    assert 1 <= figures["spotify_player_calls"] <= windows, figures
    assert all(p.poll() is None for p in crowd.runtime.processes), "no process died"
    assert sorted(crowd.runtime.handled) == [0, 1, 2, 3], (
        f"each of the four processes took events: {crowd.runtime.handled}"
    )


def test_a_429_stops_every_process_calling_spotify_until_retry_after(crowd):
    crowd.fake.control("scene", {"scene": "track"})
    current(crowd)
    time.sleep(WINDOW + 0.5)
    crowd.fake.control(
        "fail",
        {
            "path": "/v1/me/player/currently-playing",
            "status": 429,
            "headers": {"Retry-After": "19056"},
            "body": {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}},
        },
    )
    before = crowd.fake.calls()["currently_playing"]
    assert current(crowd)["stale"] is True
    assert crowd.fake.calls()["currently_playing"] == before + 1
    # Several windows later, from whichever process answers: still no call, still stale.
    figures = run(crowd.url, clients=20, seconds=3 * WINDOW, spotify=crowd.fake.url, max_requests=300)
    assert figures["statuses"] == {200: figures["requests"]}
    assert figures["stale"] == figures["requests"]
    assert figures["spotify_player_calls"] == 0


@pytest.fixture
def single():
    with LocalStack(extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}) as stack:
        stack.fake.control("scene", {"scene": "track"})
        current(stack)
        time.sleep(WINDOW + 0.5)
        yield stack


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503, "body": "<html>Service Unavailable</html>"},
        {"status": 200, "body": '{"is_playing": tru'},
        {"status": 200, "delay": 12},
    ],
)
def test_a_spotify_fault_serves_the_last_answer_as_stale_within_the_deadline(single, fault):
    single.fake.control("fail", {"path": "/v1/me/player/currently-playing", **fault})
    began = time.monotonic()
    doc = current(single)
    took = time.monotonic() - began
    assert doc["stale"] is True and doc["status"] == "playing"
    assert took < 9, f"answered after {took:.1f} s"


def test_a_cold_start_with_spotify_down_is_a_clean_502():
    with LocalStack(extra_env=EVERY_WINDOW) as stack:
        stack.fake.control("fail", {"path": "/v1/me/player/currently-playing", "status": 502})
        response = requests.get(f"{stack.url}/v1/current", timeout=30)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unavailable"


def test_dynamodb_stopping_mid_run_does_not_stop_the_answers(single):
    single.moto.stop()
    for _ in range(3):
        time.sleep(WINDOW + 0.2)
        doc = current(single)
        assert (doc["status"], doc["stale"]) == ("playing", False)
    assert "snapshot store unavailable" in single.logs()
