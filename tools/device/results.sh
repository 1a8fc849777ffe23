#!/usr/bin/env bash
# Device-side wrapper for tools/make_results.sh (the profile and README results on a real GPU). The default model
# (98 MB) is over one call's 64 MiB transfer, so it travels in two parts on two back-to-back calls to the same warm
# machine (split here with `head -c`/`tail -c` into the git-ignored folders mpart1/ and mpart2/, one carried per
# call); this script joins them and checks the sha256 of the model file. Results, log included, come back as
# $OUT/results.tgz. Extra environment (STAGES, NIAH_BUDGETS, ...) passes through to make_results.sh.
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
