"""Runs the browser tests (tests/browser, Node's test runner with playwright-core and
Debian's Chromium) against the function running locally with the Spotify stand-in."""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from devstack.local import EVERY_WINDOW, LocalStack

BROWSER = Path(__file__).resolve().parent / "browser"


@pytest.fixture(scope="module")
def playing():
    # Suggestions in review mode for the dialog's tests, with room for the suggestions
    # they send before the one that finds the hourly limit.
    # Live push through the AppSync Events stand-in, for `<now-playing live>`.
    with LocalStack(
        suggestions="review",
        live=True,
        extra_env={"CACHE_SECONDS": "1", "SUGGESTIONS_PER_VISITOR_PER_HOUR": "6", **EVERY_WINDOW},
    ) as stack:
        requests.post(f"{stack.fake.url}/_fake/scene", json={"scene": "track"}, timeout=5).raise_for_status()
        yield stack


def test_the_svg_card_is_well_formed_xml(playing):
    for query in ("", "?theme=light", "?theme=dark"):
        response = requests.get(f"{playing.url}/v1/current.svg{query}", timeout=30)
        assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        root = ET.fromstring(response.content)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert (root.get("width"), root.get("height")) == ("400", "120")


def test_the_widget_is_under_6_kb_gzipped(playing):
    import gzip

    body = requests.get(f"{playing.url}/v1/widget.js", timeout=30).content
    assert len(gzip.compress(body, 9)) < 6 * 1024


def test_the_widget_the_header_the_suggest_dialog_the_card_and_page_in_chromium(playing, capsys):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian's chromium is not installed (apt-get install chromium)"
    assert (BROWSER / "node_modules" / "playwright-core").exists(), "run `make test` (it installs tests/browser)"
    try:
        done = subprocess.run(
            [
                "node",
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                "widget.test.mjs",
                "header.test.mjs",
                "suggest.test.mjs",
                "live.test.mjs",
            ],
            cwd=BROWSER,
            env=dict(os.environ, NP_URL=playing.url, NP_SPOTIFY=playing.fake.url, CHROMIUM=chromium),
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired as stuck:
        # What ran before the stop says which test hung; the function's log, what it answered.
        printed = stuck.output.decode(errors="replace") if isinstance(stuck.output, bytes) else stuck.output or ""
        pytest.fail(
            f"the browser tests ran over 300 s; they printed:\n{printed[-6000:]}\n"
            f"the function's log ends:\n{playing.logs()[-3000:]}"
        )
    print(done.stdout[-6000:])
    with capsys.disabled():
        for line in done.stdout.splitlines():
            if "proof of work:" in line and "hashes/s" in line:
                print("\n" + line.strip().removeprefix("# "))
    assert done.returncode == 0, (
        done.stdout[-6000:] + done.stderr[-3000:] + "\nthe function's log ends:\n" + playing.logs()[-3000:]
    )
