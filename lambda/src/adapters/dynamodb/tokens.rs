//! The shared access token and its refresh lease, in the item `TOKEN_KEY`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::*;
use crate::domain::AccessToken;
use crate::domain::ports::{StoreError, TokenStore};

pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenStore { client, table: table.into() }
    }
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
