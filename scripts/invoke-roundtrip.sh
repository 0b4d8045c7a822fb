#!/usr/bin/env bash
# The real Lambda handler end to end, offline: `cargo lambda watch` (the Lambda runtime API
# emulator, running src/main.rs's handler as a native debug build) against the stand-ins (moto +
# the fake Actions Service, see scripts/stand-ins.sh), then `cargo lambda invoke` with the
# committed events, in two phases on the same stand-ins:
#   one scale set (the stand-ins' variables):
#     1. events/scheduled.json: creates the scale set and the session;
#     2. one job queued on the fake, then every other cycle event (manual.json);
#     3. events/spot-interruption.json: ignored (no ledger holds its instance); then the same
#        warning for the job's instance: removed, terminated and replaced in the invocation;
#     4. events/dry-run.json: the dry run inside the handler, which must pass;
#   two scale sets (SCALE_SETS, a new function process):
#     5. events/scheduled.json: {"scaleSets":[…, …]}, each with its own scale set and session;
#     6. one job for the second, then events/manual.json: the same sessions, and only the
#        second launches;
#     7. events/dry-run.json: passes with the checks of both.
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

# Starts the function under `cargo lambda watch` with the current environment (its own process
# group, so the watcher, cargo and the function all stop together); sets port and log.
watch_pid=''
start_watch() {
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  log="${TMPDIR:-/tmp}/ghaec2-watch-$port.log"
  setsid cargo lambda watch --bin ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
    --timeout 600 >"$log" 2>&1 &
  watch_pid=$!
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    kill -0 "$watch_pid" 2>/dev/null || { cat "$log" >&2; echo "cargo lambda watch failed" >&2; exit 1; }
    sleep 0.2
  done
  echo "cargo lambda watch did not answer on port $port" >&2
  exit 1
}
stop_watch() {
  [ -n "$watch_pid" ] || return 0
  kill -- "-$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  watch_pid=''
}
trap stop_watch EXIT INT TERM

# Checks one response (RESPONSE) of the scale sets NAMES (a JSON list: one name expects the
# single summary, several {"scaleSets":[…]} in that order); prints their sessions as a JSON
# list. EXPECT: the instances each should launch; SESSIONS: the sessions they must still have
# ("" on the first invocation).
check='
import json, os, sys
response = json.loads(os.environ["RESPONSE"])
names = json.loads(os.environ["NAMES"])
expect = json.loads(os.environ["EXPECT"])
sessions = json.loads(os.environ["SESSIONS"] or "null")
if len(names) == 1:
    summaries = [response]
elif list(response) == ["scaleSets"] and len(response["scaleSets"]) == len(names):
    summaries = response["scaleSets"]
else:
    sys.exit(f"invoke-roundtrip: expected {{\"scaleSets\":[…]}} of {names}, got {response}")
keys = ("scaleSetId", "sessionId", "messagesProcessed", "lastMessageId", "jobsAcquired",
        "desired", "current", "launched", "terminated", "reason")
problems = []
for n, (name, summary) in enumerate(zip(names, summaries)):
    problems.extend(f"{name}: missing {k}" for k in keys if k not in summary)
    got_name, reason, launched = (summary.get(k) for k in ("scaleSetName", "reason", "launched"))
    if len(names) > 1 and got_name != name:
        problems.append(f"{name}: in its place is {got_name!r}")
    if reason != "window_over":
        problems.append(f"{name}: reason {reason!r}")
    if not isinstance(summary.get("scaleSetId"), int) or not summary.get("sessionId"):
        problems.append(f"{name}: no scale set or session")
    if sessions and summary.get("sessionId") != sessions[n]:
        problems.append(f"{name}: the session was not reused")
    if launched != expect[n]:
        problems.append(f"{name}: launched {launched}, expected {expect[n]}")
for field in ("scaleSetId", "sessionId"):
    if len({s.get(field) for s in summaries}) != len(summaries):
        problems.append(f"the scale sets share a {field}")
if problems:
    sys.exit("invoke-roundtrip: " + "; ".join(problems))
print(json.dumps([s["sessionId"] for s in summaries]))
'
SESSIONS=''
invoke() {
  local file="$1" names="$2" expect="$3" response t0
  t0=$(date +%s%N)
  response="$(cargo lambda invoke ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$file" --output-format json)" || { tail -50 "$log" >&2; return 1; }
  echo "$file: $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(echo "$response" | tr -d ' \n')"
  SESSIONS="$(RESPONSE="$response" NAMES="$names" EXPECT="$expect" SESSIONS="$SESSIONS" \
    python3 -c "$check")"
}

# The dry run inside the handler for the scale sets NAMES (a JSON list): a report whose every
# check passed, with an EC2 launch check for each (naming it when there are several), and no
# cycle.
dry_run() {
  local names="$1" response
  response="$(cargo lambda invoke ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file events/dry-run.json --output-format json)" || { tail -50 "$log" >&2; exit 1; }
  echo "events/dry-run.json: $(echo "$response" | tr -d '\n' | cut -c1-300)"
  RESPONSE="$response" NAMES="$names" python3 -c '
import json, os, sys
report = json.loads(os.environ["RESPONSE"])
names = json.loads(os.environ["NAMES"])
checks = report.get("checks", [])
failed = [c for c in checks if c.get("outcome") != "passed"]
if report.get("dryRun") != "passed" or failed or not checks:
    sys.exit(f"invoke-roundtrip: the dry run did not pass: {failed or report}")
launches = [c["text"] for c in checks if c.get("name") == "ec2 launch"]
named = len(names) == 1 or all(t.startswith(f"{n}: ") for n, t in zip(names, launches))
if len(launches) != len(names) or not named:
    sys.exit(f"invoke-roundtrip: expected an ec2 launch check for each of {names}: {launches}")
if "sessionId" in report or "scaleSets" in report:
    sys.exit("invoke-roundtrip: the dry-run event ran a cycle")
'
}

# A spot interruption warning for INSTANCE ("" keeps events/spot-interruption.json's, which no
# ledger holds): HANDLED is what the response must say was done ("" for an ignored warning,
# {"scaleSets":[]}); then the replacement EXPECT launched.
spot() {
  local instance="$1" handled="$2" expect="$3" file="${TMPDIR:-/tmp}/ghaec2-spot-$port.json"
  INSTANCE="$instance" python3 -c '
import json, os
event = json.load(open("events/spot-interruption.json"))
if os.environ["INSTANCE"]:
    event["detail"]["instance-id"] = os.environ["INSTANCE"]
print(json.dumps(event))' >"$file"
  local response
  response="$(cargo lambda invoke ghaec2 --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$file" --output-format json)" || { tail -50 "$log" >&2; exit 1; }
  echo "spot interruption ${instance:-(not ours)}: $(echo "$response" | tr -d ' \n' | cut -c1-400)"
  RESPONSE="$response" HANDLED="$handled" EXPECT="$expect" INSTANCE="$instance" python3 -c '
import json, os, sys
response, handled = json.loads(os.environ["RESPONSE"]), os.environ["HANDLED"]
if not handled:
    if response != {"scaleSets": []}:
        sys.exit(f"invoke-roundtrip: a warning for an instance no ledger holds ran: {response}")
    sys.exit(0)
interruption = response.get("interruption") or {}
instance, expect = os.environ["INSTANCE"], int(os.environ["EXPECT"])
launched, terminated = response.get("launched"), response.get("terminated")
problems = []
if interruption.get("instanceId") != instance or interruption.get("handled") != handled:
    problems.append(f"interruption {interruption}, expected {handled} of {instance}")
if (launched, terminated) != (expect, 1):
    problems.append(f"launched {launched}, terminated {terminated}, expected {expect} and 1")
if problems:
    sys.exit("invoke-roundtrip: spot interruption: " + "; ".join(problems))
'
}

# A live instance of the deployment, from EC2 (moto).
live_instance() {
  python3 -c '
import boto3, os
ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                   region_name=os.environ.get("AWS_REGION", "us-east-1"))
pages = ec2.describe_instances(Filters=[
    {"Name": "tag:ghaec2:managed-by", "Values": ["ghaec2"]},
    {"Name": "instance-state-name", "Values": ["pending", "running"]}])
ids = [i["InstanceId"] for r in pages["Reservations"] for i in r["Instances"]]
print(ids[0] if ids else "")'
}

queue_job() {
  curl -fsS -X POST "$FAKE_URL/_fake/jobs" -H 'Content-Type: application/json' \
    -d "{\"labels\":[\"$1\"]}" >/dev/null
}

echo "invoke-roundtrip: one scale set ($RUNNER_SCALE_SET_NAME)"
start_watch
one="[\"$RUNNER_SCALE_SET_NAME\"]"
invoke events/scheduled.json "$one" '[0]'
queue_job "$RUNNER_SCALE_SET_NAME"
launched=1
for file in events/*.json; do
  case "$file" in events/scheduled.json | events/dry-run.json | events/spot-interruption.json) continue ;; esac
  invoke "$file" "$one" "[$launched]"
  launched=0
done
spot "" "" 0
# The job's runner, still booting: removed at once, and replaced within the invocation.
instance="$(live_instance)"
[ -n "$instance" ] || { echo "invoke-roundtrip: no live instance to interrupt" >&2; exit 1; }
spot "$instance" removed 1
dry_run "$one"
stop_watch

echo "invoke-roundtrip: two scale sets (SCALE_SETS)"
export SCALE_SETS='[{"RUNNER_SCALE_SET_NAME":"roundtrip-x64"},
  {"RUNNER_SCALE_SET_NAME":"roundtrip-arm64","EC2_INSTANCE_TYPE":"t4g.micro,t4g.small"}]'
two='["roundtrip-x64","roundtrip-arm64"]'
SESSIONS=''
start_watch
invoke events/scheduled.json "$two" '[0,0]'
queue_job roundtrip-arm64
invoke events/manual.json "$two" '[0,1]'
dry_run "$two"

echo "invoke-roundtrip: passed in $(( $(date +%s) - start )) s (watch logs: ${TMPDIR:-/tmp}/ghaec2-watch-*.log)"
