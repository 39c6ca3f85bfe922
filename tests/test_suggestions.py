"""Visitors' suggestions through the built function, over moto and the Spotify stand-in:
search, the proof of work, every error code, the limits, nothing lost and nothing doubled,
and the owner's `now-playing-suggestions` command."""

import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from devstack.local import PARAMETER, SUGGESTIONS_PLAYLIST, TABLE, LocalStack

ROOT = Path(__file__).resolve().parent.parent
TRACK = "4uLU6hMCjMI75M1A2tKUQC"  # in the stand-in's catalogue
OTHER_TRACKS = [
    "sG3KbcHKDquMGLEQLcNddF",
    "uz1vjrVi316RbiSoMDT7Jh",
    "0YHWu8pHqbb3b7onP8hIeJ",
    "fJSEZmuT6Sz5lTYOdR4UNP",
    "uSPqUY5XTdhK5R0OgMhxLp",
    "xbWh8GAehmOnJt1yQUSFJ8",
]
UNKNOWN_TRACK = "0000000000000000000000"
# moto's default account; the topic is made by the digest test, before the first digest.
DIGEST_TOPIC = "arn:aws:sns:us-east-1:123456789012:now-playing-digest"


def call(stack, method, path, body=None, headers=None, source="127.0.0.1"):
    """One request from `source` (a loopback address): API Gateway's sourceIp."""
    host, port = urllib.parse.urlparse(stack.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=sent | (headers or {}))
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith("application/json") else None
    return r.status, doc, r.msg


def solve(challenge):
    """What the widget's worker does: try numbers until SHA-256(salt + n) is the challenge."""
    for n in range(challenge["maxnumber"] + 1):
        if hashlib.sha256(f"{challenge['salt']}{n}".encode()).hexdigest() == challenge["challenge"]:
            payload = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")} | {"number": n}
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise AssertionError("unsolvable challenge")


def proof(stack, source="127.0.0.1"):
    status, challenge, headers = call(stack, "GET", "/v1/suggestions/challenge", source=source)
    assert status == 200, challenge
    assert headers.get("Cache-Control") == "private, no-store"
    return solve(challenge)


def suggest(stack, track, source="127.0.0.1", **fields):
    body = {"track": track, "altcha": proof(stack, source)} | fields
    return call(stack, "POST", "/v1/suggestions", body, source=source)


def stored(stack):
    items = stack.moto.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {i["pk"]["S"]: i for i in items}


def code(doc):
    return doc["error"]["code"]


@pytest.fixture(scope="module")
def auto():
    with LocalStack(
        processes=2, suggestions="auto", log_level="trace", extra_env={"SUGGESTIONS_PER_VISITOR_PER_HOUR": "3"}
    ) as running:
        yield running


def test_a_search_answers_tracks_in_the_current_item_shape_and_costs_spotify_once(auto):
    before = auto.fake.calls()["search"]
    status, doc, headers = call(auto, "GET", "/v1/search?q=%20Never%20Gonna%20", source="127.0.1.1")
    assert status == 200, doc
    tracks = doc["tracks"]
    assert [t["id"] for t in tracks] == [TRACK]
    assert tracks[0]["name"] == "Never Gonna Give You Up"
    assert tracks[0]["url"] == f"https://open.spotify.com/track/{TRACK}"
    assert tracks[0]["artists"][0]["name"] and tracks[0]["images"]
    # The same words, spaced and cased otherwise, from another visitor: the shared cache.
    assert call(auto, "GET", "/v1/search?q=never%20%20GONNA", source="127.0.1.2")[0] == 200
    assert auto.fake.calls()["search"] == before + 1
    # Spotify's development-mode limit holds: never more than 10 asked for.
    assert call(auto, "GET", "/v1/search?q=together", source="127.0.1.1")[1]["tracks"][0]["name"] == "Together Forever"


@pytest.mark.parametrize("query", ["", "q=", "q=%20%20", "q=" + "a" * 101])
def test_a_missing_empty_or_long_query_is_a_bad_request(auto, query):
    status, doc, _ = call(auto, "GET", f"/v1/search?{query}", source="127.0.1.3")
    assert (status, code(doc)) == (400, "bad_request")


def test_a_suggestion_is_added_in_auto_mode_and_cannot_be_repeated(auto):
    status, doc, headers = suggest(
        auto,
        f"https://open.spotify.com/track/{OTHER_TRACKS[0]}?si=x",
        "127.0.2.1",
        name="Ada",
        message="for the drive home",
    )
    assert status == 202, doc
    assert doc["suggestion"]["id"] == OTHER_TRACKS[0]
    assert doc["suggestion"]["status"] == "added"
    assert doc["suggestion"]["track"]["name"] == "Together Forever"
    assert headers.get("Cache-Control") == "private, no-store"
    assert auto.fake.playlists()[SUGGESTIONS_PLAYLIST]["uris"] == [f"spotify:track:{OTHER_TRACKS[0]}"]
    record = json.loads(stored(auto)[f"suggestion#{OTHER_TRACKS[0]}"]["suggestion_json"]["S"])
    assert (record["name"], record["message"], record["status"]) == ("Ada", "for the drive home", "added")
    # Only the id and the visitor's words are kept, not Spotify's metadata.
    assert "Together Forever" not in json.dumps(record)
    status, doc, _ = suggest(auto, f"spotify:track:{OTHER_TRACKS[0]}", "127.0.2.2")
    assert (status, code(doc)) == (409, "already_suggested")


def test_a_used_proof_is_refused(auto):
    altcha = proof(auto, "127.0.3.1")
    first = call(auto, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[1], "altcha": altcha}, source="127.0.3.1")
    assert first[0] == 202, first
    again = call(auto, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[2], "altcha": altcha}, source="127.0.3.2")
    assert (again[0], code(again[1])) == (400, "proof_required")
    assert "already used" in again[1]["error"]["message"]


def test_a_missing_forged_or_expired_proof_is_refused(auto):
    status, doc, _ = call(auto, "POST", "/v1/suggestions", {"track": TRACK}, source="127.0.3.3")
    assert (status, code(doc)) == (400, "proof_required")
    challenge = call(auto, "GET", "/v1/suggestions/challenge", source="127.0.3.3")[1]
    forged = json.loads(base64.b64decode(solve(challenge)))
    forged["signature"] = "00" * 32
    status, doc, _ = call(
        auto,
        "POST",
        "/v1/suggestions",
        {"track": TRACK, "altcha": base64.b64encode(json.dumps(forged).encode()).decode()},
        source="127.0.3.3",
    )
    assert (status, code(doc)) == (400, "proof_required")
    # An expiry moved into the past (or the future) no longer matches the challenge.
    moved = json.loads(base64.b64decode(solve(challenge)))
    moved["salt"] = moved["salt"].split("?")[0] + "?expires=1&"
    status, doc, _ = call(
        auto,
        "POST",
        "/v1/suggestions",
        {"track": TRACK, "altcha": base64.b64encode(json.dumps(moved).encode()).decode()},
        source="127.0.3.3",
    )
    assert (status, code(doc)) == (400, "proof_required")


@pytest.mark.parametrize(
    "body, headers, expected",
    [
        (b"track=x", {"Content-Type": "application/x-www-form-urlencoded"}, (415, "unsupported_media_type")),
        (json.dumps({"track": TRACK, "message": "x" * 3000}).encode(), {}, (413, "payload_too_large")),
        (b"{not json", {}, (400, "bad_request")),
        (json.dumps({"track": 42}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": TRACK, "colour": "red"}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": "spotify:album:" + TRACK}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": TRACK, "name": "n" * 41}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": TRACK, "message": "m" * 141}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": TRACK, "name": "bell\u0007"}).encode(), {}, (400, "bad_request")),
        (json.dumps({"track": TRACK, "website": "http://spam.example"}).encode(), {}, (400, "bad_request")),
    ],
)
def test_each_malformed_suggestion_gets_its_code_and_nothing_is_stored(auto, body, headers, expected):
    status, doc, _ = call(auto, "POST", "/v1/suggestions", body, headers=headers, source="127.0.4.1")
    assert (status, code(doc)) == expected, doc
    assert f"suggestion#{TRACK}" not in stored(auto)


def test_an_unknown_track_is_not_found(auto):
    status, doc, _ = suggest(auto, UNKNOWN_TRACK, "127.0.5.1")
    assert (status, code(doc)) == (404, "track_not_found")
    assert f"suggestion#{UNKNOWN_TRACK}" not in stored(auto)


def test_the_fourth_suggestion_of_a_visitor_in_an_hour_waits(auto):
    visitor = "127.0.6.1"
    assert suggest(auto, TRACK, visitor)[0] == 202
    assert suggest(auto, OTHER_TRACKS[4], visitor)[0] == 202
    # Refusals are counted apart: they do not use up the visitor's three.
    for _ in range(3):
        assert suggest(auto, UNKNOWN_TRACK, visitor)[0] == 404
    assert suggest(auto, OTHER_TRACKS[5], visitor)[0] == 202
    status, doc, headers = suggest(auto, UNKNOWN_TRACK, visitor)
    assert (status, code(doc)) == (429, "rate_limited"), doc
    assert 1 <= int(headers["Retry-After"]) <= 3600
    assert "try again in" in doc["error"]["message"]
    # Another visitor is not held back.
    assert suggest(auto, UNKNOWN_TRACK, "127.0.6.2")[0] == 404


def test_no_address_is_stored_only_its_keyed_hash(auto):
    dump = json.dumps(stored(auto))
    for visitor in ["127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.6.1", "127.0.7.1"]:
        assert visitor not in dump
    assert any(k.startswith("count#visitor#") for k in stored(auto))


def test_preflight_allows_post_and_get_is_not_allowed(auto):
    status, _, headers = call(auto, "OPTIONS", "/v1/suggestions", headers={"Origin": "https://example.com"})
    assert status == 204
    assert headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]
    status, doc, headers = call(auto, "GET", "/v1/suggestions")
    assert (status, code(doc), headers["Allow"]) == (405, "method_not_allowed", "POST, OPTIONS")


def test_a_failed_addition_stays_pending_with_its_reason_and_is_retried(auto):
    auto.fake.control("fail", {"path": f"/v1/playlists/{SUGGESTIONS_PLAYLIST}/items", "status": 503})
    status, doc, _ = suggest(auto, OTHER_TRACKS[2], "127.0.7.1")
    assert status == 202, doc
    assert doc["suggestion"]["status"] == "pending"
    record = json.loads(stored(auto)[f"suggestion#{OTHER_TRACKS[2]}"]["suggestion_json"]["S"])
    assert record["status"] == "pending" and "503" in record["reason"]
    assert OTHER_TRACKS[2] in stored(auto)["suggestions#retry"]["tracks"]["SS"]
    # The next accepted suggestion retries it.
    assert suggest(auto, OTHER_TRACKS[3], "127.0.7.2")[0] == 202
    uris = auto.fake.playlists()[SUGGESTIONS_PLAYLIST]["uris"]
    assert f"spotify:track:{OTHER_TRACKS[2]}" in uris
    record = json.loads(stored(auto)[f"suggestion#{OTHER_TRACKS[2]}"]["suggestion_json"]["S"])
    assert (record["status"], record["reason"]) == ("added", None)


def test_no_secret_reaches_the_log(auto):
    logs = auto.logs()
    assert auto.credentials["client_secret"] not in logs
    for token in auto.fake.state.ever_issued:
        assert token not in logs
    assert "127.0.2.1" not in logs


def test_suggestions_are_closed_by_default(stack):
    status, doc, _ = call(stack, "GET", "/v1/search?q=never")
    assert (status, code(doc)) == (403, "suggestions_closed")
    status, doc, _ = call(stack, "POST", "/v1/suggestions", {"track": TRACK})
    assert (status, code(doc)) == (403, "suggestions_closed")


def test_without_the_playlist_scopes_the_owner_is_told_to_run_bootstrap():
    with LocalStack(processes=1, extra_env={"SUGGESTIONS": "review"}) as running:
        status, doc, _ = suggest(running, TRACK)
        assert (status, code(doc)) == (503, "suggestions_not_authorized")
        assert 'make bootstrap ARGS="--suggestions"' in doc["error"]["message"]


@pytest.fixture(scope="module")
def crowd():
    env = {
        "SUGGESTIONS_PROOF_OF_WORK": "off",
        "SUGGESTIONS_PER_VISITOR_PER_HOUR": "1000",
        "SUGGESTIONS_PER_DAY": "1000",
        "SEARCHES_PER_VISITOR_PER_MINUTE": "1000",
        "DIGEST_TOPIC_ARN": DIGEST_TOPIC,
    }
    with LocalStack(processes=4, suggestions="review", extra_env=env) as running:
        yield running


def test_a_hundred_identical_suggestions_at_once_store_exactly_one(crowd):
    def one(i):
        return call(crowd, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[0]}, source=f"127.1.0.{i + 1}")

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(100)))
    statuses = sorted(a[0] for a in answers)
    # The others are told it is already there, or (when the look-up budget or a slow local
    # store ran out) to try again: then nothing of theirs was stored either.
    assert statuses.count(202) == 1 and set(statuses) <= {202, 409, 429, 503}, statuses
    assert statuses.count(409) >= 50, statuses
    accepted = next(a for a in answers if a[0] == 202)
    assert accepted[1]["suggestion"]["status"] == "pending"
    assert [k for k in stored(crowd) if k.startswith("suggestion#")] == [f"suggestion#{OTHER_TRACKS[0]}"]
    # Review mode: nothing reaches the playlist before the owner decides.
    assert crowd.fake.playlists()[SUGGESTIONS_PLAYLIST]["uris"] == []


def owner_command(stack, *args):
    env = dict(
        os.environ,
        **stack.aws_credentials,
        AWS_ENDPOINT_URL=stack.moto.url,
        AWS_REGION="us-east-1",
        SPOTIFY_API_URL=stack.fake.url,
        SPOTIFY_ACCOUNTS_URL=stack.fake.url,
    )
    binary = ROOT / "target" / "debug" / "now-playing-suggestions"
    return subprocess.run(
        [str(binary), "--table", TABLE, "--parameter", PARAMETER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_owner_lists_approves_and_rejects(crowd):
    assert (
        call(crowd, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[1], "name": "\u001b[31mred"}, source="127.3.0.1")[
            0
        ]
        == 400
    )
    assert (
        call(crowd, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[1], "name": "Grace <b>"}, source="127.3.0.1")[0]
        == 202
    )
    assert (
        call(
            crowd, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[1], "name": "Ada\u202egpj.exe"}, source="127.3.0.1"
        )[0]
        == 400
    )
    # A record stored before such words were refused is shown escaped to the owner.
    odd = {
        "track": OTHER_TRACKS[4],
        "name": "Ada\u202egpj.exe",
        "message": "hi\u200b\U000e0041",
        "status": "rejected",
        "created_at": "2026-12-01T10:00:00Z",
        "reason": None,
    }
    crowd.moto.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"suggestion#{OTHER_TRACKS[4]}"},
            "suggestion_json": {"S": json.dumps(odd)},
            "status": {"S": "rejected"},
            "ttl": {"N": str(int(time.time()) + 86400)},
        },
    )
    listed = owner_command(crowd, "list")
    assert listed.returncode == 0, listed.stderr
    assert "from: Ada\\u{202e}gpj.exe" in listed.stdout and "message: hi\\u{200b}\\u{e0041}" in listed.stdout
    assert "\u202e" not in listed.stdout and "\u200b" not in listed.stdout
    assert OTHER_TRACKS[0] in listed.stdout and OTHER_TRACKS[1] in listed.stdout
    assert "Grace <b>" in listed.stdout and "pending" in listed.stdout
    approved = owner_command(crowd, "approve", OTHER_TRACKS[0])
    assert approved.returncode == 0, approved.stderr
    assert crowd.fake.playlists()[SUGGESTIONS_PLAYLIST]["uris"] == [f"spotify:track:{OTHER_TRACKS[0]}"]
    rejected = owner_command(crowd, "reject", OTHER_TRACKS[1])
    assert rejected.returncode == 0, rejected.stderr
    assert "rejected" in owner_command(crowd, "list").stdout
    assert crowd.fake.playlists()[SUGGESTIONS_PLAYLIST]["uris"] == [f"spotify:track:{OTHER_TRACKS[0]}"]
    # A rejected track may be suggested again.
    assert call(crowd, "POST", "/v1/suggestions", {"track": OTHER_TRACKS[1]}, source="127.3.0.2")[0] == 202
    unknown = owner_command(crowd, "approve", UNKNOWN_TRACK)
    assert unknown.returncode == 1 and "no suggestion for track" in unknown.stderr
    bad = owner_command(crowd, "approve", "nonsense")
    assert bad.returncode == 1 and "is not a Spotify track id" in bad.stderr
    for output in (listed, approved, rejected, unknown, bad):
        assert crowd.credentials["client_secret"] not in output.stdout + output.stderr


def test_the_daily_digest_counts_what_waits_and_goes_out_once_a_day(crowd):
    sns, sqs = crowd.moto.client("sns"), crowd.moto.client("sqs")
    assert sns.create_topic(Name="now-playing-digest")["TopicArn"] == DIGEST_TOPIC
    inbox = sqs.create_queue(QueueName="owner-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=DIGEST_TOPIC, Protocol="sqs", Endpoint=inbox_arn)
    assert (
        call(
            crowd,
            "POST",
            "/v1/suggestions",
            {"track": OTHER_TRACKS[2], "name": "Margaret", "message": "secret words"},
            source="127.4.0.1",
        )[0]
        == 202
    )
    records = [json.loads(i["suggestion_json"]["S"]) for k, i in stored(crowd).items() if k.startswith("suggestion#")]
    waiting = sum(1 for r in records if r["status"] == "pending")
    assert waiting >= 2 and any(r["status"] != "pending" for r in records), records

    # Over HTTP there is no such thing, whatever the method, stage or trailing slash.
    for method, path in (
        ("POST", "/internal/daily-digest"),
        ("GET", "/internal/daily-digest"),
        ("POST", "/live/internal/daily-digest"),
        ("POST", "/internal/daily-digest/"),
    ):
        assert call(crowd, method, path)[0] == 404, (method, path)
    digest = json.loads((ROOT / "lambda/tests/data/events/scheduled_digest.json").read_text())
    assert crowd.runtime.invoke(digest) == ("response", {"pending": waiting, "notified": True})
    assert crowd.runtime.invoke(digest) == ("response", {"pending": waiting, "notified": False}), (
        "one message a day, however often asked"
    )

    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1, messages
    note = json.loads(messages[0]["Body"])
    assert note["Subject"] == f"now-playing: {waiting} suggested songs are waiting"
    assert note["Message"].startswith(f"{waiting} songs suggested by visitors are waiting for your decision")
    assert 'make suggestions ARGS="approve --all"' in note["Message"]
    for words in ("Margaret", "secret words", "Grace", crowd.credentials["client_secret"]):
        assert words not in note["Message"], "counts and commands only, never a visitor's words or a secret"


def test_a_flood_of_searches_stays_within_the_budget_and_current_stays_fresh(crowd):
    before = crowd.fake.calls()["search"]
    started = time.monotonic()

    def one(i):
        return call(crowd, "GET", f"/v1/search?q=never+{i}", source=f"127.2.{i // 200}.{i % 200 + 1}")[0]

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(one, range(500)))
    elapsed = time.monotonic() - started
    windows = int(elapsed // 30) + 2
    spent = crowd.fake.calls()["search"] - before
    assert spent <= 20 * windows, (spent, elapsed)
    assert statuses.count(429) >= 500 - 20 * windows
    assert set(statuses) <= {200, 429}
    time.sleep(1.1)
    status, doc, _ = call(crowd, "GET", "/v1/current")
    assert status == 200 and doc["status"] == "playing" and not doc["stale"], doc
