#!/usr/bin/env bash
# Device-side wrapper: runs tools/device/run.sh (and, with PEER=1, the PyTorch peer bench) into a scratch folder and
# packs everything into one archive under $OUT (the device tool brings back at most 8 files).
#   PEER=1 RUN_E2E=0 tools/device/collect.sh        # tests + kernel bench + torch peer
#   RUN_TESTS=0 RUN_BENCH=0 RUN_E2E=1 tools/device/collect.sh
set -uo pipefail
final=${OUT:-/tmp/out}
export OUT=/tmp/ckv-results
rm -rf "$OUT" && mkdir -p "$OUT"
tools/device/run.sh
if [ "${PEER:-0}" = 1 ]; then
  echo "== torch peer"
  PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" python3 bench/torch/peer_bench.py --json "$OUT/torch.json" \
    ${PEER_ARGS:-} 2>&1 | tee "$OUT/torch.txt"
fi
mkdir -p "$final"
tar czf "$final/results-${RUN_NAME:-run}.tgz" -C "$OUT" .
