#!/usr/bin/env bash
# The real Lambda handler end to end, offline: `cargo lambda watch` (the Lambda runtime API
# emulator, running src/main.rs's handler as a native debug build) against the stand-ins (moto +
# the fake Actions Service, see scripts/stand-ins.sh), then `cargo lambda invoke` with the
# committed events:
#   1. events/scheduled.json: creates the scale set and the session;
#   2. one job queued on the fake, then every other events/*.json but events/dry-run.json;
#   3. events/dry-run.json: the dry run inside the handler, which must pass.
# Each cycle's response must be the JSON summary of a completed cycle, all with the first
# invocation's session (persisted in DynamoDB in between). Stops everything it started.
#   scripts/invoke-roundtrip.sh             (DRAIN_WINDOW_SECONDS defaults to 3 here)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -z "${FAKE_URL:-}" ]; then
  exec "$root/scripts/stand-ins.sh" "$0" "$@"
fi
start=$(date +%s)
bin="$("$root/scripts/venv.sh")/bin"
export PATH="$bin:$PATH"
export DRAIN_WINDOW_SECONDS="${DRAIN_WINDOW_SECONDS:-3}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="${TMPDIR:-/tmp}/ghaec2-watch-$port.log"

# In its own process group, so the watcher, cargo and the function all stop together.
setsid cargo lambda watch --bin ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
  --timeout 600 >"$log" 2>&1 &
watch_pid=$!
trap 'kill -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$watch_pid" 2>/dev/null || { cat "$log" >&2; echo "cargo lambda watch failed" >&2; exit 1; }
  sleep 0.2
done

# Checks one response (RESPONSE); prints its session id. EXPECT: instances it should launch.
check='
import json, os, sys
summary = json.loads(os.environ["RESPONSE"])
keys = ("scaleSetId", "sessionId", "messagesProcessed", "lastMessageId", "jobsAcquired",
        "desired", "current", "launched", "terminated", "reason")
problems = [f"missing {k}" for k in keys if k not in summary]
reason = summary.get("reason")
if reason not in ("window_over", "deadline"):
    problems.append(f"reason {reason!r}")
if not isinstance(summary.get("scaleSetId"), int) or not summary.get("sessionId"):
    problems.append("no scale set or session")
if os.environ["SESSION"] and summary.get("sessionId") != os.environ["SESSION"]:
    problems.append("the session was not reused")
# cargo lambda watch sends a fixed Lambda-Runtime-Deadline-Ms of 600000 (in 1970), so the
# handler finds its deadline (minus the safety margin) passed on arrival: it persists and
# returns without listening (reason "deadline") and cannot launch. With a real deadline it
# listens for DRAIN_WINDOW_SECONDS and launches for the queued job.
expected = int(os.environ["EXPECT"]) if reason == "window_over" else 0
launched = summary.get("launched")
if launched != expected:
    problems.append(f"launched {launched}, expected {expected}")
if problems:
    sys.exit("invoke-roundtrip: " + "; ".join(problems))
print(summary["sessionId"])
'
SESSION=''
invoke() {
  local file="$1" expect_launched="$2" response t0
  t0=$(date +%s%N)
  response="$(cargo lambda invoke ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$file" --output-format json)" || { tail -50 "$log" >&2; return 1; }
  echo "$file: $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(echo "$response" | tr -d ' \n')"
  SESSION="$(RESPONSE="$response" EXPECT="$expect_launched" SESSION="$SESSION" python3 -c "$check")"
}

invoke events/scheduled.json 0
curl -fsS -X POST "$FAKE_URL/_fake/jobs" -H 'Content-Type: application/json' \
  -d "{\"labels\":[\"$RUNNER_SCALE_SET_NAME\"]}" >/dev/null
launched=1
for file in events/*.json; do
  case "$file" in events/scheduled.json | events/dry-run.json) continue ;; esac
  invoke "$file" "$launched"
  launched=0
done

# The dry run inside the handler: a report whose every check passed, and no cycle.
response="$(cargo lambda invoke ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
  --data-file events/dry-run.json --output-format json)" || { tail -50 "$log" >&2; exit 1; }
echo "events/dry-run.json: $(echo "$response" | tr -d '\n' | cut -c1-300)"
RESPONSE="$response" python3 -c '
import json, os, sys
report = json.loads(os.environ["RESPONSE"])
failed = [c for c in report.get("checks", []) if c.get("outcome") != "passed"]
if report.get("dryRun") != "passed" or failed or not report.get("checks"):
    sys.exit(f"invoke-roundtrip: the dry run did not pass: {failed or report}")
if "sessionId" in report:
    sys.exit("invoke-roundtrip: the dry-run event ran a cycle")
'

echo "invoke-roundtrip: passed in $(( $(date +%s) - start )) s (watch log: $log)"
