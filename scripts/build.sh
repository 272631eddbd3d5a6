#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh), configures and builds tandem.
#   bash scripts/build.sh               -> build/        (Release)
#   bash scripts/build.sh --sanitize    -> build-asan/   (ASan + UBSan, -O2 -g)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=build
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  # The Python binding is left out: an ASan-built extension cannot load into
  # an interpreter that was not started with the ASan runtime preloaded.
  extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_SANITIZE=ON -DTANDEM_PYTHON=OFF)
fi
cmake -S . -B "$dir" -G Ninja "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
