#!/usr/bin/env python3
"""Memory over one long stream: the gateway's resident memory, sampled while a single streamed
answer runs for a long time, passed through and translated.

  python3 bench/longstream.py BINARY [--seconds 600] [--rate 200] [--routes native,responses,messages]

A fake provider (in this process) streams one answer of `rate` chunks a second for `seconds`:
as chat completions chunks for the translated routes, as Responses events for the pass-through.
Routes: `chat` (chat completions passed through), `native` (/v1/responses passed through to an
upstream with responses = true), `responses` (/v1/responses translated to chat), `messages`
(/v1/messages translated to chat). For each, the gateway starts fresh (billing and logging on), one
client reads the stream to its end, and the gateway's RSS (/proc/PID/status) is printed every
tenth of the run, with the bytes the client received. Translated Responses streams keep the text
of the item being streamed (`response.output_item.done` carries it whole) and the finished items
for `response.completed`: their memory grows with the answer's text, nothing else.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (free ports, the member and its key)

WORD = " token"


class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seconds = 60
    rate = 200

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        responses = self.path.endswith("/responses")
        total = self.seconds * self.rate
        start = time.time()
        seq = 0

        def send(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        if responses:
            send('event: response.created\ndata: {"type":"response.created","sequence_number":0,'
                 '"response":{"id":"resp_long","object":"response","status":"in_progress","output":[]}}\n\n')
        for i in range(total):
            if responses:
                seq += 1
                send('event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                     f'"sequence_number":{seq},"item_id":"msg_1","output_index":0,"content_index":0,'
                     f'"delta":"{WORD}"}}\n\n')
            else:
                send('data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
                     f'"delta":{{"content":"{WORD}"}},"finish_reason":null}}]}}\n\n')
            # Paced in batches: one sleep per tenth of a second's chunks.
            if i % max(1, self.rate // 10) == 0:
                lag = start + i / self.rate - time.time()
                if lag > 0:
                    time.sleep(lag)
        usage = {"prompt_tokens": 10, "completion_tokens": total, "total_tokens": 10 + total}
        if responses:
            usage = {"input_tokens": 10, "output_tokens": total, "total_tokens": 10 + total}
            send('event: response.completed\ndata: ' + json.dumps(
                {"type": "response.completed", "sequence_number": seq + 1,
                 "response": {"id": "resp_long", "object": "response", "status": "completed",
                              "output": [], "usage": usage}}) + "\n\n")
        else:
            send('data: ' + json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [],
                                        "usage": usage}) + "\n\ndata: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


ROUTES = {
    "chat": ("/v1/chat/completions", "long-chat",
             lambda m: {"model": m, "stream": True, "messages": [{"role": "user", "content": "Go on."}]}),
    "native": ("/v1/responses", "long-native",
               lambda m: {"model": m, "stream": True, "store": False, "input": "Go on."}),
    "responses": ("/v1/responses", "long-chat",
                  lambda m: {"model": m, "stream": True, "store": False, "input": "Go on."}),
    "messages": ("/v1/messages", "long-chat",
                 lambda m: {"model": m, "stream": True, "max_tokens": 1000000,
                            "messages": [{"role": "user", "content": "Go on."}]}),
}


def run_route(binary, route, provider_port, seconds, work):
    path, model, body = ROUTES[route]
    work = tempfile.mkdtemp(dir=work)
    port = bench.free_port()
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{work}/data"
log_level = "warn"
[relay]
idle_timeout_secs = 60
[billing]
default_max_output_tokens = 1000000
[models."long-chat"]
input = "0.15"
output = "0.60"
[models."long-native"]
input = "0.15"
output = "0.60"
[[upstreams]]
name = "chat"
base_url = "http://127.0.0.1:{provider_port}/v1"
models = ["long-chat"]
[[upstreams]]
name = "native"
base_url = "http://127.0.0.1:{provider_port}/v1"
responses = true
models = ["long-native"]
""")
    bench.fund_member(binary, config)
    gateway = subprocess.Popen([binary, "serve", "--config", config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        bench.wait_http(base + "/healthz")
        key = bench.member_key(base)
        samples = []
        received = [0]
        done = threading.Event()

        def read():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=seconds + 120)
            conn.request("POST", path, json.dumps(body(model)),
                         {"authorization": f"Bearer {key}", "content-type": "application/json",
                          "anthropic-version": "2023-06-01"})
            r = conn.getresponse()
            while True:
                piece = r.read1(65536)
                if not piece:
                    break
                received[0] += len(piece)
            done.set()

        start_rss = rss_kib(gateway.pid)
        reader = threading.Thread(target=read, daemon=True)
        t0 = time.time()
        reader.start()
        step = seconds / 10
        while not done.wait(timeout=step):
            samples.append((time.time() - t0, rss_kib(gateway.pid), received[0]))
        samples.append((time.time() - t0, rss_kib(gateway.pid), received[0]))
        print(f"\n{route}: {path} as {model}, {seconds} s at {Provider.rate} chunks/s; RSS before "
              f"the stream {start_rss / 1024:.1f} MiB")
        print("| t (s) | gateway RSS (MiB) | received (MiB) |\n|---|---|---|")
        for t, rss, got in samples:
            print(f"| {t:.0f} | {rss / 1024:.1f} | {got / 1048576:.2f} |")
    finally:
        gateway.terminate()
        gateway.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--rate", type=int, default=200, help="chunks per second")
    p.add_argument("--routes", default="native,responses,messages")
    a = p.parse_args()
    Provider.seconds, Provider.rate = a.seconds, a.rate
    provider_port = bench.free_port()
    server = ThreadingHTTPServer(("127.0.0.1", provider_port), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as work:
        for route in a.routes.split(","):
            run_route(os.path.abspath(a.binary), route, provider_port, a.seconds, work)
    server.shutdown()


if __name__ == "__main__":
    main()
