"""`make bootstrap` (the now-playing-authorize binary) against the Spotify stand-in and
moto's SSM; a test plays the browser by following the printed link."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from devstack.aws import DUMMY_CREDENTIALS, REGION, Moto, free_port
from devstack.fake_spotify import SESSION_COOKIE, FakeSpotify

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "debug" / "now-playing-authorize"
CLIENT_ID = "bootstrap-client"
CLIENT_SECRET = "bootstrap-secret-5d1e"


@pytest.fixture(scope="module")
def moto():
    with Moto() as running:
        yield running


@pytest.fixture
def fake():
    with FakeSpotify(CLIENT_ID, CLIENT_SECRET, "unused") as running:
        yield running


class Run:
    """One run of the command, its output collected as it goes."""

    def __init__(
        self, fake, moto, parameter, *args, env=None, secret=CLIENT_SECRET, timeout=20, port=None, registered=True
    ):
        assert BINARY.exists(), f"{BINARY} is not built: run `make test` (it builds the workspace first)"
        self.port = port or free_port()
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"
        if registered:
            # As the owner did on developer.spotify.com, before running the command.
            fake.state.redirect_uris.add(self.redirect_uri)
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env = (
            base
            | DUMMY_CREDENTIALS
            | {
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": moto.url,
                "AWS_EC2_METADATA_DISABLED": "true",
                "SPOTIFY_CLIENT_ID": CLIENT_ID,
                "SPOTIFY_CLIENT_SECRET": secret,
                "SPOTIFY_ACCOUNTS_URL": fake.url,
                "SPOTIFY_API_URL": fake.url,
                "CREDENTIALS_PARAMETER": parameter,
            }
            | (env or {})
        )
        self.proc = subprocess.Popen(
            [str(BINARY), "--port", str(self.port), "--no-browser", "--timeout", str(timeout), *args],
            env={k: v for k, v in self.env.items() if v is not None},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []

    def authorize_url(self) -> str:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.strip().startswith("http") and "/authorize?" in line:
                return line.strip()
        raise AssertionError("no authorize link printed:\n" + "".join(self.lines) + self.proc.stderr.read())

    def finish(self):
        out, err = self.proc.communicate(timeout=60)
        self.stdout = "".join(self.lines) + out
        self.stderr = err
        return self.proc.returncode


def browser(url):
    """Follows the authorize link and Spotify's redirect to the callback, like a browser
    whose owner is logged in to Spotify."""
    return requests.get(url, timeout=10, cookies={SESSION_COOKIE: "logged-in"})


def parameter_name(request):
    return "/now-playing-test/" + request.node.name.replace("[", "-").replace("]", "")


def assert_no_secret(run, fake, *extra):
    printed = run.stdout + run.stderr
    for secret in [CLIENT_SECRET, fake.state.refresh_token, *fake.state.issued, *extra]:
        assert secret not in printed, "a secret was printed"


def test_the_happy_path_stores_what_the_function_reads(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name)
    first = run.proc.stdout.readline() + run.proc.stdout.readline() + run.proc.stdout.readline()
    run.lines.append(first)
    assert run.redirect_uri in first, "the redirect URI to register comes before anything else"
    url = run.authorize_url()
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["scope"] == ["user-read-currently-playing user-read-recently-played"]
    assert query["redirect_uri"] == [run.redirect_uri]
    assert len(query["state"][0]) >= 32
    page = browser(url)
    assert page.status_code == 200 and "You can close this tab" in page.text
    assert run.finish() == 0, run.stderr
    assert "Authorized as Local Owner (Spotify user owner), a Premium account." in run.stdout
    stored = moto.read_credentials(name)
    assert set(stored) == {"client_id", "client_secret", "refresh_token", "authorized_at", "scope"}
    assert stored["scope"] == "user-read-currently-playing user-read-recently-played", "what Spotify granted"
    assert stored["client_id"] == CLIENT_ID and stored["client_secret"] == CLIENT_SECRET
    assert stored["refresh_token"] == fake.state.refresh_token, "the refresh token Spotify issued"
    assert stored["authorized_at"].endswith("Z")
    kind = moto.client("ssm").describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
    assert kind["Parameters"][0]["Type"] == "SecureString"
    assert_no_secret(run, fake)


def test_running_it_again_renews_the_authorization(fake, moto, request):
    name = parameter_name(request)
    moto.put_credentials(
        name,
        {"client_id": "old", "client_secret": "old", "refresh_token": "old", "authorized_at": "2026-01-01T00:00:00Z"},
    )
    run = Run(fake, moto, name)
    browser(run.authorize_url())
    assert run.finish() == 0, run.stderr
    stored = moto.read_credentials(name)
    assert stored["refresh_token"] == fake.state.refresh_token
    assert stored["authorized_at"] > "2026-01-01T00:00:00Z"


READ_SCOPES = ["user-read-currently-playing", "user-read-recently-played"]
PLAYLIST_SCOPES = ["playlist-modify-private", "playlist-modify-public"]


def asked_scopes(url):
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["scope"][0].split()


def suggestions_bootstrap(fake, moto, name, *args):
    run = Run(fake, moto, name, *args)
    url = run.authorize_url()
    browser(url)
    assert run.finish() == 0, run.stderr
    assert_no_secret(run, fake)
    return run, asked_scopes(url)


def test_suggestions_ask_for_the_playlist_scopes_and_create_the_playlist_once(fake, moto, request):
    name = parameter_name(request)
    run, scopes = suggestions_bootstrap(fake, moto, name, "--suggestions")
    assert scopes == READ_SCOPES + PLAYLIST_SCOPES
    playlists = fake.playlists()
    assert len(playlists) == 1 and fake.calls()["create_playlist"] == 1
    [(pid, playlist)] = playlists.items()
    assert playlist["name"] == "Suggested by visitors" and playlist["public"] is False, (
        "private until the owner shares it"
    )
    stored = moto.read_credentials(name)
    assert stored["suggestions_playlist_id"] == pid
    assert stored["scope"].split() == READ_SCOPES + PLAYLIST_SCOPES
    assert f"https://open.spotify.com/playlist/{pid}" in run.stdout
    assert 'make deploy CDK_ARGS="-c suggestions=review"' in run.stdout

    again, scopes = suggestions_bootstrap(fake, moto, name, "--suggestions")
    assert fake.calls()["create_playlist"] == 1 and list(fake.playlists()) == [pid], "a re-run reuses the playlist"
    assert moto.read_credentials(name)["suggestions_playlist_id"] == pid

    # The six-monthly re-run without the flag keeps suggestions working.
    renewal, scopes = suggestions_bootstrap(fake, moto, name)
    assert "Suggestions stay on" in renewal.stdout
    assert scopes == READ_SCOPES + PLAYLIST_SCOPES
    assert moto.read_credentials(name)["suggestions_playlist_id"] == pid
    assert fake.calls()["create_playlist"] == 1

    dropped, scopes = suggestions_bootstrap(fake, moto, name, "--no-suggestions")
    assert scopes == READ_SCOPES
    assert "suggestions_playlist_id" not in moto.read_credentials(name)


def test_suggestions_reuse_an_own_playlist_of_that_name_but_not_a_followed_one(fake, moto, request):
    name = parameter_name(request)
    fake.control("playlist", {"id": "followedOne", "name": "Suggested by visitors", "owner": "someone-else"})
    fake.control("playlist", {"id": "ownOne", "name": "Suggested by visitors"})
    run, _ = suggestions_bootstrap(fake, moto, name, "--suggestions")
    assert moto.read_credentials(name)["suggestions_playlist_id"] == "ownOne"
    assert fake.calls()["create_playlist"] == 0

    other = parameter_name(request) + "-other"
    fake.state.playlists.pop("ownOne")
    run, _ = suggestions_bootstrap(fake, moto, other, "--suggestions")
    created = moto.read_credentials(other)["suggestions_playlist_id"]
    assert created != "followedOne" and fake.calls()["create_playlist"] == 1, (
        "someone else's playlist cannot be added to"
    )


def test_suggestions_with_print_only_create_nothing(fake, moto, request):
    name = parameter_name(request)
    run, scopes = suggestions_bootstrap(fake, moto, name, "--suggestions", "--print-only")
    assert scopes == READ_SCOPES + PLAYLIST_SCOPES
    assert fake.calls()["create_playlist"] == 0 and fake.playlists() == {}
    assert 'the playlist "Suggested by visitors" would be created' in run.stdout


def test_a_refused_playlist_creation_is_explained_and_stores_nothing(fake, moto, request):
    name = parameter_name(request)
    fake.control("fail", {"path": "/v1/me/playlists", "status": 429, "headers": {"Retry-After": "120"}})
    run = Run(fake, moto, name, "--suggestions")
    browser(run.authorize_url())
    failing(run, fake, "rate limiting this app for 120 s", moto, name)


def test_print_only_masks_secrets_and_stores_nothing(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name, "--print-only")
    browser(run.authorize_url())
    assert run.finish() == 0, run.stderr
    assert "nothing stored" in run.stdout and "<hidden," in run.stdout
    assert_no_secret(run, fake)
    with pytest.raises(Exception, match="ParameterNotFound"):
        moto.read_credentials(name)


def test_a_non_premium_account_is_warned_about(fake, moto, request):
    fake.state.product = "free"
    run = Run(fake, moto, parameter_name(request))
    browser(run.authorize_url())
    assert run.finish() == 0
    assert "only when the app's owner has Premium" in run.stdout


def failing(run, fake, exit_message, moto=None, name=None):
    assert run.finish() == 1, run.stdout
    assert run.stderr.startswith("make bootstrap: "), run.stderr
    assert exit_message in run.stderr, run.stderr
    assert "panicked" not in run.stderr and "backtrace" not in run.stderr.lower()
    assert_no_secret(run, fake)
    if moto and name:
        with pytest.raises(Exception, match="ParameterNotFound"):
            moto.read_credentials(name)


def test_a_wrong_client_secret_is_explained(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name, secret="wrong-secret-91ab")
    browser(run.authorize_url())
    failing(run, fake, "invalid_client", moto, name)
    assert "wrong-secret-91ab" not in run.stdout + run.stderr


def test_an_unregistered_redirect_uri_says_what_to_register_at_once(fake, moto, request):
    """Spotify shows the refusal on its authorize page, and the browser never comes back:
    the link is checked before waiting (a 300 s wait would outlast `finish`)."""
    name = parameter_name(request)
    run = Run(fake, moto, name, timeout=300, registered=False)
    failing(
        run,
        fake,
        f"Spotify does not accept the redirect URI {run.redirect_uri}: add it under Redirect URIs",
        moto,
        name,
    )
    assert "/authorize?" not in run.stdout, "no link to a page that can only refuse"


def test_an_unknown_client_id_is_explained_at_once(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name, timeout=300, env={"SPOTIFY_CLIENT_ID": "not-the-client"})
    failing(run, fake, "Spotify does not know the client id not-the-client", moto, name)


def test_a_port_in_use_is_explained(fake, moto, request):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = Run(fake, moto, parameter_name(request), port=port)
        failing(run, fake, f"port {port} on 127.0.0.1 is not free")
        assert "--port" in run.stderr


def test_a_state_mismatch_is_refused(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name)
    run.authorize_url()
    page = requests.get(f"{run.redirect_uri}?code=forged&state=not-the-state", timeout=10)
    assert page.status_code == 400
    failing(run, fake, "state does not match", moto, name)


def test_cancel_in_the_browser_is_explained(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name)
    fake.state.deny_next = True
    page = browser(run.authorize_url())
    assert "cancelled" in page.text
    failing(run, fake, "cancelled in the browser", moto, name)


def test_no_callback_before_the_timeout(fake, moto, request):
    name = parameter_name(request)
    run = Run(fake, moto, name, timeout=1)
    run.authorize_url()
    failing(run, fake, "no answer from the browser within 1 s", moto, name)


def test_no_aws_credentials_is_explained(fake, moto, request, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    name = parameter_name(request)
    run = Run(
        fake,
        moto,
        name,
        env={
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
            "AWS_SESSION_TOKEN": None,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        },
    )
    browser(run.authorize_url())
    failing(run, fake, "no AWS credentials found", moto, name)


class DenyingSsm(BaseHTTPRequestHandler):
    """Answers every SSM call the way AWS answers an identity without permission."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"__type": "AccessDeniedException", "message": "User is not authorized to perform: ssm:PutParameter"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_refused_parameter_write_is_explained(fake, moto, request):
    server = ThreadingHTTPServer(("127.0.0.1", 0), DenyingSsm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = Run(
            fake,
            moto,
            parameter_name(request),
            env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}"},
        )
        browser(run.authorize_url())
        failing(run, fake, "AccessDenied")
        assert "ssm:PutParameter" in run.stderr
    finally:
        server.shutdown()


def test_spotify_unreachable_is_explained(fake, moto, request):
    closed = free_port()
    name = parameter_name(request)
    run = Run(fake, moto, name, env={"SPOTIFY_ACCOUNTS_URL": f"http://127.0.0.1:{closed}"})
    url = run.authorize_url()
    state = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["state"][0]
    requests.get(f"{run.redirect_uri}?code=some-code&state={state}", timeout=10)
    failing(run, fake, "could not reach Spotify", moto, name)
    assert "some-code" not in run.stdout + run.stderr


def test_without_the_variables_it_asks_at_the_terminal_and_does_not_echo_the_secret(fake, moto, request):
    """A real terminal (a pty): the client id is typed and shown, the secret typed and not."""
    import pty
    import select

    name = parameter_name(request)
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    fake.state.redirect_uris.add(redirect_uri)
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SPOTIFY_CLIENT"))}
        | DUMMY_CREDENTIALS
        | {
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SPOTIFY_ACCOUNTS_URL": fake.url,
            "SPOTIFY_API_URL": fake.url,
            "CREDENTIALS_PARAMETER": name,
        }
    )
    pid, terminal = pty.fork()
    if pid == 0:
        os.execve(str(BINARY), [str(BINARY), "--port", str(port), "--no-browser", "--timeout", "20"], env)
    screen = b""

    def read_until(marker: bytes, seconds=15):
        nonlocal screen
        deadline = time.monotonic() + seconds
        while marker not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(terminal, 4096)
                except OSError:
                    break
        assert marker in screen, screen.decode(errors="replace")

    read_until(b"Spotify client id: ")
    os.write(terminal, CLIENT_ID.encode() + b"\r")
    read_until(b"(not shown): ")
    # The prompt is printed before echo is switched off; a person types after it.
    time.sleep(0.5)
    os.write(terminal, CLIENT_SECRET.encode() + b"\r")
    read_until(b"/authorize?")
    read_until(b"\r\n\r\n")
    url = next(line.strip() for line in screen.decode().splitlines() if "/authorize?" in line)
    browser(url)
    read_until(b"Stored in the SSM SecureString")
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0
    shown = screen.decode(errors="replace")
    assert CLIENT_ID in shown, "the id is echoed as typed"
    assert CLIENT_SECRET not in shown, "the secret is not echoed"
    assert moto.read_credentials(name)["client_secret"] == CLIENT_SECRET
