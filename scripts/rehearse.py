"""`make rehearse`: the owner's `make deploy`, `make diff` and `make destroy`, run against
moto's server, and the arm64 package CDK uploaded answering `make smoke` under qemu.

Prints one line per check, as `make smoke` does; exits 1 if any failed. What this cannot
prove (moto skips or does not model it) is listed in the README."""

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from devstack.aws import REGION, Moto
from devstack.fake_spotify import FakeSpotify
from devstack.local import PARAMETER, now_rfc3339
from devstack.runtime import LambdaRuntime

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "target" / "lambda" / "now-playing" / "bootstrap.zip"
SYSROOT = "/usr/aarch64-linux-gnu"
ACCOUNT = "123456789012"  # moto's
STACK = "NowPlaying"
# moto creates change-set resources in template order, ignoring DependsOn: deploy directly.
# And it keeps only the parameters a create was given, so an update's UsePreviousValue for
# CDK's BootstrapVersion fails: pass that parameter's own default, as AWS would use it.
DIRECT = "--method=direct --parameters BootstrapVersion=/cdk-bootstrap/hnb659fds/version"
CREDENTIALS = {
    "client_id": "rehearsal-client",
    "client_secret": "rehearsal-secret",
    "refresh_token": "rehearsal-refresh",
}

failed = 0


NO_EDGE = "-c edge=off -c live=off"


def check(name: str, ok: bool, detail="") -> bool:
    global failed
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"), flush=True)
    failed += not ok
    return ok


def make(target: str, env: dict, **variables: str) -> subprocess.CompletedProcess:
    """The owner's own Makefile recipe, with the rehearsal's settings."""
    args = ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())]
    print(f"---- {' '.join(args)}", flush=True)
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(done.stdout[-4000:] + done.stderr[-4000:])
    return done


def deployed_function(aws) -> dict:
    resources = aws("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    name = next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function")
    return aws("lambda").get_function_configuration(FunctionName=name)


def read_back(aws) -> None:
    """The deployed resources, as far as moto keeps them, against what the stack promises."""
    config = deployed_function(aws)
    check(
        "the function is provided.al2023 with handler bootstrap",
        (config["Runtime"], config["Handler"]) == ("provided.al2023", "bootstrap"),
        config,
    )
    check("256 MB and a 10 s timeout", (config["MemorySize"], config["Timeout"]) == (256, 10), config)
    env = config["Environment"]["Variables"]
    check(
        "its environment names the table, the parameter and the defaults",
        env.get("CREDENTIALS_PARAMETER") == PARAMETER
        and env.get("ALLOWED_ORIGINS") == "*"
        and env.get("CACHE_SECONDS") == "5"
        and bool(env.get("STATE_TABLE")),
        env,
    )
    role = config["Role"].split("/")[-1]
    iam = aws("iam")
    statements = [
        s
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        for s in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]
    ]
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    check(
        "the role holds exactly the calls the code makes",
        actions
        == sorted(
            [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "ssm:GetParameter",
                # The privacy rules: read only.
                "ssm:GetParameter",
                "ssm:PutParameter",
            ]
        ),
        actions,
    )
    check("the role has no managed policy", iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [])
    table = aws("dynamodb").describe_table(TableName=env["STATE_TABLE"])["Table"]
    check(
        "the table has the string key pk, on demand",
        table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        and table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST",
        table,
    )
    apigw = aws("apigateway")
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == STACK)
    resources = apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"]
    paths = {r["path"]: r for r in resources}
    routes = [
        "/",
        "/v1/current",
        "/v1/health",
        "/v1/current.svg",
        "/v1/open",
        "/v1/art",
        "/v1/widget.js",
        "/v1/widget-suggest.js",
    ]
    check("the API is named after the stack and has every route", all(p in paths for p in routes), sorted(paths))
    for path in routes:
        methods = sorted(paths.get(path, {}).get("resourceMethods", {}))
        integration = (
            apigw.get_integration(restApiId=api["id"], resourceId=paths[path]["id"], httpMethod="ANY")
            if methods == ["ANY"]
            else {}
        )
        check(
            f"{path}: ANY, proxied to the function",
            methods == ["ANY"] and integration.get("type") == "AWS_PROXY",
            (methods, integration.get("type")),
        )
    groups = aws("logs").describe_log_groups()["logGroups"]
    ours = [g for g in groups if g["logGroupName"].startswith(STACK)]
    check("two log groups, kept 30 days", len(ours) == 2 and all(g.get("retentionInDays") == 30 for g in ours), ours)


def uploaded_package(aws) -> bytes:
    template = json.loads(json.dumps(aws("cloudformation").get_template(StackName=STACK)["TemplateBody"]))
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
    return aws("s3").get_object(Bucket=bucket, Key=function["Properties"]["Code"]["S3Key"])["Body"].read()


def run_the_package(aws, moto_url: str, package: bytes) -> None:
    """The uploaded bytes, unzipped, under qemu-aarch64 behind the Runtime API emulator,
    with the deployed function's environment plus the local endpoints; then make smoke."""
    config = deployed_function(aws)
    work = Path(tempfile.mkdtemp(prefix="now-playing-rehearsal-"))
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        z.extractall(work)
    binary = work / "bootstrap"
    binary.chmod(0o755)
    header = binary.read_bytes()[:20]
    machine = int.from_bytes(header[18:20], "little")  # ELF e_machine; 183 is AArch64
    check("the package holds an arm64 ELF bootstrap", header[:4] == b"\x7fELF" and machine == 183, header)
    fake = FakeSpotify(CREDENTIALS["client_id"], CREDENTIALS["client_secret"], CREDENTIALS["refresh_token"]).start()
    aws("ssm").put_parameter(
        Name=PARAMETER,
        Type="SecureString",
        Overwrite=True,
        Value=json.dumps(CREDENTIALS | {"authorized_at": now_rfc3339()}),
    )
    env = config["Environment"]["Variables"] | {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SPOTIFY_API_URL": fake.url,
        "SPOTIFY_ACCOUNTS_URL": fake.url,
        "ART_HOSTS": fake.url.removeprefix("http://"),
    }
    log = work / "function.log"
    runtime = LambdaRuntime(["qemu-aarch64", "-L", SYSROOT, str(binary)], env, processes=1, log_path=str(log)).start()
    try:
        deadline = time.monotonic() + 120
        while not runtime.init_seconds and time.monotonic() < deadline and runtime.processes[0].poll() is None:
            time.sleep(0.2)
        if not check(
            "the arm64 bootstrap starts on the Runtime API", bool(runtime.init_seconds), log.read_text()[-2000:]
        ):
            return
        # The stack's output URL: the execute-api one, its stage in the path.
        smoke = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "smoke.py"), f"{runtime.front_url}/{runtime.stage}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(smoke.stdout, end="")
        check("make smoke passes against the shipped bytes", smoke.returncode == 0, smoke.stderr[-2000:])
        logs = log.read_text()
        check(
            "no secret in its log", not any(s in logs for s in [CREDENTIALS["client_secret"], *fake.state.ever_issued])
        )
    finally:
        runtime.stop()
        fake.stop()


def main() -> int:
    if not PACKAGE.exists():
        print(f"{PACKAGE} is not built: run `make build` (make rehearse does)", file=sys.stderr)
        return 2
    with Moto() as moto:
        # CDK uploads assets with PUT, and reads the bucket from a template URL only when
        # the endpoint is spelled `localhost`: moto itself, not the serializing proxy.
        moto_url = f"http://localhost:{moto.backend_port}"

        def aws(service):
            return boto3.client(
                service,
                endpoint_url=moto_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))} | {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        # The rehearsal's own remembered settings, not the owner's.
        settings_dir = tempfile.TemporaryDirectory()
        settings_file = Path(settings_dir.name) / "deploy-settings.json"
        env["SETTINGS_FILE"] = str(settings_file)
        # moto's CloudFormation has no CloudFront: it skips a distribution, and a Fn::GetAtt of
        # one (the function's PUBLIC_URL, the outputs) fails the stack. So the rehearsal deploys
        # with the edge off; jest, cdk-nag and cfn-lint prove the edge's template, and
        # tests/test_edge.py its behaviour through nginx.
        plain = make("deploy", env, APPROVE="never", DEPLOY_ARGS=DIRECT, CDK_ARGS=NO_EDGE)
        stacks = [st["StackName"] for st in aws("cloudformation").describe_stacks()["Stacks"]]
        check(
            "make deploy without BOOTSTRAP=yes leaves the account's CDKToolkit alone, and says to bootstrap",
            plain.returncode != 0 and "CDKToolkit" not in stacks and "bootstrap" in plain.stdout + plain.stderr,
            (plain.returncode, stacks, plain.stderr[-1500:]),
        )
        deploy = make("deploy", env, APPROVE="never", DEPLOY_ARGS=DIRECT, BOOTSTRAP="yes", CDK_ARGS=NO_EDGE)
        if not check("make deploy BOOTSTRAP=yes bootstraps and creates the stack", deploy.returncode == 0):
            return 1
        outputs = json.loads((ROOT / "infra" / "cdk-outputs.json").read_text())[STACK]
        check(
            "it outputs the endpoint and the log group",
            outputs["EndpointUrl"].endswith("/v1/current") and outputs["LogGroupName"].startswith(STACK),
            outputs,
        )
        read_back(aws)
        package = uploaded_package(aws)
        check("the uploaded package is the zip make build wrote", package == PACKAGE.read_bytes())
        run_the_package(aws, moto_url, package)

        changed = make("deploy", env, APPROVE="never", DEPLOY_ARGS=DIRECT, CDK_ARGS="-c cacheSeconds=7")
        check(
            "a second make deploy with a changed setting updates the function",
            changed.returncode == 0 and deployed_function(aws)["Environment"]["Variables"].get("CACHE_SECONDS") == "7",
        )
        check(
            "make deploy remembers the settings it deployed with",
            json.loads(settings_file.read_text()) == {"edge": "off", "live": "off", "cacheSeconds": "7"},
            settings_file.read_text(),
        )
        # A plain make diff, as a plain make deploy would: the remembered setting, no change.
        diff = make("diff", env)
        check(
            "make diff then reports no differences",
            diff.returncode == 0 and "no differences" in diff.stdout + diff.stderr,
            (diff.stdout + diff.stderr)[-1500:],
        )
        destroy = make("destroy", env, FORCE="yes")
        stacks = aws("cloudformation").list_stacks()["StackSummaries"]
        live = [s for s in stacks if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"]
        check("make destroy removes the stack", destroy.returncode == 0 and not live, live)
        check("and keeps the credentials parameter", bool(aws("ssm").get_parameter(Name=PARAMETER)["Parameter"]))
    print(f"rehearse: {failed} failed" if failed else "rehearse: all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
