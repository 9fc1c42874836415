#!/usr/bin/env python3
"""Code Router data-growth benchmark: how member and admin calls, the CSV export, audit and backup
behave on a database of N million requests.

  python3 bench/growth.py --rows 10000000 [--binary PATH] [--days 90] [--users 100]

1. Creates an admin and two members with the CLI, then (server stopped) SEEDS the file through the
   schema: N request log rows at realistic shapes (six models, 2-3 keys per member, a skewed
   member mix where `heavy` makes ~30% of requests, 3% failures of several kinds, streams, cache
   tokens, price sheets), one `settle` ledger row per charged request with exact running
   balances, and the usage rollups the request writer would have kept. This is a seeder, not the
   server: it writes what the server writes, far faster.
2. Starts the release binary on it and sends a few thousand real requests (a Python mock upstream)
   on top, then times every member and admin call of issue 22 (median and worst of 5), the whole
   history of `heavy` as CSV with the server's RSS sampled throughout, `code-router audit` and
   `code-router backup`, and prints bytes per logged request (file size and dbstat per object).
3. With `--hot SECONDS` (default 10; 0 skips it, needs wrk and nginx like run.py): the hot path
   at N rows against an empty database, and with four dashboards reloading. wrk sends run.py's
   JSON chat completion at concurrency 32 to an nginx mock through this server and through a
   second one on an empty file, alternating, twice each; then the same on the N-row file with
   none / four / none members reloading the dashboard (`/api/me` and `/api/usage?days=14`, back
   to back or once a second, each as its own client), alternating with runs without.
4. Correctness: the audit must be clean, and every request wrk sent charged once.
"""
import argparse
import bisect
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (run.py beside this file: the nginx mock, wrk and the benchmark member)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [("gpt-4o-mini", 0.40, 150, 600), ("claude-sonnet", 0.25, 3000, 15000), ("gpt-4o", 0.15, 2500, 10000),
          ("deepseek-chat", 0.12, 270, 1100), ("o3-mini", 0.06, 1100, 4400), ("gemini-flash", 0.02, 100, 400)]
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MOCK_BODY = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}}).encode()


class Mock(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(MOCK_BODY)))
        self.end_headers()
        self.wfile.write(MOCK_BODY)

    def log_message(self, *a):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(path, rows, days, users, first_member):
    """Appends `rows` requests over `days` days to the file at `path` (members `first_member`..)."""
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-200000;")
    now = int(time.time())
    start = now - days * 86400
    db.execute("BEGIN")
    (max_user,) = db.execute("SELECT max(id) FROM users").fetchone()
    for i in range(max_user + 1, users + 1):
        db.execute("INSERT INTO users (id, username, password_hash, referral_code, created_at) VALUES (?,?,?,?,?)",
                   (i, f"member{i}", "seeded", f"RS{i}", start))
    members = list(range(first_member, users + 1))
    # `heavy` (the first member) makes about 30% of requests, the rest share a skewed remainder.
    weights = [30.0] + [70.0 / (k + 1) for k in range(len(members) - 1)]
    keys = {}
    key_id = db.execute("SELECT COALESCE(max(id), 0) FROM api_keys").fetchone()[0]
    for u in members:
        keys[u] = []
        for k in range(2 + u % 2):
            key_id += 1
            db.execute("INSERT INTO api_keys (id, user_id, name, key_hash, key_hint, created_at) VALUES (?,?,?,?,?,?)",
                       (key_id, u, f"key-{k}", os.urandom(32), "sk-seed…", start))
            keys[u].append((key_id, f"key-{k}"))
    sheets = {}
    for name, _, inp, out in MODELS:
        sheet = json.dumps({"input": str(inp / 1000), "output": str(out / 1000), "cache_read": str(inp / 10000),
                            "cache_write": str(inp / 1000), "cache_write_1h": str(inp / 1000), "per_request": "0",
                            "multiplier": "1"}, separators=(",", ":"))
        db.execute("INSERT OR IGNORE INTO price_sheets (sheet) VALUES (?)", (sheet,))
        sheets[name] = db.execute("SELECT id FROM price_sheets WHERE sheet = ?", (sheet,)).fetchone()[0]
    balance = {}
    for u in members:
        (b,) = db.execute("SELECT balance FROM users WHERE id = ?", (u,)).fetchone()
        credit = 10**17
        balance[u] = b + credit
        db.execute("INSERT INTO ledger (user_id, account, kind, amount, balance_after, reason, ref_type, created_at)"
                   " VALUES (?, 'balance', 'adjust', ?, ?, 'seeded credit', 'admin', ?)", (u, credit, balance[u], start))
    used = {k: 0 for ks in keys.values() for k, _ in ks}
    rollups = {}
    model_names = [m[0] for m in MODELS]
    model_weights = [m[1] for m in MODELS]
    prices = {m[0]: (m[2], m[3]) for m in MODELS}
    ips = [f"203.0.113.{i}" for i in range(1, 40)]
    step = (now - 3600 - start) / rows
    logs, ledger = [], []
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    t0 = time.time()
    for i in range(rows):
        at = start + int(i * step)
        u = members[min(len(members) - 1, bisect.bisect(cum, random.random() * acc))]
        kid, kname = random.choice(keys[u])
        model = random.choices(model_names, model_weights)[0]
        r = random.random()
        status, err, code = 200, "", ""
        if r < 0.01:
            status, err, code = 502, "main: answered 502 Bad Gateway", "upstream_failed"
        elif r < 0.02:
            status, err, code = 429, "rate limit of the key reached", "rate_limited"
        elif r < 0.025:
            status, err, code = 400, "messages must be an array", "invalid_request"
        elif r < 0.03:
            status, err, code = 500, "main: answered 500 Internal Server Error", "upstream_failed"
        # The first half of the history has ids of the form before ids carried their time.
        if i < rows // 2:
            rid = "req_" + "".join(random.choices(ALNUM, k=20))
        else:
            rid = request_id(at * 1000 + random.randrange(1000))
        stream = 1 if r > 0.5 else 0
        if status == 200:
            inp = random.randint(200, 6000)
            cache = random.randint(0, inp) if r > 0.6 else 0
            out = random.randint(20, 900)
            reasoning = out // 3 if model == "o3-mini" else 0
            pi, po = prices[model]
            cost = inp * pi + cache * pi // 10 + out * po
            latency = random.randint(300, 9000)
            source = "upstream"
        else:
            inp = cache = out = reasoning = cost = 0
            latency = random.randint(5, 400)
            source = ""
        logs.append((rid, at, u, kid, kname, "/chat/completions", model, "main" if status != 429 else "",
                     inp, out, cost, status, latency, stream, random.choice(ips), source, err, cache, 0, 0,
                     reasoning, sheets[model] if status == 200 else None, code, 0))
        if cost > 0:
            balance[u] -= cost
            used[kid] += cost
            ledger.append((u, "balance", "settle", -cost, balance[u], f"cost {cost / 1e9:.9f}", "request", rid, kid, at))
        g = (u, at // 86400, kid, model, status)
        s = rollups.get(g)
        if s is None:
            s = rollups[g] = [0] * 11
        s[0] += 1
        s[1] += cost > 0
        s[2] += inp
        s[3] += cache
        s[6] += out
        s[7] += reasoning
        s[8] += cost
        if len(logs) >= 50000:
            flush(db, logs, ledger)
            if i % 1000000 < 50000:
                print(f"  seeded {i + 1} rows ({time.time() - t0:.0f} s)", file=sys.stderr)
    flush(db, logs, ledger)
    for u, b in balance.items():
        db.execute("UPDATE users SET balance = ? WHERE id = ?", (b, u))
    for k, v in used.items():
        db.execute("UPDATE api_keys SET used = used + ? WHERE id = ?", (v, k))
    db.executemany(
        "INSERT INTO usage_daily (user_id, day, key_id, model, status, requests, charged, input_tokens,"
        " cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost,"
        " uncollected, uncollected_requests) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*g, *s) for g, s in rollups.items()])
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return len(rollups)


def request_id(ms):
    """A request id as the server makes it: `req_`, the time in nine base-62 digits, 13 random."""
    digits = ""
    for _ in range(9):
        digits = B62[ms % 62] + digits
        ms //= 62
    return "req_" + digits + "".join(random.choices(ALNUM, k=13))


def flush(db, logs, ledger):
    db.executemany(
        "INSERT INTO request_logs (request_id, created_at, user_id, key_id, key_name, endpoint, model, upstream,"
        " input_tokens, output_tokens, cost, status, latency_ms, stream, client_ip, usage_source, error,"
        " cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, sheet_id, error_code,"
        " uncollected) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", logs)
    db.executemany(
        "INSERT INTO ledger (user_id, account, kind, amount, balance_after, reason, ref_type, ref_id, key_id,"
        " created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", ledger)
    logs.clear()
    ledger.clear()


def hot_path(seconds, binary, work, base, server_pid, config, empty_config, cookie):
    """The hot path at N rows (the server at `base`) against an empty database, then with four
    dashboards reloading. Returns the wrk results and the charge count of the big file."""
    for d in ("body", "proxy"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    with open(os.path.join(work, "nginx.conf"), "w") as f:
        f.write(run.nginx_conf(work))
    nginx = subprocess.Popen(["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work])
    run.fund_member(binary, empty_config)
    empty = subprocess.Popen([binary, "serve", "--config", empty_config], stdout=subprocess.DEVNULL)
    try:
        with open(empty_config) as f:
            empty_base = "127.0.0.1:" + re.search(r'listen = "127.0.0.1:(\d+)"', f.read()).group(1)
        run.wait_http(f"http://{empty_base}/healthz")
        run.wait_http(f"http://127.0.0.1:{run.MOCK_PORT}/json/v1/chat/completions")
        run.fund_member(binary, config)
        scripts = {}
        for name, b in (("full", base), ("empty", empty_base)):
            key = run.member_key(f"http://{b}")
            scripts[name] = os.path.join(work, f"hot-{name}.lua")
            with open(scripts[name], "w") as f:
                f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
                        'wrk.body = ' + json.dumps(json.dumps({
                            "model": "bench-json", "max_tokens": 64,
                            "messages": [{"role": "user", "content": "Hello there, how are you?"}]})) + "\n")
        url = lambda b: f"http://{b}/v1/chat/completions"
        sent = 0
        runs = [0]

        def measure(name, b):
            nonlocal sent
            r = run.wrk(url(b), 32, seconds, scripts[name], 2)
            if r["non2xx"] or r["socket_errors"]:
                sys.exit(f"hot path: errors on the {name} database: {r}")
            if name == "full":
                sent += r["requests"]
                runs[0] += 1
            print(f"  hot c=32 {name:5} {r}", file=sys.stderr)
            return r
        for name, b in (("full", base), ("empty", empty_base)):
            run.wrk(url(b), 4, 2, scripts[name], 1)
        time.sleep(1)
        before_charged = charged_rows(work)
        sent = 0
        rounds = []
        for _ in range(2):
            rounds.append((measure("full", base), measure("empty", empty_base)))

        # Four members reloading the dashboard while wrk runs: back to back, then once a second.
        stop = threading.Event()

        def dashboard(pause, calls):
            c = http.client.HTTPConnection(base)
            while not stop.is_set():
                t = time.perf_counter()
                for path in ("/api/me", "/api/usage?days=14"):
                    c.request("GET", path, headers={"cookie": cookie})
                    r = c.getresponse()
                    r.read()
                    assert r.status == 200, (path, r.status)
                calls.append((time.perf_counter() - t) * 1000)
                stop.wait(pause)
        dash = []
        # Alternating with runs without, which vary by ±20% on this VM from one run to the next.
        phases = [("none", None), ("back to back", 0), ("none", None), ("back to back", 0), ("none", None),
                  ("once a second", 1.0), ("none", None)]
        for phase, pause in phases:
            calls = []
            if pause is not None:
                stop.clear()
                threads = [threading.Thread(target=dashboard, args=(pause, calls), daemon=True) for _ in range(4)]
                for t in threads:
                    t.start()
            cpu0, client0 = run.cpu_seconds([server_pid]), time.process_time()
            r = measure("full", base)
            r["server_cpu_s"] = run.cpu_seconds([server_pid]) - cpu0
            r["client_cpu_s"] = time.process_time() - client0
            if pause is not None:
                stop.set()
                for t in threads:
                    t.join()
                r["reloads"] = len(calls)
                r["reload_ms"] = (statistics.median(calls), max(calls)) if calls else None
            dash.append((phase, r))
        time.sleep(1)
        after_charged = charged_rows(work)
        ok, charged, settled = (a - b for a, b in zip(after_charged, before_charged))
        return {"rounds": rounds, "dash": dash, "sent": sent, "runs": runs[0], "ok": ok, "charged": charged,
                "settled": settled}
    finally:
        empty.send_signal(signal.SIGTERM)
        empty.wait(timeout=60)
        # SIGTERM: a fast stop (SIGQUIT would wait for the gateways' idle keep-alive connections).
        nginx.terminate()
        nginx.wait(timeout=30)


def charged_rows(work):
    """The benchmark member's requests answered 200 and charged in the N-row file, and its settle
    rows (the ledger's one row per charged request)."""
    db = sqlite3.connect(os.path.join(work, "data", "code-router.db"))
    (uid,) = db.execute("SELECT id FROM users WHERE username = 'bench'").fetchone()
    (ok,) = db.execute("SELECT count(*) FROM request_logs WHERE user_id = ? AND status = 200", (uid,)).fetchone()
    (charged,) = db.execute("SELECT count(*) FROM request_logs WHERE user_id = ? AND cost > 0", (uid,)).fetchone()
    (settled,) = db.execute("SELECT count(*) FROM ledger WHERE user_id = ? AND kind = 'settle'", (uid,)).fetchone()
    db.close()
    return ok, charged, settled


def print_hot(hot):
    print("\n| hot path, JSON c=32 | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    for i, (full, empty) in enumerate(hot["rounds"], 1):
        for name, r in (("N rows", full), ("empty database", empty)):
            print(f"| {name}, run {i} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} |")
    full = statistics.mean(r[0]["rps"] for r in hot["rounds"])
    empty = statistics.mean(r[1]["rps"] for r in hot["rounds"])
    print(f"\n- hot path at N rows: {full / empty * 100:.0f}% of the empty database's req/s (mean of two runs each)")
    print("\n| N rows, JSON c=32 | req/s | p50 ms | p99 ms | dashboard reloads | reload median / worst ms |"
          " server CPU s | dashboard clients' CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for phase, r in hot["dash"]:
        reload = r.get("reload_ms")
        print(f"| {'no dashboards' if phase == 'none' else 'four dashboards reloading ' + phase} | {r['rps']:.0f} | "
              f"{r['p50']:.2f} | {r['p99']:.2f} | {r.get('reloads', '')} | "
              f"{'' if not reload else f'{reload[0]:.1f} / {reload[1]:.1f}'} | {r['server_cpu_s']:.1f} | "
              f"{r['client_cpu_s']:.1f} |")
    none = statistics.median(r["rps"] for p, r in hot["dash"] if p == "none")
    for phase in ("back to back", "once a second"):
        rps = statistics.median(r["rps"] for p, r in hot["dash"] if p == phase)
        print(f"- with four dashboards reloading {phase}: {rps / none * 100:.0f}% of the req/s without"
              " (medians of the runs with and without)")
    print(f"- books: wrk read {hot['sent']} answers of the N-row server in the measured runs; {hot['ok']} logged 200, "
          f"{hot['charged']} charged, {hot['settled']} settle rows (wrk leaves up to 32 in flight at the end of each of "
          f"its {hot['runs']} runs)")


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith(field)).split()[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--real", type=int, default=3000, help="real requests through the server")
    ap.add_argument("--binary")
    ap.add_argument("--keep", help="keep the work directory here")
    ap.add_argument("--hot", type=int, default=10,
                    help="seconds of each wrk run of the hot-path phase (0: skip it)")
    args = ap.parse_args()
    if args.hot:
        run.ensure_tools()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "code-router")
    work = args.keep or tempfile.mkdtemp(prefix="code-router-growth-")
    os.makedirs(work, exist_ok=True)
    mock = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mock)
    threading.Thread(target=mock.serve_forever, daemon=True).start()
    port = free_port()
    config = os.path.join(work, "config.toml")
    empty_port = free_port()
    empty_config = os.path.join(work, "config-empty.toml")
    for path, p, data in ((config, port, "data"), (empty_config, empty_port, "data-empty")):
        with open(path, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:{p}"\ndata_dir = "{work}/{data}"\nlog_level = "warn"\n'
                    f'[logs]\nretain_days = 0\n')
            for name, _, inp, out in MODELS:
                f.write(f'[models."{name}"]\ninput = "{inp / 1000}"\noutput = "{out / 1000}"\n')
            f.write(f'[[upstreams]]\nname = "main"\nbase_url = "http://127.0.0.1:{mock.server_port}/v1"\n'
                    f'models = {json.dumps([m[0] for m in MODELS])}\n')
            # The hot-path phase: run.py's nginx mock and its JSON answer.
            f.write(f'[models."bench-json"]\ninput = "0.15"\noutput = "0.60"\n'
                    f'[[upstreams]]\nname = "hot"\nbase_url = "http://127.0.0.1:{run.MOCK_PORT}/json/v1"\n'
                    f'models = ["bench-json"]\n')
    cli = lambda *a, stdin="": subprocess.run([binary, *a, "--config", config], input=stdin, text=True,
                                              capture_output=True, check=True)
    dbfile = os.path.join(work, "data", "code-router.db")
    cli("user", "create", "--username", "root", "--admin", "--password-stdin", stdin="bench password\n")
    cli("user", "create", "--username", "heavy", "--password-stdin", stdin="bench password\n")
    cli("user", "create", "--username", "light", "--password-stdin", stdin="bench password\n")
    cli("user", "adjust", "--username", "light", "--amount", "1000", "--reason", "benchmark")
    t = time.time()
    groups = seed(dbfile, args.rows, args.days, args.users, 2)
    print(f"seeded {args.rows} requests ({groups} rollup rows) in {time.time() - t:.0f} s", file=sys.stderr)

    server = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL)
    base = f"127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://{base}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        conn = http.client.HTTPConnection(base)

        def call(method, path, body=None, cookie=None, auth=None):
            headers = {"content-type": "application/json"}
            if cookie:
                headers["cookie"] = cookie
            if auth:
                headers["authorization"] = "Bearer " + auth
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r, data

        def login(name):
            r, _ = call("POST", "/api/auth/login", {"username": name, "password": "bench password"})
            return r.getheader("set-cookie").split(";")[0]

        heavy, root, light = login("heavy"), login("root"), login("light")
        r, body = call("POST", "/api/keys", {"name": "bench"}, cookie=light)
        key = json.loads(body)["key"]
        t = time.time()
        for i in range(args.real):
            r, _ = call("POST", "/v1/chat/completions", {"model": MODELS[i % len(MODELS)][0], "max_tokens": 16,
                        "messages": [{"role": "user", "content": "hi"}]}, auth=key)
            assert r.status == 200, r.status
        print(f"{args.real} real requests in {time.time() - t:.1f} s", file=sys.stderr)
        seeded = sqlite3.connect(dbfile)
        (rid_old,) = seeded.execute(
            "SELECT request_id FROM request_logs WHERE user_id = 2 ORDER BY id LIMIT 1 OFFSET 1000").fetchone()
        # An id with its time, from the middle of the history (the newer half has them).
        (rid,) = seeded.execute(
            "SELECT request_id FROM request_logs WHERE user_id = 2 AND id > ? ORDER BY id LIMIT 1 OFFSET 1000",
            (args.rows // 2 + 10,)).fetchone()
        seeded.close()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        week = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400))
        calls = [
            ("member", "GET /api/usage?days=14 (dashboard)", "/api/usage?days=14"),
            ("member", "GET /api/usage?days=366", "/api/usage?days=366"),
            ("member", "GET /api/logs (first page + totals)", "/api/logs"),
            ("member", "GET /api/logs, 10th page", None),
            ("member", "GET /api/logs?model= matching nothing", "/api/logs?model=nothing-like-it"),
            ("member", "GET /api/logs?model=gemini-flash (2% of rows)", "/api/logs?model=gemini-flash"),
            ("member", "GET /api/logs?status=500", "/api/logs?status=500"),
            ("member", "GET /api/logs?status=error", "/api/logs?status=error"),
            ("member", "GET /api/logs?from=…&to=… (a week)", f"/api/logs?from={week}&to={today}"),
            ("member", "GET /api/logs?request_id=… (an id with its time)", f"/api/logs?request_id={rid}"),
            ("member", "GET /api/logs?request_id=… (an id of the old form)", f"/api/logs?request_id={rid_old}"),
            ("member", "GET /api/keys", "/api/keys"),
            ("member", "GET /api/ledger", "/api/ledger"),
            ("member", "GET /api/ledger/charges", "/api/ledger/charges"),
            ("member", "GET /api/balance-alert", "/api/balance-alert"),
            ("admin", "GET /api/admin/overview?days=14", "/api/admin/overview?days=14"),
            ("admin", "GET /api/admin/overview?days=366", "/api/admin/overview?days=366"),
            ("admin", "GET /api/admin/logs", "/api/admin/logs"),
            ("admin", "GET /api/admin/logs?model= matching nothing", "/api/admin/logs?model=nothing-like-it"),
            ("admin", "GET /api/admin/logs?status=500", "/api/admin/logs?status=500"),
            ("admin", "GET /api/admin/users", "/api/admin/users"),
        ]
        _, first = call("GET", "/api/logs?limit=50", cookie=heavy)
        cursor = None
        for _ in range(9):
            page = json.loads(first if cursor is None else call("GET", f"/api/logs?limit=50&cursor={cursor}", cookie=heavy)[1])
            cursor = page["next_cursor"]
        results = []
        for who, label, path in calls:
            path = path or f"/api/logs?cursor={cursor}"
            times = []
            for _ in range(5):
                t = time.perf_counter()
                r, _ = call("GET", path, cookie=heavy if who == "member" else root)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status == 200, (path, r.status)
            results.append((label, statistics.median(times), max(times)))

        # The whole history of `heavy` as CSV, with the server's RSS sampled all along.
        before = rss_kb(server.pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(server.pid))
                time.sleep(0.05)
        threading.Thread(target=sample, daemon=True).start()
        t = time.time()
        conn.request("GET", "/api/logs.csv", headers={"cookie": heavy})
        r = conn.getresponse()
        lines = size = 0
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            lines += chunk.count(b"\n")
        csv_secs = time.time() - t
        done.set()
        after = rss_kb(server.pid)
        (heavy_rows,) = sqlite3.connect(dbfile).execute("SELECT count(*) FROM request_logs WHERE user_id = 2").fetchone()
        hot = hot_path(args.hot, binary, work, base, server.pid, config, empty_config, heavy) if args.hot else None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        mock.shutdown()

    t = time.time()
    audit = subprocess.run([binary, "audit", "--config", config], capture_output=True, text=True)
    audit_secs = time.time() - t
    out = os.path.join(work, "backup.db")
    if os.path.exists(out):
        os.remove(out)
    t = time.time()
    cli("backup", "--out", out)
    backup_secs = time.time() - t
    db = sqlite3.connect(dbfile)
    (logs,) = db.execute("SELECT count(*) FROM request_logs").fetchone()
    (ledger_rows,) = db.execute("SELECT count(*) FROM ledger").fetchone()
    objects = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    db.close()
    file_size = os.path.getsize(dbfile)

    print(f"\n{logs:,} log rows, {ledger_rows:,} ledger rows, {file_size / 1e6:.0f} MB\n")
    print("| call | median ms | worst of 5 ms |\n|---|---:|---:|")
    for label, med, worst in results:
        print(f"| `{label}` | {med:.1f} | {worst:.1f} |")
    print(f"\n- CSV of heavy's whole history: {lines - 1:,} rows of {heavy_rows:,}, {size / 1e6:.0f} MB in "
          f"{csv_secs:.1f} s; server RSS {before / 1024:.1f} MB before, {peak[0] / 1024:.1f} MB peak, "
          f"{after / 1024:.1f} MB after (growth {(peak[0] - before) / 1024:.1f} MB)")
    print(f"- audit: {audit_secs:.2f} s ({ledger_rows / audit_secs / 1e6:.2f} M ledger rows/s): "
          f"{(audit.stdout.strip() or audit.stderr.strip())}")
    print(f"- backup: {backup_secs:.2f} s ({file_size / backup_secs / 1e6:.0f} MB/s)")
    print(f"- bytes per logged request: {file_size / logs:.0f} (whole file / log rows)")
    for name, size in objects[:14]:
        print(f"  - {name}: {size / 1e6:.0f} MB, {size / logs:.1f} bytes per request")
    if hot:
        print_hot(hot)
    if audit.returncode != 0:
        sys.exit("audit found problems")
    # wrk counts the answers it read; a request cut off at the end of a run (at most 32 a run) may
    # still be charged and logged after wrk has gone.
    if hot and not (hot["sent"] <= hot["ok"] <= hot["charged"] == hot["settled"] <= hot["sent"] + 32 * hot["runs"]):
        sys.exit(f"hot path: {hot['sent']} answers read, {hot['ok']} logged 200, {hot['charged']} charged, "
                 f"{hot['settled']} settle rows")


if __name__ == "__main__":
    main()
