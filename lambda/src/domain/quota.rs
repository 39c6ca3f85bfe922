//! Spotify's daily quota as a budget: what each share may spend in any 24 hours, what was
//! spent (hourly buckets shared by every instance), and when the answer is next due.
//!
//! Everything here is a pure function of the clock and the ledger; the stores only keep
//! the buckets and apply the conditions these functions compute.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::ports::{Clock, SnapshotStore, StoreError};
use crate::domain::{NowPlaying, Status, after};

/// The rolling window Spotify's quota is counted over.
pub const QUOTA_WINDOW: Duration = Duration::from_secs(86_400);
/// One bucket of the ledger.
pub const BUCKET_SECONDS: i64 = 3600;
/// The buckets before the current one that a limit counts: with the current one, 25
/// hourly buckets cover every 24-hour span that ends now, so no 24 hours ever hold more
/// than the budget, wherever the hour boundaries fall.
pub const BUCKETS_BEFORE: i64 = 24;
/// A natural track end is asked about this long after its predicted end: Spotify's
/// player has moved on by then.
pub const AFTER_TRACK_END: Duration = Duration::from_secs(1);
/// The longest a `QUOTA_EXCEEDED` refusal is honoured (`Retry-After` beyond it is capped).
pub const MAX_QUOTA_WAIT: Duration = Duration::from_secs(86_400);
/// The longest between two steady checks, even when the share is nearly spent: the
/// ledger's oldest bucket frees its calls within an hour.
pub const MAX_STEADY: Duration = Duration::from_secs(3600);

/// Who spends a Web API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Share {
    /// `/v1/current` and every route drawn from it: currently-playing, and the history read
    /// when nothing plays.
    Current,
    /// `/v1/recent` and its card: recently-played.
    Recent,
    /// Visitors: search, track look-ups and playlist additions.
    Visitors,
}

impl Share {
    pub const ALL: [Share; 3] = [Share::Current, Share::Recent, Share::Visitors];

    /// The short name stores and `/v1/health` use.
    pub fn key(self) -> &'static str {
        match self {
            Share::Current => "current",
            Share::Recent => "recent",
            Share::Visitors => "visitors",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The owner's budget of Web API calls per rolling 24 hours, and how it is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// `SPOTIFY_CALLS_PER_DAY`: every Web API call of every share, token refreshes apart.
    pub calls_per_day: u32,
    /// Percent of it for visitors' searches and suggestions (`SPOTIFY_VISITOR_SHARE`).
    pub visitor_percent: u8,
    /// Percent of it for the recently played list (`SPOTIFY_RECENT_SHARE`).
    pub recent_percent: u8,
}

pub const DEFAULT_CALLS_PER_DAY: u32 = 1000;
pub const DEFAULT_VISITOR_PERCENT: u8 = 20;
pub const DEFAULT_RECENT_PERCENT: u8 = 10;

impl Default for Budget {
    fn default() -> Self {
        Budget {
            calls_per_day: DEFAULT_CALLS_PER_DAY,
            visitor_percent: DEFAULT_VISITOR_PERCENT,
            recent_percent: DEFAULT_RECENT_PERCENT,
        }
    }
}

impl Budget {
    /// The most `share` may spend in any 24 hours. The answer keeps what the others do not
    /// take, so the three add up to the budget.
    pub fn limit(&self, share: Share) -> u32 {
        let part = |percent: u8| self.calls_per_day * u32::from(percent) / 100;
        match share {
            Share::Visitors => part(self.visitor_percent),
            Share::Recent => part(self.recent_percent),
            Share::Current => self.calls_per_day - part(self.visitor_percent) - part(self.recent_percent),
        }
    }
}

/// The hour bucket `at` falls in.
pub fn hour_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(BUCKET_SECONDS)
}

/// One hour of the ledger: the calls each share spent in it, the room each share was
/// given when the hour opened (its limit less what the 24 hours before spent), and the
/// token refreshes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourCalls {
    pub calls: [u32; 3],
    pub room: [Option<u32>; 3],
    pub refreshes: u32,
}

/// What a take would do now, by the ledger alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// A call may be counted.
    Free,
    /// The share's room for this hour is spent.
    Spent,
    /// Nobody opened this hour for the share yet: `CallLedger::room_for` says how much to
    /// give it.
    Unopened,
}

/// The Web API calls spent, by hour and share, as every instance shares them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallLedger {
    pub hours: BTreeMap<i64, HourCalls>,
}

impl CallLedger {
    /// The calls `share` spent in the buckets that a limit at `now` counts.
    pub fn spent(&self, share: Share, now: OffsetDateTime) -> u32 {
        let hour = hour_of(now);
        self.hours.range(hour - BUCKETS_BEFORE..=hour).map(|(_, h)| h.calls[share.index()]).sum()
    }

    /// Every Web API call in the buckets that a limit at `now` counts.
    pub fn spent_all(&self, now: OffsetDateTime) -> u32 {
        Share::ALL.iter().map(|s| self.spent(*s, now)).sum()
    }

    /// The token refreshes in those buckets.
    pub fn refreshes(&self, now: OffsetDateTime) -> u32 {
        let hour = hour_of(now);
        self.hours.range(hour - BUCKETS_BEFORE..=hour).map(|(_, h)| h.refreshes).sum()
    }

    /// The room `share` gets in `hour`: its limit less what the 24 buckets before spent.
    pub fn room_for(&self, share: Share, hour: i64, limit: u32) -> u32 {
        let before: u32 = self.hours.range(hour - BUCKETS_BEFORE..hour).map(|(_, h)| h.calls[share.index()]).sum();
        limit.saturating_sub(before)
    }

    /// Whether `share` may count a call at `now`.
    pub fn room(&self, share: Share, now: OffsetDateTime) -> Room {
        let Some(bucket) = self.hours.get(&hour_of(now)) else { return Room::Unopened };
        match bucket.room[share.index()] {
            None => Room::Unopened,
            Some(room) if bucket.calls[share.index()] < room => Room::Free,
            Some(_) => Room::Spent,
        }
    }

    /// The calls of `share` in `hour`.
    pub fn calls(&self, share: Share, hour: i64) -> u32 {
        self.hours.get(&hour).map_or(0, |h| h.calls[share.index()])
    }

    /// The room of `share` in `hour`, if the hour was opened for it.
    pub fn opened(&self, share: Share, hour: i64) -> Option<u32> {
        self.hours.get(&hour).and_then(|h| h.room[share.index()])
    }

    /// Records what a store holds, for adapters reading their items.
    pub fn set(&mut self, share: Share, hour: i64, calls: Option<u32>, room: Option<u32>) {
        let bucket = self.hours.entry(hour).or_default();
        if let Some(calls) = calls {
            bucket.calls[share.index()] = calls;
        }
        if room.is_some() {
            bucket.room[share.index()] = room;
        }
    }

    /// Counts one call of `share` in `hour` (what a store does when a take succeeds).
    pub fn count(&mut self, share: Share, hour: i64) {
        self.hours.entry(hour).or_default().calls[share.index()] += 1;
    }

    /// Opens `hour` for `share` with `room` (what a store does when an opening succeeds).
    pub fn open(&mut self, share: Share, hour: i64, room: u32) {
        self.hours.entry(hour).or_default().room[share.index()] = Some(room);
    }

    /// Hours too old for any limit to count, which a store may drop.
    pub fn expired(&self, now: OffsetDateTime) -> Vec<i64> {
        let oldest = hour_of(now) - BUCKETS_BEFORE;
        self.hours.keys().copied().filter(|h| *h < oldest).collect()
    }

    /// Keeps, hour by hour, the larger count and the room set: counts only grow.
    pub fn merge(&mut self, other: &CallLedger) {
        for (hour, theirs) in &other.hours {
            let mine = self.hours.entry(*hour).or_default();
            for i in 0..3 {
                mine.calls[i] = mine.calls[i].max(theirs.calls[i]);
                mine.room[i] = mine.room[i].or(theirs.room[i]);
            }
            mine.refreshes = mine.refreshes.max(theirs.refreshes);
        }
    }
}

/// What is left of `limit` after `spent`, spread over a day: the time between two calls
/// that keeps a share within its limit however long it is asked, at most `MAX_STEADY`.
pub fn pace(limit: u32, spent: u32) -> Duration {
    match limit.saturating_sub(spent) {
        0 => MAX_STEADY,
        left => (QUOTA_WINDOW / left).min(MAX_STEADY),
    }
}

/// When the shared answer is next due: the one decision about when Spotify is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub budget: Budget,
    /// `CACHE_SECONDS`: no answer is due sooner than this after it was fetched.
    pub floor: Duration,
    /// Whether a playing track's predicted end is aimed at (off only to compare with a
    /// fixed grid of checks).
    pub track_ends: bool,
}

impl Schedule {
    pub fn new(budget: Budget, floor: Duration) -> Self {
        Schedule { budget, floor, track_ends: true }
    }

    /// The pace of the steady checks that find skips, pauses and resumes: what is left of
    /// the answer's share, spread over a day. At a fresh start that is one check every
    /// 86,400 / share seconds; as the share is spent the checks spread out, so a page
    /// watched all day never spends more than the share. Never below the floor.
    pub fn steady(&self, spent: u32) -> Duration {
        pace(self.budget.limit(Share::Current), spent).max(self.floor)
    }

    /// When `doc`, fetched at its `fetched_at`, is due, with `spent` calls of the answer's
    /// share in the last 24 hours: a playing track's predicted end plus a second, or the
    /// next steady check if that comes first by more than the floor. Paused, nothing
    /// playing, an ad or an episode without a duration: the next steady check.
    pub fn due_at(&self, doc: &NowPlaying, spent: u32) -> OffsetDateTime {
        let steady = self.steady(spent);
        let until_end = match (&doc.item, doc.status, doc.progress_ms) {
            (Some(item), Status::Playing, Some(progress)) if self.track_ends && item.duration_ms > 0 => {
                Some(Duration::from_millis(item.duration_ms.saturating_sub(progress)) + AFTER_TRACK_END)
            }
            _ => None,
        };
        // A steady check that would land within the floor of the end would push the end's
        // own call past it: the end is asked about instead.
        let wait = match until_end {
            Some(end) if end <= steady + self.floor => end,
            _ => steady,
        };
        after(doc.fetched_at, wait.max(self.floor))
    }
}

/// How long a shared cache may keep an answer due at `due`: until then, but at least
/// `floor` and at most `MAX_ANSWER_AGE`.
pub fn answer_max_age(due: Option<OffsetDateTime>, now: OffsetDateTime, floor: Duration) -> Duration {
    let until = due.map(|due| Duration::try_from(due - now).unwrap_or_default()).unwrap_or_default();
    // Whole seconds, rounded up, so a cache never asks again just before the answer is due.
    let until = Duration::from_secs(until.as_secs() + u64::from(until.subsec_nanos() > 0));
    until.clamp(floor.min(MAX_ANSWER_AGE), MAX_ANSWER_AGE)
}

/// The longest a shared answer is kept before its cache asks again.
pub const MAX_ANSWER_AGE: Duration = Duration::from_secs(60);

/// Counts one call of `share` against `budget` in the shared ledger before the call is
/// made: `Ok(true)` when it may be made, `Ok(false)` when the share is spent for this hour.
/// The first call of an hour opens it with what the 24 hours before left.
pub async fn spend(
    store: &dyn SnapshotStore,
    clock: &dyn Clock,
    budget: &Budget,
    share: Share,
) -> Result<bool, StoreError> {
    for _ in 0..4 {
        let now = clock.now();
        let (taken, ledger) = store.take_call(share, now).await?;
        if taken {
            return Ok(true);
        }
        match ledger.room(share, now) {
            Room::Spent => return Ok(false),
            Room::Unopened => {
                let hour = hour_of(now);
                let room = ledger.room_for(share, hour, budget.limit(share));
                store.open_hour(share, hour, room, &ledger).await?;
            }
            // The next hour was opened meanwhile: take again, at the clock's new hour.
            Room::Free => {}
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Item, ItemKind, Link};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00:00 UTC);

    fn playing(duration_ms: u64, progress_ms: u64) -> NowPlaying {
        let item = Item {
            kind: ItemKind::Track,
            id: Some("id".into()),
            name: "Song".into(),
            url: None,
            artists: vec![Link { name: "A".into(), url: None }],
            album: Link { name: "B".into(), url: None },
            images: vec![],
            duration_ms,
            explicit: false,
            is_local: false,
            palette: None,
            credits: Default::default(),
        };
        NowPlaying {
            status: Status::Playing,
            is_playing: true,
            item: Some(item),
            progress_ms: Some(progress_ms),
            played_at: None,
            fetched_at: NOW,
            stale: false,
            stale_reason: None,
            context: None,
        }
    }

    fn schedule() -> Schedule {
        Schedule::new(Budget::default(), Duration::from_secs(5))
    }

    #[test]
    fn the_shares_add_up_to_the_budget() {
        let budget = Budget { calls_per_day: 1001, visitor_percent: 20, recent_percent: 10 };
        assert_eq!(budget.limit(Share::Visitors), 200);
        assert_eq!(budget.limit(Share::Recent), 100);
        assert_eq!(budget.limit(Share::Current), 701);
    }

    #[test]
    fn at_a_fresh_start_the_steady_checks_spread_the_share_over_a_day() {
        // 700 calls for the answer: one every 123 s.
        assert_eq!(schedule().steady(0).as_millis(), 123_428);
        assert_eq!(schedule().steady(350).as_millis(), 246_857, "half spent, half as often");
        assert_eq!(schedule().steady(700), MAX_STEADY, "spent: the oldest hour frees calls within the hour");
        let generous = Schedule::new(Budget { calls_per_day: 10_000_000, ..Budget::default() }, Duration::from_secs(5));
        assert_eq!(generous.steady(0), Duration::from_secs(5), "never below the floor");
    }

    #[test]
    fn a_playing_track_is_due_a_second_after_its_predicted_end() {
        let doc = playing(45_000, 20_000);
        assert_eq!(schedule().due_at(&doc, 0), NOW + time::Duration::seconds(26));
    }

    #[test]
    fn a_long_track_is_checked_at_the_steady_pace_before_its_end() {
        let doc = playing(600_000, 0);
        assert_eq!(schedule().due_at(&doc, 0), after(NOW, schedule().steady(0)));
    }

    #[test]
    fn a_steady_check_just_before_the_end_gives_way_to_the_end() {
        let steady = schedule().steady(0).as_millis() as u64;
        // The end comes 3 s after the steady check would: one call at the end, not two.
        let doc = playing(steady + 2_000, 0);
        assert_eq!(schedule().due_at(&doc, 0), after(NOW, Duration::from_millis(steady + 3_000)));
        let doc = playing(steady + 10_000, 0);
        assert_eq!(schedule().due_at(&doc, 0), after(NOW, schedule().steady(0)), "far enough: the steady check");
    }

    #[test]
    fn a_track_at_its_end_is_due_no_sooner_than_the_floor() {
        let doc = playing(45_000, 45_000);
        assert_eq!(schedule().due_at(&doc, 0), NOW + time::Duration::seconds(5));
    }

    #[test]
    fn paused_nothing_and_no_duration_wait_for_the_steady_check() {
        let steady = after(NOW, schedule().steady(100));
        let paused = NowPlaying { status: Status::Paused, is_playing: false, ..playing(45_000, 1000) };
        assert_eq!(schedule().due_at(&paused, 100), steady);
        assert_eq!(schedule().due_at(&NowPlaying::offline(NOW), 100), steady);
        assert_eq!(schedule().due_at(&playing(0, 0), 100), steady, "an episode without a duration");
        let grid = Schedule { track_ends: false, ..schedule() };
        assert_eq!(grid.due_at(&playing(45_000, 20_000), 0), after(NOW, grid.steady(0)));
    }

    #[test]
    fn the_ledger_counts_25_hourly_buckets_and_gives_each_hour_what_the_24_before_left() {
        let mut ledger = CallLedger::default();
        let hour = hour_of(NOW);
        ledger.set(Share::Current, hour - 25, Some(500), Some(700));
        ledger.set(Share::Current, hour - 24, Some(100), Some(700));
        ledger.set(Share::Current, hour - 1, Some(50), Some(700));
        ledger.set(Share::Recent, hour - 1, Some(9), Some(100));
        assert_eq!(ledger.spent(Share::Current, NOW), 150, "the bucket 25 hours back is out of the window");
        assert_eq!(ledger.spent_all(NOW), 159);
        assert_eq!(ledger.room_for(Share::Current, hour, 700), 550);
        assert_eq!(ledger.room_for(Share::Current, hour + 1, 700), 650, "an hour on, the oldest bucket is out");
        assert_eq!(ledger.room(Share::Current, NOW), Room::Unopened);
        ledger.open(Share::Current, hour, 1);
        assert_eq!(ledger.room(Share::Current, NOW), Room::Free);
        ledger.count(Share::Current, hour);
        assert_eq!(ledger.room(Share::Current, NOW), Room::Spent);
        assert_eq!(ledger.expired(NOW), vec![hour - 25]);
    }

    #[test]
    fn a_cache_keeps_the_answer_until_it_is_due_within_its_bounds() {
        let floor = Duration::from_secs(5);
        let at = |s: f64| Some(NOW + time::Duration::seconds_f64(s));
        assert_eq!(answer_max_age(at(26.2), NOW, floor), Duration::from_secs(27));
        assert_eq!(answer_max_age(at(2.0), NOW, floor), floor);
        assert_eq!(answer_max_age(at(-30.0), NOW, floor), floor, "overdue: the floor");
        assert_eq!(answer_max_age(at(500.0), NOW, floor), MAX_ANSWER_AGE);
        assert_eq!(answer_max_age(None, NOW, floor), floor);
    }
}
