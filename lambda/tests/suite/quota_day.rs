//! `make bench`'s listening day: the service as it runs, over the in-memory stores and a
//! Spotify that plays a generated day (tracks of 2 to 6 minutes, about one in four skipped,
//! pauses, silence at night), with the clock moved instead of waited for. The same day is
//! watched by one page polling as the widget does and by a crowd asking every second, under
//! the fixed five-second window of the earlier design and under the schedule. Prints the
//! figures and writes `bench/QUOTA.md`; ignored by `cargo test` (`--ignored` runs it).

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use now_playing::domain::ports::Clock;
use now_playing::domain::quota::Budget;
use now_playing::domain::service::CacheTiming;
use now_playing::domain::{NowPlaying, NowPlayingService, Status};
use time::OffsetDateTime;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Design {
    /// Every request that finds the answer older than CACHE_SECONDS asks Spotify.
    Window,
    /// The answer is due at a track's end or at the budget's pace.
    Schedule,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Watcher {
    /// One open page, polling as `widget.js` does: at a track's end, else every 15 s while
    /// playing and 30 s otherwise.
    Page,
    /// A crowd straight at the origin: a request every second.
    Crowd,
}

struct Figures {
    calls: usize,
    /// Natural ends of a track the answer had shown playing: the ends the service can predict.
    track_ends: Vec<f64>,
    /// Skips, pauses, resumes, starts, stops, and ends of a track not yet shown.
    others: Vec<f64>,
    missed: usize,
}

fn service(h: &Harness, session: &Arc<Session>, design: Design) -> NowPlayingService {
    let service = session_instance(h, session, "bench", CacheTiming { window: Duration::from_secs(5), ..FAST_CACHE });
    match design {
        Design::Window => service.with_budget(GENEROUS).without_track_ends(),
        Design::Schedule => service.with_budget(Budget::default()),
    }
}

/// The widget's next poll after `doc` (`#nextDelay` in lambda/assets/widget.js).
fn widget_delay(doc: &NowPlaying, now: OffsetDateTime) -> Duration {
    let playing = doc.status == Status::Playing;
    let mut wait = if playing { 15.0 } else { 30.0 };
    if let (true, Some(item), Some(progress)) = (playing, &doc.item, doc.progress_ms) {
        let since = (now - doc.fetched_at).as_seconds_f64().max(0.0);
        let position = (progress as f64 / 1000.0 + since).min(item.duration_ms as f64 / 1000.0);
        wait = f64::min(wait, item.duration_ms as f64 / 1000.0 - position + 1.0);
    }
    if doc.stale {
        wait = wait.max(30.0);
    }
    Duration::from_secs_f64(wait.clamp(5.0, 60.0))
}

fn shown(doc: &NowPlaying) -> Option<(String, bool)> {
    matches!(doc.status, Status::Playing | Status::Paused)
        .then(|| doc.item.as_ref().and_then(|i| i.id.clone()).map(|id| (id, doc.is_playing)))
        .flatten()
}

async fn day(design: Design, watcher: Watcher, midnight: OffsetDateTime) -> Figures {
    let h = Harness::new();
    *h.clock.0.lock().unwrap() = midnight;
    let segments = listening_day(midnight, 2026);
    let session = Session::new(h.clock.clone(), segments.clone());
    let service = service(&h, &session, design);
    let end = midnight + Duration::from_secs(86_400);
    // What was seen, poll by poll: (when, what the answer showed).
    let mut seen: Vec<(OffsetDateTime, Option<(String, bool)>)> = Vec::new();
    while h.clock.now() < end {
        let now = h.clock.now();
        let doc = service.current().await.expect("an answer");
        seen.push((now, shown(&doc)));
        h.clock.advance(match watcher {
            Watcher::Page => widget_delay(&doc, now),
            Watcher::Crowd => Duration::from_secs(1),
        });
    }
    let mut figures = Figures { calls: session.call_times().len(), track_ends: vec![], others: vec![], missed: 0 };
    let mut shown_before = false;
    for (i, (start, change, segment)) in segments.iter().enumerate() {
        let want = match segment {
            Segment::Playing { track, .. } => Some((track_id(*track), true)),
            Segment::Paused { track, .. } => Some((track_id(*track), false)),
            Segment::Silent => None,
        };
        let until = segments.get(i + 1).map_or(end, |(next, _, _)| *next);
        let found = seen.iter().find(|(t, s)| t >= start && *t < until && *s == want);
        match found {
            Some((t, _)) => {
                let delay = (*t - *start).as_seconds_f64();
                let predictable = *change == Change::TrackEnd && shown_before;
                if predictable { figures.track_ends.push(delay) } else { figures.others.push(delay) }
            }
            None => figures.missed += 1,
        }
        shown_before = found.is_some();
    }
    figures
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
#[ignore = "make bench: prints the figures and writes bench/QUOTA.md"]
async fn bench_a_listening_day_under_both_designs() {
    let midnight = time::macros::datetime!(2026-12-07 00:00 UTC);
    let segments = listening_day(midnight, 2026);
    let count = |c: Change| segments.iter().filter(|(_, change, _)| *change == c).count();
    let listened = segments
        .windows(2)
        .filter(|w| !matches!(w[0].2, Segment::Silent))
        .map(|w| (w[1].0 - w[0].0).as_seconds_f64())
        .sum::<f64>();
    let mut rows = Vec::new();
    for (watcher, watched) in
        [(Watcher::Page, "one page, as the widget polls"), (Watcher::Crowd, "a crowd, every second")]
    {
        for (design, name) in
            [(Design::Window, "fixed 5 s window (before)"), (Design::Schedule, "schedule, 1,000 a day (now)")]
        {
            let f = day(design, watcher, midnight).await;
            rows.push(format!(
                "| {watched} | {name} | {} | {:.1} | {:.1} / {:.1} s | {:.1} / {:.1} s | {} |",
                f.calls,
                f.calls as f64 / 24.0,
                percentile(&f.track_ends, 0.5),
                percentile(&f.track_ends, 0.95),
                percentile(&f.others, 0.5),
                percentile(&f.others, 0.95),
                f.missed,
            ));
        }
    }
    let report = format!(
        "# A listening day: Spotify calls and delays\n\n\
         Written by `make bench` (`lambda/tests/suite/quota_day.rs`). One generated day (seed 2026): {} tracks, \
         {} natural track ends, {} skips, {} pauses and {} resumes, {} sittings; {:.1} hours of listening between \
         about 08:00 and 23:30, silence at night. The page is watched for all 24 hours. The service is the \
         function's own code over in-memory stores, with the clock moved from call to call (no time is waited), \
         so the figures are the schedule's decisions, not network timings; a poll is answered at the time it is made.\n\n\
         - *delay*: from a change in the player to the first poll whose answer shows it. *Track end*: the natural \
         end of a track the answer had shown playing, the end the service can predict. *Others*: skips, pauses, \
         resumes, starts, stops, and the end of a track the answer had not shown yet (its start was still waiting \
         for a check).\n\
         - *missed*: changes that were over before any answer showed them (a pause shorter than the checks).\n\
         - The schedule's budget: `spotifyCallsPerDay` 1,000, 700 of them for the answer.\n\n\
         | watched by | design | Web API calls a day | per watched hour | track end p50 / p95 | others p50 / p95 | missed |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
        count(Change::TrackEnd) + count(Change::Skip) + count(Change::Start),
        count(Change::TrackEnd),
        count(Change::Skip),
        count(Change::Pause),
        count(Change::Resume),
        count(Change::Start),
        listened / 3600.0,
        rows.join("\n"),
    );
    println!("{report}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/QUOTA.md");
    std::fs::write(&path, report).expect("bench/QUOTA.md is writable");
}
