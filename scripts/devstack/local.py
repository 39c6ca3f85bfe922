"""The whole system on loopback: moto, the Spotify stand-in (or real Spotify) and the built
function under the Runtime API emulator, behind an API Gateway REST front. Used by `make dev`
and by the end-to-end tests.

Not `cargo lambda watch` (1.9.2): its emulator answers its own 500 to a few in every thousand
responses of some kilobytes (the widget's script, say) that the function answered 200. It
replies to the function's `/response` before it has read the body, which can then be cut off."""

import json
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from .appsync import AppSyncEvents
from .aws import DUMMY_CREDENTIALS, REGION, Moto, free_port
from .edge import LocalEdge
from .fake_spotify import FakeSpotify
from .runtime import LambdaRuntime
from .ticks import TickQueue

ROOT = Path(__file__).resolve().parents[2]
TABLE = "now-playing-state"
PARAMETER = "/now-playing/spotify"
PRIVACY_PARAMETER = "/now-playing/privacy"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


READ_SCOPES = ["user-read-currently-playing", "user-read-recently-played"]
PLAYLIST_SCOPES = ["playlist-modify-private", "playlist-modify-public"]
SUGGESTIONS_PLAYLIST = "localsuggestedbyvisitor"


# A budget so large that the answer is due every CACHE_SECONDS, as before the schedule:
# for tests that watch Spotify's answer change on a short fixed window. The schedule
# itself is tested with the default budget (tests/test_quota.py).
EVERY_WINDOW = {"SPOTIFY_CALLS_PER_DAY": "1000000"}


class LocalStack:
    """Starts everything in order and stops it all, whatever failed in between."""

    def __init__(
        self,
        port: int = 0,
        moto_port: int = 0,
        spotify_port: int = 0,
        real_spotify: dict | None = None,
        log_level: str = "info",
        extra_env: dict | None = None,
        processes: int = 1,
        iam_statements: list[dict] | None = None,
        suggestions: str | None = None,
        edge: bool = False,
        edge_port: int = 0,
        privacy: dict | None = None,
        live: bool = False,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # With an edge, visitors come through nginx on `edge_url`, as through the stack's
        # CloudFront: it proves itself to the function with a secret, and the preview page
        # names the edge's URL (the stack's PUBLIC_URL is the distribution's).
        # The owner's privacy rules, written where `make privacy` keeps them, if given.
        self.privacy = privacy
        # With `live`, an AppSync Events stand-in the function publishes changed answers to.
        self.live = None
        self.ticks = None
        self.live_wanted = live
        self.live_key = f"da2-local{secrets.token_hex(12)}"
        self.edge = None
        self.edge_secret = secrets.token_urlsafe(36) if edge else None
        self.edge_port = (edge_port or free_port()) if edge else None
        self.edge_url = f"http://127.0.0.1:{self.edge_port}" if edge else None
        self.moto = Moto(moto_port)
        self.real_spotify = real_spotify
        self.fake = None
        self.log_level = log_level
        self.extra_env = {**({"SUGGESTIONS": suggestions} if suggestions else {}), **(extra_env or {})}
        self.suggestions = suggestions
        # How many processes of the built binary take the events, one event at a time each.
        self.processes = processes
        self.runtime = None
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
                self.credentials["client_id"],
                self.credentials["client_secret"],
                self.credentials["refresh_token"],
                port=spotify_port,
            )

    def function_env(self) -> dict:
        spotify = (
            {}
            if self.fake is None
            else {
                "SPOTIFY_API_URL": self.fake.url,
                "SPOTIFY_ACCOUNTS_URL": self.fake.url,
                # The stand-in serves the album art itself.
                "ART_HOSTS": self.fake.url.removeprefix("http://"),
            }
        )
        edge = {"EDGE_SECRET": self.edge_secret, "PUBLIC_URL": self.edge_url} if self.edge_secret else {}
        privacy = {"PRIVACY_PARAMETER": PRIVACY_PARAMETER} if self.privacy is not None else {}
        live = (
            {
                "LIVE_URL": self.live.http_url,
                "LIVE_REALTIME_URL": self.live.realtime_url,
                "LIVE_API_KEY": self.live_key,
                "LIVE_QUEUE_URL": self.ticks.url,
            }
            if self.live
            else {}
        )
        return {
            **live,
            **edge,
            **privacy,
            "STATE_TABLE": TABLE,
            "CREDENTIALS_PARAMETER": PARAMETER,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_REGION": REGION,
            "RUST_LOG": self.log_level,
            **self.aws_credentials,
            **spotify,
            **self.extra_env,
        }

    def start(self, timeout: float = 60) -> "LocalStack":
        try:
            self.moto.start()
            self.moto.create_table(TABLE)
            self.moto.put_credentials(PARAMETER, self.credentials)
            if self.privacy is not None:
                self.moto.client("ssm").put_parameter(
                    Name=PRIVACY_PARAMETER, Type="String", Value=json.dumps(self.privacy), Overwrite=True
                )
            if self.iam_statements is not None:
                self.aws_credentials = self.moto.enforce_iam(self.iam_statements)
            if self.live_wanted:
                self.live = AppSyncEvents(
                    self.live_key,
                    self.aws_credentials["AWS_ACCESS_KEY_ID"],
                    self.aws_credentials["AWS_SECRET_ACCESS_KEY"],
                    region=REGION,
                ).start()
                # The live runner's ticks: moto's SQS, delivered to the function when due.
                self.ticks = TickQueue(self.moto, lambda: self.runtime).start()
            if self.fake:
                self.fake.start()
                if self.suggestions:
                    self.fake.control("scope", {"scope": self.credentials["scope"]})
                    self.fake.control("playlist", {"id": SUGGESTIONS_PLAYLIST})
            self._start_processes(timeout)
            if self.edge_secret:
                host = f"127.0.0.1:{self.port}"
                self.edge = LocalEdge(host, self.edge_secret, stage=self.runtime.stage, port=self.edge_port).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_processes(self, timeout: float) -> None:
        binary = ROOT / "target" / "debug" / "now-playing"
        if not binary.exists():
            raise SystemExit(f"{binary} is not built: run `cargo build --bin now-playing` (make dev and make test do)")
        try:
            self.runtime = LambdaRuntime(
                [str(binary)],
                self.function_env(),
                processes=self.processes,
                log_path=str(self.log_path),
                port=self.port,
            ).start()
        except OSError as e:
            raise SystemExit(
                f"cannot listen on 127.0.0.1:{self.port} ({e.strerror}): stop what listens there, "
                "or choose another port (PORT=9001 make dev)"
            ) from None
        deadline = time.monotonic() + timeout
        while len(self.runtime.init_seconds) < self.processes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.runtime.processes):
                raise SystemExit(f"the function processes did not start; see {self.log_path}:\n{self.logs()[-3000:]}")
            time.sleep(0.05)

    def seed_token(self, value: str, expires_at: datetime) -> None:
        """Stores an access token in the table, as another instance would have."""
        self.moto.client("dynamodb").put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": "spotify#access-token"},
                "access_token": {"S": value},
                "expires_at": {"N": str(int(expires_at.timestamp()))},
                "ttl": {"N": str(int(expires_at.timestamp()) + 3600)},
            },
        )

    def logs(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        """Whether every function process still runs."""
        return self.runtime is not None and all(p.poll() is None for p in self.runtime.processes)

    def stop(self) -> None:
        if self.edge:
            self.edge.stop()
        if self.ticks:
            self.ticks.stop()
        if self.runtime:
            self.runtime.stop()
        if self.live:
            self.live.stop()
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
