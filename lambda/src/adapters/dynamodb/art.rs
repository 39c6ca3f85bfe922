//! Album art and its palette, one item per image URL (`ART_PREFIX` and a hash of the URL).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::*;
use crate::domain::Art;
use crate::domain::ports::{ArtCache, StoreError};
use crate::fingerprint::fnv1a;

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
        AttributeValue::S(format!("{ART_PREFIX}{:016x}", fnv1a(url.as_bytes())))
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
