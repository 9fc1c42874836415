#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: a figure that does not move with
whatever else the machine is doing (wrk's req/s on a shared 2-core VM does), so two builds can be
compared in one sitting on a busy machine.

  python3 bench/instructions.py BINARY [BINARY ...] [--requests 2000] [--routes chat,resp-pass,...]

For each binary: nginx as the mock upstream (the same bodies as bench/run.py), the gateway under
callgrind with billing and logging on, a funded member and a key, then requests one after another
on one keep-alive connection. It runs twice, with N/4 and N requests, and reports
(Ir(N) - Ir(N/4)) / (3N/4): the instructions one more request costs in the gateway process (all its
threads: serving, request writer, checkpointer), start-up and shutdown cancelled out. Prints one
table row per binary and body. Needs valgrind, nginx (Debian packages).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the mock bodies and nginx config of the throughput bench)


# route -> (path, model for a body kind, body for a model and kind, extra headers)
ROUTES = {
    "chat": ("/v1/chat/completions", "bench-{kind}", "chat", {}),
    "resp-pass": ("/v1/responses", "bench-r{kind}", "responses", {}),
    "resp-transl": ("/v1/responses", "bench-{kind}", "responses", {}),
    "msgs-transl": ("/v1/messages", "bench-{kind}", "chat", {"anthropic-version": "2023-06-01"}),
}


def body_for(shape, model, kind):
    if shape == "responses":
        return {"model": model, "stream": kind == "sse", "store": False, "max_output_tokens": 64,
                "input": "Hello there, how are you?"}
    return {"model": model, "stream": kind == "sse", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hello there, how are you?"}]}


def measure(binary, kind, count, work, route="chat"):
    path, model, shape, extra = ROUTES[route]
    model = model.format(kind=kind)
    work = tempfile.mkdtemp(dir=work)
    data = os.path.join(work, "data")
    port = bench.free_port()
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"
log_level = "warn"
[models."bench-{kind}"]
input = "0.15"
output = "0.60"
[[upstreams]]
name = "mock"
base_url = "http://127.0.0.1:{bench.MOCK_PORT}/{kind}/v1"
models = ["bench-{kind}"]
[models."bench-r{kind}"]
input = "0.15"
output = "0.60"
[[upstreams]]
name = "mock-responses"
base_url = "http://127.0.0.1:{bench.MOCK_PORT}/r{kind}/v1"
responses = true
models = ["bench-r{kind}"]
""")
    bench.fund_member(binary, config)
    out = os.path.join(work, "callgrind.out")
    gateway = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                binary, "serve", "--config", config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        bench.wait_http(base + "/healthz", timeout=120)
        key = bench.member_key(base)
        payload = json.dumps(body_for(shape, model, kind))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(count):
            conn.request("POST", path, body=payload,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}", **extra})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"instructions: {binary}: status {r.status}")
        conn.close()
        time.sleep(1)  # let the request writer commit the last batch
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=120)
    total = 0
    for path in [p for p in os.listdir(work) if p.startswith(os.path.basename(out))]:
        with open(os.path.join(work, path)) as f:
            m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
            total += int(m.group(1)) if m else 0
    audit = subprocess.run([binary, "audit", "--config", config], capture_output=True, text=True)
    if audit.returncode != 0:
        sys.exit(f"instructions: audit failed: {audit.stdout}{audit.stderr}")
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--routes", default="chat",
                    help="comma-separated: chat, resp-pass (Responses passed through), resp-transl (Responses "
                         "translated to chat), msgs-transl (Messages translated to chat)")
    args = ap.parse_args()
    for tool in ("valgrind", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"instructions: install {tool} (Debian package {tool if tool != 'nginx' else 'nginx-light'})")
    work = tempfile.mkdtemp(prefix="code-router-instructions-")
    for d in ("body", "proxy"):
        os.makedirs(os.path.join(work, d))
    with open(os.path.join(work, "nginx.conf"), "w") as f:
        f.write(bench.nginx_conf(work))
    nginx = subprocess.Popen(["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work])
    try:
        bench.wait_http(f"http://127.0.0.1:{bench.MOCK_PORT}/json/v1/chat/completions")
        n, small = args.requests, args.requests // 4
        print("| binary | route | body | instructions per request |")
        print("|---|---|---|---:|")
        for binary in args.binaries:
            for route in args.routes.split(","):
                for kind in ("json", "sse"):
                    a = measure(os.path.abspath(binary), kind, small, work, route)
                    b = measure(os.path.abspath(binary), kind, n, work, route)
                    print(f"| {os.path.basename(binary)} | {route} | {kind} | {(b - a) / (n - small):,.0f} |",
                          flush=True)
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
