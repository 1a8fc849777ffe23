#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests (lavapipe + validation layers) and the model setup need.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  ca-certificates cmake ninja-build g++ pkg-config \
  libvulkan-dev glslc glslang-tools spirv-tools \
  mesa-vulkan-drivers vulkan-validationlayers \
  libspdlog-dev libfmt-dev libgtest-dev libcli11-dev nlohmann-json3-dev libstb-dev \
  python3 python3-pip
