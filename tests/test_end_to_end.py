"""The real function, run the way `make dev` runs it, checked over HTTP."""

import json
import re
import time
from calendar import monthrange
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import WINDOW
from devstack.local import EVERY_WINDOW, LocalStack

ROOT = Path(__file__).resolve().parent.parent
RESPONSES = []  # every body the function sent, for the secret check at the end


def get(stack, path="/v1/current", **kwargs):
    response = requests.get(stack.url + path, timeout=30, **kwargs)
    RESPONSES.append(response.text + json.dumps(dict(response.headers)))
    return response


def after_the_window():
    """Lets the cached answer age out, so the next request reads Spotify again."""
    time.sleep(WINDOW + 0.05)


def current_with(stack, scene):
    stack.fake.control("scene", {"scene": scene})
    after_the_window()
    response = get(stack)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def test_a_playing_track_is_the_public_document(stack):
    doc = current_with(stack, "track")
    assert set(doc) == {
        "status",
        "is_playing",
        "item",
        "progress_ms",
        "played_at",
        "fetched_at",
        "stale",
        "stale_reason",
    }
    assert doc["stale_reason"] is None
    assert doc["status"] == "playing" and doc["is_playing"] is True and doc["stale"] is False
    assert doc["played_at"] is None
    assert isinstance(doc["progress_ms"], int)
    item = doc["item"]
    assert set(item) == {
        "type",
        "id",
        "name",
        "url",
        "artists",
        "album",
        "images",
        "duration_ms",
        "explicit",
        "is_local",
        "palette",
    }
    assert item["name"] == "Never Gonna Give You Up"
    assert item["artists"] == [{"name": "Rick Astley", "url": "https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt"}]
    assert [i["width"] for i in item["images"]] == [640, 300, 64]
    assert doc["fetched_at"].endswith("Z")


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour):
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_palette_comes_from_the_art_and_is_readable(stack):
    palette = current_with(stack, "track")["item"]["palette"]
    assert set(palette) == {"background", "foreground", "accent"}
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in palette.values()), palette
    assert contrast(palette["foreground"], palette["background"]) >= 4.5, palette
    assert contrast(palette["accent"], palette["background"]) >= 3, palette
    assert stack.fake.calls()["image"] >= 1, "fetched from the stand-in's CDN"


def test_a_paused_track_is_paused(stack):
    doc = current_with(stack, "paused")
    assert (doc["status"], doc["is_playing"]) == ("paused", False)


def test_an_episode_shows_its_show(stack):
    doc = current_with(stack, "episode")
    assert doc["item"]["type"] == "episode"
    assert doc["item"]["artists"][0]["name"] == doc["item"]["album"]["name"] == "The Changelog"


def test_a_local_file_has_no_links(stack):
    item = current_with(stack, "local")["item"]
    assert item["is_local"] is True
    assert (item["id"], item["url"], item["images"], item["palette"]) == (None, None, [], None)


@pytest.mark.parametrize("scene", ["nothing", "ad"])
def test_nothing_playing_answers_what_was_last_seen_playing(stack, scene):
    seen = current_with(stack, "episode")
    doc = current_with(stack, scene)
    assert doc["status"] == "last_played"
    assert doc["progress_ms"] is None
    assert doc["item"] == seen["item"], "newer than the stand-in's 12-minute-old history entry"
    assert doc["played_at"] == seen["fetched_at"]


@pytest.fixture
def fresh_stack():
    """A stack that has never seen anything playing."""
    with LocalStack(extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}) as running:
        yield running


def test_with_nothing_seen_the_last_play_comes_from_spotify_history(fresh_stack):
    fresh_stack.fake.control("scene", {"scene": "nothing"})
    doc = get(fresh_stack).json()
    assert doc["status"] == "last_played"
    assert doc["item"]["name"] == "Never Gonna Give You Up"
    played = datetime.fromisoformat(doc["played_at"].replace("Z", "+00:00"))
    assert 600 < (datetime.now(UTC) - played).total_seconds() < 900


def test_nothing_seen_and_no_history_is_offline(fresh_stack):
    fresh_stack.fake.control("scene", {"scene": "offline"})
    doc = get(fresh_stack).json()
    assert (doc["status"], doc["item"], doc["played_at"]) == ("offline", None, None)


def test_an_unchanged_answer_revalidates_to_304(stack):
    stack.fake.control("scene", {"scene": "paused"})
    first = get(stack)
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    second = get(stack, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 304


def test_every_large_answer_arrives_whole(stack):
    # The widget's scripts are the largest answers. `cargo lambda watch` 1.9.2 turns a few in
    # every thousand of them into its own 500 (3 to 5 in each of three runs of this test), a
    # page then has no widget, so the local stack does not use it. Four at a time, as a
    # browser loads a page.
    paths = ["/v1/widget.js", "/v1/widget-suggest.js"] * 500
    whole = {path: requests.get(stack.url + path, timeout=30).content for path in set(paths)}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda path: (path, requests.get(stack.url + path, timeout=30)), paths))
    assert Counter(r.status_code for _, r in answers) == {200: len(paths)}
    assert all(r.content == whole[path] for path, r in answers)


def test_health_counts_the_days_left_without_calling_spotify(stack):
    before = stack.fake.calls()
    response = get(stack, "/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["configured"] is True
    authorized = datetime.fromisoformat(stack.credentials["authorized_at"])
    assert body["authorized_at"] == stack.credentials["authorized_at"]
    year, month = authorized.year + (authorized.month + 5) // 12, (authorized.month + 5) % 12 + 1
    expires = authorized.replace(year=year, month=month, day=min(authorized.day, monthrange(year, month)[1]))
    assert body["authorization_expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["days_remaining"] == (expires - datetime.now(UTC)).days
    assert stack.fake.calls() == before

    # The stack's hourly health-check job, not a visitor's request, publishes the days left.
    def metrics():
        return [json.loads(line) for line in stack.logs().splitlines() if '"AuthorizationDaysRemaining"' in line]

    assert metrics() == [], "a visitor's /v1/health publishes no metric"
    job = json.loads((ROOT / "lambda/tests/data/events/scheduled_health.json").read_text())
    kind, doc = stack.runtime.invoke(job)
    assert kind == "response" and doc["days_remaining"] == body["days_remaining"], doc
    assert stack.fake.calls() == before
    assert metrics(), "the health-check job publishes the days left as an EMF line"
    assert metrics()[-1]["AuthorizationDaysRemaining"] == body["days_remaining"]
    assert metrics()[-1]["CredentialsParameter"] == "/now-playing/spotify"


def test_errors_are_json_with_a_stable_code_and_cors(stack):
    missing = get(stack, "/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    wrong = requests.delete(stack.url + "/v1/current", timeout=30)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_a_spotify_outage_serves_the_last_answer_as_stale(stack):
    good = current_with(stack, "track")
    stack.fake.control("fail", {"path": "/v1/me/player/currently-playing", "status": 503})
    after_the_window()
    stale = get(stack).json()
    assert stale["stale"] is True and stale["stale_reason"] == "unavailable"
    assert stale["item"] == good["item"]


def test_a_rotated_refresh_token_is_persisted_to_the_parameter(stack):
    stack.fake.control("scene", {"scene": "track"})
    stack.fake.control("rotate")
    stack.fake.control("expire-access-tokens")  # the next Web API call gets a 401
    before = stack.fake.calls()["token"]
    after_the_window()
    assert get(stack).json()["stale"] is False
    assert stack.fake.calls()["token"] == before + 1
    stored = stack.moto.read_credentials("/now-playing/spotify")
    assert stored["refresh_token"] == stack.fake.state.refresh_token
    assert stored["refresh_token"].startswith("fake-refresh-rotated-")
    assert {k: stored[k] for k in ("client_id", "client_secret", "authorized_at")} == {
        k: stack.credentials[k] for k in ("client_id", "client_secret", "authorized_at")
    }


def test_a_revoked_refresh_token_asks_the_owner_to_run_bootstrap(stack):
    kept = stack.fake.state.refresh_token
    stack.fake.control("revoke")
    stack.fake.control("expire-access-tokens")
    after_the_window()
    try:
        response = get(stack)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "reauthorization_required"
        assert "make bootstrap" in error["message"]
    finally:
        stack.fake.state.refresh_token = kept


def test_no_secret_appears_in_any_response_or_the_trace_log(stack):
    """Runs last: by now the function has refreshed, rotated, failed and logged at debug."""
    secrets = [stack.credentials["client_secret"], stack.credentials["refresh_token"], *stack.fake.state.ever_issued]
    access_tokens = [s for s in secrets if s.startswith("fake-access-")]
    assert len(access_tokens) >= 2, "the run must have issued (and expired) access tokens to look for"
    logs = stack.logs()
    assert "TRACE" in logs, "the function must have logged at trace level for this check to mean anything"
    for secret in secrets:
        assert secret not in logs, "a secret appears in the function's log"
        for body in RESPONSES:
            assert secret not in body, "a secret appears in a response"


def test_comma_separated_settings_reach_the_function_whole():
    """`make dev` passes ALLOWED_ORIGINS and ART_HOSTS, both comma-separated lists."""
    origins = "https://a.example,https://b.example"
    with LocalStack(extra_env={"ALLOWED_ORIGINS": origins, **EVERY_WINDOW}) as local:
        for origin in ("https://a.example", "https://b.example"):
            response = requests.get(f"{local.url}/v1/health", headers={"Origin": origin}, timeout=30)
            assert response.headers.get("Access-Control-Allow-Origin") == origin
        other = requests.get(f"{local.url}/v1/health", headers={"Origin": "https://c.example"}, timeout=30)
        assert "Access-Control-Allow-Origin" not in other.headers
        page = requests.get(f"{local.url}/", headers={"X-Forwarded-Host": "evil.example"}, timeout=30).text
        assert "evil.example" not in page
