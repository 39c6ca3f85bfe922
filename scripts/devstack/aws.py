"""moto's server on loopback, and the table and parameter the function expects."""

import contextlib
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


class ItemLocks:
    """One lock per DynamoDB item (table and key): only a call on one item needs its writes
    atomic. Calls on no single item (a scan, a table's creation) and other services' need
    none."""

    def __init__(self):
        self.guard = threading.Lock()
        self.locks: dict[str, threading.Lock] = {}

    def held(self, target: str, body: bytes):
        if not target.startswith("DynamoDB_"):
            return contextlib.nullcontext()
        try:
            request = json.loads(body or b"{}")
            key = json.dumps([request["TableName"], request["Key"]], sort_keys=True)
        except (ValueError, KeyError, TypeError):
            return contextlib.nullcontext()
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())


class SerialProxy:
    """Forwards AWS calls to moto, one at a time for each DynamoDB item, counting them by
    operation.

    DynamoDB makes each conditional write atomic: of many concurrent conditional updates of
    one item, exactly one succeeds. moto's threaded server does not (two can both succeed),
    and the function's leases rely on that guarantee; a lock per item restores it. Calls on
    other items, and SSM's, go on beside it, as they do in AWS: a round of parallel calls
    costs one round trip, not one per call (what `make bench` measures depends on it)."""

    def __init__(self, port: int, target: str):
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.items = ItemLocks()
        # Added to every call before it queues for moto, as a network round trip would be
        # (`make bench` sets it): concurrent calls wait it out together.
        self.delay = 0.0
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "other").split(".")[-1]
                # Host unchanged: it is signed, and moto checks signatures when IAM is enforced.
                request = urllib.request.Request(
                    target + self.path, data=body, method=self.command, headers=dict(self.headers.items())
                )
                if proxy.delay:
                    time.sleep(proxy.delay)
                with proxy.lock:
                    proxy.counts[operation] = proxy.counts.get(operation, 0) + 1
                with proxy.items.held(self.headers.get("X-Amz-Target") or "", body):
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
        # Once IAM is enforced, the tests' own calls go through an all-allowing user.
        self.credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
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
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **self.credentials)

    def enforce_iam(self, statements: list[dict]) -> dict:
        """From now on moto checks every call against IAM. Returns the environment of a
        function whose role holds exactly `statements`: temporary credentials of that role,
        assumed as Lambda would.

        moto 5.2.5 checks DynamoDB and SSM calls by action, against the resource `*`: a
        statement's resources must be given as `*` here, and the resources themselves are
        proven by the stack's assertions."""
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
        role = iam.create_role(RoleName="now-playing-function", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        iam.put_role_policy(
            RoleName="now-playing-function",
            PolicyName="template",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        users = {
            "tests": {"Effect": "Allow", "Action": "*", "Resource": "*"},
            "lambda-service": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]},
        }
        keys = {}
        for user, statement in users.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName="only",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        # The moto API call is not an AWS action: straight to the server, past the proxy.
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.backend_port}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).read()
        self.credentials = keys["tests"]
        sts = boto3.client("sts", endpoint_url=self.url, region_name=REGION, **keys["lambda-service"])
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="now-playing")["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
            "AWS_SESSION_TOKEN": assumed["SessionToken"],
        }

    def create_table(self, name: str) -> None:
        """The token table with the schema the stack creates: `pk` string key, `ttl` TTL."""
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    def put_credentials(self, name: str, document: dict) -> None:
        self.client("ssm").put_parameter(Name=name, Type="SecureString", Value=json.dumps(document), Overwrite=True)

    def read_credentials(self, name: str) -> dict:
        value = self.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return json.loads(value)

    def __enter__(self) -> "Moto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
