//! The shared answer, what was last seen playing, the backoff, the refresh lease and the
//! recently-played list, all in the item `SNAPSHOT_KEY`, so that one consistent `GetItem`
//! tells an instance everything.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::*;
use crate::domain::ports::{SharedState, SnapshotStore, StoreError};
use crate::domain::{NowPlaying, Played, RecentPlays};

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
        recent: json_attribute(item, "recent_json"),
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

    async fn save_recent(&self, recent: &RecentPlays) -> Result<(), StoreError> {
        self.update()
            .update_expression("SET recent_json = :recent, #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_values(":recent", AttributeValue::S(to_json(recent)?))
            .expression_attribute_values(":ttl", number(recent.fetched_at.unix_timestamp() + SNAPSHOT_TTL_SECONDS))
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
