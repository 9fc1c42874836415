# Shared by the test runners (tests/e2e/run.sh, tests/clients/run.sh): build the server binary when
# it is older than its sources, and find free ports. Source it; it needs $root set to the checkout.

target="${CARGO_TARGET_DIR:-$root/target}"
bin="${E2E_BIN:-$target/debug/code-router}"   # E2E_BIN: test a given binary as is (no build)

# Builds when the binary is missing or older than any source or asset it embeds. Debug builds read
# assets/ from disk at run time, so asset edits alone need no rebuild.
build_binary() {
  if [ -z "${E2E_BIN:-}" ] && { [ ! -x "$bin" ] || [ -n "$(find "$root/src" "$root/Cargo.toml" "$root/Cargo.lock" "$root/schema.sql" -newer "$bin" -print -quit)" ]; }; then
    echo "tests: cargo build"
    (cd "$root" && cargo build --quiet)
  fi
}

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Waits until $1 answers 2xx, or the process $2 has exited (then fails).
wait_for_http() {
  for _ in $(seq 1 100); do
    if node -e "fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$1"; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then echo "tests: the server exited" >&2; return 1; fi
    sleep 0.1
  done
  echo "tests: $1 did not answer" >&2
  return 1
}
