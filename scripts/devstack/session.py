"""A timed listening session for the Spotify stand-in, and the daily quota it refuses with.

A session is a list of segments, each lasting `seconds`: a track playing from `from_ms`, a
track paused at `from_ms`, or silence. Tracks end by themselves when their segment lasts
their whole remaining duration, or are skipped when it ends earlier. `make dev` loops the
demo session; tests post their own (`/_fake/session`) and read back when each change was
(`/_fake/session` GET). The quota (`/_fake/quota`) answers every Web API call past its
size with Spotify's refusal: 429, `QUOTA_EXCEEDED`, and a `Retry-After` of about 14 hours.
"""

import copy
import threading
import time

from .fixtures import fixture

# The demo: a track that ends by itself, one skipped, one paused and resumed, a silence.
DEMO = [
    {"track": 0, "duration_ms": 45_000, "seconds": 45},
    {"track": 1, "duration_ms": 50_000, "seconds": 20},
    {"track": 2, "duration_ms": 60_000, "seconds": 25},
    {"track": 2, "duration_ms": 60_000, "from_ms": 25_000, "paused": True, "seconds": 20},
    {"track": 2, "duration_ms": 60_000, "from_ms": 25_000, "seconds": 35},
    {"silent": True, "seconds": 15},
]

QUOTA_BODY = {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}}
# What Spotify's refusals carried in 2026: 48,925 to 52,531 s.
QUOTA_RETRY_AFTER = 50_316


class Session:
    def __init__(self, segments: list[dict], loop: bool = True, started: float | None = None):
        if not segments or any(s["seconds"] <= 0 for s in segments):
            raise ValueError("a session is a list of segments of positive seconds")
        self.segments = segments
        self.loop = loop
        self.started = time.time() if started is None else started
        self.length = sum(s["seconds"] for s in segments)

    def at(self, now: float) -> tuple[dict, float]:
        """The segment playing at `now`, and how far into it."""
        elapsed = now - self.started
        if self.loop:
            elapsed %= self.length
        for segment in self.segments:
            if elapsed < segment["seconds"]:
                return segment, max(elapsed, 0.0)
            elapsed -= segment["seconds"]
        return self.segments[-1], self.segments[-1]["seconds"]

    def starts(self) -> list[float]:
        """When each segment of the first pass begins, in seconds since the epoch."""
        out, at = [], self.started
        for segment in self.segments:
            out.append(at)
            at += segment["seconds"]
        return out

    def playback(self, now: float) -> dict | None:
        """The currently-playing body at `now`, or None for Spotify's 204."""
        segment, into = self.at(now)
        if segment.get("silent"):
            return None
        body = copy.deepcopy(fixture("currently_playing_track.json"))
        track = copy.deepcopy(fixture("search_tracks.json")["tracks"]["items"][segment["track"]])
        track["duration_ms"] = segment["duration_ms"]
        paused = segment.get("paused", False)
        progress = segment.get("from_ms", 0) + (0 if paused else int(into * 1000))
        body.update(
            item=track,
            is_playing=not paused,
            progress_ms=min(progress, segment["duration_ms"]),
            timestamp=int(now * 1000),
        )
        return body


class Quota:
    """Spotify's daily quota as the stand-in keeps it: `calls` more Web API calls answered,
    then every one refused until `retry_after` seconds after the first refusal."""

    def __init__(self, calls: int, retry_after: int = QUOTA_RETRY_AFTER):
        self.left = calls
        self.retry_after = retry_after
        self.refused_since: float | None = None
        self.refused = 0
        self.lock = threading.Lock()

    def refusal(self) -> dict | None:
        """The Retry-After header of a refusal for this call, or None when it is answered."""
        with self.lock:
            now = time.time()
            if self.refused_since is not None and now >= self.refused_since + self.retry_after:
                self.refused_since = None
            if self.refused_since is None and self.left > 0:
                self.left -= 1
                return None
            if self.refused_since is None:
                self.refused_since = now
            self.refused += 1
            return {"Retry-After": str(max(1, int(self.refused_since + self.retry_after - now)))}
