#!/usr/bin/env bash
# `make destroy`: takes a deployed ghaec2 stack down for good.
#
#   1. reads the stack: its outputs (function, schedule rule) and the function's environment,
#      so the operator repeats none of the configuration;
#   2. stops every new invocation: the function's reserved concurrency goes to 0 (a tick
#      EventBridge already handed to Lambda is throttled until its 60 s maximum event age drops
#      it) and the schedule rule is disabled. A tick that started after the teardown and before
#      the stack is gone would find no state and create the scale set and runners again. Then it
#      pauses SETTLE_SECONDS (20): an invocation that started just before has taken the lease by
#      then (its start-up is Lambda's init phase, at most 10 s), so the teardown waits for it;
#   3. runs `ghaec2 --teardown` here, with the function's configuration and the operator's AWS
#      credentials (it waits for a running invocation through the scale set's lease);
#   4. `sam delete`, only once the teardown succeeded.
#
# Usage: scripts/destroy.sh [--dry-run] [--yes] [ghaec2 --teardown flags...]
#   --dry-run  runs the reads, lists the changing calls without making them
#   --yes      no confirmation prompt
# Environment: STACK (default ghaec2), REGION (default: the AWS CLI's), GHAEC2 (a ghaec2
# binary for this machine; default: built with cargo), SETTLE_SECONDS (20).
set -euo pipefail

script=destroy

stack="${STACK:-ghaec2}"
dry_run=false
yes=false
teardown_flags=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    --yes) yes=true ;;
    *) teardown_flags+=("$arg") ;;
  esac
done

# A changing call: made, or only listed with --dry-run.
run() {
  if $dry_run; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    echo "+ $*" >&2
    "$@"
  fi
}

# 1. The stack's outputs and the function's configuration (read-only, also with --dry-run).
# shellcheck source=scripts/stack-env.sh
source "$(dirname "$0")/stack-env.sh"
read_stack "$stack"
[ -n "$rule" ] || die "stack $stack has no ScheduleRule output"

if ! $dry_run && ! $yes; then
  read -r -p "Delete stack $stack, its scale set, runners and instances? Type the stack name: " answer
  [ "$answer" = "$stack" ] || die "not confirmed"
fi

# 2. No new invocation from here on.
run aws lambda put-function-concurrency "${region_flag[@]}" --function-name "$function_name" \
  --reserved-concurrent-executions 0
run aws events disable-rule "${region_flag[@]}" --name "$rule"
run sleep "${SETTLE_SECONDS:-20}"

# 3. The teardown, with the function's configuration and only the operator's AWS settings
# (nothing else of this shell, e.g. a GITHUB_TOKEN for local runs, reaches it).
if [ -z "${GHAEC2:-}" ]; then run cargo build --locked --bin ghaec2; fi
local_ghaec2
if $dry_run; then
  names=("${variables[@]%%=*}")
  echo "would run: $ghaec2 --teardown ${teardown_flags[*]} with ${names[*]}"
elif ! env -i "${inherited[@]}" "${variables[@]}" "$ghaec2" --teardown "${teardown_flags[@]}"; then
  cat >&2 <<EOF
destroy: the teardown stopped (see above); the stack is left and its schedule stays off.
  Run make destroy again to continue. To resume scaling instead:
  aws lambda delete-function-concurrency --function-name $function_name
  (or put-function-concurrency with your ReservedConcurrency)
  aws events enable-rule --name $rule
EOF
  exit 1
fi

# 4. The stack: nothing holds its security group or references its table any more.
run sam delete "${region_flag[@]}" --stack-name "$stack" --no-prompts
