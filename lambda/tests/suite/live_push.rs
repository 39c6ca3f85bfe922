//! Live push from the service: an answer that changes what a page shows is published once,
//! from the refresh that read it, screened by the owner's rules; an answer that does not
//! change a page, or a failed publish, changes nothing else.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use now_playing::domain::{Playback, Status};

use super::support::*;

fn live_instance(h: &Harness) -> (now_playing::domain::NowPlayingService, Arc<FakeLive>) {
    let live = Arc::new(FakeLive::default());
    (h.instance("a").with_live(live.clone()), live)
}

#[tokio::test]
async fn a_new_answer_is_pushed_once_and_one_that_changes_no_page_is_not() {
    let h = playing_harness();
    h.spotify.script_playing(vec![
        Ok(playback("currently_playing_paused.json")),
        Ok(playback("currently_playing_paused.json")),
        Ok(Playback::Nothing),
    ]);
    h.spotify.script_history(vec![Ok(vec![]), Ok(vec![])]);
    let (service, live) = live_instance(&h);
    let first = service.current().await.unwrap();
    assert_eq!(first.status, Status::Paused);
    assert_eq!(live.pushed(), vec![first.clone()], "the first answer is news to every page");
    service.current().await.unwrap();
    assert_eq!(live.pushed().len(), 1, "served from memory: no refresh, no push");
    // Past the next steady check: asked again, still paused at the same place.
    h.clock.advance(std::time::Duration::from_secs(130));
    let again = service.current().await.unwrap();
    assert_eq!(h.spotify.calls().1, 2, "asked Spotify again");
    assert!(again.fetched_at > first.fetched_at);
    assert_eq!(live.pushed().len(), 1, "nothing a page shows changed");
    h.clock.advance(std::time::Duration::from_secs(130));
    let gone = service.current().await.unwrap();
    assert_eq!(gone.status, Status::LastPlayed, "the paused track, now the last play");
    assert_eq!(live.pushed(), vec![first, gone], "stopped: pushed");
}

#[tokio::test]
async fn a_hidden_play_is_never_pushed_only_the_screened_answer() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![])]);
    let rules = FakePrivacy::with(Ok(Some(r#"{"hide": {"tracks": ["4uLU6hMCjMI75M1A2tKUQC"]}}"#)));
    let live = Arc::new(FakeLive::default());
    let service = h.instance("a").with_privacy(rules).with_live(live.clone());
    service.current().await.unwrap();
    let pushed = live.pushed();
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0].status, pushed[0].item.as_ref()), (Status::Offline, None));
    let text = serde_json::to_string(&pushed[0].public()).unwrap();
    assert!(!text.contains("4uLU6hMCjMI75M1A2tKUQC") && !text.contains("Never Gonna"), "{text}");
}

#[tokio::test]
async fn a_failed_push_leaves_the_answer_as_it_was() {
    let h = playing_harness();
    let (service, live) = live_instance(&h);
    live.fail.store(true, Ordering::SeqCst);
    let doc = service.current().await.unwrap();
    assert_eq!(doc.status, Status::Playing);
    assert!(live.pushed().is_empty());
}
