#!/usr/bin/env bash
# Feeds every parser of outside input, and the embedded API server, far more random and mutated
# input than the test suite does: strategy files, experiment files, image references, label and
# field selectors, timestamps, and API requests (paths, queries, bodies, content types).
#
#   scripts/fuzz.sh            # CASES=20000 per property
#   CASES=200000 scripts/fuzz.sh
#
# A failure prints the smallest input that breaks the property; add it as a regression test
# beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${CASES:-20000}"
# Each property is bounded by its number of cases; this bounds the whole run as well.
TIMEOUT="${TIMEOUT:-900}"
run() {
  echo "== $*"
  timeout "$TIMEOUT" cargo test --locked "$@"
}
run -p rollout-core --test robustness
run -p kube-util --test robustness
run -p kubesim --test api_robustness -- --nocapture
run --test it robustness::
echo "fuzz: every property held for $PROPTEST_CASES cases"
