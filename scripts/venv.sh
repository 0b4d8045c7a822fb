#!/usr/bin/env bash
# Creates (or reuses) the Python venv with the pinned stand-ins of requirements-dev.txt and
# prints its path. The venv lives outside the clone so repeated runs are fast.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GHAEC2_VENV:-$HOME/.cache/ghaec2-venv}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$root/requirements-dev.txt" "$stamp"; then
  echo "Installing stand-ins into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/requirements-dev.txt" >&2
  cp "$root/requirements-dev.txt" "$stamp"
fi
echo "$venv"
