#!/usr/bin/env bash
# Runs the console's end-to-end tests in headless Chromium against a fresh server:
#   installs Debian's chromium if missing, npm ci if node_modules is missing, builds the server if
#   needed (honouring CARGO_TARGET_DIR), starts a fake upstream and the server on free ports with a
#   temp data dir, creates and funds an admin, runs `node --test`, and always stops both.
# Usage: tests/e2e/run.sh [extra node --test args]     Exit status: non-zero on any failure.
# Screenshots of every page (1366px and 390px) land in tests/e2e/artifacts/ (git-ignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "e2e: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

build_binary

work="$(mktemp -d "${TMPDIR:-/tmp}/code-router-e2e.XXXXXX")"
fake_pid=""
server_pid=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fi
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "e2e: last server log lines:" >&2
    tail -n 30 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

fake_port="$(free_port)"
port="$(free_port)"
base="http://127.0.0.1:$port"

node "$here/fake-upstream.js" "$fake_port" >"$work/fake.log" 2>&1 &
fake_pid=$!

config="$work/config.toml"
cat >"$config" <<EOF
[server]
public_url = "$base"
registrations_per_ip_hour = 100
login_attempts = 100

[[upstreams]]
name = "demo"
kind = "demo"
models = ["demo:free"]

[[upstreams]]
name = "fake"
base_url = "http://127.0.0.1:$fake_port/v1"
api_key = "sk-fake-upstream"
models = ["e2e-model"]

[models."e2e-model"]
input = "2"
output = "8"

[models."demo:free"]

[groups]
default = "1"
vip = "0.8"
EOF

# Sections for features that may not be on this build yet: kept only when the binary accepts them
# (a refused one returns 1, so a simpler fallback can follow with ||).
add_if_known() {
  local section="$1"
  cp "$config" "$config.try"
  printf '\n%s\n' "$section" >>"$config.try"
  if "$bin" config check --config "$config.try" >/dev/null 2>&1; then
    mv "$config.try" "$config"
  else
    echo "e2e: this build does not know: $(printf '%s' "$section" | head -n 1)"
    rm -f "$config.try"
    return 1
  fi
}
add_if_known '[referral]
enabled = true
inviter_reward = "1"
invitee_reward = "0.5"
commission_percent = "10"
commission_topups = 2' || add_if_known '[referral]
enabled = true
inviter_reward = "1"
invitee_reward = "0.5"' || true
epay_key="e2e-epay-key"
add_if_known "[payments.epay]
enabled = true
pid = \"1001\"
key = \"$epay_key\"
gateway_url = \"http://127.0.0.1:$fake_port\"
rate = \"7.2\"
presets = [\"10\", \"20\", \"50\"]" || true
nowpay_ipn="e2e-nowpayments-ipn"
add_if_known "[payments.nowpayments]
enabled = true
api_key = \"e2e-nowpayments-key\"
ipn_secret = \"$nowpay_ipn\"
api_base = \"http://127.0.0.1:$fake_port\"" || true
"$bin" config check --config "$config"

data="$work/data"
admin_password="e2e-admin-$(node -e "console.log(require('crypto').randomBytes(9).toString('hex'))")"
printf '%s\n' "$admin_password" | "$bin" user create --config "$config" --data "$data" --username admin --admin --password-stdin
"$bin" user adjust --config "$config" --data "$data" --username admin --amount 5 --reason "e2e funding" >/dev/null

"$bin" serve --config "$config" --data "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_http "$base/healthz" "$server_pid"
grep -q '^ready' "$work/fake.log" || sleep 0.5

echo "e2e: server $base, fake upstream :$fake_port"
cd "$here"
E2E_BASE_URL="$base" E2E_EPAY_KEY="$epay_key" E2E_NOWPAY_IPN="$nowpay_ipn" E2E_ADMIN_USERNAME=admin E2E_ADMIN_PASSWORD="$admin_password" \
  node --test --test-concurrency=1 "$@" ./*.test.js
