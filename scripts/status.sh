#!/usr/bin/env bash
# `make status`: `ghaec2 --status` for a deployed stack, read-only: the function's
# configuration (scripts/stack-env.sh) and the operator's AWS credentials, which need only
# read access (dynamodb:GetItem/Query/Scan on the state table, ec2:DescribeInstances,
# sts:GetCallerIdentity).
#
# Usage: scripts/status.sh [--json]
# Environment: STACK (default ghaec2), REGION, GHAEC2 (see scripts/stack-env.sh).
set -euo pipefail

script=status
stack="${STACK:-ghaec2}"
# shellcheck source=scripts/stack-env.sh
source "$(dirname "$0")/stack-env.sh"
read_stack "$stack"
if [ -z "${GHAEC2:-}" ]; then cargo build --quiet --locked --bin ghaec2 >&2; fi
local_ghaec2
exec env -i "${inherited[@]}" "${variables[@]}" "$ghaec2" --status "$@"
