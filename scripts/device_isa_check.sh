#!/usr/bin/env bash
# Checks tandem's SIMD tiers on another x86-64 machine, such as a lent GPU
# host whose CPU has AVX-512 (this development machine and CI's have AVX2
# only, so the AVX-512 tests skip here).
#
#   bash scripts/device_isa_check.sh pack          # here, after scripts/build.sh
#   bash scripts/device_isa_check.sh run [--no-bench] [--ops] [--threads N] [--dtypes f16,q8_0,...]   # there
#
# `pack` copies the release binaries, the test binaries, three shared
# libraries a bare image may lack and the generated golden data
# (.cache/testdata) into .dev/ (git-ignored, about 30 MiB): carry `.dev` to
# the other machine with the working tree. `run`, from the repository root
# there:
#   1. the op tests, the PyTorch-reference tests and the engine tests, on the
#      widest ISA the CPU has;
#   2. greedy text of the shipped model (safetensors, f16 and q8_0 GGUF)
#      under each ISA the CPU has, which must be byte-identical;
#   3. unless --no-bench: TinyLlama-shaped f16 / q8_0 / q4_0 / q4_K_M
#      models generated one after another into /dev/shm (generating them at
#      once, each with a pool on every core, stalled a 16-core machine), the
#      roofline, and `bench model` for each dtype and ISA, alternating ISAs,
#      at 2 threads and at --threads (default: all cores); with --ops, also
#      each run's time per op of the forward pass (bench model --ops).
# Everything is printed and also written to $OUT (or /tmp/isa_check).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
shift || true

if [[ "$mode" == pack ]]; then
  set -e
  [[ -x build/tandem ]] || { echo "build/tandem missing: run scripts/build.sh first" >&2; exit 1; }
  [[ -d .cache/testdata/ref ]] || { echo ".cache/testdata missing: run the tests once (scripts/test.sh)" >&2; exit 1; }
  grep -qx '/.dev/' .git/info/exclude 2>/dev/null || echo '/.dev/' >> .git/info/exclude
  rm -rf .dev && mkdir -p .dev/lib
  cp build/tandem build/src/tensor/tensor_ops_test build/src/engine/engine_test build/src/engine/engine_serving_test \
     build/tests/reference_test build/tests/shipped_model_test build/tests/model_load_test .dev/
  for l in libpcre2-8.so.0 libcrypto.so.3 libzstd.so.1; do
    f=$(ldconfig -p | awk -v l="$l" '$1 == l && !f {print $NF; f = 1}')
    [[ -n "$f" ]] && cp -L "$f" .dev/lib/
  done
  cp -r .cache/testdata .dev/testdata
  cp "$0" .dev/
  du -sh .dev
  exit 0
fi

if [[ "$mode" != run ]]; then
  echo "usage: $0 pack | run [--no-bench] [--ops] [--threads N] [--dtypes f16,q8_0,q4_0,q4_k_m]" >&2
  exit 2
fi

bench=1
ops=""
threads=$(nproc)
dtypes="f16 q8_0 q4_0 q4_k_m"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-bench) bench=0 ;;
    --ops) ops=--ops ;;
    --threads) threads=$2; shift ;;
    --dtypes) dtypes=${2//,/ }; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

D=$PWD/.dev
[[ -x $D/tandem ]] || { echo "$D/tandem missing: run '$0 pack' where tandem was built and carry .dev" >&2; exit 1; }
O=${OUT:-/tmp/isa_check}
mkdir -p "$O"
exec > >(tee "$O/log.txt") 2>&1
export TANDEM_SOURCE_DIR=$PWD TANDEM_TESTDATA=$D/testdata
# Our libraries only for our binaries: python (gen_model) keeps the system's.
T() { LD_LIBRARY_PATH=$D/lib "$@"; }
stamp() { echo "== $(date +%T) $*"; }
start=$(date +%s)

stamp cpu
grep -m1 'model name' /proc/cpuinfo
echo "vCPUs: $(nproc)"
grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512|amx|avx_vnni)' | tr '\n' ' '
echo
isas=(avx2)
grep -m1 flags /proc/cpuinfo | grep -qw avx512_vnni && grep -m1 flags /proc/cpuinfo | grep -qw avx512bw && isas+=(avx512)
echo "ISAs to compare: ${isas[*]}"

stamp tests
for t in tensor_ops_test reference_test shipped_model_test model_load_test engine_test engine_serving_test; do
  r=$(T timeout 300 "$D/$t" 2>&1)
  echo "-- $t: $(echo "$r" | grep -E '^\[  (PASSED|FAILED)  \]' | tr '\n' ' ')"
  echo "$r" | grep -E 'Failure|FAILED  \]|Skipped' | head -10
done

stamp "greedy text under each ISA"
for m in models/tiny-kjv models/tiny-kjv/tiny-kjv-f16.gguf models/tiny-kjv/tiny-kjv-q8_0.gguf; do
  for isa in "${isas[@]}"; do
    TANDEM_ISA=$isa T timeout 120 "$D/tandem" generate -m "$m" -p "In the beginning God" -n 48 -t 0 --threads 4 \
      > "$O/greedy_$isa.txt" 2>/dev/null
  done
  same=yes
  for isa in "${isas[@]}"; do cmp -s "$O/greedy_avx2.txt" "$O/greedy_$isa.txt" || same=NO; done
  echo "$m: identical across ${isas[*]}: $same ($(wc -c < "$O/greedy_avx2.txt") bytes)"
done

if [[ $bench == 1 ]]; then
  stamp models
  for dt in $dtypes; do
    f=/dev/shm/tl-$dt.gguf
    [[ -f $f ]] || timeout 300 python3 tools/gen_model.py --shape tinyllama-1.1b --dtype $dt --jobs 8 --out $f > /dev/null 2>&1 \
      || echo "gen_model $dt failed"
  done
  ls -la /dev/shm/tl-*.gguf
  for th in $(printf "%s\n" 2 "$threads" | sort -nu); do
    stamp "roofline, $th threads"
    T "$D/tandem" bench roofline --json --threads $th --seconds 3 > "$O/roofline_t$th.json"
    cat "$O/roofline_t$th.json"; echo
    for dt in $dtypes; do
      for isa in "${isas[@]}"; do
        if [[ $th == 2 ]]; then r="--reps 1 --pp 512 --tg 32"; else r="--reps 2 --pp 512 --tg 64"; fi
        echo "-- $dt $isa threads=$th ($r)"
        TANDEM_ISA=$isa T timeout 150 "$D/tandem" bench model -m /dev/shm/tl-$dt.gguf $r -t $th \
          --roofline "$O/roofline_t$th.json" $ops 2>/dev/null | grep -E '^\| |by op'
      done
    done
  done
fi
stamp "done in $(( $(date +%s) - start )) s"
