#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for N
# seconds (default 30), starting from the seed corpora in fuzz/corpus/.
#
#   scripts/fuzz.sh [seconds]
#
# New interesting inputs go to build-fuzz/corpus/<target>/ (kept between runs);
# crashing inputs to build-fuzz/artifacts/. Exits non-zero if a fuzzer fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTANDEM_FUZZ=ON -DTANDEM_TESTS=OFF >/dev/null
ninja -C build-fuzz fuzz_gguf fuzz_safetensors fuzz_http

mkdir -p build-fuzz/artifacts
for name in gguf safetensors http; do
  mkdir -p "build-fuzz/corpus/$name"
  echo "fuzz_$name: ${secs}s" >&2
  "build-fuzz/fuzz/fuzz_$name" \
    -max_total_time="$secs" -print_final_stats=1 \
    -dict="fuzz/$name.dict" \
    -artifact_prefix="build-fuzz/artifacts/$name-" \
    "build-fuzz/corpus/$name" "fuzz/corpus/$name"
done
