//! The shared token cache and answer snapshot in DynamoDB (`pk` string key, `ttl` TTL), each
//! with the lease that lets one instance refresh it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::domain::{AccessToken, Art, NowPlaying, Played};
use crate::fingerprint::fnv1a;
use crate::ports::{ArtCache, SharedState, SnapshotStore, StoreError, TokenStore};

/// The access token and its refresh lease, in one item: taking the lease answers the token,
/// and storing a new token ends the lease.
pub const TOKEN_KEY: &str = "spotify#access-token";
/// Items outlive their meaning by this much before DynamoDB's TTL removes them.
const TTL_GRACE_SECONDS: i64 = 3600;

pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenStore { client, table: table.into() }
    }
}

pub(super) fn store_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError(DisplayErrorContext(e).to_string())
}

pub(super) fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A DynamoDB item, by attribute name.
type Item = HashMap<String, AttributeValue>;

pub(super) fn read_number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    async fn load(&self) -> Result<Option<AccessToken>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(TOKEN_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map_or(Ok(None), |item| stored_token(&item))
    }

    async fn save(&self, token: &AccessToken) -> Result<(), StoreError> {
        let expires_at = token.expires_at.unix_timestamp();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(TOKEN_KEY.into()))
            .item("access_token", AttributeValue::S(token.value.expose_secret().to_owned()))
            .item("expires_at", number(expires_at))
            .item("ttl", number(expires_at + TTL_GRACE_SECONDS))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        take_lease(&self.client, &self.table, TOKEN_KEY, owner, now, until).await
    }

    /// One conditional update: it takes the lease when the token is missing or stale, and
    /// answers the item either way.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(Option<AccessToken>, bool), StoreError> {
        let update = lease_update(&self.client, &self.table, TOKEN_KEY, owner, now, until)
            .condition_expression(
                "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner) \
                 AND (attribute_not_exists(expires_at) OR expires_at <= :stale_before)",
            )
            .expression_attribute_values(":stale_before", number(stale_before.unix_timestamp()));
        let (item, leased) = lease_answering(update).await?;
        Ok((item.map_or(Ok(None), |item| stored_token(&item))?, leased))
    }

    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        end_lease(&self.client, &self.table, TOKEN_KEY, owner).await
    }
}

/// The token in the item; `None` when the item holds only a lease.
fn stored_token(item: &HashMap<String, AttributeValue>) -> Result<Option<AccessToken>, StoreError> {
    let value = item.get("access_token").and_then(|v| v.as_s().ok());
    let expires_at = read_number(item, "expires_at").and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    match (value, expires_at) {
        (Some(value), Some(expires_at)) => {
            Ok(Some(AccessToken { value: SecretString::from(value.as_str()), expires_at }))
        }
        (None, None) => Ok(None),
        _ => Err(StoreError(format!("item {TOKEN_KEY} lacks access_token or expires_at"))),
    }
}

/// A lease on the item `key`: `owner` gets it unless another owner holds it past `now`.
/// One conditional update, so of many concurrent callers exactly one wins.
async fn take_lease(
    client: &Client,
    table: &str,
    key: &str,
    owner: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    written(lease_update(client, table, key, owner, now, until).send().await)
}

fn lease_update(
    client: &Client,
    table: &str,
    key: &str,
    owner: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> UpdateItemFluentBuilder {
    client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.into()))
        .update_expression("SET lease_owner = :owner, lease_until = :until")
        .condition_expression("attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner")
        .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
        .expression_attribute_values(":until", number(until.unix_timestamp()))
        .expression_attribute_values(":now", number(now.unix_timestamp()))
}

/// Sends a conditional lease update and answers the item either way: as written when the
/// lease was taken (`true`), as it stood when the condition failed (`false`, through
/// `ReturnValuesOnConditionCheckFailure`). `None` when there is no item.
async fn lease_answering(update: UpdateItemFluentBuilder) -> Result<(Option<Item>, bool), StoreError> {
    let result = update
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(output) => Ok((output.attributes, true)),
        Err(e) if is_condition_failure(&e) => Ok((
            match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => failed.item,
                _ => None,
            },
            false,
        )),
        Err(e) => Err(store_error(e)),
    }
}

/// Ends `owner`'s lease on `key` early; another owner's lease is left alone.
async fn end_lease(client: &Client, table: &str, key: &str, owner: &str) -> Result<(), StoreError> {
    let result = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.into()))
        .update_expression("REMOVE lease_owner, lease_until")
        .condition_expression("lease_owner = :owner")
        .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
        .send()
        .await;
    written(result).map(|_| ())
}

pub const SNAPSHOT_KEY: &str = "spotify#now-playing";
/// The snapshot item lives a week past its last write: long enough to serve through an outage.
const SNAPSHOT_TTL_SECONDS: i64 = 7 * 86400;

/// The shared answer, what was last seen playing, the backoff and the refresh lease, all
/// in one item so that one consistent `GetItem` tells an instance everything.
pub struct DynamoSnapshotStore {
    client: Client,
    table: String,
}

impl DynamoSnapshotStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSnapshotStore { client, table: table.into() }
    }

    fn update(&self) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("pk", AttributeValue::S(SNAPSHOT_KEY.into()))
    }
}

/// When the answer was fetched, in milliseconds since the epoch: the number the lease's
/// condition compares.
fn millis(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string())
}

fn shared_state(item: &HashMap<String, AttributeValue>) -> SharedState {
    SharedState {
        snapshot: json_attribute(item, "answer_json"),
        last_seen: json_attribute(item, "last_seen_json"),
        backoff_until: read_number(item, "backoff_until").and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
    }
}

fn json_attribute<T: serde::de::DeserializeOwned>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    // An unreadable value (an older release's shape) counts as absent, never as an error.
    serde_json::from_str(item.get(name)?.as_s().ok()?).ok()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError(format!("serializing the snapshot: {e}")))
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("ConditionalCheckFailedException"))
}

/// Whether a conditional write happened: `Ok(false)` when its condition did not hold.
pub(super) fn written<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(store_error(e)),
    }
}

#[async_trait]
impl SnapshotStore for DynamoSnapshotStore {
    async fn load(&self) -> Result<SharedState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(SNAPSHOT_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item.map(|item| shared_state(&item)).unwrap_or_default())
    }

    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        take_lease(&self.client, &self.table, SNAPSHOT_KEY, owner, now, until).await
    }

    /// One conditional update: it takes the lease when a refresh is due and answers the item
    /// as it wrote it, or, when the condition fails, the item as it stands.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        let update = lease_update(&self.client, &self.table, SNAPSHOT_KEY, owner, now, until)
            .condition_expression(
                "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner) \
                 AND (attribute_not_exists(fetched_ms) OR fetched_ms <= :stale_before) \
                 AND (attribute_not_exists(backoff_until) OR backoff_until <= :now)",
            )
            .expression_attribute_values(":stale_before", millis(stale_before));
        let (item, leased) = lease_answering(update).await?;
        Ok((item.map(|item| shared_state(&item)).unwrap_or_default(), leased))
    }

    async fn save(&self, snapshot: &NowPlaying, last_seen: Option<&Played>) -> Result<(), StoreError> {
        let mut update = self
            .update()
            .expression_attribute_values(":snapshot", AttributeValue::S(to_json(snapshot)?))
            .expression_attribute_values(":fetched", millis(snapshot.fetched_at))
            .expression_attribute_values(":ttl", number(snapshot.fetched_at.unix_timestamp() + SNAPSHOT_TTL_SECONDS));
        let expression = match last_seen {
            Some(seen) => {
                update = update.expression_attribute_values(":seen", AttributeValue::S(to_json(seen)?));
                "SET answer_json = :snapshot, fetched_ms = :fetched, last_seen_json = :seen, #ttl = :ttl \
                 REMOVE lease_owner, lease_until"
            }
            None => "SET answer_json = :snapshot, fetched_ms = :fetched, #ttl = :ttl REMOVE lease_owner, lease_until",
        };
        update
            .update_expression(expression)
            .expression_attribute_names("#ttl", "ttl")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn back_off(&self, until: OffsetDateTime) -> Result<(), StoreError> {
        self.update()
            .update_expression("SET backoff_until = :until REMOVE lease_owner, lease_until")
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, owner: &str) -> Result<(), StoreError> {
        end_lease(&self.client, &self.table, SNAPSHOT_KEY, owner).await
    }
}

/// Shared album art lives this long after it was fetched.
const ART_TTL_SECONDS: i64 = 30 * 86400;

/// Album art in the same table, one item per image URL (`art#` and a hash of the URL).
pub struct DynamoArtCache {
    client: Client,
    table: String,
}

impl DynamoArtCache {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoArtCache { client, table: table.into() }
    }

    fn key(url: &str) -> AttributeValue {
        AttributeValue::S(format!("art#{:016x}", fnv1a(url.as_bytes())))
    }
}

#[async_trait]
impl ArtCache for DynamoArtCache {
    async fn load(&self, url: &str) -> Result<Option<Art>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(url))
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        // The URL is stored too: a hash collision must not show another cover.
        let same_url = item.get("url").and_then(|v| v.as_s().ok()).is_some_and(|u| u == url);
        let content_type = item.get("content_type").and_then(|v| v.as_s().ok());
        let bytes = item.get("data").and_then(|v| v.as_b().ok());
        Ok(match (same_url, content_type, bytes) {
            (true, Some(content_type), Some(bytes)) => {
                let (content_type, bytes) = (content_type.clone(), bytes.as_ref().to_vec());
                // The palette was computed when the image was fetched; an item stored before
                // palettes existed gets one now.
                match item.get("palette").and_then(|v| v.as_s().ok()).map(|p| serde_json::from_str(p)) {
                    Some(Ok(palette)) => Some(Art { content_type, bytes, palette }),
                    _ => Some(Art::new(content_type, bytes)),
                }
            }
            _ => None,
        })
    }

    async fn save(&self, url: &str, art: &Art) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::key(url))
            .item("url", AttributeValue::S(url.to_owned()))
            .item("content_type", AttributeValue::S(art.content_type.clone()))
            .item("data", AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(art.bytes.clone())))
            .item("palette", AttributeValue::S(serde_json::to_string(&art.palette).unwrap_or_else(|_| "null".into())))
            .item("ttl", number(now + ART_TTL_SECONDS))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
