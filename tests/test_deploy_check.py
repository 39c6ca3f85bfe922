"""The owner's scripts that ask AWS: make deploy's checks around `cdk deploy`
(scripts/deploy_check.py: every environment the app deploys to is bootstrapped before
anything starts, and CloudFront's refusal of a new account is named with its two ways out),
and `make privacy ARGS="… --purge"` clearing the edge (scripts/edge_purge.py)."""

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import deploy_check  # noqa: E402
import edge_purge  # noqa: E402

PARAMETER = "/cdk-bootstrap/hnb659fds/version"


def assembly(tmp_path: Path, *environments: str) -> Path:
    """A cdk.out whose manifest has one stack per environment, as `cdk synth` writes it."""
    artifacts = {"Tree": {"type": "cdk:tree"}}
    for n, env in enumerate(environments):
        artifacts[f"Stack{n}"] = {
            "type": "aws:cloudformation:stack",
            "environment": env,
            "properties": {
                "stackName": ["NowPlaying", "NowPlaying-Certificate"][n],
                "requiresBootstrapStackVersion": 6,
                "bootstrapStackVersionSsmParameter": PARAMETER,
            },
        }
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return tmp_path


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def bootstrap(region: str, version: str = "30") -> None:
    boto3.client("ssm", region_name=region).put_parameter(Name=PARAMETER, Value=version, Type="String")


def check(cdk_out: Path, capsys) -> tuple[int, str]:
    code = deploy_check.main(["bootstrapped", str(cdk_out)])
    return code, capsys.readouterr().err


def test_a_domain_outside_us_east_1_needs_us_east_1_bootstrapped_too(aws, tmp_path, capsys):
    # The main stack is environment-agnostic (the CLI's default region); the certificate's is
    # pinned to us-east-1.
    cdk_out = assembly(tmp_path, "aws://unknown-account/unknown-region", "aws://123456789012/us-east-1")
    bootstrap("eu-west-1")
    code, err = check(cdk_out, capsys)
    assert code == 1
    assert "aws://123456789012/us-east-1 (for NowPlaying-Certificate) is not bootstrapped" in err, err
    assert "make deploy BOOTSTRAP=yes" in err and "npx cdk bootstrap aws://123456789012/us-east-1" in err, err
    assert "eu-west-1" not in err, "the stack's own region is bootstrapped"
    bootstrap("us-east-1")
    assert check(cdk_out, capsys) == (0, "")


def test_the_stacks_own_region_missing_or_too_old_is_named(aws, tmp_path, capsys):
    cdk_out = assembly(tmp_path, "aws://unknown-account/unknown-region")
    code, err = check(cdk_out, capsys)
    assert code == 1 and "aws://ACCOUNT/eu-west-1 (for NowPlaying) is not bootstrapped" in err, err
    bootstrap("eu-west-1", "5")
    code, err = check(cdk_out, capsys)
    assert code == 1 and "bootstrapped at version 5, and the stacks need 6" in err, err


def test_credentials_that_may_not_read_ssm_leave_the_check_to_cloudformation(tmp_path):
    # A pipeline's role may only assume CDK's roles: its deploy must not fail here.
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_client_error("get_parameter", service_error_code="AccessDeniedException", http_status_code=400)
    stub.activate()
    found = deploy_check.stacks(assembly(tmp_path, "aws://123456789012/eu-west-1"))
    problems, unknown = deploy_check.bootstrap_problems(found, lambda region: client)
    assert problems == [] and "AccessDeniedException" in unknown[0] and "cdk deploy checks it" in unknown[0], unknown


def test_a_wrong_command_prints_the_usage(tmp_path):
    cdk_out = assembly(tmp_path, "aws://123456789012/ap-south-2")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy_check.py"), "nonsense", str(cdk_out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "bootstrapped CDK_OUT" in done.stderr


def events_client(reasons: list[str]):
    client = boto3.client("cloudformation", region_name="eu-west-1")
    stub = Stubber(client)
    events = [
        {
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/NowPlaying/1",
            "EventId": f"e{n}",
            "StackName": "NowPlaying",
            "Timestamp": "2026-12-08T02:00:00Z",
            "LogicalResourceId": "EdgeDistribution",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": reason,
        }
        for n, reason in enumerate(reasons)
    ]
    stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": "NowPlaying"})
    stub.activate()
    return client


def test_cloudfronts_refusal_of_a_new_account_is_named_with_both_ways_out(tmp_path):
    found = deploy_check.stacks(assembly(tmp_path, "aws://123456789012/eu-west-1"))
    refusal = (
        "Resource handler returned message: \"Access denied for operation 'AWS::CloudFront::Distribution'.: "
        "Your account must be verified before you can add new CloudFront resources. To verify your account, "
        'please contact AWS Support (https://console.aws.amazon.com/support/home#/) and include this error message."'
    )
    events = events_client(["Resource creation cancelled", refusal])
    reasons = deploy_check.failure_reasons(found, lambda region: events)
    fix = deploy_check.explanation(reasons)
    assert fix and "support case" in fix and "-c edge=off" in fix, fix
    other = deploy_check.failure_reasons(found, lambda region: events_client(["Bucket already exists"]))
    assert deploy_check.explanation(other) is None, "only a known cause is explained"


def stack_with_outputs(outputs: dict) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="NowPlaying", TemplateBody=json.dumps(template))


def distribution() -> str:
    cloudfront = boto3.client("cloudfront")
    origin = {
        "Id": "api",
        "DomainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
    }
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "https-only",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def test_purge_invalidates_the_answers_and_the_page_of_the_stacks_distribution(aws, capsys):
    distribution_id = distribution()
    stack_with_outputs({"DistributionId": distribution_id})
    assert edge_purge.main(["NowPlaying"]) == 0
    assert "invalidation" in capsys.readouterr().out
    listed = boto3.client("cloudfront").list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    assert listed["Quantity"] == 1, listed
    (only,) = listed["Items"]
    batch = boto3.client("cloudfront").get_invalidation(DistributionId=distribution_id, Id=only["Id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/v1/*", "/"]


def test_purge_without_an_edge_or_a_stack_says_why(aws):
    with pytest.raises(SystemExit, match="could not read the stack NowPlaying"):
        edge_purge.main(["NowPlaying"])
    stack_with_outputs({"EndpointUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/live/v1/current"})
    with pytest.raises(SystemExit, match="edge=off, so there is no edge to clear"):
        edge_purge.main(["NowPlaying"])


def test_make_privacy_purges_only_when_asked_and_after_writing(tmp_path):
    def dry(args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "--no-print-directory", "privacy", f"ARGS={args}", f"SETTINGS_FILE={tmp_path / 's.json'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "edge_purge" not in dry("pause")
    run = dry("pause --purge")
    write, purge = run.index("now-playing-privacy --parameter"), run.index("scripts/edge_purge.py NowPlaying")
    assert write < purge and "--purge" not in run[write:purge], run
