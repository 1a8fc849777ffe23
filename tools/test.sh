#!/usr/bin/env bash
# Configures, builds and runs the whole test suite on the Vulkan device the engine picks (lavapipe on a
# machine without a GPU), with the Khronos validation layer on in every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/fetch-model.sh >/dev/null  # the default model, for the end-to-end tests
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
