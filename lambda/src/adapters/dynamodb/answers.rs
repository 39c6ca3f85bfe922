//! The shared answer, what was last seen playing, the refusals, the refresh lease, the
//! recently-played list and the ledger of Web API calls, all in the item `SNAPSHOT_KEY`,
//! so that one consistent read tells an instance everything, and one conditional update
//! takes the lease and counts its call.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::*;
use crate::domain::ports::{Refusal, SharedState, SnapshotStore, StoreError};
use crate::domain::quota::{BUCKET_SECONDS, BUCKETS_BEFORE, CallLedger, Share, hour_of};
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

/// The letter a share's attributes carry: `calls_c_<hour>`, `room_c_<hour>`.
fn letter(share: Share) -> char {
    match share {
        Share::Current => 'c',
        Share::Recent => 'r',
        Share::Visitors => 'v',
    }
}

fn calls_name(share: Share, hour: i64) -> String {
    format!("calls_{}_{hour}", letter(share))
}

fn room_name(share: Share, hour: i64) -> String {
    format!("room_{}_{hour}", letter(share))
}

/// The ledger in an item's `calls_*`, `room_*` and `refreshes_*` attributes.
fn ledger(item: &HashMap<String, AttributeValue>) -> CallLedger {
    let mut ledger = CallLedger::default();
    for (name, value) in item {
        let Some(n) = value.as_n().ok().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(hour) = name.strip_prefix("refreshes_").and_then(|h| h.parse::<i64>().ok()) {
            ledger.hours.entry(hour).or_default().refreshes = n;
            continue;
        }
        // `calls_c_<hour>` or `room_c_<hour>`; anything else is another attribute.
        let mut parts = name.splitn(3, '_');
        let (Some(kind), Some(share), Some(hour)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let Some(share) = Share::ALL.into_iter().find(|s| share == letter(*s).to_string()) else { continue };
        let Ok(hour) = hour.parse::<i64>() else { continue };
        match kind {
            "calls" => ledger.set(share, hour, Some(n), None),
            "room" => ledger.set(share, hour, None, Some(n)),
            _ => {}
        }
    }
    ledger
}

fn instant(item: &HashMap<String, AttributeValue>, name: &str) -> Option<OffsetDateTime> {
    read_number(item, name).and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

fn shared_state(item: &HashMap<String, AttributeValue>) -> SharedState {
    SharedState {
        snapshot: json_attribute(item, "answer_json"),
        due_at: read_number(item, "due_ms")
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()),
        last_seen: json_attribute(item, "last_seen_json"),
        backoff_until: instant(item, "backoff_until"),
        quota_until: instant(item, "quota_until"),
        recent: json_attribute(item, "recent_json"),
        calls: ledger(item),
    }
}

/// The condition that a take of `share` in `hour` adds: room left in the hour, and the
/// next hour not opened (a take that began before the hour turned must not land after
/// the next hour's room was given out).
fn with_room(update: UpdateItemFluentBuilder, share: Share, hour: i64) -> UpdateItemFluentBuilder {
    update
        .expression_attribute_names("#calls", calls_name(share, hour))
        .expression_attribute_names("#room", room_name(share, hour))
        .expression_attribute_names("#next_room", room_name(share, hour + 1))
        .expression_attribute_values(":one", number(1))
}

const ROOM: &str = "#room > #calls AND attribute_not_exists(#next_room)";

/// The lease is free (or this owner's), the answer is due and no refusal runs.
const LEASE_DUE: &str = "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner) \
     AND (attribute_not_exists(answer_json) OR attribute_not_exists(due_ms) OR due_ms <= :now_ms) \
     AND (attribute_not_exists(backoff_until) OR backoff_until <= :now) \
     AND (attribute_not_exists(quota_until) OR quota_until <= :now)";

/// An update that opens `hour` for `share` with `room` and counts `calls` in it: the
/// update with its names and values, the `SET`/`REMOVE` expression, and the condition.
/// The condition holds only while the hour is unopened and the share's buckets of the 24
/// hours before are as `seen` has them: a call counted in one since would make the room
/// too large. Hours no limit counts any more are removed.
fn opening(
    mut update: UpdateItemFluentBuilder,
    share: Share,
    hour: i64,
    room: u32,
    calls: u32,
    seen: &CallLedger,
) -> (UpdateItemFluentBuilder, String, String) {
    update = update
        .expression_attribute_names("#room", room_name(share, hour))
        .expression_attribute_names("#calls", calls_name(share, hour))
        .expression_attribute_values(":room", number(i64::from(room)))
        .expression_attribute_values(":calls", number(i64::from(calls)))
        .expression_attribute_values(":zero", number(0));
    let mut condition = vec!["attribute_not_exists(#room)".to_owned()];
    for (i, before) in (hour - BUCKETS_BEFORE..hour).enumerate() {
        update = update.expression_attribute_names(format!("#b{i}"), calls_name(share, before));
        match seen.calls(share, before) {
            0 => condition.push(format!("(attribute_not_exists(#b{i}) OR #b{i} = :zero)")),
            count => {
                update = update.expression_attribute_values(format!(":b{i}"), number(i64::from(count)));
                condition.push(format!("#b{i} = :b{i}"));
            }
        }
    }
    let oldest = OffsetDateTime::from_unix_timestamp(hour * BUCKET_SECONDS).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let expired: Vec<String> = seen
        .expired(oldest)
        .into_iter()
        .flat_map(|h| {
            let mut names: Vec<String> =
                Share::ALL.iter().flat_map(|s| [calls_name(*s, h), room_name(*s, h)]).collect();
            names.push(format!("refreshes_{h}"));
            names
        })
        .collect();
    let mut set = "SET #room = :room, #calls = :calls".to_owned();
    if !expired.is_empty() {
        set.push_str(" REMOVE ");
        set.push_str(&expired.join(", "));
    }
    (update, set, condition.join(" AND "))
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

    /// One conditional update: it takes the lease and counts the call when a refresh is due
    /// and the answer's share has room, and answers the item as it wrote it, or, when the
    /// condition fails, the item as it stands.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        let update = lease_update(&self.client, &self.table, SNAPSHOT_KEY, owner, now, until)
            .update_expression("SET lease_owner = :owner, lease_until = :until ADD #calls :one")
            .condition_expression(format!("{LEASE_DUE} AND {ROOM}"))
            .expression_attribute_values(":now_ms", millis(now));
        let (item, leased) = lease_answering(with_room(update, Share::Current, hour_of(now))).await?;
        Ok((item.map(|item| shared_state(&item)).unwrap_or_default(), leased))
    }

    async fn take_call(&self, share: Share, now: OffsetDateTime) -> Result<(bool, CallLedger), StoreError> {
        let update = self.update().update_expression("ADD #calls :one").condition_expression(ROOM);
        let (item, taken) = lease_answering(with_room(update, share, hour_of(now))).await?;
        Ok((taken, item.map(|item| ledger(&item)).unwrap_or_default()))
    }

    async fn open_hour(&self, share: Share, hour: i64, room: u32, seen: &CallLedger) -> Result<bool, StoreError> {
        let (update, set, condition) = opening(self.update(), share, hour, room, 0, seen);
        written(update.update_expression(set).condition_expression(condition).send().await)
    }

    async fn open_hour_and_lease(
        &self,
        hour: i64,
        room: u32,
        seen: &CallLedger,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        if room == 0 {
            self.open_hour(Share::Current, hour, 0, seen).await?;
            return Ok((self.load().await?, false));
        }
        let (update, set, condition) = opening(self.update(), Share::Current, hour, room, 1, seen);
        let update = update
            .update_expression(set.replacen("SET ", "SET lease_owner = :owner, lease_until = :until, ", 1))
            .condition_expression(format!("{condition} AND {LEASE_DUE}"))
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":now_ms", millis(now));
        let (item, leased) = lease_answering(update).await?;
        Ok((item.map(|item| shared_state(&item)).unwrap_or_default(), leased))
    }

    async fn count_refreshes(&self, count: u32, now: OffsetDateTime) -> Result<(), StoreError> {
        self.update()
            .update_expression("ADD #refreshes :count")
            .expression_attribute_names("#refreshes", format!("refreshes_{}", hour_of(now)))
            .expression_attribute_values(":count", number(i64::from(count)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn save(
        &self,
        snapshot: &NowPlaying,
        last_seen: Option<&Played>,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update()
            .expression_attribute_values(":snapshot", AttributeValue::S(to_json(snapshot)?))
            .expression_attribute_values(":fetched", millis(snapshot.fetched_at))
            .expression_attribute_values(":due", millis(due_at))
            .expression_attribute_values(":ttl", number(snapshot.fetched_at.unix_timestamp() + SNAPSHOT_TTL_SECONDS));
        let seen = match last_seen {
            Some(seen) => {
                update = update.expression_attribute_values(":seen", AttributeValue::S(to_json(seen)?));
                ", last_seen_json = :seen"
            }
            None => "",
        };
        update
            .update_expression(format!(
                "SET answer_json = :snapshot, fetched_ms = :fetched, due_ms = :due{seen}, #ttl = :ttl \
                 REMOVE lease_owner, lease_until"
            ))
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

    async fn back_off(&self, until: OffsetDateTime, refusal: Refusal) -> Result<(), StoreError> {
        let attribute = match refusal {
            Refusal::RateLimited => "backoff_until",
            Refusal::QuotaExceeded => "quota_until",
        };
        self.update()
            .update_expression(format!("SET {attribute} = :until REMOVE lease_owner, lease_until"))
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, owner: &str, due_at: Option<OffsetDateTime>) -> Result<(), StoreError> {
        let Some(due_at) = due_at else { return end_lease(&self.client, &self.table, SNAPSHOT_KEY, owner).await };
        let result = self
            .update()
            .update_expression("SET due_ms = :due REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .expression_attribute_values(":due", millis(due_at))
            .send()
            .await;
        written(result).map(|_| ())
    }
}
