#!/usr/bin/env bash
# The GPU engine's tests on Mesa's lavapipe, a Vulkan driver that runs on the CPU: kernels,
# dispatch loop and adapter plumbing, each checked against the portable engine. No GPU needed;
# a missing adapter fails here instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

sudo=()
if [ "$(id -u)" != 0 ]; then
    sudo=(sudo)
fi
install_vulkan() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends mesa-vulkan-drivers libvulkan1
}
if ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
    # A concurrent apt run can make the first attempt fail; once more is enough.
    if ! install_vulkan; then
        echo "gpu.sh: apt-get failed, retrying once" >&2
        sleep 5
        install_vulkan
    fi
fi

# Vulkan's loader complains on every start without a runtime dir.
XDG_RUNTIME_DIR=$(mktemp -d)
trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
export XDG_RUNTIME_DIR
export SHA256D_GPU_ALLOW_SOFTWARE=1 SHA256D_REQUIRE_GPU=1 WGPU_BACKEND=vulkan

cargo test --release --features gpu --test gpu
echo "gpu.sh: passed in $(($(date +%s) - start)) s"
