#!/usr/bin/env bash
# Builds binaries for the device machine (Ubuntu 24.04, no Debian libraries): libstdc++/libgcc linked statically,
# so `ldd` shows only libc, libm and libvulkan. Copies them with the Khronos validation layer into devpkg/
# (git-ignored; name it in the device tool's `carry`, together with .gl for the Vulkan loader).
# CKV_CMAKE_ARGS adds configure options, e.g. the newer glslang that builds the KHR cooperative-matrix variants:
#   CKV_CMAKE_ARGS="-DCKV_GLSLANG=$(python3 -c 'import cmeel,os;print(os.path.dirname(cmeel.__file__))').prefix/bin/glslangValidator"
set -euo pipefail
cd "$(dirname "$0")/../.."
configure_log=$(cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DCKV_PORTABLE=ON ${CKV_CMAKE_ARGS:-})
grep -i cooperative <<<"$configure_log" || true
cmake --build build-device -j "$(nproc)"
rm -rf devpkg && mkdir -p devpkg/tools devpkg/tests devpkg/layers
cp build-device/tools/ckv devpkg/tools/
cp build-device/tests/ckv_tests devpkg/tests/
strip devpkg/tools/ckv devpkg/tests/ckv_tests
cp /usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so devpkg/layers/
cp /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json devpkg/layers/
ldd devpkg/tools/ckv
du -sh devpkg
