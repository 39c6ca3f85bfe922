"""`make bench`: this project's function against the blog-post baseline, side by side,
under the same Lambda Runtime API emulator, the same moto and the same Spotify stand-in.

Prints a table and writes bench/RESULTS.md (machine, date, commit, every figure).
"""

import argparse
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import requests
from devstack.aws import DUMMY_CREDENTIALS, REGION, Moto
from devstack.fake_spotify import FakeSpotify
from devstack.local import PARAMETER, TABLE, now_rfc3339
from devstack.runtime import LambdaRuntime
from load import run as load_run

ROOT = Path(__file__).resolve().parent.parent

MEMORY_MB = 256  # what the stack configures

# us-east-1 list prices, as published since the DynamoDB on-demand price cut of
# 2024-11-01; check the current price pages before relying on them.
PRICES_DATED = "2024-11-01"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION = 0.20
APIGW_REST_PER_MILLION = 3.50
DYNAMODB_READ_PER_MILLION = 0.125  # per read request unit (a strongly consistent read of up to 4 KB)
DYNAMODB_WRITE_PER_MILLION = 0.625  # per write request unit (a write of up to 1 KB)


def delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def baseline_zip_bytes() -> int:
    """handler.py plus `requests` and its dependencies, as the blog post packages it (boto3
    comes with Lambda's Python runtime)."""
    import certifi  # noqa: E401
    import charset_normalizer
    import idna
    import requests as req
    import urllib3

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(ROOT / "bench" / "baseline" / "handler.py", "handler.py")
        for module in (req, urllib3, idna, certifi, charset_normalizer):
            folder = Path(module.__file__).parent
            for file in folder.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    z.write(file, Path(folder.name) / file.relative_to(folder))
    return len(buffer.getvalue())


class Subject:
    def __init__(self, name, command, env, package_bytes):
        self.name, self.command, self.env, self.package_bytes = name, command, env, package_bytes


def measure(subject, fake, proxy, args):
    figures = {"name": subject.name, "package_mb": subject.package_bytes / 1e6}
    # Cold starts: a new process each time, timed from spawn to its first `next`.
    inits = []
    for _ in range(args.cold_starts):
        with LambdaRuntime(subject.command, subject.env, processes=1) as runtime:
            deadline = time.monotonic() + 30
            while not runtime.init_seconds and time.monotonic() < deadline:
                if runtime.processes[0].poll() is not None:
                    raise SystemExit(f"{subject.name} exited during init")
                time.sleep(0.001)
            inits.append(runtime.init_seconds[0])
    figures["init_ms_median"] = statistics.median(inits) * 1000

    # Warm invocations, one process, zero upstream delay unless asked.
    with LambdaRuntime(subject.command, subject.env, processes=1) as runtime:
        session = requests.Session()
        for _ in range(50):
            assert session.get(f"{runtime.front_url}/v1/current", timeout=30).status_code == 200
        runtime.durations.clear()
        spotify_before, aws_before = fake_calls(fake), proxy.snapshot()
        for _ in range(args.requests):
            response = session.get(f"{runtime.front_url}/v1/current", timeout=30)
            assert response.status_code == 200, response.text
        spotify, aws = delta(fake_calls(fake), spotify_before), delta(proxy.snapshot(), aws_before)
        durations = list(runtime.durations)
        figures["warm_p50_ms"] = percentile(durations, 0.50) * 1000
        figures["warm_p99_ms"] = percentile(durations, 0.99) * 1000
        figures["peak_rss_mb"] = peak_rss_mb(runtime.processes[0].pid)
        figures["spotify_calls_per_request"] = sum(spotify.values()) / args.requests
        figures["aws_calls"] = aws
        reads = sum(v for k, v in aws.items() if k in ("GetItem", "Query", "Scan"))
        writes = sum(v for k, v in aws.items() if k in ("PutItem", "UpdateItem", "DeleteItem"))
        figures["dynamodb_reads_per_request"] = reads / args.requests
        figures["dynamodb_writes_per_request"] = writes / args.requests
        figures["dynamodb_calls_per_request"] = (reads + writes) / args.requests

    # Load: several processes, many clients.
    with LambdaRuntime(subject.command, subject.env, processes=args.processes) as runtime:
        time.sleep(0.5)
        load = load_run(runtime.front_url, args.clients, args.seconds, spotify=fake.url)
        figures["load"] = load
    figures["cost_per_million"] = cost(figures)
    return figures


def first_answer(subject, prime=False, settle=0.0):
    """The handler time of a new process's first invocation, after `prime` (another process
    answering once, so the token, the answer and the art are shared) and `settle` seconds."""
    if prime:
        with LambdaRuntime(subject.command, subject.env, processes=1) as runtime:
            assert requests.get(f"{runtime.front_url}/v1/current", timeout=30).status_code == 200
    time.sleep(settle)
    with LambdaRuntime(subject.command, subject.env, processes=1) as runtime:
        deadline = time.monotonic() + 30
        while not runtime.init_seconds and time.monotonic() < deadline:
            time.sleep(0.001)
        response = requests.get(f"{runtime.front_url}/v1/current", timeout=30)
        assert response.status_code == 200, response.text
        return runtime.durations[0]


COLD_PATHS = {
    # name: (prime, settle: past the 1 s window of the cold runs, floor in (AWS, Spotify) calls)
    "idle visitor: nothing cached, token expired": (False, 0.0, (2, 2)),
    "idle visitor: answer stale, token kept fresh": (True, 1.2, (2, 1)),
    "cold start: fresh shared answer": (True, 0.0, (1, 0)),
}


def cold_paths(subject, moto, fake, proxy, runs):
    """Each cold path's median first-answer time, and the calls one run makes."""
    figures = {}
    for path, (prime, settle, _) in COLD_PATHS.items():
        times, calls = [], None
        for _ in range(runs):
            clear_table(moto)
            spotify_before, aws_before = fake_calls(fake), proxy.snapshot()
            times.append(first_answer(subject, prime, settle))
            if calls is None and not prime:
                calls = (delta(proxy.snapshot(), aws_before), delta(fake_calls(fake), spotify_before))
        figures[path] = {"ms": statistics.median(times) * 1000, "calls": calls}
    return figures


def clear_table(moto):
    dynamodb = moto.client("dynamodb")
    for item in dynamodb.scan(TableName=TABLE, ProjectionExpression="pk").get("Items", []):
        dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"]})


def call_costs(moto, fake, credentials, samples=20):
    """What one AWS call and one Spotify call cost here, as a client sees them (the added
    delays, moto's or the stand-in's own time and the client's included)."""
    dynamodb = moto.client("dynamodb")
    aws = []
    for _ in range(samples):
        started = time.perf_counter()
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "bench#probe"}})
        aws.append(time.perf_counter() - started)
    token = requests.post(
        f"{fake.url}/api/token",
        timeout=30,
        auth=(credentials["client_id"], credentials["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
    ).json()["access_token"]
    spotify = []
    with requests.Session() as session:
        for _ in range(samples):
            started = time.perf_counter()
            session.get(
                f"{fake.url}/v1/me/player/currently-playing", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            spotify.append(time.perf_counter() - started)
    return statistics.median(aws) * 1000, statistics.median(spotify) * 1000


def fake_calls(fake):
    return requests.get(f"{fake.url}/_fake/calls", timeout=5).json()


def cost(f):
    billed_ms = max(1, math.ceil(f["warm_p50_ms"]))
    lambda_cost = LAMBDA_PER_MILLION + 1e6 * (MEMORY_MB / 1024) * (billed_ms / 1000) * LAMBDA_ARM_GB_SECOND
    dynamodb = (
        f["dynamodb_reads_per_request"] * DYNAMODB_READ_PER_MILLION
        + f["dynamodb_writes_per_request"] * DYNAMODB_WRITE_PER_MILLION
    )
    return {
        "lambda": lambda_cost,
        "api_gateway": APIGW_REST_PER_MILLION,
        "dynamodb": dynamodb,
        "total": lambda_cost + APIGW_REST_PER_MILLION + dynamodb,
    }


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
        "?",
    )
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB"
    )


def row(label, ours, base, unit, lower_is_better=True, digits=2):
    if lower_is_better and ours == 0 and base > 0:
        advantage = "none needed"
    elif ours and base:
        advantage = f"{(base / ours if lower_is_better else ours / base):.1f}x"
    else:
        advantage = "n/a"
    return f"| {label} | {ours:.{digits}f} {unit} | {base:.{digits}f} {unit} | {advantage} |"


def report(ours, base, args, commit):
    lines = [
        "# Benchmark results",
        "",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Commit: {commit}",
        f"- Setup: the same Runtime API emulator (`scripts/devstack/runtime.py`), moto and Spotify stand-in for both;"
        f" {args.aws_delay_ms} ms added to every AWS call and {args.spotify_delay_ms} ms to every Spotify call;"
        f" {args.cold_starts} cold starts; {args.requests} warm requests;"
        f" load {args.clients} clients for {args.seconds:.0f} s on {args.processes} processes.",
        "- This project: `target/release/now-playing` built for this machine, `CACHE_SECONDS=5`. Baseline:"
        " `bench/baseline/handler.py` (requests + boto3, token item read on every request) under awslambdaric.",
        "",
        "| figure | this project | baseline | advantage |",
        "| --- | --- | --- | --- |",
        row("init (median of cold starts)", ours["init_ms_median"], base["init_ms_median"], "ms"),
        row("warm invocation p50", ours["warm_p50_ms"], base["warm_p50_ms"], "ms", digits=3),
        row("warm invocation p99", ours["warm_p99_ms"], base["warm_p99_ms"], "ms", digits=3),
        row("peak RSS", ours["peak_rss_mb"], base["peak_rss_mb"], "MB", digits=1),
        row("deployment package", ours["package_mb"], base["package_mb"], "MB"),
        row(
            "Spotify calls per request",
            ours["spotify_calls_per_request"],
            base["spotify_calls_per_request"],
            "",
            digits=4,
        ),
        row(
            "DynamoDB calls per request",
            ours["dynamodb_calls_per_request"],
            base["dynamodb_calls_per_request"],
            "",
            digits=4,
        ),
        row(
            "load: requests per second",
            ours["load"]["per_second"],
            base["load"]["per_second"],
            "/s",
            lower_is_better=False,
            digits=0,
        ),
        row("load: latency p50", ours["load"]["p50_ms"], base["load"]["p50_ms"], "ms", digits=1),
        row("load: latency p99", ours["load"]["p99_ms"], base["load"]["p99_ms"], "ms", digits=1),
        row(
            "load: Spotify player calls",
            ours["load"]["spotify_player_calls"],
            base["load"]["spotify_player_calls"],
            "",
            digits=0,
        ),
        row(
            "cost per million requests",
            ours["cost_per_million"]["total"],
            base["cost_per_million"]["total"],
            "USD",
            digits=3,
        ),
        "",
        f"AWS calls during the warm run: this project {ours['aws_calls']}, baseline {base['aws_calls']}.",
        "",
        f"Cost per million requests at {MEMORY_MB} MB arm64, us-east-1 list prices as of {PRICES_DATED}"
        f" (Lambda ${LAMBDA_ARM_GB_SECOND}/GB-s and ${LAMBDA_PER_MILLION}/M requests, API Gateway REST"
        f" ${APIGW_REST_PER_MILLION}/M, DynamoDB on-demand ${DYNAMODB_READ_PER_MILLION}/M reads and"
        f" ${DYNAMODB_WRITE_PER_MILLION}/M writes), with the warm p50 measured here as the billed duration:",
        "",
        "| per million requests | this project | baseline |",
        "| --- | --- | --- |",
    ]
    for part in ("lambda", "api_gateway", "dynamodb", "total"):
        lines.append(f"| {part} | ${ours['cost_per_million'][part]:.3f} | ${base['cost_per_million'][part]:.3f} |")
    lines += [
        "",
        "Load runs, in full:",
        "",
        "```",
        f"this project: {json.dumps(ours['load'])}",
        f"baseline:     {json.dumps(base['load'])}",
        "```",
        "",
    ]
    return "\n".join(lines + cold_report(ours, base, args))


def cold_report(ours, base, args):
    aws_ms, spotify_ms = ours["call_costs"]
    first = next(iter(COLD_PATHS))
    lines = [
        "## The idle visitor: the first answer of a cold process",
        "",
        f"One AWS call cost {aws_ms:.1f} ms and one Spotify call {spotify_ms:.1f} ms in this run (medians of 20, as a"
        f" client sees them). Each figure is the median handler time of {args.cold_runs} new processes' first"
        " invocation, the shared table emptied first (and, where the path says so, one earlier process having"
        " answered). The floor is the fewest calls the path needs one after another, at those costs.",
        "",
        "| path | this project | baseline | floor | this project / floor |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, (_, _, (aws, spotify)) in COLD_PATHS.items():
        floor = aws * aws_ms + spotify * spotify_ms
        mine, theirs = ours["cold_paths"][path]["ms"], base["cold_paths"][path]["ms"]
        lines.append(
            f"| {path} | {mine:.1f} ms | {theirs:.1f} ms | {aws} AWS + {spotify} Spotify = {floor:.1f} ms"
            f" | {mine / floor:.2f} |"
        )
    lines += [
        "",
        f"Calls of one run of the first path: this project {ours['cold_paths'][first]['calls']}, baseline"
        f" {base['cold_paths'][first]['calls']}. The baseline has no shared answer: it calls Spotify on every"
        " request, so its fresh-answer path is its stale one. The calls this project makes one after another on each"
        " path are pinned by `lambda/tests/round_trips.rs`.",
        "",
    ]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--spotify-delay-ms",
        "--upstream-delay-ms",
        dest="spotify_delay_ms",
        type=int,
        default=0,
        help="added to every call to the Spotify stand-in",
    )
    parser.add_argument(
        "--aws-delay-ms", type=int, default=0, help="added to every AWS call, in a proxy in front of moto"
    )
    parser.add_argument("--cold-runs", type=int, default=7, help="new processes measured per cold path")
    parser.add_argument("--cold-starts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument(
        "--binary",
        default=str(ROOT / "target" / "release" / "now-playing"),
        help="the function binary to measure (default: the release build)",
    )
    args = parser.parse_args()

    binary = Path(args.binary)
    zip_path = ROOT / "target" / "lambda" / "now-playing" / "bootstrap.zip"
    for needed, how in ((binary, "cargo build --release -p now-playing"), (zip_path, "make build")):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run `{how}` (make bench does)")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    credentials = {
        "client_id": "bench-client",
        "client_secret": "bench-secret",
        "refresh_token": "bench-refresh",
        "authorized_at": now_rfc3339(),
    }
    with (
        Moto() as moto,
        FakeSpotify(credentials["client_id"], credentials["client_secret"], credentials["refresh_token"]) as fake,
    ):
        moto.create_table(TABLE)
        moto.put_credentials(PARAMETER, credentials)
        requests.post(f"{fake.url}/_fake/scene", json={"scene": "track"}, timeout=5).raise_for_status()
        requests.post(
            f"{fake.url}/_fake/delay", json={"seconds": args.spotify_delay_ms / 1000}, timeout=5
        ).raise_for_status()
        proxy = moto.proxy  # counts every AWS call by operation
        proxy.delay = args.aws_delay_ms / 1000
        costs = call_costs(moto, fake, credentials)
        env = {
            "STATE_TABLE": TABLE,
            "CREDENTIALS_PARAMETER": PARAMETER,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_REGION": REGION,
            "SPOTIFY_API_URL": fake.url,
            "SPOTIFY_ACCOUNTS_URL": fake.url,
            "RUST_LOG": "warn",
            **DUMMY_CREDENTIALS,
        }
        ours = Subject("this project", [str(binary)], env | {"CACHE_SECONDS": "5"}, zip_path.stat().st_size)
        base = Subject(
            "baseline",
            [sys.executable, "-m", "awslambdaric", "handler.handler"],
            env
            | {"PYTHONPATH": str(ROOT / "bench" / "baseline"), "LAMBDA_TASK_ROOT": str(ROOT / "bench" / "baseline")},
            baseline_zip_bytes(),
        )
        results = []
        for subject in (ours, base):
            print(f"measuring {subject.name}…", flush=True)
            figures = measure(subject, fake, proxy, args)
            # The cold paths with a 1 s window, so that an answer is stale a second later.
            cold = Subject(subject.name, subject.command, subject.env | {"CACHE_SECONDS": "1"}, subject.package_bytes)
            figures["cold_paths"] = cold_paths(cold, moto, fake, proxy, args.cold_runs)
            figures["call_costs"] = costs
            results.append(figures)
    text = report(*results, args, commit)
    Path(args.output).write_text(text)
    print(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
