"""The whole system on loopback: moto, the Spotify stand-in (or real Spotify) and the
function under `cargo lambda watch`. Used by `make dev` and by the end-to-end tests."""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from .aws import DUMMY_CREDENTIALS, REGION, Moto, free_port
from .fake_spotify import FakeSpotify
from .runtime import LambdaRuntime

ROOT = Path(__file__).resolve().parents[2]
TABLE = "now-playing-tokens"
PARAMETER = "/now-playing/spotify"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


READ_SCOPES = ["user-read-currently-playing", "user-read-recently-played"]
PLAYLIST_SCOPES = ["playlist-modify-private", "playlist-modify-public"]
SUGGESTIONS_PLAYLIST = "localsuggestedbyvisitor"


class LocalStack:
    """Starts everything in order and stops it all, whatever failed in between."""

    def __init__(self, port: int = 0, moto_port: int = 0, spotify_port: int = 0, real_spotify: dict | None = None,
                 cycle: bool = False, log_level: str = "info", extra_env: dict | None = None, processes: int | None = None,
                 iam_statements: list[dict] | None = None, suggestions: str | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.moto = Moto(moto_port)
        self.real_spotify = real_spotify
        self.fake = None
        self.function = None
        self.log_level = log_level
        self.extra_env = {**({"SUGGESTIONS": suggestions} if suggestions else {}), **(extra_env or {})}
        self.suggestions = suggestions
        # None: one process under `cargo lambda watch`, as `make dev` runs it. A number: that
        # many processes of the built binary under the Runtime API emulator, REST events.
        self.processes = processes
        self.runtime = None
        self.env_file = None
        # With statements, moto enforces IAM and the function runs with a role holding them.
        self.iam_statements = iam_statements
        self.aws_credentials = dict(DUMMY_CREDENTIALS)
        self.log_path = Path(tempfile.mkstemp(prefix="now-playing-", suffix=".log")[1])
        if real_spotify:
            self.credentials = dict(real_spotify)
        else:
            # Random per run, so a test can look for them where they must never appear.
            self.credentials = {
                "client_id": "local-client",
                "client_secret": f"local-secret-{secrets.token_hex(8)}",
                "refresh_token": f"local-refresh-{secrets.token_hex(8)}",
                "authorized_at": now_rfc3339(),
            }
            if suggestions:
                # As `make bootstrap ARGS="--suggestions"` leaves it: the playlist scopes granted
                # and the owner's playlist made.
                self.credentials["scope"] = " ".join(READ_SCOPES + PLAYLIST_SCOPES)
                self.credentials["suggestions_playlist_id"] = SUGGESTIONS_PLAYLIST
            self.fake = FakeSpotify(
                self.credentials["client_id"], self.credentials["client_secret"], self.credentials["refresh_token"],
                port=spotify_port, cycle=cycle,
            )

    def function_env(self) -> dict:
        spotify = {} if self.fake is None else {
            "SPOTIFY_API_URL": self.fake.url,
            "SPOTIFY_ACCOUNTS_URL": self.fake.url,
            # The stand-in serves the album art itself.
            "ART_HOSTS": self.fake.url.removeprefix("http://"),
        }
        return {
            "TOKEN_TABLE": TABLE,
            "CREDENTIALS_PARAMETER": PARAMETER,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_REGION": REGION,
            "RUST_LOG": self.log_level,
            **self.aws_credentials,
            **spotify,
            # cargo lambda watch names no port in its events: the page's snippets need one.
            **({} if self.processes else {"PUBLIC_URL": self.url}),
            **self.extra_env,
        }

    def start(self, timeout: float = 600) -> "LocalStack":
        try:
            self.moto.start()
            self.moto.create_table(TABLE)
            self.moto.put_credentials(PARAMETER, self.credentials)
            if self.iam_statements is not None:
                self.aws_credentials = self.moto.enforce_iam(self.iam_statements)
            if self.fake:
                self.fake.start()
                if self.suggestions:
                    self.fake.control("scope", {"scope": self.credentials["scope"]})
                    self.fake.control("playlist", {"id": SUGGESTIONS_PLAYLIST})
            self._start_function(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_function(self, timeout: float) -> None:
        if self.processes:
            return self._start_processes()
        cargo_lambda = shutil.which("cargo-lambda", path=str(Path(sys.executable).parent)) or shutil.which("cargo-lambda")
        if not cargo_lambda:
            raise SystemExit("cargo-lambda not found; run `make venv` first")
        # An env file, not --env-var: that list is split on commas, and ALLOWED_ORIGINS and
        # ART_HOSTS are comma-separated lists.
        values = self.function_env()
        bad = [k for k, v in values.items() if "\n" in str(v)]
        if bad:
            raise SystemExit(f"{', '.join(bad)}: a value with a line break cannot be passed to the function")
        self.env_file = Path(tempfile.mkstemp(prefix="now-playing-", suffix=".env")[1])
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        # Neither the emulator nor cargo may see real AWS settings of the developer's shell.
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(key, None)
        self.log = open(self.log_path, "w")
        self.function = subprocess.Popen(
            [cargo_lambda, "lambda", "watch", "--bin", "now-playing", "--ignore-changes", "--disable-cors",
             "-A", "127.0.0.1", "-P", str(self.port), "--env-file", str(self.env_file)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.function.poll() is not None:
                raise SystemExit(f"cargo lambda watch exited; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                # The first request compiles (when needed) and starts the function.
                urllib.request.urlopen(f"{self.url}/v1/health", timeout=timeout).read()
                return
            except urllib.error.HTTPError:
                return  # it answered: the function runs
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the function did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}")

    def _start_processes(self) -> None:
        binary = ROOT / "target" / "debug" / "now-playing"
        if not binary.exists():
            raise SystemExit(f"{binary} is not built: run `cargo build --workspace` (make test does)")
        self.runtime = LambdaRuntime([str(binary)], self.function_env(), processes=self.processes,
                                     log_path=str(self.log_path)).start()
        self.url = self.runtime.front_url
        deadline = time.monotonic() + 60
        while len(self.runtime.init_seconds) < self.processes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.runtime.processes):
                raise SystemExit(f"the function processes did not start; see {self.log_path}:\n{self.logs()[-3000:]}")
            time.sleep(0.05)

    def seed_token(self, value: str, expires_at: datetime) -> None:
        """Stores an access token in the table, as another instance would have."""
        self.moto.client("dynamodb").put_item(TableName=TABLE, Item={
            "pk": {"S": "spotify#access-token"},
            "access_token": {"S": value},
            "expires_at": {"N": str(int(expires_at.timestamp()))},
            "ttl": {"N": str(int(expires_at.timestamp()) + 3600)},
        })

    def logs(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.env_file:
            self.env_file.unlink(missing_ok=True)
        if self.runtime:
            self.runtime.stop()
        if self.function and self.function.poll() is None:
            os.killpg(self.function.pid, signal.SIGTERM)
            try:
                self.function.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.function.pid, signal.SIGKILL)
        if self.fake:
            try:
                self.fake.stop()
            except Exception:
                pass
        self.moto.stop()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
