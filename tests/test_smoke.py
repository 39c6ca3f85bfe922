"""`make smoke` passes against the local system, and fails against something that is not it."""

import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import threading

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
