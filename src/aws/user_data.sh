#!/bin/bash
# ghaec2 runner bootstrap (rendered from src/aws/user_data.sh; it holds no secret).
# Installs the pinned runner release when the image has none, fetches this instance's JIT
# config from DynamoDB, deletes it, runs the runner once as a non-root user, and powers off
# whatever happens (shutdown behaviour `terminate` ends the instance). When the runner cannot
# start, it leaves the reason where ghaec2's next cycle logs it. Needs bash, curl, the AWS CLI,
# tar and sha256sum: Amazon Linux 2023 ships them all.
set +x
set -uo pipefail

TABLE='@@TABLE_NAME@@'
REGION='@@REGION@@'
SCALE_SET='@@SCALE_SET_NAME@@'
# Partition key: this prefix + the instance id (ghaec2's InstanceArns::jit_pk).
KEY_PREFIX='@@JIT_KEY_PREFIX@@'
PK_ATTRIBUTE='@@PARTITION_KEY@@'
SK_ATTRIBUTE='@@SORT_KEY@@'
SORT_KEY='@@JIT_SORT_KEY@@'
CONFIG_ATTRIBUTE='@@JIT_CONFIG_ATTRIBUTE@@'
# The boot-failure record: same partition, its own sort key, exactly these attributes.
FAILURE_SORT_KEY='@@BOOT_FAILURE_SORT_KEY@@'
REASON_ATTRIBUTE='@@REASON_ATTRIBUTE@@'
INSTANCE_ATTRIBUTE='@@INSTANCE_ATTRIBUTE@@'
SCALE_SET_ATTRIBUTE='@@SCALE_SET_ATTRIBUTE@@'
TTL_ATTRIBUTE='@@TTL_ATTRIBUTE@@'
FAILURE_TTL_SECONDS='@@BOOT_FAILURE_TTL_SECONDS@@'
MIN_RUNNER_VERSION='@@MIN_RUNNER_VERSION@@'
WAIT_SECONDS='@@JIT_WAIT_SECONDS@@'
RUNNER_DIR='@@RUNNER_DIR@@'
RUNNER_VERSION='@@RUNNER_VERSION@@'
RUNNER_URL='@@RUNNER_URL@@'
RUNNER_SHA256_X64='@@RUNNER_SHA256_X64@@'
RUNNER_SHA256_ARM64='@@RUNNER_SHA256_ARM64@@'
RUNNER_USER='runner'
IMDS='@@IMDS_URL@@'

log() { echo "ghaec2-runner: $*"; }

# Power off on every exit path: the instance must never outlive its one job.
trap 'log "powering off"; systemctl poweroff || shutdown -h now' EXIT

# Bounded timeouts: a missing network must not outlast the JIT wait by minutes.
ddb() {
  aws dynamodb "$@" --region "$REGION" --table-name "$TABLE" \
    --cli-connect-timeout 5 --cli-read-timeout 10
}

# Ends the boot with a reason, recorded in this instance's own partition (the only one its
# role may write) for ghaec2 to log. Without network the record is lost; ghaec2 then sees the
# JIT config left unread instead.
fail() {
  log "$1"
  local reason expires
  reason="$(printf '%s' "$1" | tr -cd '[:alnum:] ._:()-' | cut -c1-200)"
  expires=$(($(date +%s) + FAILURE_TTL_SECONDS))
  ddb put-item --item "{\"$PK_ATTRIBUTE\":{\"S\":\"$KEY_PREFIX$instance_id\"},\
\"$SK_ATTRIBUTE\":{\"S\":\"$FAILURE_SORT_KEY\"},\"$REASON_ATTRIBUTE\":{\"S\":\"$reason\"},\
\"$INSTANCE_ATTRIBUTE\":{\"S\":\"$instance_id\"},\"$SCALE_SET_ATTRIBUTE\":{\"S\":\"$SCALE_SET\"},\
\"$TTL_ATTRIBUTE\":{\"N\":\"$expires\"}}" >/dev/null 2>&1 \
    || log "could not record the failure"
  exit 1
}

# Stock images have no runner: install the pinned release, checked against its published hash.
install_runner() {
  local arch sha tarball
  case "$(uname -m)" in
    x86_64) arch=x64 sha="$RUNNER_SHA256_X64" ;;
    aarch64) arch=arm64 sha="$RUNNER_SHA256_ARM64" ;;
    *) fail "no runner release for machine $(uname -m)" ;;
  esac
  log "installing runner $RUNNER_VERSION ($arch)"
  tarball="$(mktemp)" || fail "no temporary file for the runner download"
  curl -fsSL --retry 3 -o "$tarball" "$RUNNER_URL/actions-runner-linux-$arch-$RUNNER_VERSION.tar.gz" \
    || fail "downloading runner $RUNNER_VERSION failed"
  echo "$sha  $tarball" | sha256sum -c --status \
    || fail "runner $RUNNER_VERSION download does not match its SHA-256"
  { mkdir -p "$RUNNER_DIR" && tar -xzf "$tarball" -C "$RUNNER_DIR"; } \
    || fail "unpacking runner $RUNNER_VERSION failed"
  rm -f "$tarball"
  # The runner's installer knows Debian, Fedora/RHEL and SUSE, not Amazon Linux 2023 (it looks
  # for /etc/redhat-release): there dnf installs the libraries .NET needs.
  "$RUNNER_DIR/bin/installdependencies.sh" >/dev/null 2>&1 \
    || { command -v dnf >/dev/null && dnf install -y openssl-libs krb5-libs zlib libicu >/dev/null 2>&1; } \
    || fail "installing the runner dependencies failed"
}

# IMDSv2: a session token first, then every read with it.
imds_token="$(curl -fsS -X PUT "$IMDS/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" \
  || { log "no IMDSv2 token"; exit 1; }
instance_id="$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/instance-id")" \
  || { log "no instance id"; exit 1; }
[[ "$instance_id" =~ ^i-[0-9a-f]+$ ]] || { log "unexpected instance id"; exit 1; }
key="{\"$PK_ATTRIBUTE\":{\"S\":\"$KEY_PREFIX$instance_id\"},\"$SK_ATTRIBUTE\":{\"S\":\"$SORT_KEY\"}}"

id -u "$RUNNER_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$RUNNER_USER"
if getent group docker >/dev/null; then usermod -aG docker "$RUNNER_USER"; fi
[ -x "$RUNNER_DIR/bin/Runner.Listener" ] || install_runner
chown -R "$RUNNER_USER:" "$RUNNER_DIR"

# Refuse a runner the service would reject anyway, before taking the JIT config.
if [ -n "$MIN_RUNNER_VERSION" ]; then
  version="$(runuser -u "$RUNNER_USER" -- "$RUNNER_DIR/bin/Runner.Listener" --version 2>/dev/null | tr -d '[:space:]')"
  lowest="$(printf '%s\n%s\n' "$MIN_RUNNER_VERSION" "$version" | sort -V | head -n1)"
  if [ -z "$version" ] || [ "$lowest" != "$MIN_RUNNER_VERSION" ]; then
    fail "runner version ${version:-unknown} is below $MIN_RUNNER_VERSION"
  fi
fi

# ghaec2 writes the JIT config right after the launch returns: wait for it, bounded. A missing
# item, no answer or throttling is worth another try; any other AWS error (AccessDenied above
# all) will not change, so the wait ends at once.
errors="$(mktemp)" || fail "no temporary file"
jit=''
failure=''
deadline=$((SECONDS + WAIT_SECONDS))
while :; do
  jit="$(ddb get-item --key "$key" --consistent-read --projection-expression '#c' \
    --expression-attribute-names "{\"#c\":\"$CONFIG_ATTRIBUTE\"}" \
    --query "Item.$CONFIG_ATTRIBUTE.S" --output text 2>"$errors")" || jit=''
  if [ -n "$jit" ] && [ "$jit" != 'None' ]; then break; fi
  jit=''
  code="$(sed -n 's/.*An error occurred (\([A-Za-z]*\)).*/\1/p' "$errors" | head -n1)"
  case "$code" in
    '' | *Throttl* | *Exceeded* | InternalServerError | ServiceUnavailable) ;;
    *) failure="$code reading its JIT config" && break ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    failure="no JIT config after $WAIT_SECONDS s"
    break
  fi
  sleep 2
done
rm -f "$errors"
# Delete right after reading (or giving up), so the config exists in one place only.
ddb delete-item --key "$key" >/dev/null 2>&1 \
  || log "could not delete the JIT config; ghaec2 deletes it later"
[ -z "$failure" ] || fail "$failure"

# Through the environment, not argv, so it never shows in `ps`; the runner reads
# ACTIONS_RUNNER_INPUT_JITCONFIG as --jitconfig and clears it. runuser keeps the environment.
log "starting the runner"
cd "$RUNNER_DIR" || fail "no runner directory $RUNNER_DIR"
export ACTIONS_RUNNER_INPUT_JITCONFIG="$jit"
unset jit
runuser -u "$RUNNER_USER" -- "$RUNNER_DIR/run.sh"
status=$?
unset ACTIONS_RUNNER_INPUT_JITCONFIG
[ "$status" -eq 0 ] || fail "runner exited with status $status"
log "runner exited with status 0"
