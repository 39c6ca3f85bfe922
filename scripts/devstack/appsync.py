"""A local stand-in for AWS AppSync Events, speaking its protocol on 127.0.0.1.

- Publish: `POST /event` on the HTTP port, `{"channel": "/ns/path", "events": ["<JSON>", …]}`
  (at most 5), SigV4-signed for service `appsync`: the signature is checked with botocore
  against the stand-in's own credentials, so an unsigned or wrongly signed publish is a 401,
  as AWS_IAM publishing is.
- Subscribe: a WebSocket on the realtime port at `/event/realtime`, subprotocols
  `aws-appsync-event-ws` and `header-<base64url({"host": …, "x-api-key": …})>`; then
  `connection_init` → `connection_ack`, `ka` keep-alives, `subscribe` → `subscribe_success`
  or `subscribe_error` (a wrong API key), and `data` for each published event. No event is
  kept: a subscriber sees only what is published after it subscribed.

What it records (publishes, deliveries, refusals) is for the tests; `/_stand-in/stats` on
the HTTP port answers it.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from websockets.asyncio.server import serve

PROTOCOL = "aws-appsync-event-ws"
MAX_EVENTS = 5
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def _b64url_json(text: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None


class AppSyncEvents:
    def __init__(self, api_key: str, access_key: str, secret_key: str, region="us-east-1", keepalive: float = 60):
        self.api_key, self.region, self.keepalive = api_key, region, keepalive
        self.credentials = Credentials(access_key, secret_key)
        self.stats = {"publishes": 0, "events": 0, "deliveries": 0, "refused_publishes": 0, "refused_subscribes": 0}
        self.lock = threading.Lock()
        self.subscribers: dict[object, dict[str, str]] = {}  # websocket -> {subscription id: channel}
        self.loop = asyncio.new_event_loop()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http.daemon_threads = True
        self._ws_server = None
        self._ready = threading.Event()

    # The two domains AppSync gives an Event API, here two ports.
    @property
    def http_domain(self) -> str:
        return f"127.0.0.1:{self.http.server_address[1]}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_domain}"

    @property
    def realtime_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws_port}/event/realtime"

    def start(self) -> AppSyncEvents:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        threading.Thread(target=self._run_loop, daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the AppSync Events stand-in's WebSocket did not start")
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()

        async def close():
            if self._ws_server is not None:
                self._ws_server.close()
                await self._ws_server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def __enter__(self) -> AppSyncEvents:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- subscribing ---------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start():
            self._ws_server = await serve(
                self._connection, "127.0.0.1", 0, subprotocols=[PROTOCOL], process_request=self._authorized
            )
            self._ws_port = self._ws_server.sockets[0].getsockname()[1]
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def _authorized(self, connection, request):
        """Refuses the handshake (401) unless a `header-` subprotocol names this API's key,
        as AppSync does for API_KEY connect; `aws-appsync-event-ws` is then selected."""
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        header = next((p for p in offered if p.startswith("header-")), None)
        auth = _b64url_json(header.removeprefix("header-")) if header else None
        if PROTOCOL in offered and auth and auth.get("x-api-key") == self.api_key:
            return None
        with self.lock:
            self.stats["refused_subscribes"] += 1
        return connection.respond(401, "UnauthorizedException\n")

    async def _connection(self, ws) -> None:
        if ws.request.path != "/event/realtime":
            await ws.close(1008, "not found")
            return
        ka = None
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "connection_init":
                    await ws.send(json.dumps({"type": "connection_ack", "connectionTimeoutMs": 300000}))
                    ka = asyncio.ensure_future(self._keepalive(ws))
                elif kind == "subscribe":
                    sid, channel = message.get("id"), message.get("channel", "")
                    key = (message.get("authorization") or {}).get("x-api-key")
                    if key != self.api_key or not channel.startswith("/"):
                        with self.lock:
                            self.stats["refused_subscribes"] += 1
                        error = {"errorType": "UnauthorizedException", "message": "You are not authorized"}
                        await ws.send(json.dumps({"type": "subscribe_error", "id": sid, "errors": [error]}))
                        continue
                    with self.lock:
                        self.subscribers.setdefault(ws, {})[sid] = channel
                    await ws.send(json.dumps({"type": "subscribe_success", "id": sid}))
                elif kind == "unsubscribe":
                    with self.lock:
                        self.subscribers.get(ws, {}).pop(message.get("id"), None)
                    await ws.send(json.dumps({"type": "unsubscribe_success", "id": message.get("id")}))
        except Exception:  # a client gone mid-message: the connection ends, the server stays
            pass
        finally:
            if ka:
                ka.cancel()
            with self.lock:
                self.subscribers.pop(ws, None)

    async def _keepalive(self, ws) -> None:
        while True:
            await asyncio.sleep(self.keepalive)
            await ws.send(json.dumps({"type": "ka"}))

    async def _deliver(self, channel: str, events: list[str]) -> None:
        with self.lock:
            targets = [(ws, sid) for ws, subs in self.subscribers.items() for sid, ch in subs.items() if ch == channel]
        sends = []
        for ws, sid in targets:
            for event in events:
                sends.append(ws.send(json.dumps({"type": "data", "id": sid, "event": event})))
        results = await asyncio.gather(*sends, return_exceptions=True)
        with self.lock:
            self.stats["deliveries"] += sum(1 for r in results if not isinstance(r, Exception))

    # --- publishing ----------------------------------------------------------------

    def signed(self, method: str, path: str, headers, body: bytes) -> bool:
        """Whether the request carries a valid SigV4 signature by this stand-in's
        credentials, for service `appsync` in its region, made within 5 minutes."""
        found = AUTHORIZATION.fullmatch(headers.get("Authorization") or "")
        stamp = headers.get("X-Amz-Date") or ""
        if not found or found["key"] != self.credentials.access_key or found["service"] != "appsync":
            return False
        if found["region"] != self.region or not stamp.startswith(found["date"]):
            return False
        try:
            made = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return False
        if abs(time.time() - made) > 300:
            return False
        names = found["headers"].split(";")
        request = AWSRequest(
            method=method,
            url=f"http://{headers.get('Host')}{path}",
            data=body,
            headers={name: headers.get(name, "") for name in names},
        )
        request.context["timestamp"] = stamp
        auth = SigV4Auth(self.credentials, "appsync", self.region)
        canonical = auth.canonical_request(request)
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
        return expected == found["signature"] and auth.signed_headers(auth.headers_to_sign(request)) == found["headers"]

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/_stand-in/stats":
                    with stand_in.lock:
                        stats = dict(stand_in.stats)
                        stats["subscriptions"] = sum(len(s) for s in stand_in.subscribers.values())
                    return self.answer(200, stats)
                self.answer(404, {"errors": [{"errorType": "NotFound"}]})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/event":
                    return self.answer(404, {"errors": [{"errorType": "NotFound"}]})
                if not stand_in.signed("POST", self.path, self.headers, body):
                    with stand_in.lock:
                        stand_in.stats["refused_publishes"] += 1
                    return self.answer(401, {"errors": [{"errorType": "UnauthorizedException"}]})
                try:
                    doc = json.loads(body)
                    channel, events = doc["channel"], doc["events"]
                    assert isinstance(channel, str) and channel.startswith("/")
                    assert isinstance(events, list) and 0 < len(events) <= MAX_EVENTS
                    assert all(isinstance(e, str) and isinstance(json.loads(e), dict | list) for e in events)
                except (ValueError, KeyError, AssertionError, TypeError):
                    return self.answer(400, {"errors": [{"errorType": "BadRequestException"}]})
                with stand_in.lock:
                    stand_in.stats["publishes"] += 1
                    stand_in.stats["events"] += len(events)
                asyncio.run_coroutine_threadsafe(stand_in._deliver(channel, events), stand_in.loop).result(10)
                successful = [{"identifier": f"e{n}", "index": n} for n in range(len(events))]
                self.answer(200, {"successful": successful, "failed": []})

        return Handler
