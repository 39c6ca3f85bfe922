"""The live runner's queue, locally: an SQS queue in moto, and a poller that hands each
message to the function when it is due, as the stack's event source mapping does (one record
per event, deleted once the function answered)."""

from __future__ import annotations

import threading
import uuid


class TickQueue:
    def __init__(self, moto, runtime_of):
        self.sqs = moto.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"now-playing-ticks-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.runtime_of = runtime_of
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> TickQueue:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
            except Exception:
                if self._stop.wait(0.5):
                    return
                continue
            for message in got.get("Messages", []):
                runtime = self.runtime_of()
                if runtime is None:
                    continue
                record = {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:now-playing-ticks",
                    "awsRegion": "us-east-1",
                }
                try:
                    runtime.invoke({"Records": [record]}, timeout=30)
                    self.delivered += 1
                finally:
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
