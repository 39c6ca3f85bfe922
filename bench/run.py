"""`make bench`: this project's function against the blog-post baseline, side by side,
under the same Lambda Runtime API emulator, the same moto and the same Spotify stand-in.

Prints a table and writes bench/RESULTS.md (machine, date, commit, every figure; `results.py`
writes it).
"""

import argparse
import concurrent.futures
import io
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import requests
from devstack.aws import DUMMY_CREDENTIALS, REGION, Moto
from devstack.fake_spotify import FakeSpotify
from devstack.local import EVERY_WINDOW, PARAMETER, PRIVACY_PARAMETER, TABLE, now_rfc3339
from devstack.runtime import LambdaRuntime
from load import percentile_ms
from load import run as load_run
from results import cost, report

ROOT = Path(__file__).resolve().parent.parent


def delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
        figures["warm_p50_ms"] = percentile_ms(sorted(durations), 0.50)
        figures["warm_p99_ms"] = percentile_ms(sorted(durations), 0.99)
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
    # name: (prime, settle: past the 1 s window of the cold runs, floor in (AWS, Spotify) calls).
    # On the emptied table the first path's call is the hour's first, which opens the hour's
    # budget with the lease: one AWS call more than the same path later in an hour.
    "idle visitor: nothing cached, token expired": (False, 0.0, (3, 2)),
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
    return statistics.median(aws) * 1000, statistics.median(spotify) * 1000, parallel_round_ms(moto, samples)


def parallel_round_ms(moto, samples):
    """What a cold start's first round costs here: four calls at once, two items and two
    parameters, as the function makes them (the shared answer, the token, the credentials,
    the privacy rules). moto and its proxy share one Python process, so calls at once are
    not as free as they are against AWS."""
    dynamodb, ssm = moto.client("dynamodb"), moto.client("ssm")
    calls = [
        lambda: dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "bench#a"}}),
        lambda: dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "bench#b"}}),
        lambda: ssm.get_parameter(Name=PARAMETER, WithDecryption=True),
        lambda: ssm.get_parameters(Names=[PRIVACY_PARAMETER]),
    ]
    rounds = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for _ in range(samples):
            started = time.perf_counter()
            list(pool.map(lambda call: call(), calls))
            rounds.append(time.perf_counter() - started)
    return statistics.median(rounds) * 1000


def fake_calls(fake):
    return requests.get(f"{fake.url}/_fake/calls", timeout=5).json()


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
        # As the stack runs it: the privacy rules' parameter named (not written: no rules).
        ours_env = env | {"CACHE_SECONDS": "5", "PRIVACY_PARAMETER": PRIVACY_PARAMETER}
        ours = Subject("this project", [str(binary)], ours_env, zip_path.stat().st_size)
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
            # The cold paths with a 1 s window and a budget large enough to ask on it, so that
            # an answer is due a second later.
            window = {"CACHE_SECONDS": "1", **EVERY_WINDOW}
            cold = Subject(subject.name, subject.command, subject.env | window, subject.package_bytes)
            figures["cold_paths"] = cold_paths(cold, moto, fake, proxy, args.cold_runs)
            figures["call_costs"] = costs
            results.append(figures)
    text = report(*results, args, commit, COLD_PATHS)
    Path(args.output).write_text(text)
    print(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
