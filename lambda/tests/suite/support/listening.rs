//! A listening session as Spotify's player would report it, driven by the fake clock: the
//! tracks, skips, pauses and silences of a scripted or generated day, and every Web API
//! call the service made of it, with its time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use now_playing::domain::ports::{Clock, Spotify, SpotifyError, TokenGrant};
use now_playing::domain::{AccessToken, Credentials, Item, Playback, Played};
use time::OffsetDateTime;

use super::*;

/// What the player does from `start` until the next segment starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Track `track` (`duration_ms` long) plays from `from_ms` on.
    Playing { track: usize, duration_ms: u64, from_ms: u64 },
    /// Track `track` is paused at `at_ms`.
    Paused { track: usize, duration_ms: u64, at_ms: u64 },
    /// Nothing plays (204).
    Silent,
}

/// Why a segment began: what a visitor's page should show within some delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The previous track ended by itself and the next began.
    TrackEnd,
    /// The previous track was skipped before its end.
    Skip,
    Pause,
    Resume,
    /// Playback stopped, or started after a silence.
    Stop,
    Start,
}

/// A session: segments from their start times, as Spotify's player reports them.
pub struct Session {
    pub clock: Arc<FakeClock>,
    pub segments: Vec<(OffsetDateTime, Change, Segment)>,
    /// The time of every Web API call the service made (currently-playing and recently-played).
    pub calls: Mutex<Vec<OffsetDateTime>>,
    /// Answer every Web API call with this error instead, while set.
    pub refusing: Mutex<Option<SpotifyError>>,
}

impl Session {
    pub fn new(clock: Arc<FakeClock>, segments: Vec<(OffsetDateTime, Change, Segment)>) -> Arc<Self> {
        Arc::new(Session { clock, segments, calls: Mutex::new(Vec::new()), refusing: Mutex::new(None) })
    }

    /// The segment at `at`, with its start; `Silent` before the first.
    pub fn at(&self, at: OffsetDateTime) -> (OffsetDateTime, Segment) {
        self.segments
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= at)
            .map_or((at, Segment::Silent), |(start, _, segment)| (*start, segment.clone()))
    }

    pub fn call_times(&self) -> Vec<OffsetDateTime> {
        self.calls.lock().unwrap().clone()
    }

    fn called(&self) -> Result<(), SpotifyError> {
        self.calls.lock().unwrap().push(self.clock.now());
        self.refusing.lock().unwrap().clone().map_or(Ok(()), Err)
    }
}

/// An instance over the harness's stores whose Spotify is `session`, with `timing`.
pub fn session_instance(
    h: &Harness,
    session: &Arc<Session>,
    id: &str,
    timing: now_playing::domain::service::CacheTiming,
) -> now_playing::domain::NowPlayingService {
    use now_playing::domain::{NowPlayingService, ServicePorts, TokenManager, TokenPorts};
    let tokens = TokenManager::new(
        TokenPorts {
            spotify: session.clone(),
            store: h.store.clone(),
            credentials: h.credentials.clone(),
            clock: h.clock.clone(),
        },
        id.to_owned(),
        FAST_LEASE,
    );
    NowPlayingService::new(
        ServicePorts {
            spotify: session.clone(),
            tokens: Arc::new(tokens),
            shared: h.snapshots.clone(),
            clock: h.clock.clone(),
        },
        id.to_owned(),
        timing,
    )
}

/// A track id of Spotify's shape for track number `n`.
pub fn track_id(n: usize) -> String {
    format!("{n:0>22}")
}

fn track(n: usize, duration_ms: u64) -> Item {
    Item { duration_ms, ..item(&track_id(n)) }
}

#[async_trait]
impl Spotify for Session {
    async fn refresh(&self, _credentials: &Credentials) -> Result<TokenGrant, SpotifyError> {
        grant("session-token", None)
    }

    async fn currently_playing(&self, _token: &AccessToken) -> Result<Playback, SpotifyError> {
        self.called()?;
        let now = self.clock.now();
        let (start, segment) = self.at(now);
        Ok(match segment {
            Segment::Playing { track: n, duration_ms, from_ms } => {
                let elapsed = u64::try_from((now - start).whole_milliseconds()).unwrap_or(0);
                Playback::Item {
                    item: track(n, duration_ms),
                    is_playing: true,
                    progress_ms: Some((from_ms + elapsed).min(duration_ms)),
                    context: None,
                }
            }
            Segment::Paused { track: n, duration_ms, at_ms } => Playback::Item {
                item: track(n, duration_ms),
                is_playing: false,
                progress_ms: Some(at_ms),
                context: None,
            },
            Segment::Silent => Playback::Nothing,
        })
    }

    async fn recently_played(&self, _token: &AccessToken, _limit: u8) -> Result<Vec<Played>, SpotifyError> {
        self.called()?;
        let now = self.clock.now();
        let last = self.segments.iter().rev().filter(|(start, _, _)| *start <= now).find_map(|(start, _, s)| match s {
            Segment::Playing { track: n, duration_ms, .. } => Some((*start, *n, *duration_ms)),
            _ => None,
        });
        Ok(last.map(|(at, n, d)| Played { item: track(n, d), played_at: at, context: None }).into_iter().collect())
    }
}

/// A deterministic stream of numbers for generating a day (no dependency, same day every run).
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1))
    }
    /// A number in `low..high`.
    pub fn roll(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        low + (self.0 >> 33) % (high - low).max(1)
    }
}

/// A realistic day from `midnight`: silence until about 08:00 and after about 23:30;
/// between, listening in sittings of an hour or two with breaks, tracks of 2 to 6
/// minutes, about one in four skipped part-way, and a pause now and then.
pub fn listening_day(midnight: OffsetDateTime, seed: u64) -> Vec<(OffsetDateTime, Change, Segment)> {
    let mut dice = Dice::new(seed);
    let mut segments = Vec::new();
    let mut at = midnight + Duration::from_secs(8 * 3600 + dice.roll(0, 1800));
    let night = midnight + Duration::from_secs(23 * 3600 + 1800);
    let mut n = 0;
    while at < night {
        let sitting_end = at + Duration::from_secs(dice.roll(3600, 7200));
        let mut change = Change::Start;
        while at < sitting_end {
            n += 1;
            let duration_ms = dice.roll(120_000, 360_000);
            segments.push((at, change, Segment::Playing { track: n, duration_ms, from_ms: 0 }));
            let mut played_ms = duration_ms;
            change = Change::TrackEnd;
            if dice.roll(0, 4) == 0 {
                played_ms = dice.roll(5_000, duration_ms - 5_000);
                change = Change::Skip;
            } else if dice.roll(0, 10) == 0 {
                // A pause part-way, then the rest of the track.
                let at_ms = dice.roll(5_000, duration_ms - 5_000);
                let pause_at = at + Duration::from_millis(at_ms);
                segments.push((pause_at, Change::Pause, Segment::Paused { track: n, duration_ms, at_ms }));
                let resume_at = pause_at + Duration::from_secs(dice.roll(30, 600));
                segments.push((resume_at, Change::Resume, Segment::Playing { track: n, duration_ms, from_ms: at_ms }));
                at = resume_at + Duration::from_millis(duration_ms - at_ms);
                continue;
            }
            at += Duration::from_millis(played_ms);
        }
        segments.push((at, Change::Stop, Segment::Silent));
        at += Duration::from_secs(dice.roll(600, 5400));
    }
    segments
}
