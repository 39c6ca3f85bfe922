"""The deploy pipeline and the owner's deploy verbs, read as they are written: the
workflow's supply chain and trust, and what `make deploy` runs and remembers."""

import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


def steps():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return workflow, [s for job in workflow["jobs"].values() for s in job["steps"]]


def test_every_action_is_pinned_to_a_commit_with_its_version_named():
    _, all_steps = steps()
    used = [s["uses"] for s in all_steps if "uses" in s]
    assert used, "the workflow uses no action?"
    for action in used:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action}: pin it by commit SHA, not by tag"
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line and not line.lstrip().startswith("#"):
            assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), f"{line.strip()}: say the version in a comment"


def test_the_deploy_job_runs_in_an_environment_and_never_bootstraps():
    workflow, all_steps = steps()
    for job in workflow["jobs"].values():
        assert job.get("environment") == "production", "the role's trust names the environment's subject"
    runs = " ".join(s.get("run", "") for s in all_steps)
    assert "make deploy" in runs
    assert "bootstrap" not in runs.replace("make bootstrap", ""), "the deploy role may not bootstrap the account"
    text = WORKFLOW.read_text()
    assert "environment:production" in text and "repo:OWNER@ID/REPO@ID" in text, "the trust example"


def dry_run(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_deploy_bootstraps_only_when_asked(tmp_path):
    settings = f"SETTINGS_FILE={tmp_path / 'settings.json'}"
    assert "cdk --no-notices bootstrap" not in dry_run("deploy", settings)
    assert "cdk --no-notices bootstrap" in dry_run("deploy", "BOOTSTRAP=yes", settings)


def test_make_deploy_checks_every_environment_first_and_explains_a_known_failure(tmp_path):
    run = dry_run("deploy", f"SETTINGS_FILE={tmp_path / 'settings.json'}")
    check, deploy = run.index("deploy_check.py bootstrapped infra/cdk.out"), run.index("cdk --no-notices deploy")
    assert check < deploy, run
    assert "--app cdk.out" in run[deploy:], "the app checked is the app deployed"
    assert "|| { .venv/bin/python scripts/deploy_check.py explain infra/cdk.out; exit 1; }" in run[deploy:], run


def test_a_plain_make_deploy_uses_the_settings_the_last_one_remembered(tmp_path):
    settings = tmp_path / "settings.json"
    remember = ["python3", "scripts/settings.py", "remember", str(settings)]
    subprocess.run(
        [*remember, "-c", "domainName=np.example.com", "-c", "alarmEmail=me@example.com"], cwd=ROOT, check=True
    )
    subprocess.run([*remember, "-c", "cacheSeconds=7", "-c", "alarmEmail="], cwd=ROOT, check=True)
    assert json.loads(settings.read_text()) == {"domainName": "np.example.com", "cacheSeconds": "7"}
    # The app is synthesized with them, then deployed as synthesized.
    plain = dry_run("deploy", f"SETTINGS_FILE={settings}")
    deploy = next(line for line in plain.splitlines() if "cdk --no-notices synth" in line)
    assert "-c cacheSeconds=7 -c domainName=np.example.com" in deploy
    # A setting on the command line comes after, so it wins, and is remembered.
    changed = dry_run("deploy", f"SETTINGS_FILE={settings}", "CDK_ARGS=-c cacheSeconds=9")
    deploy = next(line for line in changed.splitlines() if "cdk --no-notices synth" in line)
    assert deploy.index("cacheSeconds=7") < deploy.index("cacheSeconds=9")
    assert "settings.py remember" in changed and "-c cacheSeconds=9" in changed.split("settings.py remember")[1]
    diff = dry_run("diff", f"SETTINGS_FILE={settings}")
    assert "settings.py show" in diff and "-c domainName=np.example.com" in diff


def test_a_broken_settings_file_is_named_with_the_fix(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text("{not json")
    done = subprocess.run(
        ["python3", "scripts/settings.py", "args", str(settings)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode != 0 and str(settings) in done.stderr and "fix or delete it" in done.stderr
    assert "Traceback" not in done.stderr


def test_deploy_installs_only_the_lambda_toolchain():
    deploy = (ROOT / "requirements-deploy.txt").read_text()
    assert "cargo-lambda==" in deploy and "ziglang==" in deploy
    assert not re.search(r"moto|pytest|actionlint", deploy)
    makefile = (ROOT / "Makefile").read_text()
    build = next(line for line in makefile.splitlines() if line.startswith("build:"))
    assert "$(DEPLOY_STAMP)" in build and "$(STAMP)" not in build.replace("$(DEPLOY_STAMP)", "")


def test_the_smoke_step_reads_the_main_stacks_endpoint_by_its_name_whatever_the_order(tmp_path):
    _, all_steps = steps()
    smoke = next(s["run"] for s in all_steps if s.get("name") == "make smoke")
    assert "settings.py endpoint infra/cdk-outputs.json infra/deploy-settings.json" in smoke
    outputs = tmp_path / "cdk-outputs.json"
    # With a Route 53 domain outside us-east-1 the certificate stack's outputs come first.
    outputs.write_text(
        json.dumps({"Mine-Certificate": {"CertificateArn": "arn:…"}, "Mine": {"EndpointUrl": "https://np/v1/current"}})
    )
    remembered = tmp_path / "deploy-settings.json"
    remembered.write_text(json.dumps({"stackName": "Mine"}))
    run = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "settings.py"), "endpoint"]
    found = subprocess.run([*run, str(outputs), str(remembered)], capture_output=True, text=True)
    assert (found.returncode, found.stdout.strip()) == (0, "https://np/v1/current"), found.stderr
    remembered.write_text("{}")
    missing = subprocess.run([*run, str(outputs), str(remembered)], capture_output=True, text=True)
    assert missing.returncode != 0 and "no EndpointUrl for the stack NowPlaying" in missing.stderr
