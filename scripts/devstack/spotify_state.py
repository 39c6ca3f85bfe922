"""The Spotify stand-in's state and data: its scenes, the fixtures it serves, the album
covers, and what it holds (credentials, tokens, playlists, scripted failures, calls)."""

import hashlib
import itertools
import secrets
import threading
import time
from pathlib import Path

from .session import QUOTA_RETRY_AFTER, Quota, Session

SCENES = {
    "track": "currently_playing_track.json",
    "paused": "currently_playing_paused.json",
    "episode": "currently_playing_episode.json",
    "local": "currently_playing_local.json",
    "ad": "currently_playing_ad.json",
    "nothing": None,
    "offline": None,
}


# The cookie a logged-in browser carries on the stand-in's accounts pages.
SESSION_COOKIE = "sp_dc"


COVERS = sorted((Path(__file__).parent / "covers").glob("*.jpg"))


def cover_jpeg(path: str) -> bytes:
    """The cover at `path`: one of a few real JPEGs (Spotify's CDN sends JPEG), made by
    lambda/tests/suite/palette.rs. An image id is a 16-character rendition prefix and the picture's
    id (the fixtures end theirs with the width), so every rendition shows one picture."""
    picture = path.removeprefix("/image/")[16:].rstrip("0123456789")
    digest = hashlib.sha256(picture.encode()).digest()
    return COVERS[digest[0] % len(COVERS)].read_bytes()


class State:
    def __init__(self, client_id: str, client_secret: str, refresh_token: str):
        self.lock = threading.Lock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.scene = "track"
        self.scene_started = time.time()
        self.issued = set()
        # Every token ever handed out, access and refresh, never cleared: what a secret
        # scan must look for, whatever was expired or rotated since.
        self.ever_issued: list[str] = []
        self.serial = itertools.count(1)
        self.calls = {
            "token": 0,
            "currently_playing": 0,
            "recently_played": 0,
            "me": 0,
            "search": 0,
            "track": 0,
            "catalog": 0,
            "add_items": 0,
            "create_playlist": 0,
            "playlists": 0,
            "image": 0,
        }
        # The scopes the owner granted; every token carries those of its grant.
        self.scope = "user-read-currently-playing user-read-recently-played"
        self.token_scopes: dict[str, str] = {}
        # The playlists in the owner's library: id -> {"name", "uris", "owner", "public"}.
        self.playlists: dict[str, dict] = {}
        # Failures to serve before the normal answer: (path prefix, status, headers, body, delay).
        self.failures = []
        self.rotate_next = False
        self.expires_in = 3600
        self.delay = 0.0
        # The authorization-code side: redirect URIs registered on the app, issued codes.
        self.redirect_uris = set()
        self.codes = {}
        self.deny_next = False
        self.product = "premium"
        # A timed session (`session.Session`) instead of the scenes, and the daily quota.
        self.session = None
        self.quota = None

    def new_token(self, kind: str) -> str:
        """A token no log line could contain by chance; remembered in `ever_issued`."""
        token = f"{kind}-{next(self.serial)}-{secrets.token_hex(6)}"
        self.ever_issued.append(token)
        return token

    def current_scene(self) -> str:
        return self.scene

    def apply(self, path: str, body: dict) -> bool:
        """One `/_fake/...` control, under the lock; False when there is no such control."""
        if path == "/_fake/scene":
            self.session = None
            self.scene = body["scene"]
            self.scene_started = time.time()
        elif path == "/_fake/session":
            self.session = Session(body["segments"], loop=body.get("loop", True))
        elif path == "/_fake/quota":
            self.quota = Quota(int(body["calls"]), int(body.get("retry_after", QUOTA_RETRY_AFTER)))
        elif path == "/_fake/fail":
            self.failures.extend([body] * int(body.get("times", 1)))
        elif path == "/_fake/rotate":
            self.rotate_next = True
        elif path == "/_fake/revoke":
            self.refresh_token = "revoked"
        elif path == "/_fake/expire-access-tokens":
            self.issued.clear()
        elif path == "/_fake/register":
            self.redirect_uris.add(body["redirect_uri"])
        elif path == "/_fake/deny":
            self.deny_next = True
        elif path == "/_fake/product":
            self.product = body["product"]
        elif path == "/_fake/scope":
            # What the owner granted: new tokens carry it (tokens already issued keep theirs).
            self.scope = body["scope"]
        elif path == "/_fake/playlist":
            self.playlists[body["id"]] = {
                "name": body.get("name", "Suggested by visitors"),
                "uris": [],
                "owner": body.get("owner", "owner"),
                "public": False,
            }
        elif path == "/_fake/delay":
            self.delay = float(body["seconds"])
        else:
            return False
        return True
