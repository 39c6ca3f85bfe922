//! The suggestion service's decisions over in-memory ports: the mode, the visitor key, the
//! limits and the look-up budget, the proof, the repeat rule, the playlist additions and
//! their retries, the owner's decisions and the daily digest. The same behaviour through the
//! built function, moto and the Spotify stand-in is in tests/test_suggestions.py.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use now_playing::domain::Credentials;
use now_playing::domain::ports::{Counters, SpotifyError};
use now_playing::domain::proof;
use now_playing::domain::suggestions::*;

struct World {
    h: Harness,
    catalog: Arc<FakeCatalog>,
    playlists: Arc<FakePlaylists>,
    table: Arc<MemoryTable>,
}

fn authorized(scope: &str, playlist: Option<&str>) -> Credentials {
    Credentials { scope: Some(scope.to_owned()), suggestions_playlist_id: playlist.map(str::to_owned), ..credentials() }
}

const FULL_SCOPE: &str =
    "user-read-currently-playing user-read-recently-played playlist-modify-private playlist-modify-public";

impl World {
    fn new() -> Self {
        let h = Harness::new();
        h.spotify.script_refresh(vec![grant("access-1", None)]);
        *h.credentials.stored.lock().unwrap() = Ok(authorized(FULL_SCOPE, Some(PLAYLIST)));
        World { h, catalog: Arc::default(), playlists: Arc::default(), table: Arc::default() }
    }

    fn service(&self, mode: Mode, proof_of_work: bool, limits: Limits) -> SuggestionService {
        SuggestionService::new(
            SuggestionPorts {
                catalog: self.catalog.clone(),
                playlists: self.playlists.clone(),
                store: self.table.clone(),
                counters: self.table.clone(),
                cache: self.table.clone(),
                shared: self.h.snapshots.clone(),
                tokens: Arc::new(self.h.tokens("a")),
                clock: self.h.clock.clone(),
            },
            Settings { mode, proof_of_work, limits },
        )
    }

    /// No proofs, roomy limits: each test narrows what it is about.
    fn open(&self, mode: Mode) -> SuggestionService {
        self.service(mode, false, roomy())
    }
}

fn roomy() -> Limits {
    Limits {
        suggestions_per_visitor_per_hour: 100,
        suggestions_per_day: 100,
        searches_per_visitor_per_minute: 100,
        lookups_per_window: 100,
        lookup_window: Duration::from_secs(30),
        refusals_per_visitor_per_hour: 100,
        refusals_per_day: 1000,
    }
}

fn submission(track: &str) -> Submission {
    Submission { track: track.to_owned(), name: Some("Ada".into()), message: None, proof: None }
}

/// What the widget's worker does, as the proof module does it for tests and tools.
fn solve(challenge: &now_playing::domain::proof::Challenge) -> String {
    proof::encode(&proof::solve(challenge).expect("solvable"))
}

#[tokio::test]
async fn when_off_every_call_is_closed_and_nothing_is_touched() {
    let w = World::new();
    let off = w.open(Mode::Off);
    assert!(matches!(off.open(), Err(SuggestError::Closed)));
    assert!(matches!(off.visitor("192.0.2.1").await, Err(SuggestError::Closed)));
    assert!(matches!(off.challenge().await, Err(SuggestError::Closed)));
    let review = w.open(Mode::Review);
    let visitor = review.visitor("192.0.2.1").await.unwrap();
    assert!(matches!(off.search(&visitor, "rick").await, Err(SuggestError::Closed)));
    assert!(matches!(off.suggest(&visitor, submission(TRACKS[0])).await, Err(SuggestError::Closed)));
    assert!(matches!(off.digest(&Outbox::default()).await, Err(SuggestError::Closed)));
    assert!(review.open().is_ok() && w.open(Mode::Auto).open().is_ok());
    assert_eq!(w.catalog.searches.load(Ordering::SeqCst) + w.catalog.lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_visitor_is_a_keyed_hash_of_the_address_that_changes_with_the_client_secret() {
    let w = World::new();
    let s = w.open(Mode::Review);
    let a = s.visitor("192.0.2.1").await.unwrap();
    assert_eq!(a, s.visitor("192.0.2.1").await.unwrap());
    assert_ne!(a, s.visitor("192.0.2.2").await.unwrap());
    let shown = format!("{a:?}");
    assert!(!shown.contains("192.0.2.1"), "{shown}");
    *w.h.credentials.stored.lock().unwrap() =
        Ok(Credentials { client_secret: "another-secret".into(), ..authorized(FULL_SCOPE, Some(PLAYLIST)) });
    let other = w.open(Mode::Review);
    assert_ne!(a, other.visitor("192.0.2.1").await.unwrap(), "the key is derived from the client secret");
}

#[tokio::test]
async fn the_same_search_costs_spotify_once_and_a_visitor_has_a_search_limit() {
    let w = World::new();
    let s = w.service(Mode::Review, false, Limits { searches_per_visitor_per_minute: 3, ..roomy() });
    let v = s.visitor("192.0.2.1").await.unwrap();
    let found = s.search(&v, "Rick Astley").await.unwrap();
    assert_eq!(found.len(), 4);
    assert_eq!(s.search(&v, "  rick   astley ").await.unwrap(), found);
    assert_eq!(w.catalog.searches.load(Ordering::SeqCst), 1, "the second came from the shared cache");
    s.search(&v, "something else").await.unwrap();
    let over = s.search(&v, "rick").await;
    assert!(matches!(over, Err(SuggestError::RateLimited { what: "searches", .. })), "{over:?}");
    let another = s.visitor("192.0.2.2").await.unwrap();
    assert!(s.search(&another, "rick").await.is_ok(), "the limit is per visitor");
}

#[tokio::test]
async fn spotify_look_ups_of_all_visitors_share_one_budget_and_the_backoff() {
    let w = World::new();
    let s = w.service(Mode::Review, false, Limits { lookups_per_window: 2, ..roomy() });
    for (i, q) in ["one", "two"].into_iter().enumerate() {
        let v = s.visitor(&format!("192.0.2.{i}")).await.unwrap();
        s.search(&v, q).await.unwrap();
    }
    let v = s.visitor("192.0.2.9").await.unwrap();
    let over = s.search(&v, "three").await;
    assert!(matches!(over, Err(SuggestError::RateLimited { what: "look-ups", .. })), "{over:?}");
    assert!(s.search(&v, "one").await.is_ok(), "a cached search costs no look-up");
    assert_eq!(w.catalog.searches.load(Ordering::SeqCst), 2);

    let fresh = World::new();
    let s = fresh.open(Mode::Review);
    let now = fresh.h.clock.0.lock().unwrap().to_owned();
    fresh.h.snapshots.state.lock().unwrap().backoff_until = Some(now + time::Duration::seconds(90));
    let v = s.visitor("192.0.2.1").await.unwrap();
    match s.search(&v, "rick").await {
        Err(SuggestError::RateLimited { what: "look-ups", retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(90))
        }
        other => panic!("expected the shared backoff, got {other:?}"),
    }
    fresh.h.snapshots.state.lock().unwrap().backoff_until = Some(now);
    assert!(s.search(&v, "rick").await.is_ok(), "a backoff that has ended holds nobody");
}

#[tokio::test]
async fn a_challenge_expires_in_ten_minutes_and_none_is_issued_with_proofs_off() {
    let w = World::new();
    let c = w.service(Mode::Review, true, roomy()).challenge().await.unwrap().expect("a challenge");
    assert_eq!((c.algorithm.as_str(), c.maxnumber), ("SHA-256", CHALLENGE_MAXNUMBER));
    let now = w.h.clock.0.lock().unwrap().unix_timestamp();
    assert!(c.salt.ends_with(&format!("?expires={}&", now + 600)), "{}", c.salt);
    assert!(w.open(Mode::Review).challenge().await.unwrap().is_none());
}

#[tokio::test]
async fn a_suggestion_needs_a_fresh_proof_used_once() {
    let w = World::new();
    let s = w.service(Mode::Review, true, roomy());
    let v = s.visitor("192.0.2.1").await.unwrap();
    for proof in [None, Some(String::new())] {
        let r = s.suggest(&v, Submission { proof, ..submission(TRACKS[0]) }).await;
        assert!(matches!(r, Err(SuggestError::ProofRequired(_))), "{r:?}");
    }
    let proof = solve(&s.challenge().await.unwrap().unwrap());
    let (stored, _) = s.suggest(&v, Submission { proof: Some(proof.clone()), ..submission(TRACKS[0]) }).await.unwrap();
    assert_eq!(stored.status, Status::Pending);
    let again = s.suggest(&v, Submission { proof: Some(proof), ..submission(TRACKS[1]) }).await;
    assert!(matches!(again, Err(SuggestError::ProofRequired(_))), "a used proof: {again:?}");
    // A proof made under another client secret does not verify.
    let foreign = World::new();
    *foreign.h.credentials.stored.lock().unwrap() =
        Ok(Credentials { client_secret: "another-secret".into(), ..authorized(FULL_SCOPE, Some(PLAYLIST)) });
    let theirs = solve(&foreign.service(Mode::Review, true, roomy()).challenge().await.unwrap().unwrap());
    let r = s.suggest(&v, Submission { proof: Some(theirs), ..submission(TRACKS[2]) }).await;
    assert!(matches!(r, Err(SuggestError::ProofRequired(_))), "{r:?}");
}

#[tokio::test]
async fn without_the_playlist_scopes_or_the_playlist_the_owner_is_told_what_to_run() {
    for credentials in [
        authorized("user-read-currently-playing user-read-recently-played", Some(PLAYLIST)),
        authorized("user-read-currently-playing playlist-modify-public", Some(PLAYLIST)),
        authorized(FULL_SCOPE, None),
        authorized(FULL_SCOPE, Some("")),
    ] {
        let w = World::new();
        *w.h.credentials.stored.lock().unwrap() = Ok(credentials);
        let s = w.open(Mode::Auto);
        let v = s.visitor("192.0.2.1").await.unwrap();
        match s.suggest(&v, submission(TRACKS[0])).await {
            Err(SuggestError::NotAuthorized(m)) => assert!(m.contains("make bootstrap ARGS=\"--suggestions\""), "{m}"),
            other => panic!("expected not authorized, got {other:?}"),
        }
        assert!(w.table.records.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn review_stores_and_waits_auto_adds_to_the_owner_s_playlist() {
    let w = World::new();
    let review = w.open(Mode::Review);
    let v = review.visitor("192.0.2.1").await.unwrap();
    let (pending, item) = review.suggest(&v, submission(TRACKS[0])).await.unwrap();
    assert_eq!((pending.status, item.id.as_deref()), (Status::Pending, Some(TRACKS[0])));
    assert_eq!(pending.name.as_deref(), Some("Ada"));
    assert!(w.playlists.added().is_empty(), "review mode waits for the owner");
    let (added, _) = w.open(Mode::Auto).suggest(&v, submission(TRACKS[1])).await.unwrap();
    assert_eq!(added.status, Status::Added);
    assert_eq!(*w.playlists.added.lock().unwrap(), vec![(PLAYLIST.to_owned(), TRACKS[1].to_owned())]);
    assert!(w.table.retry.lock().unwrap().is_empty());
    let unknown = review.suggest(&v, submission(UNKNOWN)).await;
    assert!(matches!(unknown, Err(SuggestError::TrackNotFound(_))), "{unknown:?}");
}

#[tokio::test]
async fn a_track_pending_or_added_in_the_last_30_days_is_already_suggested() {
    let w = World::new();
    let auto = w.open(Mode::Auto);
    let v = auto.visitor("192.0.2.1").await.unwrap();
    auto.suggest(&v, submission(TRACKS[0])).await.unwrap();
    let review = w.open(Mode::Review);
    review.suggest(&v, submission(TRACKS[1])).await.unwrap();
    w.h.clock.advance(Duration::from_secs(29 * 86400));
    for track in [TRACKS[0], TRACKS[1]] {
        let r = review.suggest(&v, submission(track)).await;
        assert!(matches!(r, Err(SuggestError::AlreadySuggested(_))), "{track}: {r:?}");
    }
    w.h.clock.advance(Duration::from_secs(2 * 86400));
    let (again, _) = review.suggest(&v, submission(TRACKS[0])).await.expect("added 31 days ago: welcome again");
    assert_eq!(again.status, Status::Pending);
    let still = review.suggest(&v, submission(TRACKS[1])).await;
    assert!(matches!(still, Err(SuggestError::AlreadySuggested(_))), "pending stays pending: {still:?}");
}

#[tokio::test]
async fn a_failed_addition_stays_pending_and_the_next_suggestion_retries_it() {
    let w = World::new();
    let auto = w.open(Mode::Auto);
    let v = auto.visitor("192.0.2.1").await.unwrap();
    w.playlists.failures.lock().unwrap().push_back(SpotifyError::Upstream(503));
    let (failed, _) = auto.suggest(&v, submission(TRACKS[0])).await.unwrap();
    assert_eq!(failed.status, Status::Pending);
    assert!(failed.reason.as_deref().is_some_and(|r| r.contains("503")), "{failed:?}");
    assert_eq!(*w.table.retry.lock().unwrap(), vec![TrackId::parse(TRACKS[0]).unwrap()]);
    auto.suggest(&v, submission(TRACKS[1])).await.unwrap();
    assert_eq!(w.playlists.added(), vec![TRACKS[1].to_owned(), TRACKS[0].to_owned()]);
    assert_eq!(w.table.records.lock().unwrap()[&TrackId::parse(TRACKS[0]).unwrap()].status, Status::Added);
    assert!(w.table.retry.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_retry_skips_what_the_owner_rejected_meanwhile() {
    let w = World::new();
    let auto = w.open(Mode::Auto);
    let v = auto.visitor("192.0.2.1").await.unwrap();
    w.playlists.failures.lock().unwrap().push_back(SpotifyError::Upstream(503));
    auto.suggest(&v, submission(TRACKS[0])).await.unwrap();
    let first = TrackId::parse(TRACKS[0]).unwrap();
    // A rejection that could not clear the retry list leaves the track on it.
    let mut rejected = w.table.records.lock().unwrap()[&first].clone();
    rejected.status = Status::Rejected;
    w.table.records.lock().unwrap().insert(first.clone(), rejected);
    auto.suggest(&v, submission(TRACKS[1])).await.unwrap();
    assert_eq!(w.playlists.added(), vec![TRACKS[1].to_owned()], "the rejected track is not added");
    assert!(w.table.retry.lock().unwrap().is_empty(), "and leaves the retry list");
}

#[tokio::test]
async fn the_owner_approves_rejects_and_lists_oldest_first() {
    let w = World::new();
    let review = w.open(Mode::Review);
    let v = review.visitor("192.0.2.1").await.unwrap();
    for track in &TRACKS[..3] {
        review.suggest(&v, submission(track)).await.unwrap();
        w.h.clock.advance(Duration::from_secs(60));
    }
    let listed: Vec<String> = review.list().await.unwrap().iter().map(|s| s.track.as_str().to_owned()).collect();
    assert_eq!(listed, TRACKS[..3].to_vec());
    let [a, b, _] = [0, 1, 2].map(|i| TrackId::parse(TRACKS[i]).unwrap());
    let approved = review.decide(&a, true).await.unwrap();
    assert_eq!(approved.status, Status::Added);
    assert_eq!(*w.playlists.added.lock().unwrap(), vec![(PLAYLIST.to_owned(), TRACKS[0].to_owned())]);
    let again = review.decide(&a, true).await.unwrap();
    assert_eq!(again.status, Status::Added);
    assert_eq!(w.playlists.added().len(), 1, "approving an added one adds nothing");
    let rejected = review.decide(&b, false).await.unwrap();
    assert_eq!(rejected.status, Status::Rejected);
    assert_eq!(w.playlists.added().len(), 1);
    let unknown = review.decide(&TrackId::parse(UNKNOWN).unwrap(), true).await;
    assert!(matches!(unknown, Err(SuggestError::NoSuchSuggestion(_))), "{unknown:?}");
}

#[tokio::test]
async fn the_digest_counts_what_waits_and_goes_out_once_a_day() {
    let w = World::new();
    let review = w.open(Mode::Review);
    let outbox = Outbox::default();
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 0, notified: false });
    let v = review.visitor("192.0.2.1").await.unwrap();
    for track in &TRACKS[..3] {
        review.suggest(&v, Submission { message: Some("hush".into()), ..submission(track) }).await.unwrap();
    }
    review.decide(&TrackId::parse(TRACKS[2]).unwrap(), false).await.unwrap();
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 2, notified: true });
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 2, notified: false });
    {
        let sent = outbox.0.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "now-playing: 2 suggested songs are waiting");
        assert!(!sent[0].1.contains("Ada") && !sent[0].1.contains("hush"), "{}", sent[0].1);
    }
    w.h.clock.advance(Duration::from_secs(86400));
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 2, notified: true }, "the next day");
}

/// A random-looking track id Spotify does not have.
fn unknown_track(n: usize) -> String {
    format!("{n:0>22}")
}

#[tokio::test]
async fn refused_suggestions_from_many_addresses_leave_the_next_visitor_s_suggestion() {
    // 51 proofs for random track ids from 17 addresses, three each, with the default limits:
    // every one is refused, nothing is stored, and the next real visitor still suggests.
    let w = World::new();
    let s = w.service(Mode::Review, true, Limits::default());
    for address in 0..17 {
        let v = s.visitor(&format!("198.51.100.{address}")).await.unwrap();
        for attempt in 0..3 {
            let proof = solve(&s.challenge().await.unwrap().unwrap());
            let r =
                s.suggest(&v, Submission { proof: Some(proof), ..submission(&unknown_track(address * 3 + attempt)) });
            let r = r.await;
            assert!(
                matches!(
                    r,
                    Err(SuggestError::TrackNotFound(_)) | Err(SuggestError::RateLimited { what: "look-ups", .. })
                ),
                "{r:?}"
            );
        }
        // The look-up budget is Spotify's, not the day's: it renews every 30 seconds.
        w.h.clock.advance(Duration::from_secs(30));
    }
    assert!(w.table.records.lock().unwrap().is_empty());
    let real = s.visitor("203.0.113.7").await.unwrap();
    let proof = solve(&s.challenge().await.unwrap().unwrap());
    let (stored, _) = s.suggest(&real, Submission { proof: Some(proof), ..submission(TRACKS[0]) }).await.unwrap();
    assert_eq!(stored.status, Status::Pending);
}

#[tokio::test]
async fn one_address_refused_all_day_uses_up_only_its_own_refusals() {
    let w = World::new();
    let limits = Limits { refusals_per_visitor_per_hour: 10, ..roomy() };
    let s = w.service(Mode::Review, false, limits);
    let attacker = s.visitor("198.51.100.1").await.unwrap();
    for hour in 0..17 {
        for attempt in 0..3 {
            let r = s.suggest(&attacker, submission(&unknown_track(hour * 3 + attempt))).await;
            assert!(matches!(r, Err(SuggestError::TrackNotFound(_))), "hour {hour}: {r:?}");
        }
        w.h.clock.advance(Duration::from_secs(3600));
    }
    // Past its own refusal budget in an hour, the address waits without costing a look-up.
    for attempt in 0..10 {
        let r = s.suggest(&attacker, submission(&unknown_track(100 + attempt))).await;
        assert!(matches!(r, Err(SuggestError::TrackNotFound(_))), "{r:?}");
    }
    let lookups = w.catalog.lookups.load(Ordering::SeqCst);
    let r = s.suggest(&attacker, submission(TRACKS[1])).await;
    // Until the hour's window ends, not the day's.
    assert!(
        matches!(r, Err(SuggestError::RateLimited { what: "refused suggestions", retry_after }) if retry_after <= Duration::from_secs(3600)),
        "{r:?}"
    );
    assert_eq!(w.catalog.lookups.load(Ordering::SeqCst), lookups, "no look-up for a visitor past the budget");
    let real = s.visitor("203.0.113.7").await.unwrap();
    s.suggest(&real, submission(TRACKS[0])).await.unwrap();
}

#[tokio::test]
async fn the_everyone_refusal_budget_stops_only_visitors_with_refusals_of_their_own() {
    let w = World::new();
    let s = w.service(Mode::Review, false, Limits { refusals_per_day: 3, ..roomy() });
    for address in 0..3 {
        let v = s.visitor(&format!("198.51.100.{address}")).await.unwrap();
        assert!(matches!(
            s.suggest(&v, submission(&unknown_track(address))).await,
            Err(SuggestError::TrackNotFound(_))
        ));
    }
    let refused_before = s.visitor("198.51.100.0").await.unwrap();
    let r = s.suggest(&refused_before, submission(TRACKS[0])).await;
    // The everyone-budget is a day's: from 20:00 UTC, four hours to wait.
    assert!(
        matches!(r, Err(SuggestError::RateLimited { what: "refused suggestions", retry_after }) if retry_after == Duration::from_secs(4 * 3600)),
        "{r:?}"
    );
    let clean = s.visitor("203.0.113.7").await.unwrap();
    s.suggest(&clean, submission(TRACKS[0])).await.unwrap();
}

#[tokio::test]
async fn repeats_and_bad_proofs_count_as_refusals_and_not_as_suggestions() {
    let w = World::new();
    let limits = Limits { suggestions_per_visitor_per_hour: 2, suggestions_per_day: 3, ..roomy() };
    let s = w.service(Mode::Review, true, limits);
    let v = s.visitor("192.0.2.1").await.unwrap();
    let proof = || async { Some(solve(&s.challenge().await.unwrap().unwrap())) };
    s.suggest(&v, Submission { proof: proof().await, ..submission(TRACKS[0]) }).await.unwrap();
    for _ in 0..5 {
        let repeat = s.suggest(&v, Submission { proof: proof().await, ..submission(TRACKS[0]) }).await;
        assert!(matches!(repeat, Err(SuggestError::AlreadySuggested(_))), "{repeat:?}");
        let bad = s.suggest(&v, Submission { proof: Some("bm90IGEgcHJvb2Y=".into()), ..submission(TRACKS[1]) }).await;
        assert!(matches!(bad, Err(SuggestError::ProofRequired(_))), "{bad:?}");
    }
    // One stored of two an hour: the second still goes in, the third is over the limit.
    s.suggest(&v, Submission { proof: proof().await, ..submission(TRACKS[1]) }).await.unwrap();
    let over = s.suggest(&v, Submission { proof: proof().await, ..submission(TRACKS[2]) }).await;
    assert!(matches!(over, Err(SuggestError::RateLimited { what: "suggestions", .. })), "{over:?}");
    let other = s.visitor("192.0.2.2").await.unwrap();
    s.suggest(&other, Submission { proof: proof().await, ..submission(TRACKS[2]) }).await.unwrap();
    let day = s.suggest(&other, Submission { proof: proof().await, ..submission(TRACKS[3]) }).await;
    assert!(matches!(day, Err(SuggestError::RateLimited { what: "suggestions today", .. })), "{day:?}");
}

#[tokio::test]
async fn a_limit_another_instance_reached_first_stores_nothing_and_gives_back_the_visitor_s_use() {
    let w = World::new();
    let s = w.service(Mode::Review, false, Limits { suggestions_per_day: 5, ..roomy() });
    let v = s.visitor("192.0.2.1").await.unwrap();
    // The reads before the look-up find room; the day's last use goes elsewhere meanwhile.
    w.table.taken_elsewhere.lock().unwrap().insert("suggestions#all".into());
    let r = s.suggest(&v, submission(TRACKS[0])).await;
    assert!(matches!(r, Err(SuggestError::RateLimited { what: "suggestions today", .. })), "{r:?}");
    assert!(w.table.records.lock().unwrap().is_empty(), "nothing stored past the limit");
    let mine: u32 = w
        .table
        .counts
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("#suggest") || k.contains("#suggest#"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(mine, 0, "the visitor's use was given back: {:?}", w.table.counts.lock().unwrap());
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_are_one_visitor() {
    let w = World::new();
    let s = w.service(Mode::Review, false, Limits { suggestions_per_visitor_per_hour: 3, ..roomy() });
    let mut stored = 0;
    for (n, track) in [TRACKS[0], TRACKS[1], TRACKS[2], TRACKS[3]].iter().enumerate() {
        let v = s.visitor(&format!("2001:db8:1:2:{n}::{}", n * 7 + 1)).await.unwrap();
        if s.suggest(&v, submission(track)).await.is_ok() {
            stored += 1;
        }
    }
    assert_eq!(stored, 3, "eight addresses or four, one /64 suggests three");
    let a = s.visitor("2001:db8:1:2::1").await.unwrap();
    assert_eq!(a, s.visitor("2001:db8:1:2:ffff:ffff:ffff:ffff").await.unwrap());
    assert_ne!(a, s.visitor("2001:db8:1:3::1").await.unwrap(), "the next /64 is another visitor");
    assert_eq!(s.visitor("::ffff:192.0.2.1").await.unwrap(), s.visitor("192.0.2.1").await.unwrap());
    assert_ne!(s.visitor("192.0.2.1").await.unwrap(), s.visitor("192.0.2.2").await.unwrap());
}

#[tokio::test]
async fn a_digest_that_could_not_be_sent_is_sent_by_the_retry_and_then_never_again() {
    let w = World::new();
    let review = w.open(Mode::Review);
    let v = review.visitor("192.0.2.1").await.unwrap();
    review.suggest(&v, submission(TRACKS[0])).await.unwrap();
    let outbox = FlakyOutbox { failures: Mutex::new(1), ..FlakyOutbox::default() };
    let failed = review.digest(&outbox).await;
    assert!(matches!(failed, Err(SuggestError::Unavailable(_))), "a failed send fails the run: {failed:?}");
    // Lambda retries a failed asynchronous run about a minute later.
    w.h.clock.advance(Duration::from_secs(60));
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 1, notified: true });
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 1, notified: false });
    w.h.clock.advance(Duration::from_secs(3 * 3600));
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 1, notified: false });
    assert_eq!(outbox.sent.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_run_holding_the_day_s_digest_keeps_another_from_sending_it() {
    let w = World::new();
    let review = w.open(Mode::Review);
    let v = review.visitor("192.0.2.1").await.unwrap();
    review.suggest(&v, submission(TRACKS[0])).await.unwrap();
    let now = now_playing::domain::ports::Clock::now(&*w.h.clock);
    let day = now.unix_timestamp().div_euclid(86_400);
    let held = format!("digest#{day}#sending");
    assert!(w.table.claim(&held, now, now + time::Duration::seconds(60)).await.unwrap(), "another run sends");
    let outbox = Outbox::default();
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 1, notified: false });
    // The other run died without a word: its hold lapses and the day's digest goes out.
    w.h.clock.advance(Duration::from_secs(61));
    assert_eq!(review.digest(&outbox).await.unwrap(), Digest { pending: 1, notified: true });
    assert_eq!(outbox.0.lock().unwrap().len(), 1);
}

// --- Through the HTTP layer: the routes' forms, the visitor's address, the error mapping.

mod over_http {
    use super::*;
    use lambda_http::http::StatusCode;
    use lambda_http::{Body, Request, Response};
    use now_playing::config::AllowedOrigins;
    use now_playing::domain::ArtLibrary;
    use now_playing::http::App;
    use serde_json::{Value, json};

    fn app(world: &World, service: SuggestionService) -> App {
        let art = Arc::new(ArtLibrary::new(Arc::new(FakeArtwork::default()), Arc::new(MemoryArtCache::default())));
        App::new(world.h.instance("a"), art, app_settings(AllowedOrigins::Any)).with_suggestions(Arc::new(service))
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/data/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// A REST API event from `ip`; `body` as text, or base64 when `binary`.
    fn rest(method: &str, path: &str, query: &[(&str, &str)], body: Option<(&str, bool)>, ip: &str) -> Request {
        let mut e = fixture("apigw_rest_current.json");
        e["path"] = path.into();
        e["resource"] = path.into();
        e["httpMethod"] = method.into();
        e["requestContext"]["httpMethod"] = method.into();
        e["requestContext"]["identity"]["sourceIp"] = ip.into();
        e["queryStringParameters"] = query.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        e["multiValueQueryStringParameters"] =
            query.iter().map(|(k, v)| (k.to_string(), Value::from(vec![*v]))).collect();
        if let Some((text, binary)) = body {
            e["headers"]["Content-Type"] = "application/json".into();
            e["multiValueHeaders"]["Content-Type"] = Value::from(vec!["application/json"]);
            e["body"] = if binary { base64_of(text).into() } else { text.into() };
            e["isBase64Encoded"] = binary.into();
        }
        lambda_http::request::from_str(&e.to_string()).expect("a REST event")
    }

    /// An HTTP API (v2) event posting `body` from `ip`.
    fn http_api_post(path: &str, body: &str, ip: &str) -> Request {
        let mut e = fixture("apigw_http_current.json");
        e["rawPath"] = format!("/prod{path}").into();
        e["requestContext"]["http"]["path"] = format!("/prod{path}").into();
        e["requestContext"]["http"]["method"] = "POST".into();
        e["requestContext"]["http"]["sourceIp"] = ip.into();
        e["headers"]["content-type"] = "application/json".into();
        e["body"] = body.into();
        e["isBase64Encoded"] = false.into();
        lambda_http::request::from_str(&e.to_string()).expect("an HTTP API event")
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn json_of(r: &Response<Body>) -> Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).expect("JSON"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn body(track: &str) -> String {
        json!({ "track": track, "name": "Ada" }).to_string()
    }

    #[tokio::test]
    async fn search_challenge_and_suggest_answer_their_documents() {
        let world = World::new();
        let app = app(&world, world.service(Mode::Review, true, roomy()));
        let r = app.handle(rest("GET", "/v1/search", &[("q", "never")], None, "198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(json_of(&r)["tracks"].as_array().map(Vec::len), Some(4));
        let r = app.handle(rest("GET", "/v1/suggestions/challenge", &[], None, "198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(json_of(&r)["algorithm"], "SHA-256");
        assert!(json_of(&r)["signature"].as_str().is_some_and(|s| s.len() == 64));
        let world = World::new();
        let app = super::over_http::app(&world, world.open(Mode::Review));
        let r = app.handle(rest("GET", "/v1/suggestions/challenge", &[], None, "198.51.100.1")).await;
        assert_eq!(json_of(&r), json!({ "algorithm": null }), "proofs off");
        let r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&body(TRACKS[0]), false)), "198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(json_of(&r)["suggestion"]["status"], "pending");
        assert_eq!(json_of(&r)["suggestion"]["id"], TRACKS[0]);
        assert_eq!(json_of(&r)["suggestion"]["track"]["id"], TRACKS[0]);
    }

    #[tokio::test]
    async fn in_auto_mode_the_answer_says_added_and_a_repeat_says_it_is_in_the_playlist() {
        let world = World::new();
        let app = app(&world, world.open(Mode::Auto));
        let post = |ip| rest("POST", "/v1/suggestions", &[], Some((&body(TRACKS[1]), true)), ip);
        let r = app.handle(post("198.51.100.1")).await;
        assert_eq!(json_of(&r)["suggestion"]["status"], "added", "a base64 body is read too");
        let r = app.handle(post("198.51.100.2")).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(json_of(&r)["error"]["message"], "this track is already in the playlist");
        let world = World::new();
        let app = super::over_http::app(&world, world.open(Mode::Review));
        app.handle(post("198.51.100.1")).await;
        let r = app.handle(post("198.51.100.2")).await;
        assert_eq!(json_of(&r)["error"]["message"], "this track is already waiting for the owner");
    }

    #[tokio::test]
    async fn the_body_must_be_small_json_without_the_honeypot() {
        let world = World::new();
        let app = app(&world, world.open(Mode::Review));
        let ip = "198.51.100.1";
        let mut r = app.handle(rest("POST", "/v1/suggestions", &[], None, ip)).await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "no Content-Type");
        let exactly = format!("{{\"track\":\"{}\",\"message\":\"{}\"}}", TRACKS[2], "x".repeat(2048 - 47));
        assert_eq!(exactly.len(), 2048);
        r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&exactly, false)), ip)).await;
        assert_ne!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "2048 bytes are allowed: {:?}", json_of(&r));
        let over = format!("{exactly} ");
        r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&over, false)), ip)).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let bot = json!({ "track": TRACKS[3], "website": "http://spam.example" }).to_string();
        r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&bot, false)), ip)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // A bot learns nothing of which field gave it away.
        let refusal = json_of(&r);
        assert_eq!(refusal["error"]["code"], "bad_request");
        assert!(!refusal.to_string().contains("website"), "{refusal}");
        assert!(!refusal.to_string().contains("empty"), "{refusal}");
        let person = json!({ "track": TRACKS[3], "website": "" }).to_string();
        r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&person, false)), ip)).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "an empty honeypot is a person");
        r = app.handle(rest("POST", "/v1/suggestions", &[], Some(("{\"track\":", false)), ip)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(&r)["error"]["code"], "bad_request");
    }

    #[tokio::test]
    async fn each_visitor_address_has_its_own_limit_in_either_event_kind() {
        let world = World::new();
        let app =
            app(&world, world.service(Mode::Review, false, Limits { suggestions_per_visitor_per_hour: 1, ..roomy() }));
        let r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&body(TRACKS[0]), false)), "198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&body(TRACKS[1]), false)), "198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the same address again");
        assert!(json_of(&r)["error"]["message"].as_str().unwrap().ends_with("minutes"), "{:?}", json_of(&r));
        let r = app.handle(rest("POST", "/v1/suggestions", &[], Some((&body(TRACKS[1]), false)), "198.51.100.2")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "another address");
        let r = app.handle(http_api_post("/v1/suggestions", &body(TRACKS[2]), "198.51.100.3")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "an HTTP API event's address");
        let r = app.handle(http_api_post("/v1/suggestions", &body(TRACKS[3]), "198.51.100.4")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "another HTTP API address");
        let r = app.handle(http_api_post("/v1/suggestions", &body(TRACKS[0]), "198.51.100.3")).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "its own limit");
    }

    /// Behind the stack's CloudFront every request comes from an edge server's address. A
    /// request that proves it came through the edge is keyed on the viewer's address; one
    /// straight to the API with a made-up viewer address is keyed on where it came from.
    #[tokio::test]
    async fn behind_the_edge_a_visitor_is_the_viewer_address_the_edge_vouches_for() {
        use now_playing::http::{EDGE_HEADER, EdgeSecret, VIEWER_ADDRESS};
        const SECRET: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL";
        let world = World::new();
        let limits = Limits { searches_per_visitor_per_minute: 1, ..roomy() };
        let app =
            app(&world, world.service(Mode::Review, false, limits)).with_edge(Some(EdgeSecret::new(SECRET).unwrap()));
        let edge_ip = "130.176.0.1";
        let search = |secret: &str, viewer: &str| {
            let mut r = rest("GET", "/v1/search", &[("q", "never")], None, edge_ip);
            r.headers_mut().insert(EDGE_HEADER, secret.parse().unwrap());
            r.headers_mut().insert(VIEWER_ADDRESS, viewer.parse().unwrap());
            r
        };
        assert_eq!(app.handle(search(SECRET, "198.51.100.7:50111")).await.status(), StatusCode::OK);
        let again = app.handle(search(SECRET, "198.51.100.7:50999")).await;
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS, "the same viewer, another port");
        assert_eq!(again.headers()["cache-control"], "private, no-store");
        assert_eq!(app.handle(search(SECRET, "2001:db8::9:443")).await.status(), StatusCode::OK, "another viewer");
        // Straight to the API, without the secret: keyed on the address it came from.
        let forged = "not-the-secret-but-just-as-long-as-the-real-one-is";
        assert_eq!(app.handle(search(forged, "203.0.113.1:1")).await.status(), StatusCode::OK, "the edge's address");
        let r = app.handle(search(forged, "203.0.113.2:1")).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "a new viewer address makes no new visitor");
        // Without an edge configured, the header is never believed.
        let world = World::new();
        let plain = super::over_http::app(&world, world.service(Mode::Review, false, limits));
        assert_eq!(plain.handle(search(SECRET, "203.0.113.3:1")).await.status(), StatusCode::OK);
        assert_eq!(plain.handle(search(SECRET, "203.0.113.4:1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn a_wait_under_a_minute_is_said_in_seconds() {
        let world = World::new();
        let app =
            app(&world, world.service(Mode::Review, false, Limits { searches_per_visitor_per_minute: 1, ..roomy() }));
        let search = || rest("GET", "/v1/search", &[("q", "never")], None, "198.51.100.1");
        assert_eq!(app.handle(search()).await.status(), StatusCode::OK);
        let message = |r: Response<Body>| json_of(&r)["error"]["message"].as_str().unwrap().to_owned();
        let r = app.handle(search()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(message(r), "too many searches; try again in 1 minute", "a whole minute, singular");
        world.h.clock.advance(Duration::from_secs(30));
        assert_eq!(message(app.handle(search()).await), "too many searches; try again in 30 seconds");
        world.h.clock.advance(Duration::from_secs(29));
        assert_eq!(message(app.handle(search()).await), "too many searches; try again in 1 second");
    }

    #[tokio::test]
    async fn the_preview_page_offers_suggestions_only_when_open() {
        let world = World::new();
        for (mode, offered) in [(Mode::Review, true), (Mode::Off, false)] {
            let r = app(&world, world.open(mode)).handle(rest("GET", "/", &[], None, "198.51.100.1")).await;
            let Body::Text(page) = r.body() else { panic!("a page") };
            assert_eq!(page.contains(" suggest>"), offered, "{mode:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_token_refreshed_for_a_search_is_stored_before_the_answer_goes_out() {
    let w = World::new();
    // The token's write takes longer than the search, which goes on without it.
    *w.h.store.round_trip.lock().unwrap() = Duration::from_millis(50);
    let s = w.open(Mode::Review);
    let v = s.visitor("192.0.2.1").await.unwrap();
    s.search(&v, "Rick Astley").await.unwrap();
    assert_eq!(w.h.store.stored_value().as_deref(), Some("access-1"));
}
