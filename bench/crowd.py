"""A crowd through the edge cache, beside the same crowd straight to the origin.

    PYTHONPATH=scripts:tests .venv/bin/python bench/crowd.py [--clients 32] [--seconds 15]

Starts the local system twice as `make dev EDGE=1` does (moto, the Spotify stand-in, the
built function behind the REST front, nginx keyed as the stack's CloudFront), sends the
crowd a page on a front page brings (the widget's poll, some with a cache-dodging query,
the card in both themes, the redirects, the script, the preview page), and writes
bench/CROWD.md: requests per second, the origin's share, latency p50/p99.
"""

import argparse
import os
import platform
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from devstack.local import LocalStack
from load import CROWD_URLS as URLS
from load import crowd

ROOT = Path(__file__).resolve().parent.parent
LIFETIME = 5


def run(through_edge: bool, clients: int, seconds: float, processes: int) -> dict:
    env = {"CACHE_SECONDS": str(LIFETIME)}
    with LocalStack(edge=through_edge, extra_env=env, processes=processes, log_level="warn") as stack:
        base = stack.edge_url if through_edge else stack.url
        for path in URLS:  # each URL once: a warm edge, a warm function
            crowd(base, [path.format(random=0)], clients=1, seconds=0.01)
        before = Counter(stack.runtime.requests)
        figures = crowd(base, URLS, clients=clients, seconds=seconds)
        origin = Counter(stack.runtime.requests) - before
    figures["origin_requests"] = sum(origin.values())
    figures["origin_share"] = figures["origin_requests"] / max(1, figures["requests"])
    figures["origin_per_url_max"] = max(origin.values(), default=0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--processes", type=int, default=4, help="function processes behind the REST front")
    args = parser.parse_args()
    edge = run(True, args.clients, args.seconds, args.processes)
    direct = run(False, args.clients, args.seconds, args.processes)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    rows = [
        ("requests per second", f"{edge['per_second']:.0f}", f"{direct['per_second']:.0f}"),
        ("answers by status", str(edge["statuses"]), str(direct["statuses"])),
        ("client errors", str(edge["errors"] or 0), str(direct["errors"] or 0)),
        ("requests that reached the function", str(edge["origin_requests"]), str(direct["origin_requests"])),
        ("the origin's share", f"{edge['origin_share']:.3%}", f"{direct['origin_share']:.0%}"),
        ("most origin requests for one URL", str(edge["origin_per_url_max"]), "-"),
        ("latency p50", f"{edge['p50_ms']:.2f} ms", f"{direct['p50_ms']:.2f} ms"),
        ("latency p99", f"{edge['p99_ms']:.2f} ms", f"{direct['p99_ms']:.2f} ms"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    text = f"""# A crowd through the edge cache

- Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores
- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- Commit: {commit.stdout.strip() or "unknown"}
- Setup: {args.clients} clients on keep-alive connections for {args.seconds:.0f} s, each asking in turn for
  {", ".join(f"`{u}`" for u in URLS)}; the debug build of the function on {args.processes} processes
  behind the local REST front, `CACHE_SECONDS={LIFETIME}`. Through the edge: Debian's nginx keyed as
  the stack's CloudFront (`scripts/devstack/edge.py`). Straight: the REST front itself, as
  `execute-api` without the edge. Everything on loopback: the edge's latency here is nginx's,
  not a CloudFront POP's.

| figure | through the edge | straight to the origin |
| --- | --- | --- |
{table}

A copy lives until its answer is due, at least {LIFETIME} s (`CACHE_SECONDS`) and at most 60 s,
so the function answers at most about {args.seconds:.0f} / {LIFETIME} + 1 requests per URL
however large the crowd.
"""
    (ROOT / "bench" / "CROWD.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
