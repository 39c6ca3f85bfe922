//! The DynamoDB and SSM adapters against moto's server (`MOTO_ENDPOINT_URL`, set by `make test`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_ssm::types::ParameterType;
use now_playing::adapters::dynamodb::{DynamoArtCache, DynamoSnapshotStore, DynamoTokenStore, SNAPSHOT_KEY, TOKEN_KEY};
use now_playing::adapters::ssm::{SsmCredentialStore, credentials_document};
use now_playing::domain::Playback;
use now_playing::domain::ports::{
    ArtCache, CredentialStore, CredentialsError, Refusal, SharedState, SnapshotStore, TokenStore,
};
use now_playing::domain::quota::{CallLedger, Room, Share, hour_of};
use secrecy::ExposeSecret;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// SDK configuration for moto only: explicit endpoint and dummy credentials, so these
/// tests can never reach a real AWS account.
async fn moto() -> aws_config::SdkConfig {
    let endpoint = std::env::var("MOTO_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT_URL is not set: run these tests with `make test`, which starts moto's server")
    });
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(now_playing::adapters::tls::aws_http_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

pub(crate) async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&moto().await);
    let name = unique("tokens");
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table in moto");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().unwrap(),
        )
        .send()
        .await
        .expect("enable TTL in moto");
    (client, name)
}

#[tokio::test]
async fn an_empty_table_has_no_token() {
    let (client, name) = table().await;
    assert!(DynamoTokenStore::new(client, name).load().await.unwrap().is_none());
}

#[tokio::test]
async fn a_saved_token_is_loaded_with_its_expiry_and_a_ttl() {
    let (client, name) = table().await;
    let store = DynamoTokenStore::new(client.clone(), &name);
    let expires_at = NOW + Duration::from_secs(3600);
    store.save(&token("access-1", expires_at)).await.unwrap();
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!(loaded.value.expose_secret(), "access-1");
    assert_eq!(loaded.expires_at, expires_at);
    let item = client
        .get_item()
        .table_name(&name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(TOKEN_KEY.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert!(ttl > expires_at.unix_timestamp(), "the TTL outlives the token");
}

#[tokio::test]
async fn only_one_owner_wins_the_lease_until_it_lapses_or_is_released() {
    let (client, name) = table().await;
    let store = DynamoTokenStore::new(client, name);
    let until = NOW + Duration::from_secs(10);
    assert!(store.try_lease("a", NOW, until).await.unwrap());
    assert!(!store.try_lease("b", NOW, until).await.unwrap(), "the conditional write is lost");
    assert!(
        store.try_lease("b", until + Duration::from_secs(1), until + Duration::from_secs(11)).await.unwrap(),
        "a lapsed lease is taken over"
    );
    store.release_lease("a").await.unwrap();
    assert!(!store.try_lease("c", NOW, until).await.unwrap(), "a non-owner cannot release it");
    store.release_lease("b").await.unwrap();
    assert!(store.try_lease("c", NOW, until).await.unwrap());
}

#[tokio::test]
async fn the_token_lease_is_taken_with_the_read_only_when_the_token_is_stale() {
    let (client, name) = table().await;
    let store = DynamoTokenStore::new(client, name);
    let until = NOW + Duration::from_secs(10);
    let stale_before = NOW + Duration::from_secs(60);
    let (stored, leased) = store.load_or_lease("a", NOW, stale_before, until).await.unwrap();
    assert!(stored.is_none() && leased, "no token: the lease is taken");
    assert!(store.load().await.unwrap().is_none(), "an item holding only the lease has no token");
    assert!(!store.load_or_lease("b", NOW, stale_before, until).await.unwrap().1, "held by a");

    // A token expiring exactly at `stale_before` is stale; the save ended a's lease.
    store.save(&token("access-1", stale_before)).await.unwrap();
    let (stored, leased) = store.load_or_lease("b", NOW, stale_before, until).await.unwrap();
    assert!(leased, "a's save ended its lease, and the token is stale");
    assert_eq!(stored.expect("the token, in the same call").value.expose_secret(), "access-1");
    let (stored, leased) = store.load_or_lease("c", NOW, stale_before, until).await.unwrap();
    assert!(!leased, "now held by b");
    assert_eq!(stored.expect("the token, when the condition fails too").value.expose_secret(), "access-1");

    // A token with time to spare is answered, and nobody takes the lease.
    store.save(&token("access-2", stale_before + Duration::from_secs(1))).await.unwrap();
    let (stored, leased) = store.load_or_lease("c", NOW, stale_before, until).await.unwrap();
    assert!(!leased, "a usable token needs no refresh");
    assert_eq!(stored.unwrap().value.expose_secret(), "access-2");
    assert!(store.try_lease("d", NOW, until).await.unwrap(), "and the lease stays free");
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_a_panic() {
    let client = aws_sdk_dynamodb::Client::new(&moto().await);
    let store = DynamoTokenStore::new(client, unique("no-such-table"));
    let err = store.load().await.unwrap_err();
    assert!(err.0.contains("ResourceNotFound"), "{err}");
}

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&moto().await)
}

async fn put(client: &aws_sdk_ssm::Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .r#type(ParameterType::SecureString)
        .value(value)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter in moto");
}

/// A fresh parameter holding the test credentials, as `make bootstrap` writes them.
async fn stored_credentials() -> (aws_sdk_ssm::Client, String) {
    let client = ssm().await;
    let name = format!("/{}", unique("creds"));
    put(&client, &name, credentials_document(&credentials()).expose_secret()).await;
    (client, name)
}

#[tokio::test]
async fn a_missing_parameter_is_named() {
    let name = format!("/{}", unique("missing"));
    let err = SsmCredentialStore::new(ssm().await, &name).load().await.unwrap_err();
    assert_eq!(err, CredentialsError::Missing(name));
    assert!(err.to_string().contains("make bootstrap"));
}

#[tokio::test]
async fn the_stored_document_is_read_with_decryption() {
    let (client, name) = stored_credentials().await;
    let loaded = SsmCredentialStore::new(client, &name).load().await.unwrap();
    assert_eq!(loaded.client_id, "client-id");
    assert_eq!(loaded.client_secret.expose_secret(), CLIENT_SECRET);
    assert_eq!(loaded.refresh_token.expose_secret(), REFRESH_TOKEN);
}

#[tokio::test]
async fn a_rotation_is_persisted_as_a_securestring_keeping_the_other_fields() {
    let (client, name) = stored_credentials().await;
    let store = SsmCredentialStore::new(client.clone(), &name);
    let mut rotated = store.load().await.unwrap();
    rotated.refresh_token = "rotated-refresh".to_owned().into();
    store.save(&rotated).await.unwrap();
    let again = store.load().await.unwrap();
    assert_eq!(again.refresh_token.expose_secret(), "rotated-refresh");
    assert_eq!(again.client_secret.expose_secret(), CLIENT_SECRET);
    assert_eq!(again.authorized_at, credentials().authorized_at);
    let described = client.get_parameter().name(&name).send().await.unwrap().parameter.unwrap();
    assert_eq!(described.r#type, Some(ParameterType::SecureString));
}

#[tokio::test]
async fn a_malformed_parameter_is_named_without_its_value() {
    let client = ssm().await;
    let name = format!("/{}", unique("creds"));
    put(&client, &name, "refresh=abc123secret").await;
    let err = SsmCredentialStore::new(client, &name).load().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Malformed { .. }), "{err:?}");
    assert!(!err.to_string().contains("abc123secret"), "{err}");
}

#[tokio::test]
async fn the_privacy_rules_are_a_plain_string_parameter_and_none_is_no_rules() {
    use now_playing::adapters::ssm::SsmPrivacySource;
    use now_playing::domain::ports::PrivacySource;
    let client = ssm().await;
    let name = format!("/{}", unique("privacy"));
    assert_eq!(SsmPrivacySource::new(client.clone(), &name).load().await, Ok(None), "no parameter, no rules");
    let rules = r#"{"sharing": "paused"}"#;
    client.put_parameter().name(&name).r#type(ParameterType::String).value(rules).send().await.unwrap();
    assert_eq!(SsmPrivacySource::new(client, &name).load().await, Ok(Some(rules.to_owned())));
}

fn snapshot_doc() -> now_playing::domain::NowPlaying {
    now_playing::domain::NowPlaying::from_spotify(playback("currently_playing_episode.json"), None, None, NOW)
}

#[tokio::test]
async fn an_empty_table_has_no_shared_state() {
    let (client, name) = table().await;
    let state = DynamoSnapshotStore::new(client, name).load().await.unwrap();
    assert_eq!(state, SharedState::default());
}

#[tokio::test]
async fn a_saved_snapshot_comes_back_whole_and_ends_the_lease() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let until = NOW + Duration::from_secs(10);
    assert!(store.try_lease("a#0", NOW, until).await.unwrap());
    let doc = snapshot_doc();
    let seen = doc.seen_playing();
    let due = NOW + Duration::from_millis(26_250);
    store.save(&doc, seen.as_ref(), due).await.unwrap();
    let state = store.load().await.unwrap();
    assert_eq!(state.snapshot, Some(doc));
    assert_eq!(state.due_at, Some(due), "to the millisecond");
    assert_eq!(state.last_seen, seen);
    assert!(store.try_lease("b#0", NOW, until).await.unwrap(), "saving ended a's lease");
}

#[tokio::test]
async fn a_shared_recent_list_comes_back_with_its_contexts_beside_the_answer() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let doc = snapshot_doc();
    store.save(&doc, None, NOW).await.unwrap();
    let mut played = last_played();
    played.context = Some("spotify:playlist:37i9dQZF1DXcBWIGoYBM5M".into());
    let list =
        now_playing::domain::RecentPlays { plays: vec![played], fetched_at: NOW, stale: false, stale_reason: None };
    store.save_recent(&list).await.unwrap();
    let state = store.load().await.unwrap();
    assert_eq!(state.recent, Some(list));
    assert_eq!(state.snapshot, Some(doc), "the answer is kept");
}

#[tokio::test]
async fn a_saved_answer_without_an_item_keeps_what_was_last_seen() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let playing = snapshot_doc();
    store.save(&playing, playing.seen_playing().as_ref(), NOW).await.unwrap();
    let offline = now_playing::domain::NowPlaying::from_spotify(Playback::Nothing, None, None, NOW);
    store.save(&offline, None, NOW).await.unwrap();
    let state = store.load().await.unwrap();
    assert_eq!(state.snapshot, Some(offline));
    assert_eq!(state.last_seen, playing.seen_playing());
}

#[tokio::test]
async fn taking_the_snapshot_lease_answers_the_state_as_it_stands() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let until = NOW + Duration::from_secs(10);
    // On an empty table: taken, and nothing stored yet.
    assert_eq!(store.take_lease("a#0", NOW, until).await.unwrap(), Some(SharedState::default()));
    assert_eq!(store.take_lease("b#0", NOW, until).await.unwrap(), None, "held by a");
    let doc = snapshot_doc();
    store.save(&doc, doc.seen_playing().as_ref(), NOW).await.unwrap();
    store.back_off(NOW, Refusal::RateLimited).await.unwrap();
    let state = store.take_lease("b#0", NOW, until).await.unwrap().expect("free again after the save");
    assert_eq!(state, store.load().await.unwrap(), "the whole item, as a load reads it");
    assert_eq!(state.snapshot, Some(doc));
    assert_eq!(state.backoff_until, Some(NOW));
}

#[tokio::test]
async fn the_first_read_takes_the_lease_and_counts_the_call_only_when_the_answer_is_due() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client.clone(), &name);
    let lease = Duration::from_secs(10);
    let hour = hour_of(NOW);
    let read = |at: time::OffsetDateTime, owner: &'static str| {
        let store = &store;
        async move { store.load_or_lease(owner, at, at + lease).await.unwrap() }
    };
    assert!(!read(NOW, "a#0").await.1, "the hour is not open: no call may be counted");
    assert!(store.open_hour(Share::Current, hour, 3, &CallLedger::default()).await.unwrap());
    let (state, leased) = read(NOW, "a#0").await;
    assert!(leased, "nothing stored: a refresh is due");
    assert_eq!(state.calls.calls(Share::Current, hour), 1, "the call is counted with the lease");
    assert!(!read(NOW, "b#0").await.1, "held by a");
    let doc = snapshot_doc();
    let due = NOW + Duration::from_secs(26);
    store.save(&doc, doc.seen_playing().as_ref(), due).await.unwrap();
    let (state, leased) = read(NOW + Duration::from_secs(25), "b#0").await;
    assert!(!leased, "the answer is not due yet");
    assert_eq!(state, store.load().await.unwrap(), "the item as it stands, in the same call");
    assert_eq!(state.calls.calls(Share::Current, hour), 1, "nothing counted when nothing is taken");
    let (state, leased) = read(NOW + Duration::from_secs(26), "b#0").await;
    assert!(leased, "due at exactly its time");
    assert_eq!(state.snapshot, Some(doc.clone()));
    store.back_off(NOW + Duration::from_secs(600), Refusal::RateLimited).await.unwrap();
    let (state, leased) = read(NOW + Duration::from_secs(60), "c#0").await;
    assert!(!leased, "a backoff runs");
    assert_eq!(state.backoff_until, Some(NOW + Duration::from_secs(600)));
    let (state, leased) = read(NOW + Duration::from_secs(600), "c#0").await;
    assert!(leased, "the backoff is over");
    assert_eq!(state.calls.calls(Share::Current, hour), 3);
    store.release("c#0", None).await.unwrap();
    let (state, leased) = read(NOW + Duration::from_secs(601), "d#0").await;
    assert!(!leased, "the hour's room is spent");
    assert_eq!(state.calls.room(Share::Current, NOW), Room::Spent);
}

#[tokio::test]
async fn a_quota_refusal_stops_the_lease_until_its_end_and_a_failed_refresh_sets_the_retry() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    assert!(store.open_hour(Share::Current, hour_of(NOW), 100, &CallLedger::default()).await.unwrap());
    let until = NOW + Duration::from_secs(50_000);
    store.back_off(until, Refusal::QuotaExceeded).await.unwrap();
    let (state, leased) = store.load_or_lease("a#0", NOW, NOW + Duration::from_secs(10)).await.unwrap();
    assert!(!leased);
    assert_eq!(state.quota_until, Some(until));
    assert_eq!(state.backoff_until, None, "the quota's refusal is kept apart from the rate limit's");
    let later = until + Duration::from_secs(1);
    let (_, leased) = store.load_or_lease("a#0", NOW, NOW + Duration::from_secs(10)).await.unwrap();
    assert!(!leased);
    let seen = store.load().await.unwrap().calls;
    assert!(store.open_hour(Share::Current, hour_of(later), 100, &seen).await.unwrap(), "14 hours on");
    assert!(store.load_or_lease("a#0", later, later + Duration::from_secs(10)).await.unwrap().1);
    let retry = later + Duration::from_secs(5);
    store.release("b#0", Some(retry)).await.unwrap();
    assert_eq!(store.load().await.unwrap().due_at, None, "only the holder sets the retry");
    store.release("a#0", Some(retry)).await.unwrap();
    assert_eq!(store.load().await.unwrap().due_at, Some(retry));
}

#[tokio::test]
async fn of_twenty_instances_racing_for_the_last_call_exactly_one_spends_it() {
    let (client, name) = table().await;
    let store = std::sync::Arc::new(DynamoSnapshotStore::new(client, name));
    let hour = hour_of(NOW);
    assert!(store.open_hour(Share::Visitors, hour, 5, &CallLedger::default()).await.unwrap());
    for _ in 0..4 {
        assert!(store.take_call(Share::Visitors, NOW).await.unwrap().0);
    }
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_call(Share::Visitors, NOW).await.unwrap().0 })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
    let (taken, ledger) = store.take_call(Share::Visitors, NOW).await.unwrap();
    assert!(!taken);
    assert_eq!(ledger.calls(Share::Visitors, hour), 5, "never past the room");
    assert_eq!(ledger.calls(Share::Current, hour), 0, "each share counts apart");
}

#[tokio::test]
async fn an_hour_opens_once_from_what_was_seen_and_a_late_take_cannot_land_after_the_next_opened() {
    let (client, name) = table().await;
    let store = std::sync::Arc::new(DynamoSnapshotStore::new(client, name));
    let hour = hour_of(NOW);
    let seen = store.load().await.unwrap().calls;
    let openers: Vec<_> = (0..6)
        .map(|i| {
            let (store, seen) = (store.clone(), seen.clone());
            tokio::spawn(async move { store.open_hour(Share::Recent, hour, 10 + i, &seen).await.unwrap() })
        })
        .collect();
    let mut opened = 0;
    for opener in openers {
        opened += usize::from(opener.await.unwrap());
    }
    assert_eq!(opened, 1, "one room per hour");
    assert!(store.take_call(Share::Recent, NOW).await.unwrap().0);
    let next = NOW + Duration::from_secs(3600);
    assert!(
        !store.open_hour(Share::Recent, hour + 1, 99, &seen).await.unwrap(),
        "a call was counted since `seen`: its room would be too large"
    );
    let seen = store.load().await.unwrap().calls;
    let room = seen.room_for(Share::Recent, hour + 1, 20);
    assert_eq!(room, 19, "the next hour gets what the 24 before left");
    assert!(store.open_hour(Share::Recent, hour + 1, room, &seen).await.unwrap());
    assert!(!store.take_call(Share::Recent, NOW).await.unwrap().0, "a take still at the old hour is refused");
    assert!(store.take_call(Share::Recent, next).await.unwrap().0);
    store.count_refreshes(2, next).await.unwrap();
    let state = store.load().await.unwrap();
    assert_eq!(state.calls.spent(Share::Recent, next), 2);
    assert_eq!(state.calls.refreshes(next), 2);
}

#[tokio::test]
async fn the_first_call_of_an_hour_opens_it_and_takes_the_lease_in_one_update() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let hour = hour_of(NOW);
    let until = NOW + Duration::from_secs(10);
    let seen = store.load().await.unwrap().calls;
    let (state, leased) = store.open_hour_and_lease(hour, 7, &seen, "a#0", NOW, until).await.unwrap();
    assert!(leased);
    assert_eq!((state.calls.opened(Share::Current, hour), state.calls.calls(Share::Current, hour)), (Some(7), 1));
    assert!(!store.try_lease("b#0", NOW, until).await.unwrap(), "a holds the lease");
    let (state, leased) = store.open_hour_and_lease(hour, 7, &seen, "b#0", NOW, until).await.unwrap();
    assert!(!leased, "open already");
    assert_eq!(state.calls.calls(Share::Current, hour), 1);
    let (state, leased) = store.open_hour_and_lease(hour + 1, 0, &state.calls, "b#0", NOW, until).await.unwrap();
    assert!(!leased, "no room, no lease");
    assert_eq!(state.calls.opened(Share::Current, hour + 1), Some(0));
}

#[tokio::test]
async fn an_answer_stored_before_it_had_a_due_time_is_refreshed() {
    let (client, name) = table().await;
    let doc = snapshot_doc();
    client
        .put_item()
        .table_name(&name)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(SNAPSHOT_KEY.into()))
        .item("answer_json", aws_sdk_dynamodb::types::AttributeValue::S(serde_json::to_string(&doc).unwrap()))
        .send()
        .await
        .unwrap();
    let store = DynamoSnapshotStore::new(client, name);
    assert!(store.open_hour(Share::Current, hour_of(NOW), 1, &CallLedger::default()).await.unwrap());
    let (state, leased) = store.load_or_lease("a#0", NOW, NOW + Duration::from_secs(10)).await.unwrap();
    assert!(leased);
    assert_eq!(state.snapshot, Some(doc));
}

#[tokio::test]
async fn the_snapshot_lease_is_won_once_until_it_lapses() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let until = NOW + Duration::from_secs(10);
    assert!(store.try_lease("a#0", NOW, until).await.unwrap());
    assert!(!store.try_lease("b#0", NOW, until).await.unwrap(), "the conditional update is lost");
    store.release("b#0", None).await.unwrap();
    assert!(!store.try_lease("c#0", NOW, until).await.unwrap(), "only the owner releases it");
    assert!(store.try_lease("c#0", until + Duration::from_secs(1), until + Duration::from_secs(11)).await.unwrap());
}

#[tokio::test]
async fn a_backoff_is_shared_and_ends_the_lease() {
    let (client, name) = table().await;
    let store = DynamoSnapshotStore::new(client, name);
    let until = NOW + Duration::from_secs(19056);
    assert!(store.try_lease("a#0", NOW, NOW + Duration::from_secs(10)).await.unwrap());
    store.back_off(until, Refusal::RateLimited).await.unwrap();
    assert_eq!(store.load().await.unwrap().backoff_until, Some(until));
    assert!(store.try_lease("b#0", NOW, NOW + Duration::from_secs(10)).await.unwrap());
}

#[tokio::test]
async fn shared_album_art_round_trips_and_is_keyed_by_its_url() {
    let (client, name) = table().await;
    let cache = DynamoArtCache::new(client, name);
    let art = now_playing::domain::Art::new("image/jpeg".into(), vec![0xff, 0xd8, 0xff, 0x00, 0x10]);
    assert_eq!(cache.load("https://i.scdn.co/image/a").await.unwrap(), None);
    cache.save("https://i.scdn.co/image/a", &art).await.unwrap();
    assert_eq!(cache.load("https://i.scdn.co/image/a").await.unwrap(), Some(art));
    assert_eq!(cache.load("https://i.scdn.co/image/b").await.unwrap(), None);
}

#[tokio::test]
async fn shared_album_art_keeps_its_palette_and_an_older_item_gets_one() {
    let (client, name) = table().await;
    let cache = DynamoArtCache::new(client.clone(), name.clone());
    let image = crate::support::jpeg(32, 32, |_, _| [0x80, 0x20, 0x40]);
    let art = now_playing::domain::Art::new("image/jpeg".into(), image.clone());
    assert!(art.palette.is_some());
    cache.save("https://i.scdn.co/image/c", &art).await.unwrap();
    assert_eq!(cache.load("https://i.scdn.co/image/c").await.unwrap(), Some(art.clone()));
    // Stored as JSON text, readable without this code.
    let key = aws_sdk_dynamodb::types::AttributeValue::S(format!(
        "art#{:016x}",
        now_playing::fingerprint::fnv1a(b"https://i.scdn.co/image/c")
    ));
    let item = client.get_item().table_name(&name).key("pk", key.clone()).send().await.unwrap().item.unwrap();
    let stored: serde_json::Value = serde_json::from_str(item["palette"].as_s().unwrap()).unwrap();
    assert_eq!(stored["background"], serde_json::json!(art.palette.unwrap().background.to_string()));
    // An item written before palettes existed: the palette is computed on load.
    client.update_item().table_name(&name).key("pk", key).update_expression("REMOVE palette").send().await.unwrap();
    assert_eq!(cache.load("https://i.scdn.co/image/c").await.unwrap().and_then(|a| a.palette), art.palette);
}

#[tokio::test]
async fn counters_count_give_back_and_hold_one_sender_at_a_time() {
    use now_playing::adapters::dynamodb::DynamoSuggestions;
    use now_playing::domain::ports::Counters;
    let (client, name) = table().await;
    let counters = DynamoSuggestions::new(client, name);
    let end = NOW + Duration::from_secs(3600);
    assert_eq!(counters.used("visitor#a#suggest#1").await.unwrap(), 0);
    assert!(counters.take("visitor#a#suggest#1", 2, end).await.unwrap());
    assert!(counters.take("visitor#a#suggest#1", 2, end).await.unwrap());
    assert!(!counters.take("visitor#a#suggest#1", 2, end).await.unwrap());
    assert_eq!(counters.used("visitor#a#suggest#1").await.unwrap(), 2);
    counters.give_back("visitor#a#suggest#1").await.unwrap();
    assert_eq!(counters.used("visitor#a#suggest#1").await.unwrap(), 1);
    // Giving back what was never taken changes nothing and creates nothing.
    counters.give_back("visitor#b#suggest#1").await.unwrap();
    counters.give_back("visitor#a#suggest#1").await.unwrap();
    counters.give_back("visitor#a#suggest#1").await.unwrap();
    assert_eq!(counters.used("visitor#a#suggest#1").await.unwrap(), 0);
    assert_eq!(counters.used("visitor#b#suggest#1").await.unwrap(), 0);

    let hold = NOW + Duration::from_secs(60);
    assert!(counters.claim("digest#1#sending", NOW, hold).await.unwrap());
    assert!(!counters.claim("digest#1#sending", NOW + Duration::from_secs(59), hold).await.unwrap());
    assert!(counters.claim("digest#1#sending", hold, hold + Duration::from_secs(60)).await.unwrap(), "lapsed");
    counters.release("digest#1#sending").await.unwrap();
    assert!(counters.claim("digest#1#sending", NOW, hold).await.unwrap(), "let go");
    counters.release("digest#2#sending").await.unwrap();
}

#[tokio::test]
async fn of_two_instances_claiming_the_live_runner_one_holds_it_until_it_lapses_or_ends() {
    use now_playing::adapters::dynamodb::DynamoLiveState;
    use now_playing::domain::ports::LiveState;
    let (client, name) = table().await;
    let live = DynamoLiveState::new(client, name);
    assert_eq!(live.presence().await.unwrap(), Default::default());
    let minute = time::Duration::minutes(1);
    live.mark_viewers(NOW + minute * 10).await.unwrap();
    live.mark_viewers(NOW + minute * 5).await.unwrap();
    assert_eq!(live.presence().await.unwrap().viewers_until, Some(NOW + minute * 10), "a later presence stays");
    let (a, b) = tokio::join!(live.claim_runner("a", NOW, NOW + minute), live.claim_runner("b", NOW, NOW + minute));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one claims the runner");
    let holder = if live.presence().await.unwrap().runner.unwrap().0 == "a" { "a" } else { "b" };
    let other = if holder == "a" { "b" } else { "a" };
    assert!(!live.keep_runner(other, NOW + minute * 2).await.unwrap(), "the other cannot hold on");
    assert!(live.keep_runner(holder, NOW + minute * 2).await.unwrap());
    assert!(!live.claim_runner(other, NOW + minute, NOW + minute * 3).await.unwrap(), "held until it lapses");
    assert!(live.claim_runner(other, NOW + minute * 3, NOW + minute * 4).await.unwrap(), "then taken over");
    live.end_runner(holder).await.unwrap();
    assert_eq!(
        live.presence().await.unwrap().runner.map(|r| r.0).as_deref(),
        Some(other),
        "a replaced runner ends nothing"
    );
    live.end_runner(other).await.unwrap();
    assert_eq!(live.presence().await.unwrap().runner, None);
}
