"""A timed listening session under a crowd, against the built function: what
`tests/test_quota.py` asserts. It waits on real time (about 100 s), so `conftest.py`
starts it in a thread when the test session starts, beside the other tests, and the test
only joins it.

Four clients poll the origin every 0.25 s while the Spotify stand-in plays tracks that end
by themselves, a skip, a pause and a resume; then the stand-in refuses with QUOTA_EXCEEDED.
"""

import threading
import time

import requests
from devstack.fixtures import fixture
from devstack.local import LocalStack

# A budget whose steady checks come every 6.2 s (14,000 calls a day for the answer), so a
# skip shows within seconds; CACHE_SECONDS=1, so the old design would ask every second.
CALLS_PER_DAY = 20_000
STEADY = 86_400 / (CALLS_PER_DAY * 0.7)
CLIENTS = 4
POLL = 0.25
# The stand-in's session: each segment's track, how long it lasts, paused or playing.
SEGMENTS = [
    {"track": 0, "duration_ms": 20_000, "seconds": 20},
    {"track": 1, "duration_ms": 30_000, "seconds": 12},
    {"track": 2, "duration_ms": 40_000, "seconds": 15},
    {"track": 2, "duration_ms": 40_000, "from_ms": 15_000, "paused": True, "seconds": 10},
    {"track": 2, "duration_ms": 40_000, "from_ms": 15_000, "seconds": 25},
    {"track": 3, "duration_ms": 600_000, "seconds": 600},
]
CHANGES = ["start", "track_end", "skip", "pause", "resume", "track_end"]
LISTEN_FOR = 88
REFUSED_FOR = 12


class Run:
    """What the clients saw and what the stand-in counted; filled by `run()`."""

    def __init__(self):
        self.error: BaseException | None = None
        self.seen: list[tuple[float, str | None, bool, bool, str | None]] = []
        self.starts: list[float] = []
        self.track_ids: list[str] = []
        self.calls_listening = 0
        self.calls_at_refusal: dict = {}
        self.calls_after: dict = {}
        self.refused = 0
        self.after_refusal: list[tuple[float, str | None, bool, bool, str | None]] = []
        self.health: dict = {}
        self.done = threading.Event()


def poll(url: str, until: float, into: list, lock: threading.Lock) -> None:
    with requests.Session() as session:
        while time.time() < until:
            doc = session.get(f"{url}/v1/current", timeout=10).json()
            item = doc.get("item") or {}
            with lock:
                into.append((time.time(), item.get("id"), doc["is_playing"], doc["stale"], doc.get("stale_reason")))
            time.sleep(POLL)


def crowd(url: str, seconds: float, into: list) -> None:
    lock = threading.Lock()
    until = time.time() + seconds
    threads = [threading.Thread(target=poll, args=(url, until, into, lock)) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run(result: Run) -> None:
    try:
        env = {"CACHE_SECONDS": "1", "SPOTIFY_CALLS_PER_DAY": str(CALLS_PER_DAY)}
        with LocalStack(processes=2, extra_env=env, log_level="warn") as stack:
            result.track_ids = [t["id"] for t in fixture("search_tracks.json")["tracks"]["items"][:4]]
            stack.fake.control("session", {"segments": SEGMENTS, "loop": False})
            result.starts = requests.get(f"{stack.fake.url}/_fake/session", timeout=5).json()["starts"]
            crowd(stack.url, LISTEN_FOR, result.seen)
            result.calls_listening = stack.fake.calls()["currently_playing"]
            # The account's quota is spent: every call from now on is refused for ~14 hours.
            stack.fake.control("quota", {"calls": 0})
            result.calls_at_refusal = stack.fake.calls()
            crowd(stack.url, REFUSED_FOR, result.after_refusal)
            result.calls_after = stack.fake.calls()
            result.refused = requests.get(f"{stack.fake.url}/_fake/session", timeout=5).json()["refused"]
            result.health = requests.get(f"{stack.url}/v1/health", timeout=10).json()
    except BaseException as e:
        # Handed to the test, which raises it.
        result.error = e
    finally:
        result.done.set()


def start() -> Run:
    result = Run()
    threading.Thread(target=run, args=(result,), daemon=True, name="quota-session").start()
    return result
