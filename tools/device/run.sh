#!/usr/bin/env bash
# Runs on the device machine from the repository root, after tools/device/package.sh here and with `.gl` and
# `devpkg` carried: installs the Vulkan loader, checks the binaries' libraries, then runs the test suite (with the
# validation layer), the GPU kernel benchmarks and, with RUN_E2E=1, the end-to-end benchmark on the synthetic
# Llama-3.1-8B, once per WEIGHTS:CONTEXT pair of E2E_RUNS (default "f16:32768 q4_0:16384"; WEIGHTS:CONTEXT:FLAG adds
# --FLAG, e.g. f16:32768:unfused-decode). Results go to $OUT
# (at most 8 files come back: gpu, info, tests, bench.json/.txt, e2e.txt and one e2e-<weights>-<context>.json
# per run: keep E2E_RUNS to two pairs when tests and bench run too).
# RUN_TESTS=0 / RUN_BENCH=0 skip those parts; E2E_DECODE (decode steps, 32), E2E_LAYERS (the preset's 32),
# E2E_TIMEOUT (seconds per run, 240) and E2E_PROFILE=1 (--profile: per-pipeline GPU time of each policy's prefill
# and of 8 extra decode steps after the timed, unprofiled ones; in e2e.txt and the JSON) tune the end-to-end part.
set -uo pipefail
source tools/device/vulkan-env.sh
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
echo "== ldd"; ldd devpkg/tools/ckv; [ -f devpkg/tests/ckv_tests ] && ldd devpkg/tests/ckv_tests
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
echo "== ckv info"; devpkg/tools/ckv info 2>&1 | tee "$OUT/info.txt"
# GPU clocks, power and throttle reasons every 200 ms for the whole run (tells clock changes from memory effects).
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active \
  --format=csv -lms 200 >"$OUT/clocks.csv" 2>&1 &
clocks_pid=$!
trap 'kill $clocks_pid 2>/dev/null' EXIT
export VK_LAYER_PATH=$PWD/devpkg/layers LD_LIBRARY_PATH=$PWD/devpkg/layers
if [ "${RUN_TESTS:-1}" = 1 ]; then
  echo "== tests"
  CKV_TEST_SOURCE_DIR=$PWD CKV_TEST_BINARY_DIR=$PWD/devpkg CKV_VALIDATION=1 \
    timeout 300 devpkg/tests/ckv_tests ${TEST_FILTER:+--gtest_filter=$TEST_FILTER} >"$OUT/tests.txt" 2>&1
  echo "tests exit $?"; grep -E "^\[  (FAILED|PASSED) |tests? ran|FAILED  \]" "$OUT/tests.txt" | tail -25
fi
unset VK_LAYER_PATH
if [ "${RUN_BENCH:-1}" = 1 ]; then
  # BENCH_FILTER: one case-name filter, or several separated by '|' (one JSON each); BENCH_DEDICATED=1 also runs the
  # copy cases with every device-local buffer in its own allocation (CKV_DEDICATED_ALLOC=1).
  bench() {  # bench TITLE JSON_NAME [FILTER]: one `ckv bench` process, appended to bench.txt
    echo "== bench $1" | tee -a "$OUT/bench.txt"
    devpkg/tools/ckv bench --preset gpu --warmup 5 --repeats 20 ${3:+--filter "$3"} --json "$OUT/$2.json" 2>&1 |
      tee -a "$OUT/bench.txt"
  }
  IFS='|' read -ra filters <<<"${BENCH_FILTER:-}"
  [ ${#filters[@]} = 0 ] && filters=("")
  i=0
  for filter in "${filters[@]}"; do
    bench "${filter:-(all)}" "bench$([ $i = 0 ] || echo "-$i")" "$filter"
    i=$((i + 1))
  done
  if [ "${BENCH_DEDICATED:-0}" = 1 ]; then
    CKV_DEDICATED_ALLOC=1 bench "copy, dedicated allocations" bench-dedicated copy
  fi
fi
if [ "${RUN_E2E:-0}" = 1 ]; then
  profile_flag=$([ "${E2E_PROFILE:-0}" = 1 ] && echo --profile)
  for run in ${E2E_RUNS:-f16:32768 q4_0:16384}; do
    IFS=: read -r w context variant <<<"$run"
    echo "== bench e2e, $w weights, context $context ${variant:-}" | tee -a "$OUT/e2e.txt"
    timeout "${E2E_TIMEOUT:-240}" devpkg/tools/ckv bench e2e --synthetic llama-3.1-8b \
      --weights "$w" --context "$context" --budget 512 --decode-tokens "${E2E_DECODE:-32}" \
      ${E2E_LAYERS:+--layers "$E2E_LAYERS"} $profile_flag ${variant:+--$variant} \
      --json "$OUT/e2e-$w-$context${variant:+-$variant}.json" 2>&1 | tee -a "$OUT/e2e.txt"
    echo "exit ${PIPESTATUS[0]}" | tee -a "$OUT/e2e.txt"
  done
fi
