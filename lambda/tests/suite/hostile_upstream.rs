//! A broken or hostile upstream: redirects, absurd numbers, endless bodies, odd links and
//! oversized or oddly typed values. None may panic the function, grow it without bound,
//! leak a secret to another host or reach a visitor unchecked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use now_playing::adapters::artwork::ArtworkHttp;
use now_playing::adapters::spotify::{SpotifyHttp, parse_currently_playing, parse_token_grant};
use now_playing::domain::ports::{Artwork, Spotify, SpotifyError, TokenGrant};
use now_playing::domain::{ImageHosts, Playback};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn host_of(server: &MockServer) -> String {
    server.uri().trim_start_matches("http://").to_owned()
}

/// A server that answers every request with `head` and then chunks of `chunk` forever.
async fn endless(head: &'static str, chunk: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                while socket.write_all(&frame).await.is_ok() {}
            });
        }
    });
    format!("127.0.0.1:{}", address.port())
}

#[tokio::test]
async fn album_art_redirected_to_another_host_is_not_followed() {
    let (allowed, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/cover.png", elsewhere.uri())))
        .mount(&allowed)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(PIXEL_PNG, "image/png"))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let art = ArtworkHttp::new(SpotifyHttp::default_client().unwrap(), ImageHosts::new(vec![host_of(&allowed)]));
    let fetched = art.fetch(&format!("{}/image/abc", allowed.uri())).await;
    assert!(fetched.is_err(), "a redirect is not art: {fetched:?}");
}

#[tokio::test]
async fn a_redirect_on_the_token_post_does_not_send_the_refresh_token_on() {
    let (accounts, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path("/api/token"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", format!("{}/steal", elsewhere.uri())))
        .mount(&accounts)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    let spotify = SpotifyHttp::new(SpotifyHttp::default_client().unwrap(), &accounts.uri(), &accounts.uri());
    let answer = spotify.refresh(&credentials()).await;
    assert!(answer.is_err(), "{answer:?}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "the refresh token went to another host");
}

#[tokio::test]
async fn an_endless_image_is_abandoned_past_the_size_cap() {
    let host =
        endless("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n", &[0xff; 65536])
            .await;
    let art = ArtworkHttp::new(SpotifyHttp::default_client().unwrap(), ImageHosts::new(vec![host.clone()]));
    let started = Instant::now();
    let fetched = art.fetch(&format!("http://{host}/image/endless")).await;
    let error = fetched.expect_err("an endless image is refused").to_string();
    assert!(error.contains("too large"), "refused for its size, not by a timeout: {error}");
    assert!(started.elapsed() < Duration::from_secs(1), "abandoned as soon as it passed the cap");
}

#[tokio::test]
async fn an_endless_player_answer_is_abandoned_past_the_size_cap() {
    let host = endless(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"                                                                                ",
    )
    .await;
    let url = format!("http://{host}");
    let spotify = SpotifyHttp::new(SpotifyHttp::default_client().unwrap(), &url, &url);
    let answer = spotify.currently_playing(&token("access-1", NOW)).await;
    assert!(matches!(&answer, Err(SpotifyError::Malformed(m)) if m.contains("larger than")), "{answer:?}");
}

#[tokio::test]
async fn an_absurd_retry_after_is_read_without_overflow() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "18446744073709551615"))
        .mount(&server)
        .await;
    let spotify = SpotifyHttp::new(SpotifyHttp::default_client().unwrap(), &server.uri(), &server.uri());
    let answer = spotify.currently_playing(&token("access-1", NOW)).await;
    assert!(matches!(answer, Err(SpotifyError::RateLimited { .. })), "{answer:?}");
}

#[tokio::test]
async fn an_absurd_retry_after_neither_panics_nor_stops_spotify_for_more_than_the_ceiling() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(u64::MAX) })]);
    let answer = h.instance("a").current().await;
    assert!(answer.is_err(), "no earlier answer to serve");
    let until = h.snapshots.state.lock().unwrap().backoff_until.expect("the backoff is shared");
    assert!(until <= NOW + now_playing::domain::service::MAX_BACKOFF, "capped: {until}");
    assert!(until >= NOW + Duration::from_secs(5 * 3600), "a real long backoff is kept: {until}");
}

#[tokio::test]
async fn an_absurd_token_lifetime_neither_panics_nor_breaks_the_answer() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Ok(TokenGrant {
        access_token: SecretString::from("access-1"),
        expires_in: Duration::from_secs(u64::MAX),
        refresh_token: None,
        scope: None,
    })]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let doc = h.instance("a").current().await.expect("an answer");
    assert!(doc.item.is_some());
}

#[test]
fn a_token_answer_with_an_absurd_expires_in_is_read() {
    for body in [r#"{"access_token":"a","expires_in":1000000000000000}"#, r#"{"access_token":"a","expires_in":1e15}"#] {
        let grant = parse_token_grant(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(grant.expires_in <= Duration::from_secs(86_400), "{body}: {:?}", grant.expires_in);
    }
}

fn track_with(edit: impl FnOnce(&mut Value)) -> Result<Playback, SpotifyError> {
    let mut doc: Value = serde_json::from_slice(&fixture("currently_playing_track.json")).unwrap();
    edit(&mut doc);
    parse_currently_playing(&serde_json::to_vec(&doc).unwrap())
}

fn item_of(answer: Result<Playback, SpotifyError>) -> now_playing::domain::Item {
    match answer {
        Ok(Playback::Item { item, .. }) => item,
        other => panic!("expected an item, got {other:?}"),
    }
}

#[test]
fn only_open_spotify_links_are_passed_on() {
    for hostile in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example/track/1",
        "//evil.example/track",
        "https://open.spotify.com.evil.example/track/1",
        "https://open.spotify.com@evil.example/track/1",
        "http://open.spotify.com/track/1",
        "https://open.spotify.com/track/1\"><script>",
    ] {
        let item = item_of(track_with(|d| {
            d["item"]["external_urls"]["spotify"] = hostile.into();
            d["item"]["artists"][0]["external_urls"]["spotify"] = hostile.into();
            d["item"]["album"]["external_urls"]["spotify"] = hostile.into();
        }));
        assert_eq!((item.url, item.artists[0].url.clone(), item.album.url), (None, None, None), "{hostile}");
    }
}

#[test]
fn only_images_from_spotify_image_hosts_are_passed_on() {
    for hostile in [
        "https://evil.example/cover.jpg",
        "http://i.scdn.co/image/abc",
        "https://i.scdn.co.evil.example/image/abc",
        "https://user@i.scdn.co/image/abc",
        "javascript:alert(1)",
        "//i.scdn.co/image/abc",
    ] {
        let item = item_of(track_with(|d| d["item"]["album"]["images"][0]["url"] = hostile.into()));
        assert_eq!(item.images.len(), 2, "{hostile} dropped, the other two kept");
        assert!(item.images.iter().all(|i| i.url.starts_with("https://i.scdn.co/image/")), "{hostile}");
    }
}

#[test]
fn oversized_values_are_bounded_so_every_answer_can_be_shared() {
    let item = item_of(track_with(|d| {
        d["item"]["name"] = "n".repeat(1 << 20).into();
        d["item"]["album"]["name"] = "a".repeat(1 << 20).into();
        let image = json!({"url": "https://i.scdn.co/image/x", "width": 64, "height": 64});
        d["item"]["album"]["images"] = Value::Array(vec![image; 10_000]);
        let artist = d["item"]["artists"][0].clone();
        d["item"]["artists"] = Value::Array(vec![artist; 10_000]);
    }));
    let size = serde_json::to_vec(&item).unwrap().len();
    assert!(size < 16 * 1024, "{size} bytes");
    assert_eq!(item.name.chars().count(), now_playing::domain::MAX_NAME_CHARS);
    assert!(item.images.len() <= now_playing::domain::MAX_IMAGES);
}

#[test]
fn one_odd_field_drops_that_field_not_the_answer() {
    let item = item_of(track_with(|d| d["item"]["album"]["images"][1]["width"] = (-1).into()));
    assert_eq!(item.images.len(), 2, "the odd image is dropped, the others kept");
    let item = item_of(track_with(|d| d["item"]["name"] = 42.into()));
    assert_eq!(item.name, "42");
    let item = item_of(track_with(|d| d["item"]["artists"][0] = "not an object".into()));
    assert!(item.artists.is_empty() || item.artists.iter().all(|a| !a.name.is_empty()));
    let item = item_of(track_with(|d| d["item"]["duration_ms"] = "long".into()));
    assert_eq!(item.duration_ms, 0);
}

#[test]
fn every_artist_id_is_read_for_the_rules_from_id_uri_or_link_before_the_list_is_cut_for_show() {
    let id = |n: usize| format!("{n:A>22}");
    let item = item_of(track_with(|d| {
        let mut artists: Vec<Value> = (0..11)
            .map(|n| json!({"name": format!("Artist {n}"), "id": id(n), "uri": format!("spotify:artist:{}", id(n))}))
            .collect();
        // By its URI only, by its link only, and one too odd to show.
        artists[3] =
            json!({"name": "By URI", "id": null, "uri": format!("spotify:artist:{}", id(3)), "external_urls": {}});
        artists[4] = json!({"name": "By link", "external_urls": {"spotify": format!("https://open.spotify.com/artist/{}", id(4))}});
        artists.push(json!({"id": id(11)}));
        d["item"]["artists"] = Value::Array(artists);
    }));
    assert_eq!(item.artists.len(), now_playing::domain::MAX_ARTISTS, "ten shown");
    assert_eq!(item.credits.artists, Some((0..12).map(id).collect::<Vec<_>>()), "twelve judged");
    assert_eq!(item.credits.collection.as_deref(), Some("6XhjNHCyCDyyGJRM5mg40G"), "the album");
    for unreadable in
        [json!({"name": "No id"}), json!({"name": "Bad", "id": "x", "uri": "spotify:album:6XzQcKsUvCYZKgIYQ0dPNq"})]
    {
        let item = item_of(track_with(|d| d["item"]["artists"][0] = unreadable.clone()));
        assert_eq!(item.credits.artists, None, "{unreadable}");
    }
    let item = item_of(track_with(|d| d["item"]["artists"] = "not a list".into()));
    assert_eq!(item.credits.artists, None);
    let item = item_of(track_with(|d| {
        d["item"]["album"]["id"] = Value::Null;
        d["item"]["album"]["uri"] = Value::Null;
        d["item"]["album"]["external_urls"] = json!({});
    }));
    assert_eq!(item.credits.collection, None);
    let public = serde_json::to_string(&item.public()).unwrap();
    assert!(!public.contains("credits"), "{public}");
}

#[test]
fn the_shape_still_matters_where_it_must() {
    assert!(track_with(|d| d["item"] = "a string".into()).is_ok_and(|p| p == Playback::Nothing));
    assert!(parse_currently_playing(b"[]").is_err());
    assert!(parse_token_grant(br#"{"access_token": 7, "expires_in": 3600}"#).is_err());
}

#[tokio::test]
async fn the_artwork_adapter_shares_the_image_host_rules() {
    let art = Arc::new(ArtworkHttp::new(SpotifyHttp::default_client().unwrap(), ImageHosts::new(vec![])));
    assert!(art.fetch("https://evil.example/cover.jpg").await.is_err());
}
