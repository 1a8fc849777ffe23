#!/usr/bin/env bash
# Device-side wrapper for tools/make_results.sh (the profile and README results on a real GPU). The default model
# (98 MB) is over one call's 64 MiB transfer, so it travels in two parts on two back-to-back calls to the same warm
# machine. Here: `head -c 58000000 MODEL > mpart1/m.1; tail -c +58000001 MODEL > mpart2/m.2` (both folders listed
# in .git/info/exclude). Call 1, carrying mpart1: `cp mpart1/m.1 /tmp/m.1` (a carried folder is gone by the next
# call, /tmp stays while the machine is warm). Call 2, within 30 s, carrying .gl, devpkg/tools and mpart2: this
# script, which joins the parts (MPART1 overrides /tmp/m.1) and checks the model's sha256. Results, logs included,
# come back as $OUT/results.tgz. Extra environment (STAGES, NIAH_BUDGETS, ...) passes through to make_results.sh.
set -uo pipefail
source tools/device/vulkan-env.sh
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
expected=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$model" ]; then
  mkdir -p models && cat "${MPART1:-/tmp/m.1}" mpart2/m.2 >"$model"
fi
echo "$expected  $model" | sha256sum -c - || exit 1
final=${OUT:-/tmp/out}
dest=/tmp/ckv-results
mkdir -p "$dest" "$final"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$dest/gpu.txt"
CKV=devpkg/tools/ckv DEST=$dest timeout "${RESULTS_TIMEOUT:-560}" tools/make_results.sh 2>&1 | tee "$dest/log.txt" | tail -80
tar czf "$final/results.tgz" -C "$dest" .
