"""`make smoke URL=...`: checks a running deployment from outside, the way a page uses it.

Exits 0 when every check passes; prints one line per check either way.
"""

import re
import sys
from urllib.parse import urljoin

import requests

STATUSES = {"playing", "paused", "last_played", "offline"}
FIELDS = {"status", "is_playing", "item", "progress_ms", "played_at", "fetched_at", "stale", "stale_reason"}


def checks(base: str):
    current = requests.get(f"{base}/v1/current", headers={"Origin": "https://example.com"}, timeout=15)
    yield (
        "GET /v1/current answers 200 JSON",
        current.status_code == 200 and current.headers.get("Content-Type", "").startswith("application/json"),
        f"{current.status_code} {current.text[:200]}",
    )
    doc = current.json() if current.status_code == 200 else {}
    yield "the document has the public fields", set(doc) == FIELDS, sorted(doc)
    yield "status is one of playing, paused, last_played, offline", doc.get("status") in STATUSES, doc.get("status")
    yield (
        "it may be cached briefly and has an ETag",
        "max-age=" in current.headers.get("Cache-Control", "") and bool(current.headers.get("ETag")),
        dict(current.headers),
    )
    yield (
        "CORS allows pages to read it",
        bool(current.headers.get("Access-Control-Allow-Origin")),
        dict(current.headers),
    )
    if current.headers.get("ETag"):
        etag = current.headers["ETag"]
        # Strong, and weak as a compressing CDN sends it back: both are a match.
        agains = [
            requests.get(f"{base}/v1/current", headers={"If-None-Match": sent}, timeout=15)
            for sent in (etag, etag if etag.startswith("W/") else f"W/{etag}")
        ]
        # A 200 is right only when the answer changed meanwhile, and then its ETag differs.
        revalidated = all(
            again.status_code == 304
            or (again.status_code == 200 and again.headers.get("ETag") not in (None, etag, f"W/{etag}"))
            for again in agains
        )
        yield (
            "a matching If-None-Match, strong or weak, gets 304",
            revalidated,
            [f"{a.status_code} ETag {a.headers.get('ETag')}" for a in agains],
        )
    cache = current.headers.get("Cache-Control", "")
    yield (
        "a shared cache may serve the answer stale while refreshing, and through an outage",
        cache.startswith("public") and "stale-while-revalidate=" in cache and "stale-if-error=" in cache,
        cache,
    )
    head = requests.head(f"{base}/v1/current", timeout=15)
    yield "HEAD /v1/current answers 200", head.status_code == 200, head.status_code
    yield "answers say nosniff", current.headers.get("X-Content-Type-Options") == "nosniff", dict(current.headers)
    health = requests.get(f"{base}/v1/health", timeout=15)
    body = health.json() if health.headers.get("Content-Type", "").startswith("application/json") else {}
    yield (
        "GET /v1/health answers configured with days remaining",
        health.status_code == 200 and body.get("configured") is True,
        f"{health.status_code} {health.text[:200]}",
    )
    preflight = requests.options(
        f"{base}/v1/current",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        timeout=15,
    )
    allowed = [m.strip() for m in preflight.headers.get("Access-Control-Allow-Methods", "").split(",")]
    yield (
        "OPTIONS preflight allows GET",
        preflight.status_code in (200, 204) and "GET" in allowed,
        (f"{preflight.status_code} {dict(preflight.headers)}"),
    )
    post = requests.post(f"{base}/v1/current", timeout=15)
    code = (
        post.json().get("error", {}).get("code")
        if post.headers.get("Content-Type", "").startswith("application/json")
        else None
    )
    yield (
        "POST is a JSON method_not_allowed",
        post.status_code == 405 and code == "method_not_allowed",
        (f"{post.status_code} {post.text[:200]}"),
    )
    item = doc.get("item") or {}
    palette = item.get("palette")
    yield (
        "the item's palette is null or three #rrggbb colours",
        palette is None
        or (
            set(palette) == {"background", "foreground", "accent"}
            and all(isinstance(c, str) and len(c) == 7 and c.startswith("#") for c in palette.values())
        ),
        palette,
    )
    art = requests.get(f"{base}/v1/art?size=64", allow_redirects=False, timeout=15)
    has_art = bool(item.get("images"))
    art_ok = (
        (art.status_code == 302 and bool(art.headers.get("Location"))) if has_art else (art.status_code in (302, 404))
    )
    yield (
        "GET /v1/art redirects to the art (or a JSON no_art without)",
        art_ok,
        f"{art.status_code} {dict(art.headers)}",
    )
    recent = requests.get(f"{base}/v1/recent?limit=3", timeout=15)
    listed = recent.json() if recent.headers.get("Content-Type", "").startswith("application/json") else {}
    yield (
        "GET /v1/recent lists at most the asked number of plays",
        recent.status_code == 200
        and isinstance(listed.get("items"), list)
        and len(listed["items"]) <= 3
        and all(set(i) == {"item", "played_at"} for i in listed["items"]),
        f"{recent.status_code} {recent.text[:200]}",
    )
    page = requests.get(f"{base}/", timeout=15)
    script = re.search(r'<script type="module" src="([^"]+)"', page.text) if page.status_code == 200 else None
    loads = requests.get(urljoin(f"{base}/", script.group(1)), timeout=15) if script else None
    yield (
        "GET / is the preview page, and the widget script it names loads",
        loads is not None and (loads.status_code == 200 and "javascript" in loads.headers.get("Content-Type", "")),
        f"{page.status_code} {script.group(1) if script else 'no script'} "
        f"{loads.status_code if loads is not None else ''}",
    )
    missing = requests.get(f"{base}/v1/no-such-path", timeout=15)
    code = (
        missing.json().get("error", {}).get("code")
        if missing.headers.get("Content-Type", "").startswith("application/json")
        else None
    )
    yield (
        "an unknown path is a JSON not_found, which no shared cache keeps",
        missing.status_code == 404 and code == "not_found" and "private" in missing.headers.get("Cache-Control", ""),
        f"{missing.status_code} {missing.headers.get('Cache-Control')} {missing.text[:200]}",
    )


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].startswith(("http://", "https://")):
        print(
            "usage: make smoke URL=https://np.example.com  (the base URL without /v1/current: your domain,"
            " or the DistributionUrl output)",
            file=sys.stderr,
        )
        return 2
    base = sys.argv[1].rstrip("/").removesuffix("/v1/current")
    failed = 0
    try:
        for name, ok, detail in checks(base):
            print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
            failed += not ok
    except requests.RequestException as e:
        print(f"FAIL could not reach {base}: {e}")
        return 1
    print(f"smoke: {failed} failed" if failed else "smoke: all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
