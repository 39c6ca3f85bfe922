//! The owner's say over what the world sees: sharing paused, quiet hours, and plays hidden by
//! artist, track, album, show, playlist, explicitness or kind.
//!
//! The rules are one JSON document the owner keeps (`make privacy`); this module parses it
//! and judges plays against it. It fails closed: rules that cannot be read or understood
//! show nothing at all, and say why without repeating the document (it is the owner's
//! business). `document` reads and writes that document; this module judges plays.

mod document;
mod when;

use std::collections::BTreeSet;

use time::OffsetDateTime;
pub use when::{Heard, QuietHours};

use crate::domain::{Item, ItemKind, NowPlaying, Played};

/// What is hidden, by Spotify id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hidden {
    pub artists: BTreeSet<String>,
    pub tracks: BTreeSet<String>,
    pub albums: BTreeSet<String>,
    pub shows: BTreeSet<String>,
    pub playlists: BTreeSet<String>,
}

/// The owner's rules, as `make privacy` writes them.
#[derive(Clone, Debug, PartialEq)]
pub struct PrivacyRules {
    /// `false`: sharing is paused and no item is shown.
    pub sharing: bool,
    pub hide: Hidden,
    pub hide_explicit: bool,
    pub hide_episodes: bool,
    pub quiet_hours: Option<QuietHours>,
    /// When sharing was paused, while it is (`make privacy pause` records it).
    pub paused_since: Option<OffsetDateTime>,
    /// Pauses that are over, oldest first: what was heard in them stays hidden.
    pub paused: Vec<Paused>,
}

/// A pause of sharing that is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paused {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

/// The pauses a document keeps; `make privacy resume` joins the two oldest beyond this,
/// which hides the little between them rather than forget a pause.
pub const MAX_PAUSES: usize = 20;

impl Default for PrivacyRules {
    fn default() -> Self {
        PrivacyRules {
            sharing: true,
            hide: Hidden::default(),
            hide_explicit: false,
            hide_episodes: false,
            quiet_hours: None,
            paused_since: None,
            paused: Vec::new(),
        }
    }
}

/// Whether `id` has the shape of a Spotify id: 22 letters and digits.
pub fn is_spotify_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl PrivacyRules {
    /// Whether nothing at all may be shown at `at`: sharing paused, or quiet hours.
    pub fn silent_at(&self, at: OffsetDateTime) -> bool {
        !self.sharing || self.quiet_hours.as_ref().is_some_and(|q| q.contains(at))
    }

    /// Whether a play heard over `heard` falls in quiet hours or a pause, over or not.
    pub fn silenced(&self, heard: Heard) -> bool {
        self.quiet_hours.as_ref().is_some_and(|q| q.overlaps(heard))
            || self.paused.iter().any(|p| heard.overlaps(p.from, p.to))
            || self.paused_since.is_some_and(|since| heard.to >= since)
    }

    /// Ends sharing's pause at `at`: the span is kept, so what was heard in it stays hidden.
    /// A pause of unknown start (a document written by hand) covers everything before.
    pub fn resume(&mut self, at: OffsetDateTime) {
        if !self.sharing {
            let from = self.paused_since.unwrap_or(OffsetDateTime::UNIX_EPOCH).min(at);
            self.paused.push(Paused { from, to: at });
            self.paused.sort_by_key(|p| p.from);
            while self.paused.len() > MAX_PAUSES {
                let second = self.paused.remove(1);
                self.paused[0].to = self.paused[0].to.max(second.to);
            }
        }
        self.sharing = true;
        self.paused_since = None;
    }

    /// Pauses sharing from `at`, unless it is paused already.
    pub fn pause(&mut self, at: OffsetDateTime) {
        if self.sharing {
            self.paused_since = Some(at);
        }
        self.sharing = false;
    }

    /// Whether a play of `item` from `context` (a Spotify URI such as
    /// `spotify:playlist:ID`, when known) is hidden.
    pub fn hides(&self, item: &Item, context: Option<&str>) -> bool {
        let h = &self.hide;
        if self.hide_explicit && item.explicit {
            return true;
        }
        if self.hide_episodes && item.kind == ItemKind::Episode {
            return true;
        }
        // Under a rule, what cannot be read for it is hidden: the rule cannot be applied.
        let unread_or_in =
            |id: Option<&str>, set: &BTreeSet<String>| !set.is_empty() && id.is_none_or(|id| set.contains(id));
        let track = item.kind == ItemKind::Track;
        // A local file has no id to hide it by; any other track has one.
        if track && !item.is_local && unread_or_in(item.id.as_deref(), &h.tracks) {
            return true;
        }
        if !h.artists.is_empty() {
            match &item.credits.artists {
                Some(ids) if !ids.iter().any(|id| h.artists.contains(id)) => {}
                _ => return true,
            }
        }
        // An episode's show stands where a track's album does.
        let collection = item.credits.collection.as_deref();
        if unread_or_in(collection, if track { &h.albums } else { &h.shows }) {
            return true;
        }
        if !h.playlists.is_empty() {
            // Not known, or a playlist whose id cannot be read: the rule cannot be applied,
            // so the play is not shown rather than maybe shown from a hidden playlist.
            let Some(context) = context else { return true };
            return match playlist_in(context) {
                Context::Playlist(id) => h.playlists.contains(id),
                Context::Unreadable => true,
                Context::Other => false,
            };
        }
        false
    }
}

/// What a play's context URI says of playlists.
#[derive(Debug, PartialEq, Eq)]
enum Context<'a> {
    /// A playlist, with its id: `spotify:playlist:ID`, `spotify:user:NAME:playlist:ID`,
    /// the kind in any case.
    Playlist(&'a str),
    /// A playlist whose id cannot be read, or no Spotify URI at all.
    Unreadable,
    /// An album, an artist, a show: no playlist.
    Other,
}

fn playlist_in(uri: &str) -> Context<'_> {
    let parts: Vec<&str> = uri.split(':').collect();
    if parts.len() < 3 || !parts[0].eq_ignore_ascii_case("spotify") {
        return Context::Unreadable;
    }
    match parts.iter().rposition(|p| p.eq_ignore_ascii_case("playlist")) {
        Some(at) => match parts.get(at + 1) {
            Some(id) if at + 2 == parts.len() && is_spotify_id(id) => Context::Playlist(id),
            _ => Context::Unreadable,
        },
        None => Context::Other,
    }
}

/// The id in `https://open.spotify.com/{kind}/{id}` (with an optional `?si=…`).
pub fn id_in_link<'a>(url: &'a str, kind: &str) -> Option<&'a str> {
    let rest = url.strip_prefix("https://open.spotify.com/")?;
    let rest = rest.strip_prefix("intl-").map(|r| r.split_once('/').map_or(r, |(_, after)| after)).unwrap_or(rest);
    let id = rest.strip_prefix(kind)?.strip_prefix('/')?;
    let id = id.split(['?', '#', '/']).next()?;
    is_spotify_id(id).then_some(id)
}

/// What the function does with what it is about to show.
#[derive(Clone, Debug, PartialEq)]
pub enum Privacy {
    /// No rules document: everything is shown.
    Open,
    Rules(PrivacyRules),
    /// The rules could not be read or understood: nothing is shown. The reason, for
    /// `/v1/health`, names no value from the document.
    Closed(String),
}

impl Privacy {
    /// Whether nothing at all may be shown at `at`.
    pub fn silent_at(&self, at: OffsetDateTime) -> bool {
        match self {
            Privacy::Open => false,
            Privacy::Rules(rules) => rules.silent_at(at),
            Privacy::Closed(_) => true,
        }
    }

    /// Whether the play, heard over `heard`, may be shown at `at`.
    pub fn shows(&self, item: &Item, context: Option<&str>, heard: Heard, at: OffsetDateTime) -> bool {
        match self {
            Privacy::Open => true,
            Privacy::Rules(rules) => !rules.silent_at(at) && !rules.silenced(heard) && !rules.hides(item, context),
            Privacy::Closed(_) => false,
        }
    }

    pub fn shows_played(&self, played: &Played, at: OffsetDateTime) -> bool {
        self.shows(&played.item, played.context.as_deref(), Heard::played(played), at)
    }

    /// The answer as the world may see it at `at`. A hidden item, or any item while silent,
    /// becomes `offline` with nothing that hints at it. The service decides the answer
    /// under the rules already; this is the last look before any route answers, for an
    /// answer decided under older rules (the shared one, the stale one).
    pub fn screen(&self, doc: NowPlaying, at: OffsetDateTime) -> NowPlaying {
        let shown = doc
            .item
            .as_ref()
            .is_none_or(|item| self.shows(item, doc.context.as_deref(), Heard::answer(&doc, item, at), at));
        if shown {
            return doc;
        }
        NowPlaying { stale: doc.stale, stale_reason: doc.stale_reason, ..NowPlaying::offline(doc.fetched_at) }
    }

    /// For `/v1/health`: `none`, `rules` or `unreadable`, and why when unreadable.
    pub fn state(&self) -> (&'static str, Option<&str>) {
        match self {
            Privacy::Open => ("none", None),
            Privacy::Rules(_) => ("rules", None),
            Privacy::Closed(why) => ("unreadable", Some(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{Credits, Link, Status};

    const ARTIST: &str = "0gxyHStUsqpMadRV0Di1Qt";
    const TRACK: &str = "4uLU6hMCjMI75M1A2tKUQC";
    const ALBUM: &str = "6XzQcKsUvCYZKgIYQ0dPNq";
    const SHOW: &str = "5CfCWKI5pZ28U0uOzXkDHe";
    const PLAYLIST: &str = "37i9dQZF1DXcBWIGoYBM5M";

    fn track() -> Item {
        Item {
            kind: ItemKind::Track,
            id: Some(TRACK.into()),
            name: "Never Gonna Give You Up".into(),
            url: Some(format!("https://open.spotify.com/track/{TRACK}")),
            artists: vec![Link {
                name: "Rick Astley".into(),
                url: Some(format!("https://open.spotify.com/artist/{ARTIST}")),
            }],
            album: Link {
                name: "Whenever You Need Somebody".into(),
                url: Some(format!("https://open.spotify.com/album/{ALBUM}?si=x")),
            },
            images: vec![],
            duration_ms: 213_573,
            explicit: false,
            is_local: false,
            palette: None,
            credits: Credits { artists: Some(vec![ARTIST.into()]), collection: Some(ALBUM.into()) },
        }
    }

    fn episode() -> Item {
        let show = Link { name: "A Show".into(), url: Some(format!("https://open.spotify.com/show/{SHOW}")) };
        Item {
            kind: ItemKind::Episode,
            id: Some("512ojhOuo1ktJprKbVcKyQ".into()),
            artists: vec![show.clone()],
            album: show,
            credits: Credits { artists: Some(vec![]), collection: Some(SHOW.into()) },
            ..track()
        }
    }

    fn rules(json: &str) -> PrivacyRules {
        PrivacyRules::parse(json).unwrap()
    }

    #[test]
    fn each_hide_rule_hides_its_plays_and_only_those() {
        let album_context = Some("spotify:album:6XzQcKsUvCYZKgIYQ0dPNq");
        for (rule, hidden) in [
            (format!(r#"{{"hide": {{"artists": ["{ARTIST}"]}}}}"#), true),
            (format!(r#"{{"hide": {{"tracks": ["{TRACK}"]}}}}"#), true),
            (format!(r#"{{"hide": {{"albums": ["{ALBUM}"]}}}}"#), true),
            (format!(r#"{{"hide": {{"shows": ["{SHOW}"]}}}}"#), false),
            (r#"{"hide_episodes": true}"#.to_owned(), false),
            (r#"{"hide_explicit": true}"#.to_owned(), false),
            (r#"{"hide": {"tracks": ["0000000000000000000000"]}}"#.to_owned(), false),
            ("{}".to_owned(), false),
        ] {
            assert_eq!(rules(&rule).hides(&track(), album_context), hidden, "{rule}");
        }
        assert!(rules(r#"{"hide_explicit": true}"#).hides(&Item { explicit: true, ..track() }, album_context));
        assert!(rules(r#"{"hide_episodes": true}"#).hides(&episode(), None));
        assert!(rules(&format!(r#"{{"hide": {{"shows": ["{SHOW}"]}}}}"#)).hides(&episode(), None));
        assert!(
            !rules(&format!(r#"{{"hide": {{"albums": ["{SHOW}"]}}}}"#)).hides(&episode(), None),
            "a show is no album"
        );
    }

    #[test]
    fn rules_judge_every_credited_id_and_hide_what_they_cannot_read() {
        let by_artist = rules(&format!(r#"{{"hide": {{"artists": ["{ARTIST}"]}}}}"#));
        let mut many: Vec<String> = (0..10).map(|n| format!("{n:0>22}")).collect();
        many.push(ARTIST.into());
        let eleventh = Item { credits: Credits { artists: Some(many), ..track().credits }, ..track() };
        assert_eq!(eleventh.artists.len(), 1, "the shown list is not what the rule reads");
        assert!(by_artist.hides(&eleventh, None), "the eleventh artist counts");
        let unread = Item { credits: Credits { artists: None, ..track().credits }, ..track() };
        assert!(by_artist.hides(&unread, None), "an artist that cannot be read hides the play");
        assert!(!rules("{}").hides(&unread, None), "without an artist rule it does not matter");
        let no_album = Item { credits: Credits { collection: None, ..track().credits }, ..track() };
        assert!(rules(&format!(r#"{{"hide": {{"albums": ["{SHOW}"]}}}}"#)).hides(&no_album, None));
        assert!(!rules(&format!(r#"{{"hide": {{"albums": ["{SHOW}"]}}}}"#)).hides(&track(), None));
        let no_show = Item { credits: Credits { collection: None, ..episode().credits }, ..episode() };
        assert!(rules(&format!(r#"{{"hide": {{"shows": ["{ALBUM}"]}}}}"#)).hides(&no_show, None));
        assert!(!by_artist.hides(&episode(), None), "an episode has no artists to hide it by");
        let no_id = Item { id: None, ..track() };
        let by_track = rules(r#"{"hide": {"tracks": ["0000000000000000000000"]}}"#);
        assert!(by_track.hides(&no_id, None), "a track whose id cannot be read");
        assert!(!by_track.hides(&Item { is_local: true, ..no_id }, None), "a local file has none to hide it by");
    }

    #[test]
    fn a_playlist_hides_what_plays_from_it_and_what_cannot_be_placed() {
        let r = rules(&format!(r#"{{"hide": {{"playlists": ["{PLAYLIST}"]}}}}"#));
        assert!(r.hides(&track(), Some(&format!("spotify:playlist:{PLAYLIST}"))));
        assert!(!r.hides(&track(), Some("spotify:playlist:1111111111111111111111")));
        assert!(!r.hides(&track(), Some("spotify:album:6XzQcKsUvCYZKgIYQ0dPNq")));
        assert!(r.hides(&track(), None), "no context known: the rule cannot be applied, so it is not shown");
        assert!(!rules("{}").hides(&track(), None), "without playlist rules the context does not matter");
    }

    #[test]
    fn a_playlist_is_known_by_its_id_in_every_uri_shape_and_an_unreadable_one_is_hidden() {
        let r = rules(&format!(r#"{{"hide": {{"playlists": ["{PLAYLIST}"]}}}}"#));
        for shape in [
            format!("spotify:user:spotify:playlist:{PLAYLIST}"),
            format!("spotify:Playlist:{PLAYLIST}"),
            format!("SPOTIFY:PLAYLIST:{PLAYLIST}"),
        ] {
            assert!(r.hides(&track(), Some(&shape)), "{shape}");
        }
        for unreadable in
            ["spotify:playlist:", "spotify:playlist:not-an-id", "playlist:x", "https://open.spotify.com/x"]
        {
            assert!(r.hides(&track(), Some(unreadable)), "{unreadable}");
        }
        assert!(!r.hides(&track(), Some("spotify:user:someone:playlist:1111111111111111111111")));
        assert!(!r.hides(&track(), Some("spotify:artist:0gxyHStUsqpMadRV0Di1Qt")), "an artist is no playlist");
    }

    #[test]
    fn quiet_hours_run_across_midnight_in_their_own_time_zone() {
        let r = rules(r#"{"quiet_hours": {"from": "23:00", "to": "07:00", "time_zone": "Europe/Berlin"}}"#);
        // Berlin is UTC+1 in winter, UTC+2 in summer.
        for (at, quiet) in [
            (datetime!(2026-12-05 21:59 UTC), false),
            (datetime!(2026-12-05 22:00 UTC), true),
            (datetime!(2026-12-05 23:30 UTC), true),
            (datetime!(2026-12-06 05:59 UTC), true),
            (datetime!(2026-12-06 06:00 UTC), false),
            (datetime!(2026-07-01 21:30 UTC), true),
            (datetime!(2026-07-01 05:30 UTC), false),
        ] {
            assert_eq!(r.silent_at(at), quiet, "{at}");
        }
        let lunch = rules(r#"{"quiet_hours": {"from": "12:00", "to": "13:30", "time_zone": "America/New_York"}}"#);
        assert!(lunch.silent_at(datetime!(2026-12-05 17:15 UTC)));
        assert!(!lunch.silent_at(datetime!(2026-12-05 18:30 UTC)));
        assert!(rules(r#"{"sharing": "paused"}"#).silent_at(datetime!(2026-12-05 12:00 UTC)));
        assert!(!rules(r#"{"sharing": "on"}"#).silent_at(datetime!(2026-12-05 12:00 UTC)));
    }

    fn heard_until(minute_end: OffsetDateTime, minutes: i64) -> Played {
        Played {
            item: Item { duration_ms: u64::try_from(minutes * 60_000).unwrap(), ..track() },
            played_at: minute_end,
            context: None,
        }
    }

    #[test]
    fn a_play_in_quiet_hours_stays_hidden_once_they_are_over() {
        // Quiet 14:07 to 14:52; plays ending 14:32 to 14:40; asked at 14:52:02.
        let privacy = Privacy::Rules(rules(r#"{"quiet_hours": {"from": "14:07", "to": "14:52", "time_zone": "UTC"}}"#));
        let after = datetime!(2026-12-08 14:52:02 UTC);
        for end in [datetime!(2026-12-08 14:32 UTC), datetime!(2026-12-08 14:36 UTC), datetime!(2026-12-08 14:40 UTC)] {
            assert!(!privacy.shows_played(&heard_until(end, 3), after), "{end}");
        }
        // Begun before the quiet hours and ended in them, or over them whole.
        assert!(!privacy.shows_played(&heard_until(datetime!(2026-12-08 14:08 UTC), 4), after));
        assert!(!privacy.shows_played(&heard_until(datetime!(2026-12-08 15:10 UTC), 70), after));
        // Begun in them, ended after.
        assert!(!privacy.shows_played(&heard_until(datetime!(2026-12-08 14:53 UTC), 3), after));
        // Wholly before or after.
        assert!(privacy.shows_played(&heard_until(datetime!(2026-12-08 14:06 UTC), 3), after));
        assert!(privacy.shows_played(&heard_until(datetime!(2026-12-08 14:56 UTC), 3), after));
        // What plays now began in them.
        let item = Item { duration_ms: 600_000, ..track() };
        assert!(!privacy.shows(&item, None, Heard::playing(Some(120_000), after), after));
        assert!(privacy.shows(&item, None, Heard::playing(Some(1_000), after), after));
    }

    #[test]
    fn a_pause_that_is_over_keeps_what_was_heard_in_it_hidden() {
        let mut r = PrivacyRules::default();
        r.pause(datetime!(2026-12-08 10:00 UTC));
        r.pause(datetime!(2026-12-08 10:30 UTC));
        assert_eq!(r.paused_since, Some(datetime!(2026-12-08 10:00 UTC)), "a second pause keeps the first's start");
        r.resume(datetime!(2026-12-08 11:00 UTC));
        let r = rules(&r.to_document().to_string());
        assert!(r.sharing);
        let privacy = Privacy::Rules(r);
        let later = datetime!(2026-12-08 12:00 UTC);
        assert!(!privacy.shows_played(&heard_until(datetime!(2026-12-08 10:20 UTC), 3), later));
        assert!(!privacy.shows_played(&heard_until(datetime!(2026-12-08 11:01 UTC), 3), later), "ended after");
        assert!(privacy.shows_played(&heard_until(datetime!(2026-12-08 09:50 UTC), 3), later));
        assert!(privacy.shows_played(&heard_until(datetime!(2026-12-08 11:30 UTC), 3), later));
        // A hand-written pause of unknown start hides everything before its end.
        let mut hand = rules(r#"{"sharing": "paused"}"#);
        hand.resume(datetime!(2026-12-08 11:00 UTC));
        assert!(!Privacy::Rules(hand).shows_played(&heard_until(datetime!(2026-01-01 10:00 UTC), 3), later));
    }

    #[test]
    fn pauses_beyond_the_limit_are_joined_never_forgotten() {
        let mut r = PrivacyRules::default();
        let day = datetime!(2026-11-01 00:00 UTC);
        for n in 0..(MAX_PAUSES as i64 + 3) {
            r.pause(day + time::Duration::days(n));
            r.resume(day + time::Duration::days(n) + time::Duration::hours(1));
        }
        assert_eq!(r.paused.len(), MAX_PAUSES);
        let privacy = Privacy::Rules(r);
        let later = datetime!(2026-12-31 00:00 UTC);
        for n in 0..(MAX_PAUSES as i64 + 3) {
            let inside = day + time::Duration::days(n) + time::Duration::minutes(30);
            assert!(!privacy.shows_played(&heard_until(inside, 3), later), "pause {n}");
        }
    }

    #[test]
    fn links_give_their_ids() {
        assert_eq!(id_in_link(&format!("https://open.spotify.com/artist/{ARTIST}?si=abc"), "artist"), Some(ARTIST));
        assert_eq!(id_in_link(&format!("https://open.spotify.com/intl-de/album/{ALBUM}"), "album"), Some(ALBUM));
        assert_eq!(id_in_link(&format!("https://open.spotify.com/album/{ALBUM}"), "artist"), None);
        assert_eq!(id_in_link("https://evil.example/artist/0gxyHStUsqpMadRV0Di1Qt", "artist"), None);
    }

    fn doc(item: Item, context: Option<&str>) -> NowPlaying {
        NowPlaying {
            status: Status::Paused,
            is_playing: false,
            item: Some(item),
            progress_ms: Some(1234),
            played_at: None,
            fetched_at: datetime!(2026-12-05 12:00 UTC),
            stale: true,
            stale_reason: None,
            context: context.map(str::to_owned),
        }
    }

    #[test]
    fn screening_leaves_nothing_of_a_hidden_item() {
        let at = datetime!(2026-12-05 12:00 UTC);
        let hiding = Privacy::Rules(rules(&format!(r#"{{"hide": {{"tracks": ["{TRACK}"]}}}}"#)));
        let screened = hiding.screen(doc(track(), None), at);
        assert_eq!(screened, NowPlaying { stale: true, ..NowPlaying::offline(at) });
        let text = serde_json::to_string(&screened.public()).unwrap();
        for leak in [TRACK, "Never Gonna", "Rick", "1234", "paused"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert_eq!(Privacy::Open.screen(doc(track(), None), at), doc(track(), None));
        let paused = Privacy::Rules(rules(r#"{"sharing": "paused"}"#));
        assert_eq!(paused.screen(doc(track(), None), at).item, None);
        assert_eq!(Privacy::Closed("unreadable".into()).screen(doc(track(), None), at).item, None);
    }
}
