//! The times the rules judge: when a play was heard, and the owner's daily quiet hours.

use jiff::tz::TimeZone;
use time::OffsetDateTime;

use crate::domain::{Item, NowPlaying, Played};

/// When a play was heard: from its start to its end, or to now while it plays. The rules
/// judge this span, not the moment they are asked, so a play inside quiet hours or a pause
/// stays hidden once they are over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Heard {
    /// A play from the history: `played_at` is its end, its start a track's length before.
    pub fn played(played: &Played) -> Heard {
        let length = time::Duration::milliseconds(i64::try_from(played.item.duration_ms).unwrap_or(i64::MAX / 2));
        Heard { from: played.played_at.checked_sub(length).unwrap_or(played.played_at), to: played.played_at }
    }

    /// What plays at `at`, `progress_ms` into it (from `at` itself when not known).
    pub fn playing(progress_ms: Option<u64>, at: OffsetDateTime) -> Heard {
        let progress = time::Duration::milliseconds(i64::try_from(progress_ms.unwrap_or(0)).unwrap_or(i64::MAX / 2));
        Heard { from: at.checked_sub(progress).unwrap_or(at), to: at }
    }

    /// What an answer shows: its last play's span, else what played when it was fetched, up
    /// to `at`.
    pub fn answer(doc: &NowPlaying, item: &Item, at: OffsetDateTime) -> Heard {
        match doc.played_at {
            Some(played_at) => Heard::played(&Played { item: item.clone(), played_at, context: None }),
            None => {
                let started = Heard::playing(doc.progress_ms, doc.fetched_at).from;
                Heard { from: started.min(at), to: at.max(started) }
            }
        }
    }

    pub(super) fn overlaps(&self, from: OffsetDateTime, to: OffsetDateTime) -> bool {
        self.from <= to && from <= self.to
    }
}

/// A daily span of local time in a named zone; `from` after `to` runs across midnight.
#[derive(Clone, Debug, PartialEq)]
pub struct QuietHours {
    pub from: (u8, u8),
    pub to: (u8, u8),
    pub time_zone: String,
    zone: TimeZone,
}

impl QuietHours {
    /// `from` and `to` as `HH:MM`, `time_zone` an IANA name such as `Europe/Berlin`.
    pub fn new(from: &str, to: &str, time_zone: &str) -> Result<Self, String> {
        let from = clock_time(from).ok_or("quiet_hours.from must be a time such as 23:00")?;
        let to = clock_time(to).ok_or("quiet_hours.to must be a time such as 07:00")?;
        if from == to {
            return Err("quiet_hours.from and quiet_hours.to must differ".into());
        }
        let zone = TimeZone::get(time_zone)
            .map_err(|_| "quiet_hours.time_zone must be an IANA time zone such as Europe/Berlin".to_owned())?;
        Ok(QuietHours { from, to, time_zone: time_zone.to_owned(), zone })
    }

    /// Whether any moment of `heard` falls inside the daily span. The span starts on a whole
    /// minute, so a play that begins outside it overlaps it exactly when one of the whole
    /// minutes it covers is inside.
    pub fn overlaps(&self, heard: Heard) -> bool {
        if self.contains(heard.from) || self.contains(heard.to) {
            return true;
        }
        if heard.to - heard.from >= time::Duration::DAY {
            return true;
        }
        let first = heard.from.unix_timestamp().div_euclid(60) + 1;
        let last = heard.to.unix_timestamp().div_euclid(60);
        (first..=last).any(|minute| OffsetDateTime::from_unix_timestamp(minute * 60).is_ok_and(|at| self.contains(at)))
    }

    /// Whether `at` falls inside the span, in the span's own zone.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        let Ok(instant) = jiff::Timestamp::from_second(at.unix_timestamp()) else { return true };
        let local = instant.to_zoned(self.zone.clone());
        let now = (local.hour() as u8, local.minute() as u8);
        if self.from < self.to { self.from <= now && now < self.to } else { now >= self.from || now < self.to }
    }
}

fn clock_time(text: &str) -> Option<(u8, u8)> {
    let (h, m) = text.trim().split_once(':')?;
    // Two digits each: a number's own parse would take `+0` for 0.
    let digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}
