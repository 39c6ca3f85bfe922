"""The local edge itself, in front of an origin that records what reaches it: the methods it
refuses, the headers it forwards, and the paths it passes on, as CloudFront does. The edge
tests with the function behind it trust these."""

import http.client
import socket
import threading

import pytest
from devstack.edge import EDGE_HEADER, LocalEdge
from devstack.quiet import LoopbackServer, QuietHandler

SECRET = "edge-secret-" + "x" * 40


class Recorder(QuietHandler):
    """Answers every request 200, private, and keeps its request line and headers."""

    seen: list[tuple[str, str, dict]] = []

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        Recorder.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "private, no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = answer


@pytest.fixture(scope="module")
def rig():
    origin = LoopbackServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    edge = LocalEdge(f"127.0.0.1:{origin.server_address[1]}", SECRET).start()
    yield edge
    edge.stop()
    origin.shutdown()
    origin.server_close()


def send(edge: LocalEdge, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    Recorder.seen.clear()
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, list(Recorder.seen)


def test_the_seven_methods_cloudfront_allows_pass_and_any_other_is_refused_with_403(rig):
    for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"):
        status, seen = send(rig, method, "/v1/current", body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
        # A cached route's HEAD is fetched as a GET, which fills the cache for both.
        assert (status, [s[0] for s in seen]) in ((200, [method]), (200, ["GET"] * (method == "HEAD"))), method
    for method in ("TRACE", "PROPFIND", "CONNECT"):
        status, seen = send(rig, method, "/v1/current")
        assert status in (403, 405) and seen == [], method


def test_no_viewer_header_reaches_a_cached_route_and_a_passed_one_gets_the_edges_own_address(rig):
    forged = {"CloudFront-Viewer-Address": "198.51.100.7:443", "X-Forwarded-For": "198.51.100.7", "Cookie": "a=b"}
    _, seen = send(rig, "GET", "/v1/current", headers=forged)
    headers = seen[0][2]
    assert "cloudfront-viewer-address" not in headers and "x-forwarded-for" not in headers and "cookie" not in headers
    assert headers[EDGE_HEADER.lower()] == SECRET
    _, seen = send(rig, "GET", "/v1/search?q=abba", headers={**forged, "Content-Type": "text/plain"})
    headers = seen[0][2]
    assert headers["cloudfront-viewer-address"].startswith("127.0.0.1:"), "the viewer as the edge saw them"
    assert headers["content-type"] == "text/plain" and "x-forwarded-for" not in headers


def test_an_encoded_cr_lf_or_question_mark_stays_in_the_path_and_splits_nothing(rig):
    status, seen = send(rig, "GET", "/x%0d%0aX-Injected:%201")
    assert status == 200 and len(seen) == 1
    method, path, headers = seen[0]
    assert "x-injected" not in headers and path.startswith("/live/x%0d%0aX-Injected"), path
    _, seen = send(rig, "GET", "/v1/search%3Fq=abba")
    assert seen[0][1].startswith("/live/v1/search%3Fq=abba"), "not a query: a path no route has"
    assert "cloudfront-viewer-address" not in seen[0][2]


def test_a_split_request_reaches_the_origin_as_one_request(rig):
    raw = (
        b"GET /v1/current.svg%20HTTP/1.1%0d%0aHost:%20x%0d%0a%0d%0aGET%20/v1/current HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    Recorder.seen.clear()
    with socket.create_connection(("127.0.0.1", rig.port), timeout=10) as conn:
        conn.sendall(raw)
        while conn.recv(65536):
            pass
    assert len(Recorder.seen) == 1, Recorder.seen
    assert Recorder.seen[0][1].startswith("/live/v1/current.svg%20HTTP"), Recorder.seen
