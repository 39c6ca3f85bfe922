"""What `make deploy` checks around `cdk deploy`, from the synthesized app (`infra/cdk.out`).

    deploy_check.py bootstrapped CDK_OUT   before: is every environment the app deploys to
                                           bootstrapped, recent enough? Exits 1 naming the fix.
    deploy_check.py explain CDK_OUT        after a failed deploy: names a known cause and its
                                           fix, from the stacks' events.

Both ask AWS with the caller's credentials (boto3's usual chain, as the CDK CLI does).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

# CloudFront's refusal for accounts it has not verified yet.
UNVERIFIED = "must be verified before you can add new CloudFront resources"


@dataclass(frozen=True)
class Stack:
    name: str
    account: str | None
    region: str | None
    needs_version: int
    version_parameter: str


def stacks(cdk_out: Path, default_region: str | None = None) -> list[Stack]:
    """The stacks of the synthesized app, with their environments: an environment-agnostic
    stack goes to `default_region`, as the CDK CLI sends it to its own default (None where
    unknown)."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    found = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        env = artifact.get("environment", "").removeprefix("aws://")
        account, _, region = env.partition("/")
        props = artifact.get("properties", {})
        found.append(
            Stack(
                name=props.get("stackName") or artifact_id,
                account=None if account.startswith("unknown-") else account,
                region=default_region if region.startswith("unknown-") else region,
                needs_version=int(props.get("requiresBootstrapStackVersion") or 0),
                version_parameter=props.get("bootstrapStackVersionSsmParameter") or "/cdk-bootstrap/hnb659fds/version",
            )
        )
    return found


def bootstrap_problems(found: list[Stack], ssm_in) -> tuple[list[str], list[str]]:
    """For each environment whose bootstrap is missing or too old, what to do; and where it
    could not be told (credentials that may only assume CDK's roles, as a pipeline's: then
    CloudFormation's own bootstrap check stands). `ssm_in(region)` gives an SSM client there."""
    problems, unknown = [], []
    regions: dict[str, list[Stack]] = {}
    for stack in found:
        if stack.region:
            regions.setdefault(stack.region, []).append(stack)
    for region, here in regions.items():
        needed = max(s.needs_version for s in here)
        parameter = here[0].version_parameter
        account = next((s.account for s in here if s.account), "ACCOUNT")
        env = f"aws://{account}/{region}"
        names = ", ".join(s.name for s in here)
        fix = (
            f"run `make deploy BOOTSTRAP=yes` with the same settings (it bootstraps every environment the "
            f"stacks use), or `cd infra && npx cdk bootstrap {env}`"
        )
        try:
            value = ssm_in(region).get_parameter(Name=parameter)["Parameter"]["Value"]
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code == "ParameterNotFound":
                problems.append(f"{env} (for {names}) is not bootstrapped: {fix}.")
            else:
                unknown.append(f"could not read {parameter} in {region} ({code}); cdk deploy checks it itself.")
            continue
        except BotoCoreError as e:
            unknown.append(f"could not ask SSM in {region} about its bootstrap ({e}); cdk deploy checks it itself.")
            continue
        if not value.isdigit() or int(value) < needed:
            problems.append(
                f"{env} (for {names}) is bootstrapped at version {value}, and the stacks need {needed}: {fix}."
            )
    return problems, unknown


def failure_reasons(found: list[Stack], cloudformation_in) -> list[str]:
    """The stacks' latest failure reasons, newest first, as their events say."""
    reasons = []
    for stack in found:
        try:
            events = cloudformation_in(stack.region).describe_stack_events(StackName=stack.name)["StackEvents"]
        except (ClientError, BotoCoreError):
            continue
        reasons += [
            e["ResourceStatusReason"]
            for e in events[:100]
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")
        ]
    return reasons


def explanation(reasons: list[str]) -> str | None:
    """The fix for a known cause among `reasons`, or None."""
    if any(UNVERIFIED in r for r in reasons):
        return (
            "CloudFront refused this account: new AWS accounts must be verified before they may create a "
            "distribution. Either open a support case (AWS Support, Account and billing, asking for CloudFront "
            'to be enabled), then deploy again; or deploy without the edge for now: make deploy CDK_ARGS="-c '
            'edge=off" (switching it on later is one more make deploy).'
        )
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("bootstrapped", "explain"):
        print(__doc__, file=sys.stderr)
        return 2
    command, cdk_out = argv[0], Path(argv[1])
    found = stacks(cdk_out, boto3.session.Session().region_name)
    if command == "bootstrapped":
        problems, unknown = bootstrap_problems(found, lambda region: boto3.client("ssm", region_name=region))
        for line in unknown + problems:
            print(f"make deploy: {line}", file=sys.stderr)
        return 1 if problems else 0
    fix = explanation(failure_reasons(found, lambda region: boto3.client("cloudformation", region_name=region)))
    if fix:
        print(f"make deploy: {fix}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
