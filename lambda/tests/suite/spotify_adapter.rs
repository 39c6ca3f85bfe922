//! The Spotify adapter against a local HTTP server: every answer Spotify is known to give.

use std::time::Duration;

use crate::support::*;
use now_playing::adapters::spotify::SpotifyHttp;
use now_playing::domain::ports::{Spotify, SpotifyError};
use now_playing::domain::{ItemKind, Playback};
use secrecy::ExposeSecret;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn adapter(server: &MockServer) -> SpotifyHttp {
    now_playing::adapters::tls::install_crypto();
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    SpotifyHttp::new(client, &server.uri(), &server.uri())
}

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

async fn playing_answer(template: ResponseTemplate) -> Result<Playback, SpotifyError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me/player/currently-playing"))
        .and(query_param("additional_types", "track,episode"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    adapter(&server).currently_playing(&token("access-1", NOW)).await
}

#[tokio::test]
async fn a_200_with_a_track_is_parsed() {
    let Playback::Item { item, is_playing, progress_ms, context } =
        playing_answer(json("currently_playing_track.json")).await.unwrap()
    else {
        panic!("expected an item")
    };
    assert_eq!(context.as_deref(), Some("spotify:album:6XhjNHCyCDyyGJRM5mg40G"), "where it plays from");
    assert!(is_playing);
    assert_eq!(progress_ms, Some(81234));
    assert_eq!(item.kind, ItemKind::Track);
    assert_eq!(item.id.as_deref(), Some("4uLU6hMCjMI75M1A2tKUQC"));
    assert_eq!(item.url.as_deref(), Some("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"));
    assert_eq!(item.artists[0].url.as_deref(), Some("https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt"));
    assert_eq!(item.album.name, "Whenever You Need Somebody");
    assert_eq!(item.duration_ms, 213573);
    assert_eq!(item.images[0].width, Some(640), "largest first");
}

#[tokio::test]
async fn a_204_means_nothing_is_playing() {
    assert_eq!(playing_answer(ResponseTemplate::new(204)).await.unwrap(), Playback::Nothing);
}

#[tokio::test]
async fn a_paused_session_is_an_item_that_is_not_playing() {
    let answer = playing_answer(json("currently_playing_paused.json")).await.unwrap();
    assert!(matches!(answer, Playback::Item { is_playing: false, .. }), "{answer:?}");
}

#[tokio::test]
async fn an_ad_with_a_null_item_is_nothing() {
    assert_eq!(playing_answer(json("currently_playing_ad.json")).await.unwrap(), Playback::Nothing);
}

#[tokio::test]
async fn an_episode_is_parsed_with_its_show() {
    let Playback::Item { item, .. } = playing_answer(json("currently_playing_episode.json")).await.unwrap() else {
        panic!("expected an item")
    };
    assert_eq!(item.kind, ItemKind::Episode);
    assert_eq!(item.album.name, "The Changelog");
    assert_eq!(item.album.url.as_deref(), Some("https://open.spotify.com/show/2mTUnDkuKUkhiueKcVWoP0"));
    assert_eq!(item.images[0].width, None, "unknown image sizes stay null");
    assert!(item.explicit);
}

#[tokio::test]
async fn a_local_file_has_no_id_url_or_images() {
    let Playback::Item { item, .. } = playing_answer(json("currently_playing_local.json")).await.unwrap() else {
        panic!("expected an item")
    };
    assert!(item.is_local);
    assert_eq!((item.id, item.url), (None, None));
    assert!(item.images.is_empty());
    assert_eq!(item.artists[0].url, None);
    assert_eq!(item.name, "Garage Take 3");
}

#[tokio::test]
async fn a_401_is_unauthorized() {
    assert_eq!(playing_answer(ResponseTemplate::new(401)).await, Err(SpotifyError::Unauthorized));
}

#[tokio::test]
async fn a_403_carries_spotify_reason() {
    let answer =
        playing_answer(ResponseTemplate::new(403).set_body_raw(fixture("error_forbidden.json"), "application/json"))
            .await;
    assert_eq!(answer, Err(SpotifyError::Forbidden("The user is not registered for this application".into())));
}

#[tokio::test]
async fn a_429_carries_retry_after_in_seconds() {
    let answer = playing_answer(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "19056")
            .set_body_raw(fixture("error_rate_limited.json"), "application/json"),
    )
    .await;
    assert_eq!(answer, Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(19056) }));
}

#[tokio::test]
async fn a_429_whose_reason_is_quota_exceeded_is_the_daily_quota_with_its_retry_after() {
    let answer = playing_answer(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "50316")
            .set_body_raw(fixture("error_quota_exceeded.json"), "application/json"),
    )
    .await;
    assert_eq!(answer, Err(SpotifyError::QuotaExceeded { retry_after: Duration::from_secs(50316) }));
    let answer = playing_answer(
        ResponseTemplate::new(429).set_body_raw(fixture("error_quota_exceeded.json"), "application/json"),
    )
    .await;
    assert_eq!(
        answer,
        Err(SpotifyError::QuotaExceeded { retry_after: Duration::from_secs(3600) }),
        "without a Retry-After, an hour: the quota is a day's"
    );
}

#[tokio::test]
async fn a_429_without_retry_after_waits_thirty_seconds() {
    for template in
        [ResponseTemplate::new(429), ResponseTemplate::new(429).insert_header("retry-after", "Wed, 21 Oct 2026")]
    {
        let answer = playing_answer(template).await;
        assert_eq!(answer, Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(30) }));
    }
}

#[tokio::test]
async fn a_5xx_is_an_upstream_failure() {
    assert_eq!(playing_answer(ResponseTemplate::new(503)).await, Err(SpotifyError::Upstream(503)));
}

#[tokio::test]
async fn malformed_json_is_reported_not_panicked_on() {
    let answer =
        playing_answer(ResponseTemplate::new(200).set_body_raw("{\"is_playing\": tru", "application/json")).await;
    assert!(matches!(answer, Err(SpotifyError::Malformed(_))), "{answer:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let answer = playing_answer(json("currently_playing_track.json").set_delay(Duration::from_secs(2))).await;
    assert_eq!(answer, Err(SpotifyError::Timeout));
}

#[tokio::test]
async fn an_unreachable_spotify_is_a_network_error() {
    now_playing::adapters::tls::install_crypto();
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let spotify = SpotifyHttp::new(client, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let answer = spotify.currently_playing(&token("access-1", NOW)).await;
    assert!(matches!(answer, Err(SpotifyError::Network(_))), "{answer:?}");
}

#[tokio::test]
async fn recently_played_gives_the_latest_play_and_its_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me/player/recently-played"))
        .and(query_param("limit", "1"))
        .respond_with(json("recently_played.json"))
        .mount(&server)
        .await;
    let played = adapter(&server).recently_played(&token("access-1", NOW), 1).await.unwrap().remove(0);
    assert_eq!(played.item.name, "Never Gonna Give You Up");
    assert_eq!(played.played_at.unix_timestamp(), 1795806000);
    assert_eq!(played.context.as_deref(), Some("spotify:album:6XhjNHCyCDyyGJRM5mg40G"));
}

#[tokio::test]
async fn an_empty_history_is_none() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/me/player/recently-played"))
        .respond_with(json("recently_played_empty.json"))
        .mount(&server)
        .await;
    assert_eq!(adapter(&server).recently_played(&token("access-1", NOW), 1).await.unwrap(), Vec::new());
}

async fn refresh_answer(template: ResponseTemplate) -> Result<now_playing::domain::ports::TokenGrant, SpotifyError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/token"))
        .and(header("authorization", "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtN2YzYTlj"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token={REFRESH_TOKEN}").as_str()))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    adapter(&server).refresh(&credentials()).await
}

#[tokio::test]
async fn a_refresh_sends_basic_auth_and_reads_the_token() {
    let grant = refresh_answer(json("token.json")).await.unwrap();
    assert_eq!(grant.access_token.expose_secret(), "BQD-access-token-fixture");
    assert_eq!(grant.expires_in, Duration::from_secs(3600));
    assert!(grant.refresh_token.is_none());
}

#[tokio::test]
async fn a_refresh_answer_may_rotate_the_refresh_token() {
    let grant = refresh_answer(json("token_rotated.json")).await.unwrap();
    assert_eq!(grant.refresh_token.unwrap().expose_secret(), "AQD-rotated-refresh-token");
}

#[tokio::test]
async fn a_revoked_or_expired_refresh_token_is_invalid_grant() {
    let answer = refresh_answer(
        ResponseTemplate::new(400).set_body_raw(fixture("error_invalid_grant.json"), "application/json"),
    )
    .await;
    assert_eq!(answer.unwrap_err(), SpotifyError::InvalidGrant);
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let answer = refresh_answer(
        ResponseTemplate::new(400).set_body_raw(fixture("error_invalid_client.json"), "application/json"),
    )
    .await;
    assert_eq!(answer.unwrap_err(), SpotifyError::InvalidClient);
}

#[tokio::test]
async fn a_malformed_token_answer_does_not_quote_it() {
    let answer =
        refresh_answer(ResponseTemplate::new(200).set_body_raw(r#"{"access_token": 12345678}"#, "application/json"))
            .await;
    let SpotifyError::Malformed(message) = answer.unwrap_err() else { panic!("expected Malformed") };
    assert!(!message.contains("12345678"), "{message}");
}
