#!/usr/bin/env bash
# The whole suite, RUNS times in a row (default 3), while a CPU hog keeps every core busy.
# Every test timeout scales by JOULELAB_TEST_TIMEOUT_SCALE (tests/timing.py; default here 3);
# wall-time assertions hold only on a quiet machine, so they are skipped under the hog.
#   scripts/test_under_load.sh [pytest args...]      e.g. RUNS=1 scripts/test_under_load.sh tests/engine
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUNS="${RUNS:-3}"
export JOULELAB_TEST_TIMEOUT_SCALE="${JOULELAB_TEST_TIMEOUT_SCALE:-3}"
"$PY" scripts/cpu_hog.py &
HOG=$!
trap 'kill "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null' EXIT INT TERM
status=0
for i in $(seq 1 "$RUNS"); do
    echo "== run $i of $RUNS under load (hog pid $HOG, timeout scale $JOULELAB_TEST_TIMEOUT_SCALE)"
    start=$(date +%s)
    if "$PY" -m pytest -q -p no:cacheprovider "$@"; then
        echo "== run $i passed in $(( $(date +%s) - start )) s"
    else
        status=1
        echo "== run $i FAILED after $(( $(date +%s) - start )) s"
    fi
done
exit $status
