"""The function under the role the stack deploys: moto enforces IAM, and the function runs
with temporary credentials of a role holding exactly the statements of the synthesized
template. A call the template does not allow fails here, not on the owner's first deploy
(the function carries on without its shared cache, so the log and the table are checked,
not only the answers)."""

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from devstack.local import EVERY_WINDOW, PARAMETER, TABLE, LocalStack

INFRA = Path(__file__).resolve().parent.parent / "infra"
WINDOW = 1
DENIED = ("AccessDenied", "not authorized")


def template_statements() -> list[dict]:
    """The inline statements of the function's role in the default template."""
    out = subprocess.run(
        ["npx", "ts-node", "--transpile-only", "bin/template.ts"],
        cwd=INFRA,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    resources = json.loads(out.stdout)["Resources"]
    roles = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and "lambda.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(roles) == 1, roles
    statements = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": roles[0]} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements, "the role has inline statements"
    # moto checks DynamoDB and SSM by action only (see Moto.enforce_iam); the resources
    # are pinned by the stack's jest assertions.
    actions = [s["Action"] if isinstance(s["Action"], list) else [s["Action"]] for s in statements]
    return [{"Effect": s["Effect"], "Action": a, "Resource": "*"} for s, a in zip(statements, actions, strict=True)]


@pytest.fixture(scope="module")
def statements():
    return template_statements()


def item(stack, key):
    return (
        stack.moto.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
    )


def denials(stack) -> list[str]:
    return [line for line in stack.logs().splitlines() if any(d in line for d in DENIED)]


def test_every_call_the_function_makes_is_allowed_by_the_template(statements):
    with LocalStack(
        processes=2, iam_statements=statements, extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}
    ) as stack:
        # Enforcement is on: the function's own credentials may not do what the role lacks.
        assert stack.aws_credentials["AWS_SESSION_TOKEN"] != "testing"

        # Cold start, expired token: a refresh under the token lease, the answer shared.
        stack.seed_token("expired-access-token", datetime.now(UTC) - timedelta(minutes=5))
        stack.fake.control("scene", {"scene": "track"})
        first = requests.get(f"{stack.url}/v1/current", timeout=30)
        assert first.status_code == 200 and first.json()["stale"] is False, first.text
        token = item(stack, "spotify#access-token")
        assert token["access_token"]["S"] != "expired-access-token", "the refreshed token was shared"
        snapshot = item(stack, "spotify#now-playing")
        assert snapshot and "answer_json" in snapshot, "the answer was shared (UpdateItem)"

        # The card with its art, shared between instances.
        card = requests.get(f"{stack.url}/v1/current.svg", timeout=30)
        assert card.status_code == 200 and "data:image/" in card.text
        art = stack.moto.client("dynamodb").scan(TableName=TABLE)["Items"]
        assert any(i["pk"]["S"].startswith("art#") for i in art), "the art was shared (PutItem)"

        # A rotated refresh token is written back to the parameter.
        stack.fake.control("rotate")
        stack.fake.control("expire-access-tokens")
        time.sleep(WINDOW + 0.1)
        assert requests.get(f"{stack.url}/v1/current", timeout=30).json()["stale"] is False
        assert stack.moto.read_credentials(PARAMETER)["refresh_token"].startswith("fake-refresh-rotated-")

        # A 429 is shared as a backoff.
        stack.fake.control(
            "fail", {"path": "/v1/me/player/currently-playing", "status": 429, "headers": {"Retry-After": "600"}}
        )
        time.sleep(WINDOW + 0.1)
        assert requests.get(f"{stack.url}/v1/current", timeout=30).json()["stale"] is True
        assert "backoff_until" in item(stack, "spotify#now-playing"), "the backoff was shared (UpdateItem)"

        assert requests.get(f"{stack.url}/v1/health", timeout=30).status_code == 200
        assert denials(stack) == []


def test_the_privacy_rules_are_read_under_the_role(statements):
    """The deployed function reads the owner's privacy parameter, and obeys it."""
    with LocalStack(processes=1, iam_statements=statements, privacy={"sharing": "paused"}) as stack:
        stack.fake.control("scene", {"scene": "track"})
        current = requests.get(f"{stack.url}/v1/current", timeout=30).json()
        assert (current["status"], current["item"]) == ("offline", None), current
        assert requests.get(f"{stack.url}/v1/health", timeout=30).json()["privacy"] == "rules"
        assert denials(stack) == []


def test_a_call_the_role_lacks_is_refused_and_seen(statements):
    """The check above can fail: without UpdateItem (the defect this guards against) the
    answer still comes, but the lease and the shared answer are refused, and it shows."""
    lacking = [dict(s, Action=[a for a in s["Action"] if a != "dynamodb:UpdateItem"]) for s in statements]
    with LocalStack(
        processes=1, iam_statements=lacking, extra_env={"CACHE_SECONDS": str(WINDOW), **EVERY_WINDOW}
    ) as stack:
        stack.fake.control("scene", {"scene": "track"})
        assert requests.get(f"{stack.url}/v1/current", timeout=30).status_code == 200
        assert item(stack, "spotify#now-playing") is None
        assert denials(stack), "the refused UpdateItem is logged"
