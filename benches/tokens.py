#!/usr/bin/env python3
"""Mint distinct access tokens from the emulator.

Usage: benches/tokens.py EMULATOR_PORT COUNT > tokens.txt

The first token comes from the full phone-MFA flow as alice@example.com: password grant,
/challenge (SMS), the code from the emulator's outbox, mfa-oob grant. Every further
token comes from a refresh_token grant with the newest refresh token, one request per
token, because reading the ever-growing outbox per login would make minting thousands
of tokens quadratic. Refreshed tokens carry the same subject, client, audience and
scopes, so the gateway introspects them exactly like the first one. The emulator must
run with its rate limits off.
"""

import base64
import http.client
import json
import sys
import urllib.parse

CLIENT = base64.b64encode(b"portcullis-demo:portcullis-demo-secret").decode()
SCOPE = "openid profile email phone offline_access"
GRANT = "http://auth0.com/oauth/grant-type/mfa-oob"


def post(conn, path, form):
    body = urllib.parse.urlencode(form)
    conn.request("POST", path, body, {
        "Authorization": "Basic " + CLIENT,
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    })
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def mint(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, body = post(conn, "/oauth2/default/v1/token", {
        "grant_type": "password", "username": "alice@example.com",
        "password": "Correct-Horse-42", "scope": SCOPE})
    if status != 403:
        raise SystemExit(f"password grant returned HTTP {status}: {body.get('error')}")
    mfa_token = body["mfa_token"]
    status, body = post(conn, "/oauth2/default/v1/challenge", {
        "mfa_token": mfa_token, "channel_hint": "sms", "challenge_types_supported": GRANT})
    if status != 200:
        raise SystemExit(f"challenge returned HTTP {status}: {body.get('error')}")
    oob_code = body["oob_code"]
    conn.request("GET", "/__emulator/outbox?to=%2B15555550100")
    code = json.loads(conn.getresponse().read())[-1]["code"]
    status, body = post(conn, "/oauth2/default/v1/token", {
        "grant_type": GRANT, "mfa_token": mfa_token, "oob_code": oob_code,
        "binding_code": code, "scope": SCOPE})
    if status != 200:
        raise SystemExit(f"mfa-oob grant returned HTTP {status}: {body.get('error')}")
    tokens = [body["access_token"]]
    refresh_token = body["refresh_token"]
    while len(tokens) < count:
        status, body = post(conn, "/oauth2/default/v1/token", {
            "grant_type": "refresh_token", "refresh_token": refresh_token, "scope": SCOPE})
        if status != 200:
            raise SystemExit(f"refresh_token grant returned HTTP {status}: {body.get('error')}")
        tokens.append(body["access_token"])
        refresh_token = body.get("refresh_token", refresh_token)
    return tokens


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: tokens.py EMULATOR_PORT COUNT")
    port, count = int(sys.argv[1]), int(sys.argv[2])
    # Sequential on purpose: the outbox lookup takes the newest SMS as this login's code,
    # and each refresh uses the refresh token the previous one returned.
    for token in mint(port, count):
        print(token)


if __name__ == "__main__":
    main()
