#!/usr/bin/env bash
# Builds and runs the default test suite (everything not labelled "slow").
#   bash scripts/test.sh              -> Release build, all default tests
#   bash scripts/test.sh --sanitize   -> ASan + UBSan build of the same tests
#   TANDEM_TEST_ARGS="-L slow" bash scripts/test.sh   -> extra ctest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh "$@"
dir=build
[ "${1:-}" = "--sanitize" ] && dir=build-asan
# shellcheck disable=SC2086
ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" -LE slow ${TANDEM_TEST_ARGS:-}
