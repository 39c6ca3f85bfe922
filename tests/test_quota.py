"""Spotify's quota spent as a budget by the built function, under a crowd polling the
origin: the calls are the steady checks and the track ends, a natural track change shows
within 2 s of its end, a skip, a pause or a resume within a steady interval and 2 s, and a
QUOTA_EXCEEDED refusal is waited out with every answer still a 200, marked stale. The run
itself (`quota_session.py`) starts with the test session and runs beside the other tests."""

from quota_session import CHANGES, LISTEN_FOR, SEGMENTS, STEADY


def first_seen(seen, after: float, track: str, playing: bool) -> float | None:
    """When a client first saw `track` playing (or paused) at or after `after`."""
    shown = (track, playing)
    return next((t for t, item, is_playing, _, _ in seen if t >= after and (item, is_playing) == shown), None)


def test_a_crowd_gets_each_change_on_time_for_the_calls_of_the_schedule(listening_session):
    run = listening_session
    assert run.done.wait(timeout=300), "the session did not finish"
    if run.error:
        raise run.error
    delays = {}
    for start, change, segment in zip(run.starts, CHANGES, SEGMENTS, strict=True):
        if change == "start":
            continue
        seen = first_seen(run.seen, start, run.track_ids[segment["track"]], not segment.get("paused", False))
        assert seen is not None, f"the {change} at {start - run.starts[0]:.0f} s was never shown"
        delays.setdefault(change, []).append(seen - start)
    figures = ", ".join(f"{k} {' '.join(f'{d:.2f}' for d in v)} s" for k, v in delays.items())
    print(f"\nquota session: {run.calls_listening} currently-playing calls in {LISTEN_FOR} s; delays: {figures}")
    assert max(delays["track_end"]) <= 2.0, delays
    for change in ("skip", "pause", "resume"):
        assert max(delays[change]) <= STEADY + 2.0, (change, delays)
    # One call at each of the two track ends, the steady checks, a few more at most; the
    # five-second grid of the old design (here CACHE_SECONDS=1) would have made 88.
    steady = LISTEN_FOR / STEADY
    assert run.calls_listening <= steady + 2 + 4, (run.calls_listening, steady, delays)
    assert not any(stale for _, _, _, stale, _ in run.seen), "no answer was stale while Spotify answered"


def test_after_quota_exceeded_nothing_is_asked_and_every_answer_is_stale_with_why(listening_session):
    run = listening_session
    assert run.done.wait(timeout=300), "the session did not finish"
    if run.error:
        raise run.error
    assert run.refused == 1, "one call was refused, and none made after it"
    web_api = ("currently_playing", "recently_played", "search", "track", "me")
    made = {k: run.calls_after[k] - run.calls_at_refusal[k] for k in web_api}
    assert made == {k: int(k == "currently_playing") for k in web_api}, "the refused call alone"
    answers = [(stale, reason) for t, _, _, stale, reason in run.after_refusal]
    refused_from = next(i for i, (stale, _) in enumerate(answers) if stale)
    assert answers[refused_from:] == [(True, "quota_exceeded")] * (len(answers) - refused_from)
    assert len(answers) - refused_from > 20, "the refusal was reached soon, and held"
    spotify = run.health["spotify"]
    assert spotify["quota_exceeded_until"] is not None
    assert spotify["calls_per_day"] == 20_000
    assert spotify["shares"]["current"]["calls_last_24h"] >= run.calls_listening
