"""moto's server on loopback, and the table and parameter the function expects."""

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

REGION = "us-east-1"
# moto accepts any credentials; these keep the SDKs from looking for real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """moto's server as a child process; a context manager that always stops it."""

    def __init__(self, port: int = 0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)

    def start(self) -> "Moto":
        if self.proc and self.proc.poll() is None:
            return self  # already running: never start a second, orphaned server
        server = Path(sys.executable).parent / "moto_server"
        if not server.exists():
            raise SystemExit(f"moto_server not found next to {sys.executable}; run `make venv` first")
        self.proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"moto_server exited early (port {self.port} in use?); see {self.log.name}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"moto_server did not answer on {self.url} within 60 s; see {self.log.name}")

    def stop(self) -> None:
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
