"""A bounded load run against a running now-playing endpoint, e.g. the one `make dev` prints.

    .venv/bin/python tests/load.py http://127.0.0.1:9000 --clients 50 --seconds 10 \\
        --spotify http://127.0.0.1:PORT   # the stand-in's URL, to count upstream calls

Prints requests served, answers by status, latency percentiles, and with --spotify the
calls Spotify received and the token refreshes. Only loopback targets are accepted.
"""

import argparse
import http.client
import random
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter

import requests

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def spotify_calls(url):
    return requests.get(f"{url}/_fake/calls", timeout=5).json() if url else None


def run(base, clients, seconds, spotify=None, max_requests=None):
    """N clients, each requesting /v1/current back to back until `seconds` pass or the
    total reaches `max_requests`. Returns the figures as a dict."""
    host = urllib.parse.urlparse(base).hostname
    if host not in LOOPBACK and f"[{host}]" not in LOOPBACK:
        raise SystemExit(f"load.py only targets loopback addresses, not {host}")
    statuses, latencies, stale, errors = Counter(), [], Counter(), Counter()
    lock = threading.Lock()
    sent = [0]
    before = spotify_calls(spotify)
    deadline = time.monotonic() + seconds
    start_together = threading.Barrier(clients)

    def client():
        session = requests.Session()
        start_together.wait()
        while time.monotonic() < deadline:
            with lock:
                if max_requests is not None and sent[0] >= max_requests:
                    return
                sent[0] += 1
            began = time.perf_counter()
            try:
                response = session.get(f"{base}/v1/current", timeout=30)
                took = time.perf_counter() - began
                with lock:
                    statuses[response.status_code] += 1
                    latencies.append(took)
                    if response.status_code == 200:
                        stale[response.json().get("stale")] += 1
            except requests.RequestException as e:
                with lock:
                    errors[type(e).__name__] += 1

    elapsed = run_together(client, [() for _ in range(clients)])
    after = spotify_calls(spotify)
    latencies.sort()

    figures = {
        "requests": sum(statuses.values()),
        "seconds": elapsed,
        "per_second": sum(statuses.values()) / elapsed if elapsed else 0,
        "statuses": dict(statuses),
        "stale": stale.get(True, 0),
        "errors": dict(errors),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
    }
    if before is not None:
        figures["spotify_player_calls"] = after["currently_playing"] - before["currently_playing"]
        figures["spotify_history_calls"] = after["recently_played"] - before["recently_played"]
        figures["token_refreshes"] = after["token"] - before["token"]
    return figures


# What a crowd asks for when a page is on a front page: the widget's poll (some with a
# cache-dodging query), the card in both themes as README images are, the redirects, the
# script and the preview page. `{random}` becomes a new random number each time.
CROWD_URLS = [
    "/v1/current",
    "/v1/current?x={random}",
    "/v1/current.svg",
    "/v1/current.svg?theme=dark",
    "/v1/open",
    "/v1/art?size=300",
    "/v1/widget.js",
    "/",
]


def run_together(target, args: list[tuple]) -> float:
    """Runs `target(*a)` for each `a` in threads, all at once; the seconds they took."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - began


def percentile_ms(sorted_seconds: list[float], q: float) -> float:
    if not sorted_seconds:
        return float("nan")
    return sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))] * 1000


def crowd(base, paths, clients=32, seconds=15.0):
    """A crowd of `clients` visitors, each asking for the `paths` in turn over one
    keep-alive connection until `seconds` pass; `{random}` in a path becomes a new random
    number each time (a cache-dodging query). Returns requests, rate, statuses, errors and
    latency percentiles."""
    url = urllib.parse.urlparse(base)
    if url.hostname not in LOOPBACK:
        raise SystemExit(f"load.py only targets loopback addresses, not {url.hostname}")
    statuses, errors, latencies = Counter(), Counter(), []
    lock = threading.Lock()
    start_together = threading.Barrier(clients)
    deadline = [0.0]

    def visitor(n):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        rng = random.Random(n)
        mine, took, failed = Counter(), [], Counter()
        i = n
        if start_together.wait() == 0:
            deadline[0] = time.monotonic() + seconds
        start_together.wait()
        while time.monotonic() < deadline[0]:
            path = paths[i % len(paths)].replace("{random}", str(rng.random()))
            i += 1
            began = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                mine[r.status] += 1
                took.append(time.perf_counter() - began)
            except (OSError, http.client.HTTPException) as e:
                failed[type(e).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.close()
        with lock:
            statuses.update(mine)
            errors.update(failed)
            latencies.extend(took)

    elapsed = run_together(visitor, [(n,) for n in range(clients)])
    latencies.sort()
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": elapsed,
        "per_second": total / elapsed if elapsed else 0,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
    }


def report(figures):
    lines = [
        f"requests served      {figures['requests']} in {figures['seconds']:.1f} s ({figures['per_second']:.0f}/s)",
        f"answers by status    {figures['statuses']}",
        f"stale answers        {figures['stale']}",
        f"client errors        {figures['errors'] or 0}",
        f"latency              p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms",
    ]
    if "spotify_player_calls" in figures:
        lines += [
            f"Spotify player calls {figures['spotify_player_calls']} (+{figures['spotify_history_calls']} history)",
            f"token refreshes      {figures['token_refreshes']}",
        ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="base URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--spotify", help="the Spotify stand-in's base URL, to count upstream calls")
    args = parser.parse_args()
    figures = run(args.url.rstrip("/"), args.clients, args.seconds, args.spotify, args.max_requests)
    print(report(figures))
    return 0 if set(figures["statuses"]) <= {200, 304} and not figures["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
