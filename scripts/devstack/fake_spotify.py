"""A local stand-in for Spotify's accounts service and Web API.

It serves the repository's fixtures (checked against Spotify's OpenAPI schemas), checks
Basic and Bearer credentials the way Spotify does, counts every call, and can be scripted:
`make dev` plays a timed session (`session.py`); tests set a scene, a session, the daily quota
or a failure over HTTP.
"""

import base64
import copy
import json
import secrets
import threading
import time
import urllib.parse
from datetime import UTC, datetime

from .catalog import KINDS, look_up
from .fixtures import fixture
from .quiet import LoopbackServer, QuietHandler
from .session import QUOTA_BODY
from .spotify_state import (
    SCENES,
    SESSION_COOKIE,
    State,
    cover_jpeg,
)


class Handler(QuietHandler):
    state: State

    def send(self, status: int, body=None, headers=None):
        data = (
            b"" if body is None else (body if isinstance(body, bytes) else self.local_images(json.dumps(body)).encode())
        )
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def local_images(self, text: str) -> str:
        """Album art URLs pointed at this stand-in, which serves them (no outside network)."""
        host = self.headers.get("Host") or ""
        return text.replace("https://i.scdn.co/image/", f"http://{host}/image/") if host else text

    def scripted_failure(self, path: str) -> bool:
        with self.state.lock:
            match = next((f for f in self.state.failures if path.startswith(f["path"])), None)
            if match:
                self.state.failures.remove(match)
        if not match:
            return False
        time.sleep(match.get("delay", 0))
        body = match.get("body")
        self.send(match["status"], body.encode() if isinstance(body, str) else body, match.get("headers"))
        return True

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if url.path.startswith("/_fake/"):
            return self.control(url.path, json.loads(raw or b"{}"))
        if url.path.startswith("/v1/"):
            return self.web_api_post(url.path, raw)
        if url.path != "/api/token":
            return self.send(404, {"error": {"status": 404, "message": "Service not found"}})
        with self.state.lock:
            self.state.calls["token"] += 1
        if self.scripted_failure(url.path):
            return
        form = urllib.parse.parse_qs(raw.decode())
        expected = base64.b64encode(f"{self.state.client_id}:{self.state.client_secret}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return self.send(400, fixture("error_invalid_client.json"))
        if form.get("grant_type") == ["authorization_code"]:
            return self.authorization_code(form)
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [self.state.refresh_token]:
            return self.send(400, fixture("error_invalid_grant.json"))
        with self.state.lock:
            token = self.state.new_token("fake-access")
            self.state.issued.add(token)
            self.state.token_scopes[token] = self.state.scope
            answer = fixture("token.json") | {
                "access_token": token,
                "expires_in": self.state.expires_in,
                "scope": self.state.scope,
            }
            if self.state.rotate_next:
                self.state.refresh_token = self.state.new_token("fake-refresh-rotated")
                answer["refresh_token"] = self.state.refresh_token
                self.state.rotate_next = False
        time.sleep(self.state.delay)
        self.send(200, answer)

    def authorization_code(self, form):
        code = (form.get("code") or [""])[0]
        with self.state.lock:
            issued_for, scope = self.state.codes.pop(code, (None, ""))
            if issued_for is None or form.get("redirect_uri") != [issued_for]:
                return self.send(400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
            token = self.state.new_token("fake-access")
            self.state.issued.add(token)
            self.state.refresh_token = self.state.new_token("fake-refresh")
            # The grant has the scopes the owner consented to, and so do its refreshes.
            self.state.scope = scope
            self.state.token_scopes[token] = scope
            answer = fixture("token_rotated.json") | {
                "access_token": token,
                "refresh_token": self.state.refresh_token,
                "scope": scope,
            }
        self.send(200, answer)

    def authorize(self, query):
        """Spotify's consent page: a refused link says why at once, to anyone; a visitor who
        is not logged in (no session cookie) is sent to the login page, with no side effect;
        a logged-in browser has already approved and is redirected with a code."""
        param = {k: v[0] for k, v in query.items()}
        if param.get("client_id") != self.state.client_id:
            return self.send_html(400, "INVALID_CLIENT: Invalid client")
        redirect = param.get("redirect_uri", "")
        if redirect not in self.state.redirect_uris:
            return self.send_html(400, "INVALID_CLIENT: Invalid redirect URI")
        if param.get("response_type") != "code":
            return self.send_html(400, "unsupported_response_type")
        if f"{SESSION_COOKIE}=" not in (self.headers.get("Cookie") or ""):
            return self.send(302, headers={"Location": "/login?continue=" + urllib.parse.quote(self.path)})
        with self.state.lock:
            if self.state.deny_next:
                self.state.deny_next = False
                outcome = {"error": "access_denied"}
            else:
                code = f"fake-code-{next(self.state.serial)}"
                self.state.codes[code] = (redirect, param.get("scope", ""))
                outcome = {"code": code}
        location = redirect + "?" + urllib.parse.urlencode(outcome | {"state": param.get("state", "")})
        self.send(302, headers={"Location": location})

    def send_html(self, status, text):
        data = f"<!doctype html><title>Error</title><p>{text}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path.startswith("/image/"):
            with self.state.lock:
                self.state.calls["image"] += 1
            jpeg = cover_jpeg(url.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            return self.wfile.write(jpeg)
        if url.path == "/authorize":
            return self.authorize(urllib.parse.parse_qs(url.query))
        if url.path == "/_fake/calls":
            with self.state.lock:
                return self.send(200, dict(self.state.calls))
        if url.path == "/_fake/playlists":
            with self.state.lock:
                return self.send(200, copy.deepcopy(self.state.playlists))
        if url.path == "/_fake/session":
            session, quota = self.state.session, self.state.quota
            return self.send(
                200,
                {
                    "starts": session.starts() if session else [],
                    "quota_left": quota.left if quota else None,
                    "refused": quota.refused if quota else 0,
                },
            )
        if url.path in ("/v1/search", "/v1/me/playlists") or url.path.startswith("/v1/tracks/"):
            return self.web_api_get(url)
        parts = url.path.split("/")
        if len(parts) == 4 and parts[1] == "v1" and parts[2] in KINDS:
            return self.catalog_get(parts[2], parts[3])
        kind = {
            "/v1/me/player/currently-playing": "currently_playing",
            "/v1/me/player/recently-played": "recently_played",
            "/v1/me": "me",
        }.get(url.path)
        if kind is None:
            return self.send(404, {"error": {"status": 404, "message": "Service not found"}})
        with self.state.lock:
            self.state.calls[kind] += 1
        if self.refused() or self.scripted_failure(url.path):
            return
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self.state.lock:
            known = bearer in self.state.issued
        if not known:
            return self.send(401, {"error": {"status": 401, "message": "Invalid access token"}})
        time.sleep(self.state.delay)
        if kind == "currently_playing":
            return self.currently_playing(urllib.parse.parse_qs(url.query))
        if kind == "recently_played":
            return self.recently_played()
        return self.send(
            200,
            {
                "id": "owner",
                "display_name": "Local Owner",
                "product": self.state.product,
                "type": "user",
                "uri": "spotify:user:owner",
                "href": "https://api.spotify.com/v1/users/owner",
                "external_urls": {"spotify": "https://open.spotify.com/user/owner"},
            },
        )

    def bearer_scope(self):
        """The scope of the request's token, or None (after a 401 was sent) when it is unknown."""
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self.state.lock:
            known = bearer in self.state.issued
            scope = self.state.token_scopes.get(bearer, "")
        if not known:
            self.send(401, {"error": {"status": 401, "message": "Invalid access token"}})
            return None
        return scope

    def web_api_get(self, url):
        query = urllib.parse.parse_qs(url.query)
        kind = "search" if url.path == "/v1/search" else "playlists" if url.path == "/v1/me/playlists" else "track"
        with self.state.lock:
            self.state.calls[kind] += 1
        if self.refused() or self.scripted_failure(url.path):
            return
        if self.bearer_scope() is None:
            return
        time.sleep(self.state.delay)
        if kind == "search":
            limit = int((query.get("limit") or ["5"])[0])
            if limit > 10 or limit < 0:
                # Development-mode apps since 2026: at most 10 results per search.
                return self.send(400, {"error": {"status": 400, "message": "Invalid limit"}})
            words = (query.get("q") or [""])[0].lower().split()
            if (query.get("type") or [""])[0] != "track" or not words:
                return self.send(400, {"error": {"status": 400, "message": "Bad search type field"}})
            page = copy.deepcopy(fixture("search_tracks.json"))
            items = [
                t
                for t in page["tracks"]["items"]
                if all(w in (t["name"] + " " + " ".join(a["name"] for a in t["artists"])).lower() for w in words)
            ]
            page["tracks"]["items"], page["tracks"]["total"], page["tracks"]["limit"] = items[:limit], len(items), limit
            return self.send(200, page)
        if kind == "playlists":
            with self.state.lock:
                items = [
                    fixture("playlist.json")
                    | {
                        "id": pid,
                        "name": p["name"],
                        "public": p["public"],
                        "owner": fixture("playlist.json")["owner"] | {"id": p["owner"]},
                    }
                    for pid, p in self.state.playlists.items()
                ]
            return self.send(
                200,
                {
                    "href": "https://api.spotify.com/v1/me/playlists",
                    "items": items,
                    "limit": 50,
                    "next": None,
                    "offset": 0,
                    "previous": None,
                    "total": len(items),
                },
            )
        track_id = url.path.removeprefix("/v1/tracks/")
        found = next((t for t in fixture("search_tracks.json")["tracks"]["items"] if t["id"] == track_id), None)
        if found is None:
            return self.send(404, {"error": {"status": 404, "message": "Resource not found"}})
        return self.send(200, found)

    def catalog_get(self, kind, item_id):
        """`GET /v1/{artists,albums,shows,playlists}/{id}`: the object, or 404 for an id no
        fixture mentions (and 400 for one that is not an id at all)."""
        with self.state.lock:
            self.state.calls["catalog"] += 1
        if self.refused() or self.scripted_failure(f"/v1/{kind}/"):
            return
        if self.bearer_scope() is None:
            return
        if len(item_id) != 22 or not item_id.isalnum():
            return self.send(400, {"error": {"status": 400, "message": "Invalid base62 id"}})
        with self.state.lock:
            found = look_up(kind, item_id, copy.deepcopy(self.state.playlists))
        if found is None:
            return self.send(404, {"error": {"status": 404, "message": "Resource not found"}})
        return self.send(200, found)

    def web_api_post(self, path, raw):
        kind = "create_playlist" if path == "/v1/me/playlists" else "add_items"
        with self.state.lock:
            self.state.calls[kind] += 1
        if self.refused() or self.scripted_failure(path):
            return
        scope = self.bearer_scope()
        if scope is None:
            return
        if path.startswith("/v1/playlists/") and path.endswith("/tracks"):
            # Removed for development-mode apps in 2026: items are added at /items.
            return self.send(403, {"error": {"status": 403, "message": "Forbidden"}})
        if not {"playlist-modify-private", "playlist-modify-public"} & set(scope.split()):
            return self.send(401, {"error": {"status": 401, "message": "Permissions missing"}})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send(400, {"error": {"status": 400, "message": "Error parsing JSON."}})
        if kind == "create_playlist":
            with self.state.lock:
                pid = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(22))
                self.state.playlists[pid] = {
                    "name": body.get("name", ""),
                    "uris": [],
                    "owner": "owner",
                    "public": bool(body.get("public", True)),
                }
            return self.send(
                201,
                fixture("playlist.json")
                | {"id": pid, "name": body.get("name", ""), "public": bool(body.get("public", False))},
            )
        pid = path.removeprefix("/v1/playlists/").removesuffix("/items")
        uris = body.get("uris")
        if not isinstance(uris, list) or not all(isinstance(u, str) and u.startswith("spotify:") for u in uris):
            return self.send(400, {"error": {"status": 400, "message": "Invalid track uri"}})
        with self.state.lock:
            playlist = self.state.playlists.get(pid)
            if playlist is None or not path.endswith("/items"):
                return self.send(404, {"error": {"status": 404, "message": "Resource not found"}})
            playlist["uris"].extend(uris)
        return self.send(201, {"snapshot_id": secrets.token_hex(8)})

    def currently_playing(self, query):
        if self.state.session is not None:
            body = self.state.session.playback(time.time())
            return self.send(204) if body is None else self.send(200, body)
        scene = self.state.current_scene()
        name = SCENES[scene]
        if name is None:
            return self.send(204)
        body = fixture(name)
        if body["currently_playing_type"] == "episode" and "episode" not in ",".join(query.get("additional_types", [])):
            # Without additional_types=episode Spotify hides the episode.
            body = body | {"item": None, "currently_playing_type": "unknown"}
        item = body.get("item")
        if item and body["is_playing"]:
            elapsed_ms = int((time.time() - self.state.scene_started) * 1000)
            body["progress_ms"] = (body["progress_ms"] + elapsed_ms) % item["duration_ms"]
        body["timestamp"] = int(time.time() * 1000)
        self.send(200, body)

    # The history: the fixture's play 12 minutes ago, then these (name, id, minutes ago);
    # the last is played twice in a row, as Spotify lists a repeat.
    HISTORY = [
        ("Together Forever", "5lWRaa0fBxDE5yU91npPq7", 16),
        ("Whenever You Need Somebody", "3bHCAMlD8HW2PaqKyXlmmb", 20),
        ("Whenever You Need Somebody", "3bHCAMlD8HW2PaqKyXlmmb", 24),
    ]

    def recently_played(self):
        if self.state.current_scene() == "offline":
            return self.send(200, fixture("recently_played_empty.json"))
        body = copy.deepcopy(fixture("recently_played.json"))
        first = body["items"][0]
        for name, track_id, _ in self.HISTORY:
            entry = copy.deepcopy(first)
            entry["track"].update(name=name, id=track_id, uri=f"spotify:track:{track_id}")
            entry["track"]["external_urls"] = {"spotify": f"https://open.spotify.com/track/{track_id}"}
            body["items"].append(entry)
        for entry, minutes in zip(body["items"], [12] + [m for _, _, m in self.HISTORY], strict=True):
            played = datetime.fromtimestamp(time.time() - minutes * 60, tz=UTC)
            entry["played_at"] = played.strftime("%Y-%m-%dT%H:%M:%S.") + f"{played.microsecond // 1000:03d}Z"
        limit = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("limit", ["20"])[0]
        body["items"] = body["items"][: max(1, min(50, int(limit) if limit.isdigit() else 20))]
        body["limit"] = len(body["items"])
        self.send(200, body)

    def control(self, path, body):
        with self.state.lock:
            known = self.state.apply(path, body)
        self.send(204 if known else 404, None if known else {"error": "no such control"})

    def refused(self) -> bool:
        """Answers Spotify's daily-quota refusal once `/_fake/quota` is spent."""
        headers = self.state.quota.refusal() if self.state.quota else None
        if headers is not None:
            self.send(429, QUOTA_BODY, headers)
        return headers is not None


class FakeSpotify:
    """Runs in a background thread; `url` serves both the accounts service and the Web API."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str, port: int = 0):
        self.state = State(client_id, client_secret, refresh_token)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = LoopbackServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeSpotify":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def control(self, what: str, body: dict | None = None) -> None:
        """One of the `/_fake/...` controls: scene, fail, rotate, expire-access-tokens, ..."""
        request = urllib.request.Request(
            f"{self.url}/_fake/{what}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).read()

    def playlists(self) -> dict:
        """The playlists in the owner's library: id -> {"name", "uris", "owner", "public"}."""
        with urllib.request.urlopen(f"{self.url}/_fake/playlists", timeout=5) as answer:
            return json.loads(answer.read())

    def calls(self) -> dict:
        """How many times each Spotify endpoint was called."""
        with urllib.request.urlopen(f"{self.url}/_fake/calls", timeout=5) as answer:
            return json.loads(answer.read())

    def __enter__(self) -> "FakeSpotify":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
