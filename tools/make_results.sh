#!/usr/bin/env bash
# Regenerates the CompressKV profile and the README's results (NIAH grid, fidelity table) for the default model with
# the project's own commands. Any Vulkan device works; on lavapipe the full grid takes many hours, on a GPU minutes.
#   tools/make_results.sh                     # everything, into docs/results/
#   STAGES="niah eval" tools/make_results.sh  # with the profile already in docs/results/profile
# Variables: CKV (the ckv binary, default build/tools/ckv), MODEL, DEST (output folder, default docs/results), STAGES
# (profile niah eval), NIAH_BUDGETS, NIAH_LENGTHS, NIAH_DEPTHS, EVAL_BUDGETS, NIAH_FULLKV (1: FullKV runs with the
# first NIAH budget; it does not depend on the budget, so 0 skips it on later calls). Each command's output goes to
# $DEST/<stage>.log, its command line and wall time to $DEST/commands.txt.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."
CKV=${CKV:-build/tools/ckv}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DEST=${DEST:-docs/results}
STAGES=${STAGES:-profile niah eval}
NIAH_BUDGETS=${NIAH_BUDGETS:-128 32 64 256}
NIAH_LENGTHS=${NIAH_LENGTHS:-1024,2048,4096,8000}
NIAH_DEPTHS=${NIAH_DEPTHS:-0,0.25,0.5,0.75,1}
EVAL_BUDGETS=${EVAL_BUDGETS:-32,64,128,256}
profile=$DEST/profile
mkdir -p "$profile"

stage() { [[ " $STAGES " == *" $1 "* ]]; }
timed() {  # timed LOG_NAME COMMAND...: runs it with its output also in $DEST/LOG_NAME.log
  local log=$DEST/$1.log start=$SECONDS
  shift
  echo "+ $*" | tee "$log"
  "$@" 2>&1 | tee -a "$log"
  echo "$* # $((SECONDS - start)) s" >>"$DEST/commands.txt"
}

if stage profile; then
  # Heads needles ("heads" set) at four lengths up to the model's context and five depths; calibration on the whole calibration texts.
  timed heads "$CKV" heads -m "$MODEL" --needles data/niah/needles.json --lengths 1024,2048,4096,8000 \
    --depths 0.1,0.3,0.5,0.7,0.9 -o "$profile/heads.json" --scores "$profile/scores.json"
  timed calibrate "$CKV" calibrate -m "$MODEL" --heads "$profile/heads.json" --budget 128 --steps 32 --max-prompt-tokens 0 \
    --prompts data/calibration/*.txt -o "$profile/layers.json" --profile-out "$profile/profile.json" \
    --profile-name smollm2-135m-instruct
fi

if stage niah; then
  first=${NIAH_FULLKV:-1}
  for budget in $NIAH_BUDGETS; do
    policies=streaming,snapkv,pyramidkv,compresskv,compresskv-ea
    [ $first = 1 ] && policies=fullkv,$policies
    first=0
    timed "niah-$budget" "$CKV" niah -m "$MODEL" --needles data/niah/needles.json --policies "$policies" --budget "$budget" \
      --lengths "$NIAH_LENGTHS" --depths "$NIAH_DEPTHS" --heads "$profile/heads.json" --layers "$profile/layers.json" \
      -o "$DEST/niah-$budget"
  done
fi

if stage eval; then
  timed eval "$CKV" eval -m "$MODEL" --texts data/eval/orchard.txt data/eval/observatory.txt data/eval/glassworks.txt \
    data/eval/expedition.txt --budgets "$EVAL_BUDGETS" --prefix-tokens 2048 --continue-tokens 256 \
    --heads "$profile/heads.json" --layers "$profile/layers.json" -o "$DEST/eval.csv" --json "$DEST/eval.json"
fi
