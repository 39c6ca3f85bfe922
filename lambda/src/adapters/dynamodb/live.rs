//! Live push's shared state, in the item `LIVE_KEY`: until when viewers are present, and the
//! one runner that holds the live schedule. Each change is one conditional update, so of
//! many instances exactly one claims the runner, and a runner that was replaced cannot
//! keep the schedule.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::{LIVE_KEY, TTL_GRACE_SECONDS, number, read_number, store_error, written};
use crate::domain::ports::{LiveState, Presence, StoreError};

pub struct DynamoLiveState {
    client: Client,
    table: String,
}

impl DynamoLiveState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLiveState { client, table: table.into() }
    }

    fn update(&self) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("pk", AttributeValue::S(LIVE_KEY.into()))
    }
}

fn at(seconds: Option<i64>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds?).ok()
}

#[async_trait]
impl LiveState for DynamoLiveState {
    async fn presence(&self) -> Result<Presence, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(LIVE_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = out.item else { return Ok(Presence::default()) };
        let runner = item.get("runner_id").and_then(|v| v.as_s().ok()).cloned();
        Ok(Presence {
            viewers_until: at(read_number(&item, "viewers_until")),
            runner: runner.zip(at(read_number(&item, "runner_until"))),
        })
    }

    async fn mark_viewers(&self, until: OffsetDateTime) -> Result<(), StoreError> {
        let result = self
            .update()
            .update_expression("SET viewers_until = :until, #ttl = :ttl")
            .condition_expression("attribute_not_exists(viewers_until) OR viewers_until < :until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .expression_attribute_values(":ttl", number(until.unix_timestamp() + TTL_GRACE_SECONDS))
            .send()
            .await;
        written(result).map(|_| ())
    }

    async fn claim_runner(&self, id: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .update()
            .update_expression("SET runner_id = :id, runner_until = :until")
            .condition_expression("attribute_not_exists(runner_until) OR runner_until < :now")
            .expression_attribute_values(":id", AttributeValue::S(id.into()))
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .send()
            .await;
        written(result)
    }

    async fn keep_runner(&self, id: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .update()
            .update_expression("SET runner_until = :until")
            .condition_expression("runner_id = :id")
            .expression_attribute_values(":id", AttributeValue::S(id.into()))
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .send()
            .await;
        written(result)
    }

    async fn end_runner(&self, id: &str) -> Result<(), StoreError> {
        let result = self
            .update()
            .update_expression("REMOVE runner_id, runner_until")
            .condition_expression("runner_id = :id")
            .expression_attribute_values(":id", AttributeValue::S(id.into()))
            .send()
            .await;
        written(result).map(|_| ())
    }
}
