"""`make dev`: the whole system on loopback until Ctrl-C.

With SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REFRESH_TOKEN set, the function
talks to the real Spotify; otherwise to a local stand-in that plays a timed session on a
loop: a track that ends by itself, one skipped, one paused and resumed, a silence
(scripts/devstack/session.py). With QUOTA=N the stand-in answers N Web API calls, then
refuses the rest with QUOTA_EXCEEDED, as Spotify does once a developer account's daily
quota is spent. With EDGE=1, nginx stands in front as the stack's CloudFront distribution
does (scripts/devstack/edge.py).
"""

import os
import signal
import sys
import time

from devstack.local import LocalStack, now_rfc3339
from devstack.session import DEMO


def real_spotify() -> dict | None:
    names = ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REFRESH_TOKEN")
    given = [n for n in names if os.environ.get(n)]
    if not given:
        return None
    if len(given) < len(names):
        missing = ", ".join(n for n in names if n not in given)
        raise SystemExit(
            f"make dev: {missing} not set; set all three to use the real Spotify, or none for the stand-in"
        )
    return {
        "client_id": os.environ["SPOTIFY_CLIENT_ID"],
        "client_secret": os.environ["SPOTIFY_CLIENT_SECRET"],
        "refresh_token": os.environ["SPOTIFY_REFRESH_TOKEN"],
        "authorized_at": os.environ.get("SPOTIFY_AUTHORIZED_AT") or now_rfc3339(),
    }


def stand_in(stack: LocalStack, quota: str) -> str:
    refusal = f", QUOTA_EXCEEDED after {quota} calls" if quota else ""
    return f"{stack.fake.url}  (stand-in: a timed session on a loop{refusal}; calls: {stack.fake.url}/_fake/calls)"


def main() -> int:
    port = int(os.environ.get("PORT", "9000"))
    real = real_spotify()
    edge = os.environ.get("EDGE", "") not in ("", "0", "no", "off")
    stack = LocalStack(
        port=port,
        real_spotify=real,
        # The rules' parameter, written empty (no rules), so that `make privacy` can be tried.
        privacy={},
        # An AppSync Events stand-in: the function pushes changed answers, `live` pages get them.
        live=True,
        log_level=os.environ.get("RUST_LOG", "info"),
        edge=edge,
        edge_port=int(os.environ.get("EDGE_PORT", "9080")),
    )
    print(
        "make dev: starting moto (DynamoDB + SSM), "
        + ("the real Spotify" if real else "the local Spotify stand-in")
        + " and the function…",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start()
        quota = os.environ.get("QUOTA", "")
        if stack.fake:
            stack.fake.control("session", {"segments": DEMO})
            if quota:
                if not quota.isdigit():
                    raise SystemExit(f"make dev: QUOTA={quota!r} is not a number of Web API calls, such as 40")
                stack.fake.control("quota", {"calls": int(quota)})
        env = stack.function_env()
        load_spotify = " --spotify " + stack.fake.url if stack.fake else ""
        # `make privacy hide` asks the stand-in for the names of what it hides.
        privacy_spotify = (
            f" SPOTIFY_API_URL={stack.fake.url} SPOTIFY_ACCOUNTS_URL={stack.fake.url}" if stack.fake else ""
        )
        base = stack.edge_url or stack.url
        edge_line = (
            f"\n  edge cache    nginx, keyed and cached as the stack's CloudFront; uncached: {stack.url}/live/"
            if stack.edge_url
            else ""
        )
        print(
            f"""
  preview page  {base}/   (the live widget and card, and the snippets to copy)
  now playing   curl {base}/v1/current{edge_line}
  health        curl {base}/v1/health
  function log  {stack.log_path}
  moto          {stack.moto.url}   (table {env["STATE_TABLE"]}, parameter {env["CREDENTIALS_PARAMETER"]})
  spotify       {stand_in(stack, quota) if stack.fake else "https://api.spotify.com"}
  live push     {stack.live.realtime_url} (AppSync Events stand-in): <now-playing live src=…>
  load test     .venv/bin/python tests/load.py {base} --clients 50 --seconds 10{load_spotify}
  privacy       AWS_ENDPOINT_URL={stack.moto.url} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \\
                  AWS_SECRET_ACCESS_KEY=testing STATE_TABLE={env["STATE_TABLE"]}{privacy_spotify} \\
                  make privacy ARGS="pause"   (shown within a minute)

Ctrl-C stops everything.""",
            flush=True,
        )
        while stack.alive():
            time.sleep(0.5)
        print(f"make dev: the function exited; see {stack.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("make dev: stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
