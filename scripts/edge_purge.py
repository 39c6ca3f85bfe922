"""`make privacy ARGS="… --purge"`: clears the stack's CloudFront copies of what the rules
govern, so a rule holds at the edge at once rather than after the answers' lifetime, and an
origin outage cannot serve a copy from before the rule (`stale-if-error`).

    edge_purge.py STACK_NAME

Reads the stack's `DistributionId` output and invalidates `/v1/*` and `/` (two paths of the
month's free thousand). Exits 1 naming the problem: no such stack, no edge, no permission.
"""

from __future__ import annotations

import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

PATHS = ["/v1/*", "/"]


def distribution_id(cloudformation, stack: str) -> str:
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as e:
        message = e.response["Error"]["Message"]
        raise SystemExit(f"make privacy --purge: could not read the stack {stack}: {message}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if "DistributionId" not in outputs:
        raise SystemExit(
            f"make privacy --purge: {stack} has no DistributionId output: it was deployed with edge=off, so there "
            "is no edge to clear"
        )
    return outputs["DistributionId"]


def purge(cloudformation, cloudfront, stack: str) -> str:
    """Starts the invalidation; returns its id."""
    distribution = distribution_id(cloudformation, stack)
    try:
        created = cloudfront.create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={
                "Paths": {"Quantity": len(PATHS), "Items": PATHS},
                "CallerReference": f"now-playing-privacy-{time.time_ns()}",
            },
        )
    except ClientError as e:
        raise SystemExit(
            f"make privacy --purge: CloudFront refused the invalidation of {distribution}: "
            f"{e.response['Error']['Message']} (the credentials need cloudfront:CreateInvalidation)"
        ) from None
    return created["Invalidation"]["Id"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        # CloudFront's API is global; the stack is in the credentials' region.
        invalidation = purge(boto3.client("cloudformation"), boto3.client("cloudfront"), argv[0])
    except BotoCoreError as e:
        print(f"make privacy --purge: could not reach AWS: {e}", file=sys.stderr)
        return 1
    print(f"Clearing the edge ({', '.join(PATHS)}): invalidation {invalidation}, done within minutes.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
