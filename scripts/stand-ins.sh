#!/usr/bin/env bash
# Runs a command against local stand-ins: moto_server (AWS) and the standalone fake Actions
# Service, both on loopback, both stopped (by PID) when the command ends, Ctrl-C included.
# The command sees the whole ghaec2 environment (GITHUB_*, EC2_*, STATE_TABLE_NAME, AWS_*)
# and FAKE_URL, the fake's base URL for its /_fake control API.
#   scripts/stand-ins.sh bash          # a shell with everything set
#   scripts/stand-ins.sh ghaec2 --once
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  exec "$root/scripts/with-moto.sh" "$0" "$@"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ghaec2-target}"
cargo build --quiet -p ghaec2-fake --bin ghaec2-fake --manifest-path "$root/Cargo.toml"
# ghaec2 itself, for commands like `scripts/stand-ins.sh ghaec2 --dry-run` (on PATH below).
cargo build --quiet --bin ghaec2 --manifest-path "$root/Cargo.toml"
port="${FAKE_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
ready="$(mktemp)"
"$CARGO_TARGET_DIR/debug/ghaec2-fake" --port "$port" --mode "${FAKE_MODE:-dotcom}" >"$ready" 2>"${TMPDIR:-/tmp}/ghaec2-fake-$port.log" &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; rm -f "$ready"' EXIT INT TERM
for _ in $(seq 1 100); do
  [ -s "$ready" ] && break
  kill -0 "$fake_pid" 2>/dev/null || { echo "ghaec2-fake failed to start" >&2; exit 1; }
  sleep 0.1
done
export FAKE_URL="http://127.0.0.1:$port"
eval "$(cargo run --quiet --example stand_ins --manifest-path "$root/Cargo.toml")"
export GITHUB_CONFIG_URL="$FAKE_URL/my-org" GITHUB_TOKEN="ghp_fake_token"
export RUNNER_SCALE_SET_NAME="${RUNNER_SCALE_SET_NAME:-local}" EC2_INSTANCE_TYPE="${EC2_INSTANCE_TYPE:-t3.micro,t3.small}"
export PATH="$CARGO_TARGET_DIR/debug:$PATH"
echo "stand-ins ready: fake $FAKE_URL, moto $AWS_ENDPOINT_URL, table $STATE_TABLE_NAME" >&2
"$@"
