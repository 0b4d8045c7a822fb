#!/bin/sh
# Are BENCHMARKS.md's figures older than the code they measure? Reads the commit the report
# names (its `| code | commit `<hash>` |` line) and lists the commits since then that touch
# the measured code (MEASURED below). Only git history is read: no build, no network.
#
#   scripts/bench-stale.sh          exit 0 fresh, 1 stale, 2 cannot tell (make bench-check)
#   scripts/bench-stale.sh --warn   prints the same verdict, always exits 0 (make test)
#
# Run from the repository root (BENCHMARKS=path overrides the report's path).
set -u

MEASURED="src/cycle src/aws"
report=${BENCHMARKS:-BENCHMARKS.md}
warn_only=false
[ "${1:-}" = "--warn" ] && warn_only=true

verdict() { # status message...
    status=$1
    shift
    printf '%s\n' "$@" >&2
    if $warn_only; then exit 0; fi
    exit "$status"
}

if [ ! -f "$report" ]; then
    verdict 2 "bench-stale: no $report here; run from the repository root."
fi
commit=$(sed -n 's/^| code | commit `\([0-9a-f]\{7,40\}\)`.*/\1/p' "$report" | head -n 1)
if [ -z "$commit" ]; then
    verdict 2 "bench-stale: $report names no measured commit (a line \"| code | commit \`<hash>\` |\"); run make bench."
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
    shallow=""
    [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = "true" ] &&
        shallow=" This is a shallow clone: git fetch --unshallow, then check again."
    verdict 2 "bench-stale: cannot tell whether $report is stale: its commit $commit is not in this clone's history.$shallow"
fi
# shellcheck disable=SC2086 # MEASURED is a list of paths
changes=$(git log --format='  %h %<(72,trunc)%s' "$commit..HEAD" -- $MEASURED)
if [ -n "$changes" ]; then
    count=$(printf '%s\n' "$changes" | wc -l | tr -d ' ')
    verdict 1 \
        "WARNING: $report is stale: it measured commit $commit, and $count commit(s) since then change $MEASURED:" \
        "$changes" \
        "Run make bench to measure them (a release is not cut on stale figures: make bench-check)."
fi
if ! $warn_only; then
    echo "bench-stale: $report measured $commit; nothing in $MEASURED changed since." >&2
fi
exit 0
