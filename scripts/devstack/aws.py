"""moto's server on loopback, and the table and parameter the function expects."""

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

from .quiet import LoopbackServer, QuietHandler

REGION = "us-east-1"
# moto accepts any credentials; these keep the SDKs from looking for real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SerialProxy:
    """Forwards AWS calls to moto one at a time, counting them by operation.

    DynamoDB makes each conditional write atomic: of many concurrent conditional updates of
    one item, exactly one succeeds. moto's threaded server does not (two can both succeed),
    and the function's leases rely on that guarantee; one lock restores it."""

    def __init__(self, port: int, target: str):
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "other").split(".")[-1]
                request = urllib.request.Request(target + self.path, data=body, method="POST",
                                                 headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                with proxy.lock:
                    proxy.counts[operation] = proxy.counts.get(operation, 0) + 1
                    try:
                        with urllib.request.urlopen(request, timeout=30) as answer:
                            status, headers, data = answer.status, answer.headers, answer.read()
                    except urllib.error.HTTPError as e:
                        status, headers, data = e.code, e.headers, e.read()
                    except OSError:
                        status, headers, data = 502, {}, b""
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = LoopbackServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Moto:
    """moto's server as a child process behind a `SerialProxy` on `port`; a context manager
    that always stops both."""

    def __init__(self, port: int = 0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backend_port = free_port()
        self.proc = None
        self.proxy: SerialProxy | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)

    def start(self) -> "Moto":
        if self.proc and self.proc.poll() is None:
            return self  # already running: never start a second, orphaned server
        server = Path(sys.executable).parent / "moto_server"
        if not server.exists():
            raise SystemExit(f"moto_server not found next to {sys.executable}; run `make venv` first")
        self.proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.backend_port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        backend = f"http://127.0.0.1:{self.backend_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"moto_server exited early (port {self.backend_port} in use?); see {self.log.name}")
            try:
                urllib.request.urlopen(f"{backend}/moto-api/", timeout=1).read()
                self.proxy = SerialProxy(self.port, backend)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"moto_server did not answer on {self.url} within 60 s; see {self.log.name}")

    def stop(self) -> None:
        if self.proxy:
            self.proxy.stop()
            self.proxy = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_table(self, name: str) -> None:
        """The token table with the schema the stack creates: `pk` string key, `ttl` TTL."""
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )

    def put_credentials(self, name: str, document: dict) -> None:
        self.client("ssm").put_parameter(
            Name=name, Type="SecureString", Value=json.dumps(document), Overwrite=True
        )

    def read_credentials(self, name: str) -> dict:
        value = self.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return json.loads(value)

    def __enter__(self) -> "Moto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
