//! The one DynamoDB table and what it holds (`pk` string key, `ttl` TTL): one store per
//! kind of item, each in its own module, and every key prefix listed here once.
//!
//! - `tokens`: the shared access token and its refresh lease;
//! - `answers`: the shared answer, what was last seen playing and the backoff;
//! - `art`: album art and its palette, by image URL;
//! - `live`: live push's presence and its one runner;
//! - `suggestions`: visitors' suggestions, the limits' counters, used proofs, the search
//!   cache and the retry list.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use crate::domain::ports::StoreError;

mod answers;
mod art;
mod live;
mod suggestions;
mod tokens;

pub use answers::DynamoSnapshotStore;
pub use art::DynamoArtCache;
pub use live::DynamoLiveState;
pub use suggestions::DynamoSuggestions;
pub use tokens::DynamoTokenStore;

/// The access token and its refresh lease, in one item: taking the lease answers the token,
/// and storing a new token ends the lease.
pub const TOKEN_KEY: &str = "spotify#access-token";
/// The shared answer, what was last seen playing, the backoff and the answer's lease.
pub const SNAPSHOT_KEY: &str = "spotify#now-playing";
/// Live push: until when viewers are present, and the runner holding the live schedule.
pub const LIVE_KEY: &str = "live#presence";
/// The set of tracks whose addition to the playlist is to be retried.
pub const RETRY_KEY: &str = "suggestions#retry";
/// Album art: `art#` and a hash of the image URL.
pub const ART_PREFIX: &str = "art#";
/// A visitor's suggestion: `suggestion#` and the track id.
pub const SUGGESTION_PREFIX: &str = "suggestion#";
/// A limit's counter, a used proof, a held digest: `count#` and its key.
pub const COUNT_PREFIX: &str = "count#";
/// Shared search results: `search#` and a hash of the query.
pub const SEARCH_PREFIX: &str = "search#";

/// Items outlive their meaning by this much before DynamoDB's TTL removes them.
const TTL_GRACE_SECONDS: i64 = 3600;

pub(crate) fn store_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError(DisplayErrorContext(e).to_string())
}

pub(crate) fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A DynamoDB item, by attribute name.
type Item = HashMap<String, AttributeValue>;

pub(crate) fn read_number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
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
pub(crate) fn written<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
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
