#!/bin/sh
# bench/tabular.sh BUILD_DIR: tabular tasks as secure jobs (sim TEE, the
# full `sealtrain job run` path) beside scikit-learn on the same fixed
# splits: diabetes regression (linear, standardize) against LinearRegression
# and Ridge (test R^2; target: within 0.01 of LinearRegression), and MLPs
# with `standardize` on wine and breast_cancer (test accuracy; target
# >= 0.95) against scikit-learn's StandardScaler + MLPClassifier. The data
# are Debian python3-sklearn's own files (bench/tabular.py says how).
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
[ -x "$build/sealtrain" ] || { echo "skipped: $build/sealtrain is not built"; exit 0; }
if ! "$py" -c 'import numpy, sklearn' 2>/dev/null; then
    echo "skipped: $py with numpy and scikit-learn is needed (Debian:" \
        "apt-get install python3-sklearn)"
    exit 0
fi
command -v age >/dev/null || { echo "skipped: the age CLI is needed"; exit 0; }
cd "$root"
exec "$py" bench/tabular.py "$build/sealtrain"
