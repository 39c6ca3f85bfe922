"""The Spotify payloads the stand-in serves: the repository's fixtures, checked against
Spotify's OpenAPI schemas (tests/test_fixtures_match_schema.py)."""

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "lambda" / "tests" / "data" / "spotify"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())
