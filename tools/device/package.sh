#!/usr/bin/env bash
# Builds binaries for the device machine (Ubuntu 24.04, no Debian libraries): libstdc++/libgcc linked statically,
# so `ldd` shows only libc, libm and libvulkan. Copies them with the Khronos validation layer into devpkg/
# (git-ignored; name it in the device tool's `carry`, together with .gl for the Vulkan loader).
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DCKV_PORTABLE=ON >/dev/null
cmake --build build-device -j "$(nproc)"
rm -rf devpkg && mkdir -p devpkg/tools devpkg/tests devpkg/layers
cp build-device/tools/ckv devpkg/tools/
cp build-device/tests/ckv_tests devpkg/tests/
strip devpkg/tools/ckv devpkg/tests/ckv_tests
cp /usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so devpkg/layers/
cp /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json devpkg/layers/
ldd devpkg/tools/ckv
du -sh devpkg
