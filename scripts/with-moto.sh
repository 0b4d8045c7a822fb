#!/usr/bin/env bash
# Runs a command with moto_server on a free loopback port, and stops moto (by PID) when the
# command ends, Ctrl-C included. The command sees AWS_ENDPOINT_URL and dummy credentials.
set -euo pipefail
venv="$("$(dirname "$0")/venv.sh")"
port="${MOTO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
log="${TMPDIR:-/tmp}/ghaec2-moto-$port.log"
# In a session of its own where setsid exists (Linux): a Ctrl-C in the terminal then reaches the
# command but not moto, so the command can still persist on its way out; the trap stops moto.
if command -v setsid >/dev/null 2>&1; then
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
else
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
fi
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT INT TERM HUP
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto_server failed to start, see $log" >&2; exit 1; }
  sleep 0.1
done
echo "moto_server ready on 127.0.0.1:$port (pid $moto_pid)" >&2
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
"$@"
