//! The shared access-token cache and refresh lease in DynamoDB (`pk` string key, `ttl` TTL).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::domain::AccessToken;
use crate::ports::{StoreError, TokenStore};

pub const TOKEN_KEY: &str = "spotify#access-token";
pub const LEASE_KEY: &str = "spotify#refresh-lease";
/// Items outlive their meaning by this much before DynamoDB's TTL removes them.
const TTL_GRACE_SECONDS: i64 = 3600;

pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenStore {
            client,
            table: table.into(),
        }
    }
}

fn store_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    StoreError(DisplayErrorContext(e).to_string())
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn read_number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
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
        let Some(item) = output.item else {
            return Ok(None);
        };
        let value = item.get("access_token").and_then(|v| v.as_s().ok());
        let expires_at = read_number(&item, "expires_at")
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
        match (value, expires_at) {
            (Some(value), Some(expires_at)) => Ok(Some(AccessToken {
                value: SecretString::from(value.as_str()),
                expires_at,
            })),
            _ => Err(StoreError(format!(
                "item {TOKEN_KEY} lacks access_token or expires_at"
            ))),
        }
    }

    async fn save(&self, token: &AccessToken) -> Result<(), StoreError> {
        let expires_at = token.expires_at.unix_timestamp();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(TOKEN_KEY.into()))
            .item(
                "access_token",
                AttributeValue::S(token.value.expose_secret().to_owned()),
            )
            .item("expires_at", number(expires_at))
            .item("ttl", number(expires_at + TTL_GRACE_SECONDS))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn try_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(LEASE_KEY.into()))
            .item("owner", AttributeValue::S(owner.into()))
            .item("lease_until", number(until.unix_timestamp()))
            .item("ttl", number(until.unix_timestamp() + TTL_GRACE_SECONDS))
            .condition_expression(
                "attribute_not_exists(pk) OR lease_until < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(LEASE_KEY.into()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(store_error(e)),
        }
    }
}
