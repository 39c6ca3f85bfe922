"""What `make bench` writes to bench/RESULTS.md: the figures side by side, the cost per
million requests at list prices, and the cold paths against their floors."""

import json
import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

MEMORY_MB = 256  # what the stack configures

# us-east-1 list prices, as published since the DynamoDB on-demand price cut of
# 2024-11-01; check the current price pages before relying on them.
PRICES_DATED = "2024-11-01"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION = 0.20
APIGW_REST_PER_MILLION = 3.50
DYNAMODB_READ_PER_MILLION = 0.125  # per read request unit (a strongly consistent read of up to 4 KB)
DYNAMODB_WRITE_PER_MILLION = 0.625  # per write request unit (a write of up to 1 KB)


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


def report(ours, base, args, commit, cold_paths):
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
    return "\n".join(lines + cold_report(ours, base, args, cold_paths))


def cold_report(ours, base, args, cold_paths):
    aws_ms, spotify_ms, round_ms = ours["call_costs"]
    first = next(iter(cold_paths))
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
    for path, (_, _, (aws, spotify)) in cold_paths.items():
        floor = aws * aws_ms + spotify * spotify_ms
        mine, theirs = ours["cold_paths"][path]["ms"], base["cold_paths"][path]["ms"]
        lines.append(
            f"| {path} | {mine:.1f} ms | {theirs:.1f} ms | {aws} AWS + {spotify} Spotify = {floor:.1f} ms"
            f" | {mine / floor:.2f} |"
        )
    fresh = "cold start: fresh shared answer"
    lines += [
        "",
        f"A cold start's first round makes four calls at once (the shared answer, the token, the credentials, the"
        f" privacy rules). Here, where moto and its proxy share one Python process, four such calls at once took"
        f" {round_ms:.1f} ms (median of 20) against one call's {aws_ms:.1f} ms; against that round the fresh-answer"
        f" path is {ours['cold_paths'][fresh]['ms'] / round_ms:.2f} times its floor.",
        "",
        f"Calls of one run of the first path: this project {ours['cold_paths'][first]['calls']}, baseline"
        f" {base['cold_paths'][first]['calls']}. The baseline has no shared answer: it calls Spotify on every"
        " request, so its fresh-answer path is its stale one. The calls this project makes one after another on each"
        " path are pinned by `lambda/tests/round_trips.rs`.",
        "",
    ]
    return lines
