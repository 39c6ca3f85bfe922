"""The design of the widely copied now-playing blog post, as the baseline to measure
against: on every request, read the token item from DynamoDB, refresh it at the token
endpoint when it has expired, then ask Spotify. No answer cache, no shared lease."""

import json
import os
import time

import boto3
import requests

TABLE = os.environ["STATE_TABLE"]
API = os.environ.get("SPOTIFY_API_URL", "https://api.spotify.com")
ACCOUNTS = os.environ.get("SPOTIFY_ACCOUNTS_URL", "https://accounts.spotify.com")

dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")
# The same credentials document this project stores, read once at cold start.
CREDENTIALS = json.loads(
    ssm.get_parameter(Name=os.environ["CREDENTIALS_PARAMETER"], WithDecryption=True)["Parameter"]["Value"]
)


def access_token():
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "baseline#token"}}).get("Item")
    if item and int(item["expires_at"]["N"]) > time.time() + 60:
        return item["access_token"]["S"]
    answer = requests.post(
        f"{ACCOUNTS}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": CREDENTIALS["refresh_token"]},
        auth=(CREDENTIALS["client_id"], CREDENTIALS["client_secret"]),
        timeout=5,
    ).json()
    expires_at = int(time.time()) + answer["expires_in"]
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "baseline#token"},
            "access_token": {"S": answer["access_token"]},
            "expires_at": {"N": str(expires_at)},
        },
    )
    return answer["access_token"]


def handler(event, context):
    playing = requests.get(
        f"{API}/v1/me/player/currently-playing",
        headers={"Authorization": f"Bearer {access_token()}"},
        timeout=5,
    )
    if playing.status_code == 204:
        body = {"is_playing": False}
    else:
        data = playing.json()
        item = data["item"] or {}
        images = (item.get("album") or {}).get("images") or [{}]
        body = {
            "is_playing": data["is_playing"],
            "title": item.get("name"),
            "artist": ", ".join(a["name"] for a in item.get("artists", [])),
            "album_image_url": images[0].get("url"),
            "song_url": (item.get("external_urls") or {}).get("spotify"),
        }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
        "body": json.dumps(body),
    }
