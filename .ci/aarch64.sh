#!/usr/bin/env bash
# Builds the library for 64-bit ARM Linux and runs its unit and integration tests under
# qemu-user. qemu's `-cpu max` has the SHA2 instructions, so the arm-sha2 backend is the one
# detected and the kernel tests compare it with the portable kernel. The CLI and
# mining crates stay out: the core's tests need neither, and they only lengthen the cross build. Release
# builds: debug code under emulation is too slow for the cancellation test's bound.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null ||
    [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
    # Mirrors sometimes fail mid-update; one retry covers that without hiding a real outage.
    "${sudo[@]}" apt-get update || { sleep 10; "${sudo[@]}" apt-get update; }
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
fi
rustup target add "$target"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -cpu max -L $sysroot"
# A forbidden backend would make the detection test skip; this run is about arm-sha2.
unset SHA256D_FORBID

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release -p sha256d --target "$target" --no-default-features --features std,rayon --tests \
    -- --nocapture 2>&1 | tee "$log"
# The kernel tests skip, passing, on a CPU without SHA2; here that would mean nothing was tested.
if grep -q "skipping: this CPU lacks the ARMv8 SHA2" "$log"; then
    echo "error: the emulated CPU has no SHA2 instructions; arm-sha2 went untested" >&2
    exit 1
fi
