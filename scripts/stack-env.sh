# Sourced by scripts/destroy.sh and scripts/status.sh: what a deployed stack's function is
# configured with, so that ghaec2 runs here, with the operator's AWS credentials, as the
# function would. Needs `script` (the caller's name, for errors) set by the caller.
# Environment: REGION (default: the AWS CLI's), GHAEC2 (a ghaec2 binary for this machine).

region_flag=()
if [ -n "${REGION:-}" ]; then region_flag=(--region "$REGION"); fi

die() { echo "$script: $*" >&2; exit 1; }

# Sets function_name, rule (the schedule rule; empty if the stack has none) and variables (the
# function's environment as NAME=VALUE arguments for env(1), with its region from its ARN:
# Lambda sets AWS_REGION itself, so it is not among them).
read_stack() {
  local stack="$1" outputs configuration
  outputs="$(aws cloudformation describe-stacks "${region_flag[@]}" --stack-name "$stack" \
    --query 'Stacks[0].Outputs' --output json)" || die "cannot read stack $stack"
  output() {
    python3 -c 'import json, sys
print(next((o["OutputValue"] for o in json.load(sys.stdin) or [] if o["OutputKey"] == sys.argv[1]), ""))' "$1" <<<"$outputs"
  }
  function_name="$(output FunctionName)"
  rule="$(output ScheduleRule)"
  [ -n "$function_name" ] || die "stack $stack has no FunctionName output"
  configuration="$(aws lambda get-function-configuration "${region_flag[@]}" \
    --function-name "$function_name" --output json)" || die "cannot read function $function_name"
  mapfile -d '' variables < <(python3 -c 'import json, sys
config = json.load(sys.stdin)
for name, value in sorted(((config.get("Environment") or {}).get("Variables") or {}).items()):
    sys.stdout.write(f"{name}={value}\0")
sys.stdout.write("AWS_REGION=" + config["FunctionArn"].split(":")[3] + "\0")' <<<"$configuration")
}

# Sets ghaec2 (the binary: GHAEC2, or cargo's debug build, which the caller builds) and
# inherited (only the operator's AWS settings: nothing else of this shell, e.g. a GITHUB_TOKEN
# for local runs, reaches ghaec2).
local_ghaec2() {
  ghaec2="${GHAEC2:-${CARGO_TARGET_DIR:-target}/debug/ghaec2}"
  inherited=()
  local name
  for name in PATH HOME AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
    AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_CA_BUNDLE AWS_ENDPOINT_URL RUST_LOG; do
    if [ -n "${!name:-}" ]; then inherited+=("$name=${!name}"); fi
  done
}
