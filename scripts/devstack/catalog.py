"""The catalogue the stand-in can look up by id (`GET /v1/artists/{id}` and the like, what
`make privacy hide` asks before it writes a rule): every artist, album and show its
fixtures mention, and the playlists in the owner's library. Ids are case-sensitive, as
Spotify's are; an unknown one is a 404."""

import copy
import json

from .fixtures import FIXTURES, fixture

KINDS = ("artists", "albums", "shows", "playlists", "tracks")


def _mentioned() -> dict[str, dict[str, str]]:
    """Every id of each kind any fixture mentions, with its name."""
    found: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}

    def walk(value):
        if isinstance(value, dict):
            kind = {"artist": "artists", "album": "albums", "show": "shows", "track": "tracks"}.get(value.get("type"))
            if kind and isinstance(value.get("id"), str) and isinstance(value.get("name"), str):
                found[kind].setdefault(value["id"], value["name"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(FIXTURES.glob("*.json")):
        walk(json.loads(path.read_text()))
    return found


MENTIONED = _mentioned()
TEMPLATE = {"artists": "artist.json", "albums": "album.json", "shows": "show.json", "tracks": "track.json"}


def look_up(kind: str, item_id: str, playlists: dict) -> dict | None:
    """The object Spotify would answer for `kind`/`item_id`, or None (a 404)."""
    if kind == "playlists":
        if item_id not in playlists:
            return None
        body = fixture("playlist.json")
        return body | {"id": item_id, "name": playlists[item_id]["name"], "uri": f"spotify:playlist:{item_id}"}
    name = MENTIONED[kind].get(item_id)
    if name is None:
        return None
    body = copy.deepcopy(fixture(TEMPLATE[kind]))
    singular = kind.removesuffix("s")
    return body | {
        "id": item_id,
        "name": name,
        "uri": f"spotify:{singular}:{item_id}",
        "href": f"https://api.spotify.com/v1/{kind}/{item_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/{singular}/{item_id}"},
    }
