#!/bin/sh
# Install the Debian 12 packages sealtrain needs to build, test, fuzz and
# benchmark. Idempotent: prints nothing and touches nothing when every
# package is already present. Needs root (or sudo) only when something is
# missing.
#
#   scripts/install-deps.sh [build|test|bench|all]   (default: test)
set -eu

build_pkgs="build-essential cmake pkg-config libssl-dev libjansson-dev
  libsqlite3-dev libopenblas-dev libtss2-dev libseccomp-dev libcmocka-dev
  zlib1g-dev libevent-dev libcurl4-openssl-dev libxgboost-dev"
test_pkgs="$build_pkgs clang libclang-rt-14-dev swtpm swtpm-tools tpm2-tools
  age sqlite3 openssl xxd prometheus python3-minimal curl jq python3-onnx
  zsh man-db python3-jwt python3-xgboost python3-numpy python3-sklearn
  chromium"
bench_pkgs="$test_pkgs python3-torch python3-sklearn python3-numpy hyperfine
  wrk"
# python3-sklearn is in the test set for its bundled tables
# (sklearn/datasets/data/*.csv), which tests/unit/test_readers.c reads in
# scikit-learn's own layout.
# Node.js (for one benchmark peer) may already come from outside Debian;
# Debian's npm would conflict with it, so only ask for it when it is absent.
if ! command -v npm >/dev/null 2>&1; then
  bench_pkgs="$bench_pkgs nodejs npm"
fi

case "${1:-test}" in
  build) want=$build_pkgs ;;
  test) want=$test_pkgs ;;
  bench | all) want=$bench_pkgs ;;
  *) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-deps: missing packages and not root; install as root:$missing" >&2
    exit 1
  }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
