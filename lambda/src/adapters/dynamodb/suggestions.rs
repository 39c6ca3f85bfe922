//! Suggestions, the limits' counters, the used proofs, the search cache and the retry
//! list, each under its own key prefix (`SUGGESTION_PREFIX`, `COUNT_PREFIX`,
//! `SEARCH_PREFIX`, `RETRY_KEY`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{COUNT_PREFIX, RETRY_KEY, SEARCH_PREFIX, SUGGESTION_PREFIX, number, read_number, store_error, written};
use crate::domain::Item;
use crate::domain::ports::{Counters, SearchCache, StoreError, SuggestionStore};
use crate::domain::suggestions::{REPEAT_AFTER, Status, Suggestion, TrackId};

/// How long a suggestion nobody decided on is kept.
const PENDING_DAYS: i64 = 90;
/// How long a rejected suggestion is kept, so the owner can still see it.
const REJECTED_DAYS: i64 = 7;

pub struct DynamoSuggestions {
    client: Client,
    table: String,
}

impl DynamoSuggestions {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSuggestions { client, table: table.into() }
    }
}

fn suggestion_key(track: &TrackId) -> AttributeValue {
    AttributeValue::S(format!("{SUGGESTION_PREFIX}{track}"))
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Added => "added",
        Status::Rejected => "rejected",
    }
}

/// When DynamoDB may remove the record: rejected ones soon, added ones when the track may
/// be suggested again, pending ones after a long wait for the owner.
fn expiry(s: &Suggestion, now: OffsetDateTime) -> i64 {
    match s.status {
        Status::Pending => s.created_at.unix_timestamp() + PENDING_DAYS * 86400,
        Status::Added => s.created_at.unix_timestamp() + REPEAT_AFTER.as_secs() as i64,
        Status::Rejected => now.unix_timestamp() + REJECTED_DAYS * 86400,
    }
}

fn item_of(s: &Suggestion) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let json = serde_json::to_string(s).map_err(|e| StoreError(format!("serializing a suggestion: {e}")))?;
    Ok(HashMap::from([
        ("pk".to_owned(), suggestion_key(&s.track)),
        ("suggestion_json".to_owned(), AttributeValue::S(json)),
        ("status".to_owned(), AttributeValue::S(status_name(s.status).into())),
        ("created_at".to_owned(), number(s.created_at.unix_timestamp())),
        ("ttl".to_owned(), number(expiry(s, OffsetDateTime::now_utc()))),
    ]))
}

fn suggestion_of(item: &HashMap<String, AttributeValue>) -> Option<Suggestion> {
    serde_json::from_str(item.get("suggestion_json")?.as_s().ok()?).ok()
}

impl DynamoSuggestions {
    async fn read(&self, key: AttributeValue) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }
}

#[async_trait]
impl SuggestionStore for DynamoSuggestions {
    async fn insert(&self, suggestion: &Suggestion, since: OffsetDateTime) -> Result<Option<Suggestion>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(suggestion)?))
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :rejected OR (#status = :added AND created_at < :since)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":rejected", AttributeValue::S("rejected".into()))
            .expression_attribute_values(":added", AttributeValue::S("added".into()))
            .expression_attribute_values(":since", number(since.unix_timestamp()))
            .send()
            .await;
        if written(result)? {
            return Ok(None);
        }
        let existing = self.get(&suggestion.track).await?;
        // Gone between the write and the read (its TTL ran out): still a repeat now.
        Ok(Some(existing.unwrap_or_else(|| suggestion.clone())))
    }

    async fn update(&self, suggestion: &Suggestion) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(suggestion)?))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, track: &TrackId) -> Result<Option<Suggestion>, StoreError> {
        Ok(self.read(suggestion_key(track)).await?.as_ref().and_then(suggestion_of))
    }

    async fn list(&self) -> Result<Vec<Suggestion>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(SUGGESTION_PREFIX.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            all.extend(output.items().iter().filter_map(suggestion_of));
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(all);
            }
        }
    }

    async fn failed(&self) -> Result<Vec<TrackId>, StoreError> {
        let item = self.read(AttributeValue::S(RETRY_KEY.into())).await?;
        let tracks = item.as_ref().and_then(|i| i.get("tracks")).and_then(|v| v.as_ss().ok());
        let mut tracks: Vec<TrackId> = tracks.into_iter().flatten().filter_map(|t| TrackId::parse(t)).collect();
        tracks.sort();
        Ok(tracks)
    }

    async fn set_retry(&self, track: &TrackId, retry: bool) -> Result<(), StoreError> {
        let expression = if retry { "ADD tracks :track" } else { "DELETE tracks :track" };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(RETRY_KEY.into()))
            .update_expression(expression)
            .expression_attribute_values(":track", AttributeValue::Ss(vec![track.to_string()]))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl Counters for DynamoSuggestions {
    async fn take(&self, key: &str, limit: u32, until: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{COUNT_PREFIX}{key}")))
            .update_expression("SET #ttl = :ttl ADD uses :one")
            .condition_expression("attribute_not_exists(uses) OR uses < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", number(until.unix_timestamp() + 60))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":limit", number(limit.into()))
            .send()
            .await;
        written(result)
    }

    async fn used(&self, key: &str) -> Result<u32, StoreError> {
        let item = self.read(AttributeValue::S(format!("{COUNT_PREFIX}{key}"))).await?;
        Ok(item.and_then(|i| read_number(&i, "uses")).map_or(0, |n| n.clamp(0, u32::MAX.into()) as u32))
    }

    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{COUNT_PREFIX}{key}")))
            .update_expression("ADD uses :minus_one")
            .condition_expression("uses > :zero")
            .expression_attribute_values(":minus_one", number(-1))
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        written(result).map(|_| ())
    }

    async fn claim(&self, key: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("{COUNT_PREFIX}{key}")))
            .item("held_until", number(until.unix_timestamp()))
            .item("ttl", number(until.unix_timestamp() + 60))
            .condition_expression("attribute_not_exists(pk) OR held_until <= :now")
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .send()
            .await;
        written(result)
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{COUNT_PREFIX}{key}")))
            .update_expression("SET held_until = :zero")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        written(result).map(|_| ())
    }

    async fn use_once(&self, key: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("{COUNT_PREFIX}{key}")))
            .item("ttl", number(until.unix_timestamp() + 60))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(result)
    }
}

/// A query's key: its hash, so that visitors' words are not table keys.
fn search_key(query: &str) -> AttributeValue {
    AttributeValue::S(format!("{SEARCH_PREFIX}{}", hex::encode(Sha256::digest(query.as_bytes()))))
}

#[async_trait]
impl SearchCache for DynamoSuggestions {
    async fn load(&self, query: &str) -> Result<Option<Vec<Item>>, StoreError> {
        let Some(item) = self.read(search_key(query)).await? else { return Ok(None) };
        // DynamoDB removes expired items late; an expired one is a miss.
        if read_number(&item, "until").is_none_or(|until| until <= OffsetDateTime::now_utc().unix_timestamp()) {
            return Ok(None);
        }
        Ok(item.get("items_json").and_then(|v| v.as_s().ok()).and_then(|json| serde_json::from_str(json).ok()))
    }

    async fn save(&self, query: &str, items: &[Item], until: OffsetDateTime) -> Result<(), StoreError> {
        let json = serde_json::to_string(items).map_err(|e| StoreError(format!("serializing search results: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", search_key(query))
            .item("items_json", AttributeValue::S(json))
            .item("until", number(until.unix_timestamp()))
            .item("ttl", number(until.unix_timestamp() + 3600))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
