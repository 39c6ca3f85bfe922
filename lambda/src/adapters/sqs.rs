//! The live runner's ticks as SQS delayed messages: `SendMessage` with `DelaySeconds`, which
//! the queue's event source mapping hands back to the function when it is due. One call,
//! SigV4-signed over SQS's JSON protocol, rather than an SDK crate in the package.

use std::time::Duration;

use async_trait::async_trait;

use super::signed::Signer;
use crate::domain::ports::TickQueue;

/// SQS's longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

pub struct SqsTicks {
    signer: Signer,
    /// The endpoint the call goes to: `https://sqs.REGION.amazonaws.com`, or moto's.
    endpoint: String,
    queue_url: String,
}

impl SqsTicks {
    pub fn new(signer: Signer, endpoint: &str, queue_url: &str) -> Self {
        SqsTicks { signer, endpoint: endpoint.trim_end_matches('/').to_owned(), queue_url: queue_url.to_owned() }
    }

    /// The message a tick is: the runner's id, which the function reads back.
    pub fn body(id: &str) -> String {
        serde_json::json!({ "now-playing-tick": id }).to_string()
    }
}

#[async_trait]
impl TickQueue for SqsTicks {
    async fn tick_after(&self, id: &str, delay: Duration) -> Result<(), String> {
        let body = serde_json::json!({
            "QueueUrl": self.queue_url,
            "MessageBody": Self::body(id),
            "DelaySeconds": delay.min(MAX_DELAY).as_secs(),
        });
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
        let response =
            self.signer.post("sqs", &format!("{}/", self.endpoint), &headers, body.to_string().into_bytes()).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("SQS answered {status} to SendMessage")),
        }
    }
}
