#!/bin/sh
# bench/gbdt.sh BUILD_DIR: gradient-boosted trees as secure jobs beside
# plain XGBoost (Debian's python3-xgboost): the wall time of a secure job
# on a synthetic binary task against plain XGBoost training on the same
# rows (target <= 1.05x) and breast_cancer test accuracy (target: equal).
# BENCH_GBDT_ROWS (default 1000000; e.g. 100000 for a quick run),
# OMP_WAIT_POLICY (default passive, both sides),
# BENCH_GBDT_ROUNDS (100), BENCH_GBDT_REPEAT (2) and BENCH_THREADS (2)
# tune it; bench/gbdt.py says how.
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
[ -x "$build/sealtrain" ] || { echo "skipped: $build/sealtrain is not built"; exit 0; }
if ! "$py" -c 'import numpy, sklearn, xgboost' 2>/dev/null; then
    echo "skipped: $py with numpy, scikit-learn and xgboost is needed (Debian:" \
        "apt-get install python3-sklearn python3-xgboost)"
    exit 0
fi
cd "$root"
# the same libgomp wait policy on both sides (bench/gbdt.py says why)
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY
exec "$py" bench/gbdt.py "$build/sealtrain"
