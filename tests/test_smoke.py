"""`make smoke` passes against the local system, and fails against something that is not it."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parent / "smoke.py"


def run(url):
    return subprocess.run([sys.executable, str(SMOKE), url], capture_output=True, text=True, timeout=120)


def test_smoke_passes_against_the_running_function(stack):
    done = run(stack.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout


class NotIt(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_OPTIONS = do_GET

    def log_message(self, *args):
        pass


def test_smoke_fails_against_something_else():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotIt)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = run(f"http://127.0.0.1:{server.server_address[1]}")
        assert done.returncode == 1
        assert "FAIL GET /v1/current answers 200 JSON" in done.stdout
    finally:
        server.shutdown()


class Breaking(BaseHTTPRequestHandler):
    """Forwards to the running function, breaking one behaviour (`broken`) on the way."""

    target = ""
    broken = ""

    def forward(self):
        import requests

        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        if self.broken == "no-revalidation":
            headers.pop("If-None-Match", None)
        if self.broken == "strong-only" and headers.get("If-None-Match", "").startswith("W/"):
            headers.pop("If-None-Match")
        if self.broken == "bare-preflight" and self.command == "OPTIONS":
            return self.answer(200, {}, b"")
        if self.broken == "long-recent" and self.path.startswith("/v1/recent"):
            five = json.dumps({"items": [{"item": {}, "played_at": "x"}] * 5}).encode()
            return self.answer(200, {"Content-Type": "application/json"}, five)
        if self.broken == "no-art" and self.path.startswith("/v1/art"):
            return self.answer(404, {"Content-Type": "application/json"}, b'{"error":{"code":"no_art","message":"x"}}')
        answer = requests.request(
            self.command, self.target + self.path, headers=headers, timeout=30, allow_redirects=False
        )
        out = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        if self.broken == "sniffable":
            out = {k: v for k, v in out.items() if k.lower() != "x-content-type-options"}
        cache = next((k for k in out if k.lower() == "cache-control"), "Cache-Control")
        if self.broken == "no-stale" and "stale-if-error" in out.get(cache, ""):
            out[cache] = "public, max-age=5"
        if self.broken == "public-errors" and answer.status_code == 404:
            out[cache] = "public, max-age=60"
        status = 200 if self.broken == "post-accepted" and self.command == "POST" else answer.status_code
        body = answer.content
        if self.broken == "stage-in-snippets" and self.path == "/":
            # The preview page naming its script under a stage this address does not have.
            body = body.replace(b"/v1/widget.js", b"/prod/v1/widget.js")
        self.answer(status, out, body)

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_OPTIONS = do_POST = forward

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    "broken, failure",
    [
        ("no-revalidation", "FAIL a matching If-None-Match, strong or weak, gets 304"),
        ("strong-only", "FAIL a matching If-None-Match, strong or weak, gets 304"),
        ("no-stale", "FAIL a shared cache may serve the answer stale while refreshing, and through an outage"),
        ("public-errors", "FAIL an unknown path is a JSON not_found, which no shared cache keeps"),
        ("bare-preflight", "FAIL OPTIONS preflight allows GET"),
        ("sniffable", "FAIL answers say nosniff"),
        ("post-accepted", "FAIL POST is a JSON method_not_allowed"),
        ("no-art", "FAIL GET /v1/art redirects to the art (or a JSON no_art without)"),
        ("long-recent", "FAIL GET /v1/recent lists at most the asked number of plays"),
        ("stage-in-snippets", "FAIL GET / is the preview page, and the widget script it names loads"),
    ],
)
def test_each_check_fails_when_its_behaviour_breaks(stack, broken, failure):
    handler = type("Broken", (Breaking,), {"target": stack.url, "broken": broken})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = run(f"http://127.0.0.1:{server.server_address[1]}")
        assert done.returncode == 1, done.stdout
        assert failure in done.stdout, done.stdout
        assert done.stdout.count("FAIL") == 1, f"only the broken behaviour fails:\n{done.stdout}"
    finally:
        server.shutdown()
