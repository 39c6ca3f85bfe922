"""The Spotify fixtures (served by the Rust tests and by the local stand-in) have the shape
of Spotify's published OpenAPI schemas, except where real Spotify is known to differ."""

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "lambda" / "tests" / "data" / "spotify"
SPEC = ROOT / "tests" / "spotify" / "spotify-web-api.openapi.yml"

# Which schema each fixture must match.
SCHEMA_OF = {
    "currently_playing_track.json": "CurrentlyPlayingObject",
    "currently_playing_paused.json": "CurrentlyPlayingObject",
    "currently_playing_episode.json": "CurrentlyPlayingObject",
    "currently_playing_local.json": "CurrentlyPlayingObject",
    "currently_playing_ad.json": "CurrentlyPlayingObject",
    "recently_played.json": "CursorPagingPlayHistoryObject",
    "recently_played_empty.json": "CursorPagingPlayHistoryObject",
    "error_rate_limited.json": "ErrorResponse",
    "error_quota_exceeded.json": "ErrorResponse",
    "error_forbidden.json": "ErrorResponse",
    "track.json": "TrackObject",
    "search_tracks.json": "SearchResponse",
    "playlist.json": "PlaylistObject",
    # What `make privacy` looks up by id (the stand-in serves them).
    "artist.json": "ArtistObject",
    "album.json": "AlbumObject",
    "show.json": "ShowObject",
}
# The accounts service is not in the Web API document; its answers are checked by hand below.
ACCOUNTS = {"token.json", "token_rotated.json", "error_invalid_grant.json", "error_invalid_client.json"}


def _or_null(schema):
    """`schema` or null; `nullable` alone does not reach through `allOf`."""
    return {"anyOf": [schema, {"enum": [None]}]}


def _spec_with_known_deviations(local_files: bool = True):
    """The document, loosened only where FACTS about real Spotify contradict it; without
    the local-file deviation when `local_files` is false."""
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    # Local files: id, href and album fields are null; the schema marks none nullable.
    for name in ("TrackObject", "SimplifiedArtistObject", "SimplifiedAlbumObject", "AlbumBase") if local_files else ():
        for prop in ("id", "href", "album_type", "release_date", "release_date_precision"):
            field = schemas.get(name, {}).get("properties", {}).get(prop)
            if field is not None:
                field["nullable"] = True
                if "enum" in field:
                    field["enum"] = [*field["enum"], None]
    # During an ad or an unknown item, `item` and `context` are null.
    playing = schemas["CurrentlyPlayingObject"]["properties"]
    playing["context"] = _or_null(playing["context"])
    # jsonschema ignores OpenAPI's `discriminator`, and a track also satisfies the loose
    # EpisodeObject, so `oneOf` cannot decide: `validate` resolves `type` itself.
    playing["item"] = {"type": "object", "nullable": True}
    # An empty history has `"next": null, "cursors": null` (the description says so).
    paging = schemas["CursorPagingObject"]["properties"]
    for prop in ("next", "cursors"):
        paging[prop] = _or_null(paging[prop])
    # The search answer is a response, not a named schema.
    schemas["SearchResponse"] = spec["components"]["responses"]["SearchItems"]["content"]["application/json"]["schema"]
    # A 429 body carries `reason` (e.g. QUOTA_EXCEEDED); the schema has no such field.
    schemas["ErrorResponse"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorObject"}},
    }
    return spec


def _registry(spec):
    return Registry().with_resource("spotify.yml", Resource.from_contents(spec, default_specification=DRAFT4))


@pytest.fixture(scope="module")
def registry():
    return _registry(_spec_with_known_deviations())


def validate(registry, schema_name, instance):
    schema = {"$ref": f"spotify.yml#/components/schemas/{schema_name}"}
    OAS30Validator(schema, registry=registry).validate(instance)
    item = instance.get("item") if schema_name == "CurrentlyPlayingObject" else None
    if item is not None:
        by_type = {"track": "TrackObject", "episode": "EpisodeObject"}
        assert item.get("type") in by_type, f"item type {item.get('type')!r} is neither track nor episode"
        validate(registry, by_type[item["type"]], item)


@pytest.mark.parametrize("name", sorted(SCHEMA_OF))
def test_fixture_matches_spotify_schema(registry, name):
    validate(registry, SCHEMA_OF[name], json.loads((FIXTURES / name).read_text()))


def test_every_fixture_is_checked():
    on_disk = {p.name for p in FIXTURES.glob("*.json")}
    assert on_disk == set(SCHEMA_OF) | ACCOUNTS


@pytest.mark.parametrize("name", ["token.json", "token_rotated.json"])
def test_token_answers_have_the_accounts_service_fields(name):
    body = json.loads((FIXTURES / name).read_text())
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body) <= {"access_token", "token_type", "expires_in", "scope", "refresh_token"}


def test_the_check_rejects_a_payload_of_the_wrong_shape(registry):
    broken = json.loads((FIXTURES / "currently_playing_track.json").read_text())
    broken["is_playing"] = "yes"
    with pytest.raises(ValidationError):
        validate(registry, "CurrentlyPlayingObject", broken)


def test_the_loosening_is_needed_for_local_files():
    """Guards the deviation list: with every other deviation applied, the schema accepts
    a normal track and rejects a local file, at one of the fields the deviation loosens."""
    strict = _registry(_spec_with_known_deviations(local_files=False))
    track = json.loads((FIXTURES / "currently_playing_track.json").read_text())
    validate(strict, "CurrentlyPlayingObject", track)
    local = json.loads((FIXTURES / "currently_playing_local.json").read_text())
    with pytest.raises(ValidationError) as refused:
        validate(strict, "CurrentlyPlayingObject", copy.deepcopy(local))
    assert refused.value.instance is None, "refused for a null the local-file deviation allows"
    assert list(refused.value.path)[-1] in ("id", "href", "album_type", "release_date", "release_date_precision")
