#!/usr/bin/env bash
# Runs on the device machine from the repository root, after tools/device/package.sh here and with `.gl` and
# `devpkg` carried: installs the Vulkan loader, checks the binaries' libraries, then runs the test suite (with the
# validation layer) and the GPU benchmarks. Results go to $OUT.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1 && [ -f $nvidia_icd ]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
echo "== ldd"; ldd devpkg/tools/ckv; [ -f devpkg/tests/ckv_tests ] && ldd devpkg/tests/ckv_tests
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
echo "== ckv info"; devpkg/tools/ckv info 2>&1 | tee "$OUT/info.txt"
export VK_LAYER_PATH=$PWD/devpkg/layers LD_LIBRARY_PATH=$PWD/devpkg/layers
if [ "${RUN_TESTS:-1}" = 1 ]; then
  echo "== tests"
  CKV_TEST_SOURCE_DIR=$PWD CKV_TEST_BINARY_DIR=$PWD/devpkg CKV_VALIDATION=1 \
    timeout 300 devpkg/tests/ckv_tests ${TEST_FILTER:+--gtest_filter=$TEST_FILTER} >"$OUT/tests.txt" 2>&1
  echo "tests exit $?"; grep -E "^\[  (FAILED|PASSED) |tests? ran|FAILED  \]" "$OUT/tests.txt" | tail -25
fi
unset VK_LAYER_PATH
echo "== bench"
devpkg/tools/ckv bench --preset gpu --warmup 5 --repeats 20 ${BENCH_FILTER:+--filter "$BENCH_FILTER"} --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
