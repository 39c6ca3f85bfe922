"""Live push, locally: the AppSync Events stand-in speaks the protocol a page and the function
use (scripts/devstack/appsync.py), and refuses what AppSync would."""

import asyncio
import base64
import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from devstack.appsync import PROTOCOL, AppSyncEvents
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

KEY = "da2-localstandinkey0000000000"
CHANNEL = "/now-playing/current"


@pytest.fixture
def events():
    with AppSyncEvents(KEY, "AKIDLOCAL", "local-secret", keepalive=0.5) as stand_in:
        yield stand_in


def signed_publish(stand_in, body: dict, secret="local-secret", service="appsync") -> requests.Response:
    data = json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=f"{stand_in.http_url}/event",
        data=data,
        headers={"Content-Type": "application/json", "Host": stand_in.http_domain},
    )
    SigV4Auth(Credentials("AKIDLOCAL", secret), service, "us-east-1").add_auth(request)
    return requests.post(f"{stand_in.http_url}/event", data=data, headers=dict(request.headers.items()), timeout=5)


def header_protocol(stand_in, key=KEY) -> str:
    auth = json.dumps({"host": stand_in.http_domain, "x-api-key": key}).encode()
    return "header-" + base64.urlsafe_b64encode(auth).decode().rstrip("=")


async def subscribed(stand_in, key=KEY):
    ws = await connect(stand_in.realtime_url, subprotocols=[PROTOCOL, header_protocol(stand_in, key)])
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "type": "subscribe",
                "id": "s1",
                "channel": CHANNEL,
                "authorization": {"x-api-key": key, "host": stand_in.http_domain},
            }
        )
    )
    return ws


async def next_of(ws, kind: str, timeout=5.0) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == kind:
            return message


def test_a_signed_publish_reaches_every_subscriber_of_its_channel_and_no_other(events):
    async def run():
        clients = [await subscribed(events) for _ in range(5)]
        for ws in clients:
            assert (await next_of(ws, "subscribe_success"))["id"] == "s1"
        answer = signed_publish(events, {"channel": CHANNEL, "events": [json.dumps({"status": "playing", "seq": 1})]})
        assert answer.status_code == 200, answer.text
        for ws in clients:
            data = await next_of(ws, "data")
            assert json.loads(data["event"]) == {"status": "playing", "seq": 1}
        assert signed_publish(events, {"channel": "/other", "events": ['{"x": 1}']}).status_code == 200
        assert (await next_of(clients[0], "ka"))["type"] == "ka", "keep-alives, and nothing of /other"
        for ws in clients:
            await ws.close()

    asyncio.run(run())
    assert events.stats["deliveries"] == 5


def test_publishing_needs_a_valid_signature_and_a_well_formed_body(events):
    event = [json.dumps({"seq": 1})]
    assert requests.post(f"{events.http_url}/event", json={"channel": CHANNEL, "events": event}).status_code == 401
    assert signed_publish(events, {"channel": CHANNEL, "events": event}, secret="wrong").status_code == 401
    assert signed_publish(events, {"channel": CHANNEL, "events": event}, service="execute-api").status_code == 401
    assert signed_publish(events, {"channel": CHANNEL, "events": ["not json"]}).status_code == 400
    assert signed_publish(events, {"channel": CHANNEL, "events": event * 6}).status_code == 400
    assert events.stats["publishes"] == 0


def test_a_wrong_api_key_cannot_connect_or_subscribe(events):
    async def run():
        with pytest.raises(InvalidHandshake):
            await connect(events.realtime_url, subprotocols=[PROTOCOL, header_protocol(events, "da2-wrong")])
        ws = await connect(events.realtime_url, subprotocols=[PROTOCOL, header_protocol(events)])
        await ws.send(json.dumps({"type": "connection_init"}))
        await next_of(ws, "connection_ack")
        bad = {"type": "subscribe", "id": "s2", "channel": CHANNEL, "authorization": {"x-api-key": "da2-wrong"}}
        await ws.send(json.dumps(bad))
        assert (await next_of(ws, "subscribe_error"))["id"] == "s2"
        await ws.close()

    asyncio.run(run())


# The built function publishing through its own adapter (SigV4-signed with its role's
# credentials) to the stand-in, and subscribed clients receiving what it pushed.


@pytest.fixture(scope="module")
def live_stack():
    from devstack.local import EVERY_WINDOW, LocalStack

    with LocalStack(live=True, privacy={}, extra_env={**EVERY_WINDOW, "CACHE_SECONDS": "1"}) as stack:
        yield stack


def test_a_change_the_function_sees_reaches_every_subscriber_within_a_second(live_stack):
    stand_in = live_stack.live

    async def run():
        clients = [await subscribed(stand_in, live_stack.live_key) for _ in range(20)]
        for ws in clients:
            await next_of(ws, "subscribe_success")
        delays = []
        for scene, status in [("track", "playing"), ("paused", "paused"), ("nothing", "last_played")]:
            live_stack.fake.control("scene", {"scene": scene})
            await asyncio.sleep(1.1)  # past CACHE_SECONDS: the next request asks Spotify
            asked = asyncio.get_running_loop().time()
            answer = await asyncio.to_thread(requests.get, f"{live_stack.url}/v1/current", timeout=10)
            assert answer.json()["status"] == status, answer.text
            for ws in clients:
                pushed = json.loads((await next_of(ws, "data", timeout=3))["event"])
                delays.append(asyncio.get_running_loop().time() - asked)
                assert pushed == answer.json(), "the page gets what /v1/current answers"
        for ws in clients:
            await ws.close()
        return delays

    delays = asyncio.run(run())
    assert max(delays) < 1.0, f"slowest push {max(delays):.3f} s after the request that saw the change"
    # The same answer again is no news: a request past the window asks Spotify and pushes nothing.
    before = requests.get(f"{stand_in.http_url}/_stand-in/stats", timeout=5).json()["publishes"]
    import time

    time.sleep(1.1)
    requests.get(f"{live_stack.url}/v1/current", timeout=10)
    after = requests.get(f"{stand_in.http_url}/_stand-in/stats", timeout=5).json()
    assert after["publishes"] == before and after["refused_publishes"] == 0, after


def test_a_hidden_play_is_pushed_only_as_the_screened_answer():
    from devstack.local import EVERY_WINDOW, LocalStack

    rules = {"hide": {"tracks": ["4uLU6hMCjMI75M1A2tKUQC"]}}
    with LocalStack(live=True, privacy=rules, extra_env={**EVERY_WINDOW, "CACHE_SECONDS": "1"}) as stack:

        async def run():
            ws = await subscribed(stack.live, stack.live_key)
            await next_of(ws, "subscribe_success")
            seen = []
            for scene in ["episode", "track", "track"]:
                stack.fake.control("scene", {"scene": scene})
                await asyncio.sleep(1.1)
                await asyncio.to_thread(requests.get, f"{stack.url}/v1/current", timeout=10)
                try:
                    while True:
                        seen.append((await next_of(ws, "data", timeout=0.5))["event"])
                except TimeoutError:
                    pass
            await ws.close()
            return seen

        seen = asyncio.run(run())
    assert len(seen) == 2, "the episode, then what the rules leave of the track"
    assert not any("4uLU6hMCjMI75M1A2tKUQC" in event or "Never Gonna" in event for event in seen), seen


def test_while_a_page_watches_one_runner_pushes_each_change_and_with_none_nothing_calls_spotify():
    """No request but `/v1/live` once: the runner asks Spotify at the schedule's times (here
    every second), pushes the change, and stops after the presence window."""
    import time

    from devstack.local import EVERY_WINDOW, LocalStack

    env = {**EVERY_WINDOW, "CACHE_SECONDS": "1", "LIVE_PRESENCE_SECONDS": "10"}
    with LocalStack(live=True, privacy={}, extra_env=env) as stack:
        playing = lambda: stack.fake.calls()["currently_playing"]  # noqa: E731
        time.sleep(3)
        assert playing() == 0, "no viewer, no call"

        async def run():
            ws = await subscribed(stack.live, stack.live_key)
            await next_of(ws, "subscribe_success")
            offer = await asyncio.to_thread(requests.get, f"{stack.url}/v1/live", timeout=10)
            assert offer.json()["transport"] == "appsync-events", offer.text
            stack.fake.control("scene", {"scene": "paused"})
            changed = asyncio.get_running_loop().time()
            while True:
                pushed = json.loads((await next_of(ws, "data", timeout=5))["event"])
                if pushed["status"] == "paused":
                    break
            delay = asyncio.get_running_loop().time() - changed
            await ws.close()
            return delay

        delay = asyncio.run(run())
        assert delay < 3.0, f"the runner pushed the pause {delay:.2f} s after it happened, with no request"
        # The window passes with no page asking: the runner stops, and so do the calls.
        time.sleep(13)
        stopped = playing()
        time.sleep(4)
        assert playing() == stopped, "the runner stopped with the last viewer"
        assert stack.ticks.delivered > 3, stack.ticks.delivered
