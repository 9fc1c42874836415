#!/usr/bin/env python3
"""Code Router load benchmark: one machine, one invocation, three targets.

  direct   wrk -> nginx mock upstream
  nginx    wrk -> nginx reverse proxy (keep-alive upstream) -> mock    (one plain proxy hop)
  gateway  wrk -> code-router (keys, holds, billing, logs on) -> mock

for a JSON chat completion and an SSE stream, at several concurrencies. Prints one table and the
gateway's peak RSS. Usage: python3 bench/run.py [--duration 10] [--conc 1,32,128] [--binary PATH]
[--translation] [--peers]. --translation adds the same answer through the other dialects: the
Responses API passed through (resp-pass), Responses and Messages translated to chat (resp-transl,
msgs-transl), each compared with chat passed through.
Needs nginx and wrk (Debian packages; installed with apt-get when missing and running as root).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK_PORT, PROXY_PORT = 18081, 18082

JSON_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
}, separators=(",", ":"))


def sse_body():
    words = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
    events = []
    for w in words:
        events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench",
                       "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]})
    events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench", "choices": [],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}})
    return "".join("data: %s\n\n" % json.dumps(e, separators=(",", ":")) for e in events) + "data: [DONE]\n\n"


RESPONSES_JSON = json.dumps({
    "id": "resp_bench", "object": "response", "status": "completed", "model": "bench",
    "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello! How can I help you today?", "annotations": []}]}],
    "usage": {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21},
}, separators=(",", ":"))


def responses_sse_body():
    """The same answer as a Responses stream: created, one message item's deltas, completed."""
    words = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
    item = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "".join(words), "annotations": []}]}
    events = [{"type": "response.created", "response": {"id": "resp_bench", "object": "response",
                                                         "status": "in_progress", "output": []}},
              {"type": "response.output_item.added", "output_index": 0,
               "item": {**item, "status": "in_progress", "content": []}}]
    events += [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                "content_index": 0, "delta": w} for w in words]
    events += [{"type": "response.output_item.done", "output_index": 0, "item": item},
               {"type": "response.completed", "response": {
                   "id": "resp_bench", "object": "response", "status": "completed", "output": [item],
                   "usage": {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21}}}]
    for i, e in enumerate(events):
        e["sequence_number"] = i
    return "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e, separators=(",", ":")))
                   for e in events)


def nginx_conf(workdir):
    def quoted(s):
        # nginx unescapes \\, \' and \n inside a quoted string: the SSE body's blank lines must
        # reach the client as real newlines.
        return s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    keepalive_requests 1000000;
    upstream mock {{ server 127.0.0.1:{MOCK_PORT}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{MOCK_PORT};
        location = /json/v1/chat/completions {{ default_type application/json; return 200 '{quoted(JSON_BODY)}'; }}
        location = /sse/v1/chat/completions {{ default_type text/event-stream; return 200 '{quoted(sse_body())}'; }}
        location = /rjson/v1/responses {{ default_type application/json; return 200 '{quoted(RESPONSES_JSON)}'; }}
        location = /rsse/v1/responses {{ default_type text/event-stream; return 200 '{quoted(responses_sse_body())}'; }}
    }}
    server {{
        listen 127.0.0.1:{PROXY_PORT};
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"bench: {url} did not come up")


def call(url, body=None, cookie=None, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    if cookie:
        req.add_header("cookie", cookie)
    with urllib.request.urlopen(req) as r:
        return r.headers, r.read()


def fund_member(binary, config):
    """The benchmark's member, created and funded through the command line."""
    cli = lambda *a, stdin="": subprocess.run([binary, *a, "--config", config], input=stdin, text=True,
                                              capture_output=True, check=True)
    cli("user", "create", "--username", "bench", "--password-stdin", stdin="bench password\n")
    cli("user", "adjust", "--username", "bench", "--amount", "1000000", "--reason", "benchmark")


def member_key(base):
    """A new API key of the benchmark's member, made through the API as a member would."""
    headers, _ = call(base + "/api/auth/login", {"username": "bench", "password": "bench password"})
    cookie = headers["set-cookie"].split(";")[0]
    _, body = call(base + "/api/keys", {"name": "bench"}, cookie=cookie)
    return json.loads(body)["key"]


def ensure_tools():
    missing = [t for t in ("nginx", "wrk") if not shutil.which(t)]
    if missing:
        if os.geteuid() != 0:
            sys.exit(f"bench: install {' '.join(missing)} (Debian: apt-get install nginx-light wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"], check=True)


def wrk(url, conc, duration, lua, threads):
    # A 30 s timeout: wrk's default of 2 s counts a slow peer's answers (LiteLLM's streams at c=32
    # take 1.7 s) as socket errors rather than as latency.
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conc}", f"-d{duration}s", "--timeout", "30s", "--latency",
                          "-s", lua, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "requests": requests,
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def cpu_seconds(pids):
    """User + system CPU of `pids` and their children (threads included), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    seen = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            pass
    return total / tick


PEERS = os.path.join(ROOT, "bench", ".peers")
LITELLM = "litellm[proxy]==1.108.7"
PORTKEY = "@portkey-ai/gateway@1.15.2"


def start_peers(work, procs):
    """LiteLLM's proxy (one worker, no database: it keeps no books) and Portkey's gateway, each
    pointed at the same mock, installed into bench/.peers on first use. Portkey's gateway (1.15.2
    and 1.9.8, on Node.js 20 and 22) answers every streamed request 500 ("TypeError: immutable": it
    appends headers to the upstream's fetch Response): its SSE rows show errors, not a rate."""
    venv = os.path.join(PEERS, "litellm")
    if not os.path.exists(os.path.join(venv, "bin", "litellm")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", LITELLM], check=True)
    portkey = os.path.join(PEERS, "portkey")
    server_js = os.path.join(portkey, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
    if not os.path.exists(server_js):
        os.makedirs(portkey, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", portkey, "--no-audit", "--no-fund", "--loglevel=error",
                        PORTKEY], check=True)

    lite_port, portkey_port = free_port(), free_port()
    lite_config = os.path.join(work, "litellm.yaml")
    # LiteLLM refuses to start without a master key (one of its own strength rules applies).
    master = "sk-" + os.urandom(32).hex()
    with open(lite_config, "w") as f:
        f.write(f"general_settings:\n  master_key: {master}\n")
        f.write("model_list:\n")
        for kind in ("json", "sse"):
            f.write(f"  - model_name: bench-{kind}\n    litellm_params:\n      model: openai/bench-{kind}\n"
                    f"      api_base: http://127.0.0.1:{MOCK_PORT}/{kind}/v1\n      api_key: sk-bench\n")
    log = open(os.path.join(work, "peers.log"), "w")
    lite = subprocess.Popen([os.path.join(venv, "bin", "litellm"), "--config", lite_config, "--host", "127.0.0.1",
                             "--port", str(lite_port), "--num_workers", "1"], stdout=log, stderr=log)
    procs.append(lite)
    pk = subprocess.Popen(["node", server_js, f"--port={portkey_port}", "--headless"], stdout=log, stderr=log)
    procs.append(pk)
    wait_http(f"http://127.0.0.1:{lite_port}/health/liveliness", timeout=120)
    wait_http(f"http://127.0.0.1:{portkey_port}/", timeout=60)
    lite_key = lambda kind: {"Authorization": f"Bearer {master}"}
    portkey_headers = lambda kind: {"Authorization": "Bearer sk-bench", "x-portkey-provider": "openai",
                                    "x-portkey-custom-host": f"http://127.0.0.1:{MOCK_PORT}/{kind}/v1"}
    return {
        "litellm": (lambda kind: f"http://127.0.0.1:{lite_port}/v1/chat/completions", lite_key, [lite.pid]),
        "portkey": (lambda kind: f"http://127.0.0.1:{portkey_port}/v1/chat/completions", portkey_headers, [pk.pid]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conc", default="1,32,128")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--translation", action="store_true",
                    help="also measure the Responses API passed through and translated, and Messages translated")
    ap.add_argument("--peers", action="store_true",
                    help="also measure LiteLLM (PyPI) and Portkey's gateway (npm), installed into bench/.peers")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.conc.split(",")]
    ensure_tools()

    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        binary = os.path.join(target, "release", "code-router")

    work = tempfile.mkdtemp(prefix="code-router-bench-")
    for d in ("body", "proxy"):
        os.makedirs(os.path.join(work, d))
    with open(os.path.join(work, "nginx.conf"), "w") as f:
        f.write(nginx_conf(work))
    procs = []
    try:
        procs.append(subprocess.Popen(["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work]))
        gw_port = free_port()
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1:{gw_port}"
data_dir = "{work}/data"
log_level = "warn"
[models."bench-json"]
input = "0.15"
output = "0.60"
[models."bench-sse"]
input = "0.15"
output = "0.60"
[[upstreams]]
name = "mock-json"
base_url = "http://127.0.0.1:{MOCK_PORT}/json/v1"
models = ["bench-json"]
[[upstreams]]
name = "mock-sse"
base_url = "http://127.0.0.1:{MOCK_PORT}/sse/v1"
models = ["bench-sse"]
[models."bench-rjson"]
input = "0.15"
output = "0.60"
[models."bench-rsse"]
input = "0.15"
output = "0.60"
[[upstreams]]
name = "mock-responses-json"
base_url = "http://127.0.0.1:{MOCK_PORT}/rjson/v1"
responses = true
models = ["bench-rjson"]
[[upstreams]]
name = "mock-responses-sse"
base_url = "http://127.0.0.1:{MOCK_PORT}/rsse/v1"
responses = true
models = ["bench-rsse"]
""")
        fund_member(binary, config)
        gateway = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL)
        procs.append(gateway)
        base = f"http://127.0.0.1:{gw_port}"
        wait_http(base + "/healthz")
        wait_http(f"http://127.0.0.1:{PROXY_PORT}/json/v1/chat/completions")
        key = member_key(base)

        def chat_payload(kind):
            return {"model": f"bench-{kind}", "stream": kind == "sse", "max_tokens": 64,
                    "messages": [{"role": "user", "content": "Hello there, how are you?"}]}

        def responses_payload(model):
            return lambda kind: {"model": model.format(kind=kind), "stream": kind == "sse", "store": False,
                                 "max_output_tokens": 64, "input": "Hello there, how are you?"}

        payloads = {}

        def script(name, kind, headers):
            payload = json.dumps(payloads.get(name, chat_payload)(kind))
            path = os.path.join(work, f"{name}-{kind}.lua")
            with open(path, "w") as f:
                f.write('wrk.method = "POST"\n')
                f.write('wrk.headers["Content-Type"] = "application/json"\n')
                for k, v in headers(kind).items():
                    f.write(f'wrk.headers["{k}"] = "{v}"\n')
                f.write(f"wrk.body = {json.dumps(payload)}\n")
            return path

        bearer = lambda kind: {"Authorization": f"Bearer {key}"}
        # name -> (url for a body kind, request headers for a body kind, pids whose CPU it costs)
        targets = {
            # nginx's CPU: the mock alone (direct), the mock and the proxy hop (nginx).
            "direct": (lambda kind: f"http://127.0.0.1:{MOCK_PORT}/{kind}/v1/chat/completions", bearer, [procs[0].pid]),
            "nginx": (lambda kind: f"http://127.0.0.1:{PROXY_PORT}/{kind}/v1/chat/completions", bearer, [procs[0].pid]),
            "gateway": (lambda kind: f"{base}/v1/chat/completions", bearer, [gateway.pid]),
        }
        if args.translation:
            # The same answer through the other dialects: the Responses API passed through to an
            # upstream that serves it, and Responses and Messages translated to chat completions.
            anthropic = lambda kind: {"x-api-key": key, "anthropic-version": "2023-06-01"}
            targets.update({
                "resp-pass": (lambda kind: f"{base}/v1/responses", bearer, [gateway.pid]),
                "resp-transl": (lambda kind: f"{base}/v1/responses", bearer, [gateway.pid]),
                "msgs-transl": (lambda kind: f"{base}/v1/messages", anthropic, [gateway.pid]),
            })
            payloads["resp-pass"] = responses_payload("bench-r{kind}")
            payloads["resp-transl"] = responses_payload("bench-{kind}")
        if args.peers:
            targets.update(start_peers(work, procs))
        lua = {(name, kind): script(name, kind, t[1]) for name, t in targets.items() for kind in ("json", "sse")}
        # Warm up every path once.
        for kind in ("json", "sse"):
            for name, t in targets.items():
                wrk(t[0](kind), 4, 2, lua[(name, kind)], 1)

        results = {}
        for kind in ("json", "sse"):
            for conc in concurrencies:
                for name, t in targets.items():
                    threads = 1 if conc == 1 else 2
                    cpu0 = cpu_seconds(t[2])
                    r = wrk(t[0](kind), conc, args.duration, lua[(name, kind)], threads)
                    cpu = cpu_seconds(t[2]) - cpu0
                    r["cpu_ms"] = cpu * 1000 / max(1, r["requests"]) if t[2] else None
                    results[(kind, conc, name)] = r
                    print(f"  {kind:4} c={conc:<4} {name:8} {r}", file=sys.stderr)

        with open(f"/proc/{gateway.pid}/status") as f:
            hwm = next(l for l in f if l.startswith("VmHWM")).split()[1]
        rss_mb = int(hwm) / 1024

        print()
        print("| body | conc | target | req/s | p50 ms | p99 ms | req/s vs direct | p50 +ms | p99 +ms | CPU ms/req |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for kind in ("json", "sse"):
            for conc in concurrencies:
                d = results[(kind, conc, "direct")]
                for name in targets:
                    r = results[(kind, conc, name)]
                    cpu = "" if r["cpu_ms"] is None else f"{r['cpu_ms']:.3f}"
                    flag = "" if not (r["non2xx"] or r["socket_errors"]) else f" (errors: {r['non2xx']} non-2xx {r['socket_errors']})"
                    print(f"| {kind} | {conc} | {name} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                          f"{r['rps'] / d['rps'] * 100:.0f}% | {r['p50'] - d['p50']:+.3f} | {r['p99'] - d['p99']:+.3f} | {cpu} |{flag}")
        print()
        for kind in ("json", "sse"):
            c = 32 if 32 in concurrencies else concurrencies[-1]
            g, n = results[(kind, c, "gateway")], results[(kind, c, "nginx")]
            print(f"{kind}: gateway throughput at c={c} is {g['rps'] / n['rps'] * 100:.0f}% of the nginx proxy's")
        for kind in ("json", "sse"):
            for conc in concurrencies:
                hop = results[(kind, conc, "nginx")]["cpu_ms"] - results[(kind, conc, "direct")]["cpu_ms"]
                print(f"{kind} c={conc}: CPU per request, gateway {results[(kind, conc, 'gateway')]['cpu_ms']:.3f} ms, "
                      f"nginx proxy hop {hop:.3f} ms (nginx's CPU with the proxy minus the mock's alone)")
        if args.translation:
            for kind in ("json", "sse"):
                for conc in concurrencies:
                    g = results[(kind, conc, "gateway")]
                    print(f"{kind} c={conc}: against chat passed through ({g['rps']:.0f} req/s, {g['cpu_ms']:.3f} ms CPU/req): " + ", ".join(
                        f"{t} {results[(kind, conc, t)]['rps'] / g['rps'] * 100:.0f}% req/s, "
                        f"{results[(kind, conc, t)]['cpu_ms'] / g['cpu_ms'] * 100:.0f}% CPU/req"
                        for t in ("resp-pass", "resp-transl", "msgs-transl")))
        if args.peers:
            for kind in ("json", "sse"):
                c = 32 if 32 in concurrencies else concurrencies[-1]
                g = results[(kind, c, "gateway")]["rps"]
                def versus(p):
                    r = results[(kind, c, p)]
                    # A peer that answered errors is not measured: its req/s are of the errors.
                    if r["non2xx"]:
                        return f"{p} failed ({r['non2xx']} of {r['requests']} answered non-2xx)"
                    return f"{g / r['rps']:.0f}x {p}'s"
                print(f"{kind} c={c}: gateway req/s is " + ", ".join(versus(p) for p in ("litellm", "portkey")))
        print(f"gateway peak RSS: {rss_mb:.1f} MB")
        # Every request must have been billed from the usage the mock reported: a counted one
        # means the mock's body was not read as the relay would read a real provider's.
        db = sqlite3.connect(os.path.join(work, "data", "code-router.db"))
        sources = dict(db.execute("SELECT usage_source, count(*) FROM request_logs GROUP BY 1").fetchall())
        db.close()
        print("gateway log rows by usage source: " + ", ".join(f"{k or 'none'} {v}" for k, v in sorted(sources.items())))
        audit = subprocess.run([binary, "audit", "--config", config], capture_output=True, text=True)
        print(audit.stdout.strip() or audit.stderr.strip())
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
