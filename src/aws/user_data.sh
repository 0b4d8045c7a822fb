#!/bin/bash
# ghaec2 runner bootstrap (rendered from src/aws/user_data.sh; it holds no secret).
# Fetches this instance's JIT config from DynamoDB, deletes it, runs the runner once as a
# non-root user, and powers off whatever happens (shutdown behaviour `terminate` ends the
# instance). Needs on the AMI: bash, curl, the AWS CLI and the runner in RUNNER_DIR.
set +x
set -uo pipefail

TABLE='@@TABLE_NAME@@'
REGION='@@REGION@@'
# Partition key: this prefix + the instance id (ghaec2's InstanceArns::jit_pk).
KEY_PREFIX='@@JIT_KEY_PREFIX@@'
PK_ATTRIBUTE='@@PARTITION_KEY@@'
SK_ATTRIBUTE='@@SORT_KEY@@'
SORT_KEY='@@JIT_SORT_KEY@@'
CONFIG_ATTRIBUTE='@@JIT_CONFIG_ATTRIBUTE@@'
MIN_RUNNER_VERSION='@@MIN_RUNNER_VERSION@@'
WAIT_SECONDS='@@JIT_WAIT_SECONDS@@'
RUNNER_DIR='/opt/actions-runner'
RUNNER_USER='runner'
IMDS='http://169.254.169.254'

log() { echo "ghaec2-runner: $*"; }

# Power off on every exit path: the instance must never outlive its one job.
trap 'log "powering off"; systemctl poweroff || shutdown -h now' EXIT

# IMDSv2: a session token first, then every read with it.
imds_token="$(curl -fsS -X PUT "$IMDS/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" \
  || { log "no IMDSv2 token"; exit 1; }
instance_id="$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/instance-id")" \
  || { log "no instance id"; exit 1; }
key="{\"$PK_ATTRIBUTE\":{\"S\":\"$KEY_PREFIX$instance_id\"},\"$SK_ATTRIBUTE\":{\"S\":\"$SORT_KEY\"}}"

id -u "$RUNNER_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$RUNNER_USER"
if getent group docker >/dev/null; then usermod -aG docker "$RUNNER_USER"; fi
chown -R "$RUNNER_USER:" "$RUNNER_DIR"

# Refuse a runner the service would reject anyway, before taking the JIT config.
if [ -n "$MIN_RUNNER_VERSION" ]; then
  version="$(runuser -u "$RUNNER_USER" -- "$RUNNER_DIR/bin/Runner.Listener" --version 2>/dev/null | tr -d '[:space:]')"
  lowest="$(printf '%s\n%s\n' "$MIN_RUNNER_VERSION" "$version" | sort -V | head -n1)"
  if [ -z "$version" ] || [ "$lowest" != "$MIN_RUNNER_VERSION" ]; then
    log "runner version '${version:-unknown}' is below $MIN_RUNNER_VERSION"
    exit 1
  fi
fi

# ghaec2 writes the JIT config right after the launch returns: wait for it, bounded.
jit=''
deadline=$((SECONDS + WAIT_SECONDS))
while [ "$SECONDS" -lt "$deadline" ]; do
  jit="$(aws dynamodb get-item --region "$REGION" --table-name "$TABLE" --key "$key" \
    --consistent-read --projection-expression '#c' \
    --expression-attribute-names "{\"#c\":\"$CONFIG_ATTRIBUTE\"}" \
    --query "Item.$CONFIG_ATTRIBUTE.S" --output text 2>/dev/null)" || jit=''
  if [ -n "$jit" ] && [ "$jit" != 'None' ]; then break; fi
  jit=''
  sleep 2
done
# Delete right after reading (or giving up), so the config exists in one place only.
aws dynamodb delete-item --region "$REGION" --table-name "$TABLE" --key "$key" >/dev/null \
  || log "could not delete the JIT config; ghaec2 deletes it later"
if [ -z "$jit" ]; then
  log "no JIT config after $WAIT_SECONDS s"
  exit 1
fi

# Through the environment, not argv, so it never shows in `ps`; the runner reads
# ACTIONS_RUNNER_INPUT_JITCONFIG as --jitconfig and clears it. runuser keeps the environment.
log "starting the runner"
cd "$RUNNER_DIR" || exit 1
export ACTIONS_RUNNER_INPUT_JITCONFIG="$jit"
unset jit
runuser -u "$RUNNER_USER" -- "$RUNNER_DIR/run.sh"
status=$?
unset ACTIONS_RUNNER_INPUT_JITCONFIG
log "runner exited with status $status"
exit "$status"
