#!/usr/bin/env bash
# Installs Code Router on a Debian/Ubuntu VPS: the binary, a config, a data directory, a system
# user and a systemd unit. Safe to run again: an existing config and data are never overwritten.
#
#   sudo ./install.sh                 # system install (root), from a checkout or next to a binary
#   ./install.sh --prefix /tmp/cr     # everything under /tmp/cr, no systemd, no root needed
#   ./install.sh --binary ./code-router   # install this binary instead of building one
# From a checkout it builds the statically linked release binary (several minutes the first time).
set -euo pipefail

prefix=""
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
say() { echo "install.sh: $*"; }

# "dynamic" when an ELF file names a program interpreter (PT_INTERP, the loader that a
# dynamically linked program needs), else "static"; "not-elf" for anything else. Read with od,
# which every system has, rather than readelf or file, which a fresh VPS may lack.
elf_linking() {
  local file="$1" phoff phentsize phnum i
  [ "$(od -An -tx1 -N4 "$file" | tr -d ' \n')" = "7f454c46" ] || { echo not-elf; return; }
  phoff=$(od -An -tu8 -j32 -N8 "$file" | tr -d ' \n')
  phentsize=$(od -An -tu2 -j54 -N2 "$file" | tr -d ' \n')
  phnum=$(od -An -tu2 -j56 -N2 "$file" | tr -d ' \n')
  for ((i = 0; i < phnum; i++)); do
    if [ "$(od -An -tu4 -j$((phoff + i * phentsize)) -N4 "$file" | tr -d ' \n')" = 3 ]; then
      echo dynamic
      return
    fi
  done
  echo static
}

if [ -z "$prefix" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root for a system install, or pass --prefix DIR for a local one" >&2
  exit 1
fi

if [ -n "$prefix" ]; then
  mkdir -p "$prefix"
  prefix="$(cd "$prefix" && pwd)"
  bin_dir="$prefix/bin"; etc_dir="$prefix/etc/code-router"; data_dir="$prefix/var/lib/code-router"
else
  bin_dir="/usr/local/bin"; etc_dir="/etc/code-router"; data_dir="/var/lib/code-router"
fi

# 1. The binary: the one given, one lying next to this script, or a fresh build of this checkout:
#    the statically linked (static-pie) release binary, which needs nothing of the machine's
#    shared libraries, so it runs on any Linux of its architecture.
built=""
if [ -z "$binary" ]; then
  if [ -f "$here/Cargo.toml" ]; then
    command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is needed to build from a checkout (or pass --binary)" >&2; exit 1; }
    triple="$(uname -m)-unknown-linux-gnu"
    say "building the static release binary for $triple (the first build takes several minutes)"
    (cd "$here" && RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
      cargo build --release --locked --target "$triple")
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$here/$target_dir" ;; esac
    binary="$target_dir/$triple/release/code-router"
    built=yes
  elif [ -x "$here/code-router" ]; then
    binary="$here/code-router"
  else
    echo "install.sh: no binary found; pass --binary FILE" >&2
    exit 1
  fi
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }
linking="$(elf_linking "$binary")"
if [ "$linking" != static ] && [ -n "$built" ]; then
  echo "install.sh: the build at $binary is not statically linked ($linking); nothing was installed" >&2
  exit 1
fi
mkdir -p "$bin_dir"
install -m 0755 "$binary" "$bin_dir/code-router.new"
mv -f "$bin_dir/code-router.new" "$bin_dir/code-router"
if [ "$linking" = static ]; then
  say "binary: $bin_dir/code-router (statically linked)"
else
  say "binary: $bin_dir/code-router"
  say "warning: $binary is not statically linked ($linking): it needs this machine's shared libraries"
fi

# 2. The config, from the example, only if none is there yet; its data_dir points at $data_dir.
mkdir -p "$etc_dir"
if [ -f "$etc_dir/config.toml" ]; then
  say "config: $etc_dir/config.toml kept as it is"
else
  example="$here/config.example.toml"
  [ -f "$example" ] || { echo "install.sh: config.example.toml not found next to install.sh" >&2; exit 1; }
  sed -e "s|^data_dir = .*|data_dir = \"$data_dir\"|" "$example" > "$etc_dir/config.toml.new"
  mv "$etc_dir/config.toml.new" "$etc_dir/config.toml"
  chmod 0640 "$etc_dir/config.toml"
  say "config: $etc_dir/config.toml (edit it, then: code-router config check --config $etc_dir/config.toml)"
fi
"$bin_dir/code-router" config check --config "$etc_dir/config.toml" >/dev/null

# 3. Data directory, system user and service (system install only).
mkdir -p "$data_dir"
if [ -z "$prefix" ]; then
  if ! id code-router >/dev/null 2>&1; then
    useradd --system --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin code-router
    say "created system user code-router"
  fi
  chown -R code-router:code-router "$data_dir"
  chown root:code-router "$etc_dir/config.toml"
  chmod 0700 "$data_dir"
  cat > /etc/systemd/system/code-router.service.new <<UNIT
[Unit]
Description=Code Router LLM API gateway
After=network-online.target
Wants=network-online.target

[Service]
User=code-router
Group=code-router
ExecStart=$bin_dir/code-router serve --config $etc_dir/config.toml
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
RestartSec=2
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths=$data_dir
LimitNOFILE=65536
# Lets the request writer come back from the background when it falls behind.
LimitNICE=+0

[Install]
WantedBy=multi-user.target
UNIT
  mv /etc/systemd/system/code-router.service.new /etc/systemd/system/code-router.service
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable code-router >/dev/null
    systemctl restart code-router
    say "service code-router enabled and (re)started; the first admin password is in: journalctl -u code-router"
  else
    say "systemd is not running here; the unit is at /etc/systemd/system/code-router.service"
  fi
else
  say "data: $data_dir"
  say "start it with: $bin_dir/code-router serve --config $etc_dir/config.toml"
fi
