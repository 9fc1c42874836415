"""What the client tests share: a signed-in member of the server under test (from run.sh's
environment), fresh API keys, the member's logs and balance, and the fake provider's record."""

import http.cookiejar
import json
import os
import time
import urllib.parse
import urllib.request
from decimal import Decimal

BASE_URL = os.environ["CR_BASE_URL"]
FAKE = os.environ["CR_FAKE"]


class Member:
    """The funded member run.sh created, signed in to the management API (the standard library's
    HTTP client, so nothing here depends on an SDK's internals)."""

    def __init__(self):
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.call(
            "POST",
            "/api/auth/login",
            {"username": os.environ["CR_USERNAME"], "password": os.environ["CR_PASSWORD"]},
        )

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(BASE_URL + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with self.opener.open(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def new_key(self, name):
        return self.new_key_with_id(name)[1]

    def new_key_with_id(self, name):
        """A new key as (id, secret): the id finds its log rows."""
        created = self.call("POST", "/api/keys", {"name": f"{name}-{time.monotonic_ns()}"})
        return created["id"], created["key"]

    def balance(self):
        return Decimal(self.call("GET", "/api/me")["balance"])

    def log(self, request_id):
        """The log row of one request, once the server has written it."""
        query = urllib.parse.urlencode({"request_id": request_id})
        for _ in range(50):
            rows = self.call("GET", f"/api/logs?{query}")["data"]
            if rows:
                return rows[0]
            time.sleep(0.1)
        raise AssertionError(f"no log row for {request_id}")

    def logs_of_key(self, key_id, count):
        """Every log row of a key, oldest first, once the server has written `count` of them (and
        fails if it wrote more)."""
        for _ in range(50):
            rows = self.call("GET", f"/api/logs?key_id={key_id}&limit=500")["data"]
            if len(rows) >= count:
                if len(rows) > count:
                    raise AssertionError(f"{len(rows)} log rows for key {key_id}, expected {count}: {rows}")
                return list(reversed(rows))
            time.sleep(0.1)
        raise AssertionError(f"fewer than {count} log rows for key {key_id}")


def fake_requests(path):
    """The bodies the fake provider received at `path`, oldest first."""
    with urllib.request.urlopen(f"{FAKE}/_requests", timeout=30) as response:
        received = json.loads(response.read())
    return [r["body"] for r in received if r["path"] == path]
