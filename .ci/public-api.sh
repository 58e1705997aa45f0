#!/usr/bin/env bash
# The public API of each published library, compared with the snapshot in api/: a change to
# what embedders can name must be deliberate. After a deliberate change, rewrite the snapshots
# with `bash .ci/public-api.sh --bless` and commit them with the change.
set -euo pipefail
cd "$(dirname "$0")/.."
bless=${1:-}
status=0
for pkg in sha256d sha256d-mining sha256d-emulator; do
    want=api/$pkg.txt
    got=$(cargo +nightly public-api -p "$pkg" --all-features -sss 2>/dev/null) || {
        echo "error: cargo public-api failed for $pkg:" >&2
        cargo +nightly public-api -p "$pkg" --all-features -sss >&2 || true
        exit 1
    }
    if [ "$bless" = "--bless" ]; then
        mkdir -p api
        printf '%s\n' "$got" >"$want"
        echo "wrote $want ($(grep -c . "$want") items)"
    elif ! diff -u "$want" <(printf '%s\n' "$got"); then
        echo "error: the public API of $pkg differs from $want (rerun with --bless if deliberate)" >&2
        status=1
    else
        echo "$pkg: public API as recorded ($(grep -c . "$want") items)"
    fi
done
exit $status
