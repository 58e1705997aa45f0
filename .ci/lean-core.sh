#!/usr/bin/env bash
# What `cargo add sha256d` brings: at most 10 crates in the normal dependency tree and no C
# compiler step (no `cc` among the build dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
crates=$(cargo tree -p sha256d -e normal --prefix none | sed 's/ (\*)//' | sort -u)
n=$(grep -c . <<<"$crates")
echo "default features: $n crates"
if [ "$n" -gt 10 ]; then
    echo "error: the default sha256d pulls $n crates (at most 10):" >&2
    echo "$crates" >&2
    exit 1
fi
if cargo tree -p sha256d -e build --prefix none | grep -q '^cc '; then
    echo "error: the default sha256d runs a C compiler (cc is a build dependency)" >&2
    exit 1
fi
