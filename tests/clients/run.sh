#!/usr/bin/env bash
# Runs the real-client tests: the official OpenAI and Anthropic Python SDKs, and the Claude Code
# and Codex CLIs from npm, against a fresh server, whose upstreams are the fake provider in
# fake_upstream.mjs. Installs the pinned SDKs (pip, into .pydeps) and npm packages when missing
# or changed, builds the server if needed, starts both on free ports with a temp data dir, creates
# and funds a member, runs every test_*.py and *.test.mjs here, checks the books with
# `code-router audit`, and always stops both.
# Usage: tests/clients/run.sh     Exit status: non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

pydeps="$here/.pydeps"
if ! PYTHONPATH="$pydeps" python3 -c "import openai, anthropic" 2>/dev/null \
  || ! cmp -s "$here/requirements.txt" "$pydeps/.requirements.txt"; then
  echo "clients: pip install"
  rm -rf "$pydeps"
  python3 -m pip install --quiet --disable-pip-version-check --target "$pydeps" -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$pydeps/.requirements.txt"
fi
# Installs from the lockfile when node_modules is missing or was installed from another lockfile
# (a CLI added or bumped since), as the pip step does with requirements.txt.
if [ -f "$here/package.json" ] && { [ ! -d "$here/node_modules" ] \
  || ! cmp -s "$here/package-lock.json" "$here/node_modules/.clients-package-lock.json"; }; then
  echo "clients: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$here/node_modules/.clients-package-lock.json"
fi
build_binary

work="$(mktemp -d "${TMPDIR:-/tmp}/code-router-clients.XXXXXX")"
fake_pid=""
server_pid=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fi
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "clients: last server log lines:" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

fake_port="$(free_port)"
port="$(free_port)"
base="http://127.0.0.1:$port"
node "$here/fake_upstream.mjs" "$fake_port" >"$work/fake.log" 2>&1 &
fake_pid=$!

config="$work/config.toml"
cat >"$config" <<TOML
[server]
public_url = "$base"
login_attempts = 1000

[[upstreams]]
name = "fake-openai"
base_url = "http://127.0.0.1:$fake_port/openai/v1"
api_key = "sk-fake-openai"
# claude-translated: Claude's own format from the client, chat completions to this upstream; so
# is gpt-fake asked in the Responses API (no "responses = true" here: translated).
models = ["gpt-fake", "claude-translated"]

# The same fake provider, serving the Responses API natively: /v1/responses passed through.
[[upstreams]]
name = "fake-responses"
base_url = "http://127.0.0.1:$fake_port/openai/v1"
api_key = "sk-fake-openai"
responses = true
models = ["gpt-native"]

[[upstreams]]
name = "fake-anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:$fake_port/anthropic"
api_key = "sk-ant-fake"
models = ["claude-native"]

# As an operator prices an OpenAI model with prompt caching.
[models."gpt-fake"]
input = "2"
output = "8"
cache_read = "0.5"

[models."gpt-native"]
input = "2"
output = "8"
cache_read = "0.5"

# As an operator prices a Claude model: reads at 0.1x, writes at 1.25x (5m) and 2x (1h).
[models."claude-native"]
input = "3"
output = "15"
cache_read = "0.3"
cache_write = "3.75"
cache_write_1h = "6"

[models."claude-translated"]
input = "3"
output = "15"
cache_read = "0.3"
cache_write = "3.75"
cache_write_1h = "6"
TOML
"$bin" config check --config "$config" >/dev/null

data="$work/data"
password="clients-$(node -e "console.log(require('crypto').randomBytes(9).toString('hex'))")"
printf '%s\n' "$password" | "$bin" user create --config "$config" --data "$data" --username member --password-stdin >/dev/null
"$bin" user adjust --config "$config" --data "$data" --username member --amount 10 --reason "client tests" >/dev/null

"$bin" serve --config "$config" --data "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_http "$base/healthz" "$server_pid"
until grep -q '^ready' "$work/fake.log"; do sleep 0.1; done

export CR_BASE_URL="$base" CR_USERNAME=member CR_PASSWORD="$password" CR_FAKE="http://127.0.0.1:$fake_port"
echo "clients: server $base, fake provider :$fake_port"
cd "$here"
PYTHONPATH="$pydeps:$here" python3 -m unittest discover -s "$here" -p 'test_*.py' -v
shopt -s nullglob
node_tests=(./*.test.mjs)
if [ ${#node_tests[@]} -gt 0 ]; then
  node --test --test-concurrency=1 "${node_tests[@]}"
fi

kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
"$bin" audit --config "$config" --data "$data"
