"""A crowd through a real caching proxy: Debian's nginx with `proxy_cache` in front of the
built function, keyed as the stack's CloudFront behaviours are and driven only by the
answers' own headers (`scripts/devstack/edge.py`). What it proves of the answers holds for
any shared cache that obeys them; what it cannot prove of CloudFront is in the README."""

import http.client
import json
import random
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
from devstack.local import EVERY_WINDOW, LocalStack
from load import CROWD_URLS, crowd

# The shared answers' max-age here, and so the lifetime of a copy at the edge.
LIFETIME = 5
CROWD_SECONDS = 15


def edge_stack(**kwargs) -> LocalStack:
    env = {"CACHE_SECONDS": str(LIFETIME), "SEARCHES_PER_VISITOR_PER_MINUTE": "2", **EVERY_WINDOW}
    return LocalStack(edge=True, suggestions="review", extra_env=env | {"SUGGESTIONS_PROOF_OF_WORK": "off"}, **kwargs)


@pytest.fixture(scope="module")
def edge():
    with edge_stack() as running:
        yield running


def get(base: str, path: str, source: str = "127.0.0.1", headers: dict | None = None):
    """One GET from `source` (a loopback address, the viewer's): status, headers, body."""
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.msg, body


def origin_count(stack: LocalStack, key: str) -> int:
    return stack.runtime.requests[key]


def test_a_crowd_is_served_from_the_edge_and_the_function_answers_about_once_a_lifetime(edge):
    # Each URL once, so that the crowd starts on a warm edge as a real one would.
    for path in CROWD_URLS:
        assert get(edge.edge_url, path.format(random=1))[0] in (200, 302), path
    before = Counter(edge.runtime.requests)
    figures = crowd(edge.edge_url, CROWD_URLS, clients=32, seconds=CROWD_SECONDS)
    served = Counter(edge.runtime.requests) - before
    print(f"\ncrowd: {figures['requests']} requests, {figures['per_second']:.0f}/s; origin: {dict(served)}")
    assert figures["errors"] == {}, figures
    assert set(figures["statuses"]) <= {200, 302}, figures["statuses"]
    assert figures["per_second"] >= 300, figures
    # At most one origin request per URL per lifetime of a copy, plus a few.
    bound = CROWD_SECONDS / LIFETIME + 2
    for key, count in served.items():
        assert count <= bound, f"{key}: the function answered {count} times in {CROWD_SECONDS} s (bound {bound})"
    assert sum(served.values()) < figures["requests"] / 100, "the edge served at least 99 %"


def test_a_random_query_string_does_not_reach_the_function(edge):
    get(edge.edge_url, "/v1/current")
    before = origin_count(edge, "/v1/current")
    for _ in range(40):
        status, headers, _ = get(edge.edge_url, f"/v1/current?x={random.random()}&utm_source=hn")
        assert status == 200
    assert origin_count(edge, "/v1/current") - before <= 1, "at most one refresh in the second this takes"
    assert not any("x=" in key or "utm_source" in key for key in edge.runtime.requests), edge.runtime.requests


def test_a_declared_parameter_keys_its_own_copy(edge):
    light = get(edge.edge_url, "/v1/current.svg")
    dark = get(edge.edge_url, "/v1/current.svg?theme=dark")
    assert light[0] == dark[0] == 200
    assert light[1]["ETag"] != dark[1]["ETag"], "each theme its own copy"
    assert origin_count(edge, "/v1/current.svg?theme=dark") >= 1


def test_a_visitors_429_and_errors_are_never_served_to_anyone_else(edge):
    # Visitor A uses up their searches (two a minute here), then is refused.
    statuses = [get(edge.edge_url, "/v1/search?q=never", source="127.0.0.2")[0] for _ in range(3)]
    assert statuses == [200, 200, 429], statuses
    status, headers, _ = get(edge.edge_url, "/v1/search?q=never", source="127.0.0.2")
    assert status == 429 and headers["Cache-Control"] == "private, no-store"
    # Visitor B asks the same URL through the same edge: their own answer, not A's 429.
    assert get(edge.edge_url, "/v1/search?q=never", source="127.0.0.3")[0] == 200
    # A bad request on a cached route is not kept either: each one reaches the function.
    before = origin_count(edge, "/v1/art?size=huge")
    for _ in range(3):
        status, headers, _ = get(edge.edge_url, "/v1/art?size=huge")
        assert status == 400 and headers["Cache-Control"] == "private, no-store"
    assert origin_count(edge, "/v1/art?size=huge") - before == 3


def test_a_suggestion_is_written_through_the_edge_and_keyed_on_the_viewer(edge):
    url = urllib.parse.urlparse(edge.edge_url)
    track = "4uLU6hMCjMI75M1A2tKUQC"  # in the stand-in's catalogue
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=("127.0.0.4", 0))
    body = json.dumps({"track": track, "name": "Ada"})
    conn.request("POST", "/v1/suggestions", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    doc = json.loads(r.read())
    assert r.status == 202, doc
    assert r.getheader("Cache-Control") == "private, no-store"
    # Searches from another viewer are counted apart from visitor A's (see above): the
    # function keys on the address the edge vouches for, not the edge's own.
    assert get(edge.edge_url, "/v1/search?q=abba", source="127.0.0.5")[0] == 200


def test_the_edge_secret_never_reaches_a_visitor(edge):
    for path in ["/", "/v1/current", "/v1/widget.js", "/v1/health", "/v1/nope"]:
        status, headers, body = get(edge.edge_url, path)
        assert edge.edge_secret not in body.decode() and edge.edge_secret not in str(headers), path
    assert edge.edge_secret not in edge.logs()


def test_with_the_function_stopped_visitors_keep_getting_answers_for_a_minute():
    with edge_stack() as stack:
        paths = ["/v1/current", "/v1/current.svg", "/v1/open", "/"]
        for path in paths:
            assert get(stack.edge_url, path)[0] in (200, 302), path
        stack.runtime.stop_functions()
        assert get(stack.url, "/live/v1/current")[0] == 502, "the origin fails"
        seen: Counter = Counter()
        stopped = time.monotonic()
        while time.monotonic() - stopped < 62:
            for path in paths:
                status, headers, _ = get(stack.edge_url, path)
                seen[(path, status, headers["X-Cache"])] += 1
                assert status in (200, 302), f"{path} after {time.monotonic() - stopped:.0f} s: {status}"
            time.sleep(0.5)
        print(f"\nthrough the outage: {dict(seen)}")
        assert any(cache == "STALE" for (_, _, cache) in seen), "served from stale copies"


def test_make_smoke_passes_through_the_edge_as_through_the_distribution(edge):
    """`make smoke` against `make dev EDGE=1`: its POST reaches the function's JSON 405, as it
    does through the distribution now that every method passes the cached behaviours."""
    smoke = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "smoke.py"), edge.edge_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
