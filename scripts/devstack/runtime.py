"""A small AWS Lambda Runtime API emulator with an API Gateway REST front.

Requests to `front_url` become API Gateway REST (v1) events that N real function processes
take from the Runtime API (`/2018-06-01/runtime/invocation/next`) and answer through
`/response`, as on Lambda: each process handles one event at a time. Under
`front_url/<stage>/` the events are those of the execute-api URL (the stage in the request
context's path, not in the event's); at the root, those of a custom domain (no stage).
It records each process's init time (start to its first `next`) and each invocation's
duration (event handed out to response received).
"""

import base64
import json
import os
import queue
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from concurrent.futures import Future

from .quiet import LoopbackServer, QuietHandler

API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:now-playing"
NOT_INHERITED = {
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
}


class Invocation:
    def __init__(self, event: dict):
        self.id = str(uuid.uuid4())
        self.event = event
        self.result: Future = Future()
        self.handed_out = 0.0


class LambdaRuntime:
    """Runs `command` `processes` times against one Runtime API; `front_url` (on `port`, or
    any free one) serves HTTP."""

    def __init__(
        self,
        command: list[str],
        env: dict,
        processes: int = 1,
        stage: str = "live",
        timeout: float = 30,
        log_path: str | None = None,
        port: int = 0,
    ):
        self.command = command
        self.env = env
        self.count = processes
        self.stage = stage
        self.timeout = timeout
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.started_at: dict[int, float] = {}
        self.init_seconds: list[float] = []
        # How many events each process (by its slot) took.
        self.handled: dict[int, int] = {}
        self.durations: list[float] = []
        # The requests the front received, by path without the stage and sorted query:
        # the origin's share of the traffic when an edge is in front.
        self.requests: Counter[str] = Counter()
        self.processes: list[subprocess.Popen] = []
        self.log = open(log_path, "w") if log_path else subprocess.DEVNULL
        # One Runtime API server per process, all fed from the one queue, so that every
        # `next` is known to come from that process.
        self.apis: list[LoopbackServer] = []
        self.front = self._serve(self._front_handler(), port)
        self.front_url = f"http://127.0.0.1:{self.front.server_address[1]}"

    @staticmethod
    def _serve(handler, port: int = 0) -> LoopbackServer:
        server = LoopbackServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    # Runtime API, as the function's runtime client sees it.
    def _runtime_handler(self, slot: int):
        runtime = self

        class Handler(QuietHandler):
            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{API}/invocation/next":
                    return self.reply(404)
                with runtime.lock:
                    if slot in runtime.started_at:
                        runtime.init_seconds.append(time.monotonic() - runtime.started_at.pop(slot))
                invocation = runtime.pending.get()
                invocation.handed_out = time.monotonic()
                with runtime.lock:
                    runtime.in_flight[invocation.id] = invocation
                    runtime.handled[slot] = runtime.handled.get(slot, 0) + 1
                deadline_ms = int((time.time() + runtime.timeout) * 1000)
                self.reply(
                    200,
                    json.dumps(invocation.event).encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": invocation.id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(f"{API}/").split("/")
                if parts[:1] == ["init"]:
                    runtime._write_log(f"init error: {body[:500]!r}\n")
                    return self.reply(202)
                if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                    return self.reply(404)
                with runtime.lock:
                    invocation = runtime.in_flight.pop(parts[1], None)
                if invocation is None:
                    return self.reply(400)
                runtime.durations.append(time.monotonic() - invocation.handed_out)
                invocation.result.set_result((parts[2], body))
                self.reply(202)

        return Handler

    # API Gateway REST front: HTTP in, proxy event out, proxy response back.
    def _front_handler(self):
        runtime = self

        class Handler(QuietHandler):
            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urllib.parse.urlparse(self.path)
                params = sorted(urllib.parse.parse_qsl(url.query))
                key = runtime.unstaged(url.path) + (f"?{urllib.parse.urlencode(params)}" if params else "")
                with runtime.lock:
                    runtime.requests[key] += 1
                if not runtime.running():
                    # As API Gateway answers when the function fails: at once.
                    return self.respond(502, {}, b'{"message": "Internal server error"}')
                invocation = Invocation(
                    runtime.rest_event(
                        self.command, url.path, url.query, dict(self.headers), body, self.client_address[0]
                    )
                )
                runtime.pending.put(invocation)
                try:
                    kind, payload = invocation.result.result(timeout=runtime.timeout)
                except Exception:
                    return self.respond(504, {}, b'{"message": "Endpoint request timed out"}')
                if kind == "error":
                    return self.respond(502, {}, b'{"message": "Internal server error"}')
                answer = json.loads(payload)
                data = answer.get("body") or ""
                data = base64.b64decode(data) if answer.get("isBase64Encoded") else data.encode()
                headers = dict(answer.get("headers") or {})
                for name, values in (answer.get("multiValueHeaders") or {}).items():
                    headers[name] = ", ".join(values)
                self.respond(answer.get("statusCode", 200), headers, data)

            def respond(self, status, headers, data):
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any

        return Handler

    def invoke(self, event: dict, timeout: float | None = None) -> tuple[str, dict]:
        """Hands `event` to a function process as a direct invocation (a schedule's, or
        `aws lambda invoke`): ("response", document) or ("error", Lambda's error document)."""
        invocation = Invocation(event)
        self.pending.put(invocation)
        kind, payload = invocation.result.result(timeout=timeout or self.timeout)
        return kind, json.loads(payload or b"null")

    def unstaged(self, path: str) -> str:
        staged = f"/{self.stage}"
        if path == staged or path.startswith(staged + "/"):
            return path.removeprefix(staged) or "/"
        return path

    def running(self) -> bool:
        """Whether any function process is there to take an event."""
        return any(p.poll() is None for p in self.processes)

    def stop_functions(self) -> None:
        """Stops every function process; the front then answers 502, as API Gateway does
        for a function that fails."""
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            proc.wait(timeout=5)

    def rest_event(self, method, path, query, headers, body, source_ip):
        params = urllib.parse.parse_qs(query)
        requested = path
        path = self.unstaged(path)
        return {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
            "multiValueQueryStringParameters": params or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "stage": self.stage,
                "httpMethod": method,
                # As API Gateway does: the name it served the request on, not the client's Host.
                "domainName": f"127.0.0.1:{self.front.server_address[1]}",
                "path": requested,
                "resourcePath": path,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": source_ip},
            },
            "body": body.decode("utf-8", "replace") if body else None,
            "isBase64Encoded": False,
        }

    def _write_log(self, text):
        if self.log is not subprocess.DEVNULL:
            self.log.write(text)
            self.log.flush()

    def start(self) -> "LambdaRuntime":
        for _ in range(self.count):
            self.spawn()
        return self

    def spawn(self) -> subprocess.Popen:
        """Starts one more function process, with a Runtime API of its own."""
        slot = len(self.apis)
        api = self._serve(self._runtime_handler(slot))
        self.apis.append(api)
        # Lambda's environment names no certificate store: this machine's choice, if any,
        # must not decide where the function looks for its roots. Nor may the function see
        # the AWS settings of the developer's shell: `env` says which AWS it talks to.
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env = (
            inherited
            | self.env
            | {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
                "AWS_LAMBDA_FUNCTION_NAME": "now-playing",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex[:8]}",
            }
        )
        if "AWS_REGION" in env:
            env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])  # as Lambda sets both
        with self.lock:
            self.started_at[slot] = time.monotonic()
        proc = subprocess.Popen(self.command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in (self.front, *self.apis):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "LambdaRuntime":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
