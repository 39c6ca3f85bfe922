"""The local stand-in for the stack's CloudFront distribution: Debian's nginx with
`proxy_cache` in front of the REST front's stage, configured from `infra/routes.json` as the
stack's cache behaviours are (`infra/lib/edge.ts`):

- a cached route is keyed on its path and its declared query parameters only, and only
  those reach the function; a passed route reaches it with everything, never cached;
- nothing is kept unless the answer's own `Cache-Control` says so (CloudFront's minimum
  TTL of 0): `private` and `no-store` are obeyed, `stale-while-revalidate` and
  `stale-if-error` honoured;
- concurrent misses for one key are collapsed into one origin request, expiry revalidates
  with `If-None-Match`, and one request refreshes while the others get the stale copy;
- every request carries the edge's secret header, and a passed one the viewer's address in
  `CloudFront-Viewer-Address`, as the distribution sends them; no other viewer header
  reaches the function but those the behaviour names (a cached route: `Origin` when it is in
  the key; a passed one: `Content-Type` and `Origin`), so a viewer's own
  `CloudFront-Viewer-Address` never does;
- the seven methods CloudFront allows pass (the function answers 405 where a route has
  none); any other is refused with 403, as CloudFront refuses it;
- any other path reaches the function still encoded, without its query string, as
  CloudFront's default behaviour sends it: an encoded CR, LF or `?` stays in the path.

nginx cannot cache `OPTIONS` (CloudFront caches the preflights too); they all reach the
function here.

Unlike CloudFront, nginx has one location (no per-POP copies) and keys on `Vary`. And
nginx honours an answer's `stale-if-error` only when the origin cannot be reached, not when
it answers 5xx; CloudFront honours it for both. So a cached route's origin has a backup that
nobody listens on: API Gateway's 502 or 504 for a failing function moves on to it, fails,
and the stale copy is served if its `stale-if-error` allows. The price: a miss with no copy
at all gets nginx's own 502 page rather than the function's JSON.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .aws import free_port

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ROOT / "infra" / "routes.json"
EDGE_HEADER = "X-Now-Playing-Edge"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if not found:
        raise SystemExit(
            "the local edge needs Debian's nginx: sudo apt-get install nginx-light (make test installs it)"
        )
    return found


def location(route: dict, origin: str, host: str, secret: str, vary_origin: bool) -> str:
    """One route's `location`, as its cache behaviour in the stack. A `proxy_set_header`
    here drops every one of the server's, so each location sets all of its own."""
    path = route["path"]
    edge = route["edge"]
    common = [
        # Only what the behaviour names reaches the origin, as CloudFront forwards it.
        "proxy_pass_request_headers off;",
        f"proxy_set_header Host {host};",
        # Keep-alive to the origin.
        'proxy_set_header Connection "";',
        f"proxy_set_header {EDGE_HEADER} {secret};",
    ]
    if edge == "passed":
        lines = [
            *common,
            "proxy_set_header CloudFront-Viewer-Address $remote_addr:$remote_port;",
            "proxy_set_header Content-Type $http_content_type;",
            "proxy_set_header Origin $http_origin;",
            f"proxy_pass {origin}$uri$is_args$args;",
            "proxy_no_cache 1;",
            "proxy_cache_bypass 1;",
        ]
    else:
        keys = edge["cached"]
        # Only the declared parameters are forwarded, each only when given.
        args = ['set $edge_args "";']
        for key in keys:
            args.append(f'if ($arg_{key} != "") {{ set $edge_args "$edge_args&{key}=$arg_{key}"; }}')
        cache_key = "$uri" + "".join(f"|$arg_{k}" for k in keys) + ("|$http_origin" if vary_origin else "")
        target = "$raw_path" if route.get("fallback") else "$uri"
        lines = [
            *args,
            *common,
            *(["proxy_set_header Origin $http_origin;"] if vary_origin else []),
            f"proxy_pass {origin.replace('//origin/', '//origin_cached/')}{target}?$edge_args;",
            # A failing function's 502 or 504 becomes an error, so that the answer's own
            # stale-if-error decides whether the stale copy is served (see above).
            "proxy_next_upstream error timeout http_502 http_504;",
            "proxy_cache edge;",
            f'proxy_cache_key "{cache_key}";',
        ]
    body = "\n      ".join(lines)
    return f"    location = {path} {{\n      {body}\n    }}"


def config(prefix: Path, port: int, host: str, stage: str, secret: str, routes: list[dict], vary_origin: bool) -> str:
    """nginx.conf: listens on `port`, forwards to `host` (`127.0.0.1:PORT`) under `/stage`."""
    as_root = "user root;" if os.geteuid() == 0 else ""
    origin = f"http://origin/{stage}"
    locations = "\n".join(location(r, origin, host, secret, vary_origin) for r in routes)
    # Any other path: the default behaviour (the answers' policy), no query string.
    fallback = location({"path": "/", "edge": {"cached": []}, "fallback": True}, origin, host, secret, vary_origin)
    fallback = fallback.replace("location = /", "location /", 1)
    return f"""{as_root}
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  proxy_cache_path {prefix}/cache levels=1:2 keys_zone=edge:10m max_size=64m inactive=1d use_temp_path=off;
  # The path as the viewer sent it, still encoded, without the query string.
  map $request_uri $raw_path {{ "~^(?<path>[^?]*)" $path; }}
  upstream origin {{ server {host}; keepalive 32; }}
  upstream origin_cached {{
    server {host} max_fails=0;
    server 127.0.0.1:{free_port()} backup max_fails=0;
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    proxy_http_version 1.1;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10s;
    proxy_cache_revalidate on;
    proxy_cache_background_update on;
    proxy_read_timeout 30s;
    add_header X-Cache $upstream_cache_status always;
    # CloudFront allows these seven with ALLOW_ALL, and refuses any other method with 403.
    if ($request_method !~ ^(GET|HEAD|OPTIONS|PUT|PATCH|POST|DELETE)$) {{ return 403; }}
{locations}
{fallback}
  }}
}}
"""


class LocalEdge:
    """nginx on `port` (any free one) in front of the REST front at `host` (`127.0.0.1:PORT`),
    under its `stage`, as the distribution's origin path is the stage."""

    def __init__(self, host: str, secret: str, stage: str = "live", port: int = 0, vary_origin: bool = False):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = Path(tempfile.mkdtemp(prefix="now-playing-edge-"))
        routes = json.loads(ROUTES.read_text())
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(config(self.prefix, self.port, host, stage, secret, routes, vary_origin))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "LocalEdge":
        binary = nginx_binary()
        log = open(self.prefix / "stdout.log", "w")
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"nginx exited: {self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"nginx did not listen on 127.0.0.1:{self.port} within {timeout} s: {self.errors()}")

    def errors(self) -> str:
        parts = [p.read_text() for p in (self.prefix / "stdout.log", self.prefix / "error.log") if p.exists()]
        return "\n".join(parts)[-2000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)
