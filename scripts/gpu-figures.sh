#!/usr/bin/env bash
# The GPU engine's measured rate against its op-count model, on a machine with a real GPU.
#
#   scripts/gpu-figures.sh [--bin PATH] [--seconds S] [--int-ops RATE] [--allow-software]
#
# Runs `sha256d bench --engine gpu --json` (a prebuilt binary from --bin or $SHA256D_BIN, else
# one built here with cargo, feature gpu), then for each GPU row prints
#
#   model ceiling = adapter INT32 ops per second / kernel ops per nonce
#   ratio         = measured / model ceiling
#
# The kernel's ops per nonce come from the row's detail (the engine counts them from its
# SPIR-V under an NVIDIA model: rotate = 1 funnel shift, 3-input logic = 1 LOP3, 3-input add =
# 1 IADD3). The adapter's INT32 rate is SMs x 64 INT32 lanes per clock x boost clock, from the
# table below by adapter name, or --int-ops RATE (ops per second) for anything else.
#
# Software rasterisers are refused (a CPU's figure says nothing about a GPU) unless
# --allow-software, which only checks the plumbing. Exits non-zero, saying why, when no GPU
# adapter is found. Needs python3 to read the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SHA256D_BIN:-}
seconds=5
int_ops=
allow_software=0
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --int-ops) int_ops=$2; shift 2 ;;
    --allow-software) allow_software=1; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-figures: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

command -v python3 >/dev/null || { echo "gpu-figures: python3 is needed to read the bench's JSON" >&2; exit 2; }

if [ -z "$bin" ]; then
    command -v cargo >/dev/null || {
        echo "gpu-figures: no cargo here; build sha256d elsewhere and pass --bin PATH" >&2
        exit 2
    }
    cargo build --release -p sha256d-cli --features gpu >&2
    bin=target/release/sha256d
fi
[ -x "$bin" ] || { echo "gpu-figures: $bin is not an executable" >&2; exit 2; }

if [ "$allow_software" = 1 ]; then
    export SHA256D_GPU_ALLOW_SOFTWARE=1
else
    unset SHA256D_GPU_ALLOW_SOFTWARE
fi

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
if ! "$bin" bench --engine gpu --json --seconds "$seconds" >"$out" 2>"$err"; then
    echo "gpu-figures: no hardware GPU adapter to measure; the bench said:" >&2
    sed 's/^/    /' "$err" >&2
    exit 1
fi

python3 - "$out" "$int_ops" "$allow_software" <<'EOF'
import json
import re
import sys

path, int_ops, allow_software = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

# SMs, INT32 lanes per SM per clock, boost clock in Hz: the INT32 pipe's peak.
ADAPTERS = [
    ("H200", 132, 64, 1.98e9),
    ("H100 PCIe", 114, 64, 1.755e9),
    ("H100", 132, 64, 1.98e9),  # SXM5
    ("A100", 108, 64, 1.41e9),
    ("L40S", 142, 64, 2.52e9),
    ("RTX 5090", 170, 64, 2.41e9),
    ("RTX 4090", 128, 64, 2.52e9),
    ("RTX 3090", 82, 64, 1.695e9),
]

with open(path) as f:
    report = json.load(f)
rows = [r for r in report.get("engines", []) if r.get("name", "").startswith("gpu")]
if not rows:
    sys.exit("gpu-figures: the bench reported no GPU row")

failed = False
for row in rows:
    detail = row.get("detail", "")
    mhs = float(row["mhs"])
    print(f"{row['name']}: {mhs:,.1f} MH/s measured -- {detail}")
    if "Cpu device" in detail and not allow_software:
        sys.exit("gpu-figures: the adapter is a software rasteriser, not a GPU")
    ops = re.search(r"ops/nonce ([0-9.]+) \(1 version\), ([0-9.]+) per version \((\d+) sharing\)", detail)
    if not ops:
        print("  the detail names no kernel op count; is this binary older than the op model?")
        failed = True
        continue
    single, shared, sharing = float(ops[1]), float(ops[2]), int(ops[3])
    # Rows that time rolled work say how many versions each nonce ran; else it is one.
    versions = int(row.get("versions", 1))
    per_nonce = shared if versions >= sharing else single
    if int_ops:
        rate, source = float(int_ops), "--int-ops"
    else:
        found = next((a for a in ADAPTERS if a[0].lower() in detail.lower()), None)
        if found is None:
            print("  unknown adapter: pass --int-ops RATE (SMs x INT32 lanes per clock x clock)")
            failed = True
            continue
        name, sms, lanes, clock = found
        rate = sms * lanes * clock
        source = f"{name}: {sms} SMs x {lanes} INT32 lanes/clk x {clock / 1e9:.3g} GHz"
    ceiling = rate / per_nonce / 1e6
    ratio = mhs / ceiling
    print(f"  INT32 rate {rate / 1e12:.2f} T ops/s ({source})")
    print(f"  kernel {per_nonce:g} ops per nonce per version ({versions} version(s) per nonce; "
          f"{single:g} alone, {shared:g} with {sharing} sharing)")
    print(f"  model ceiling {ceiling:,.1f} MH/s; measured / ceiling = {ratio:.2f}")
    if versions < sharing:
        print(f"  with {sharing} versions sharing the ceiling would be {rate / shared / 1e6:,.1f} MH/s")
    print("  a ratio near 0.57 means the driver did not fuse rotates (shifts + or stayed three"
          " instructions, no funnel shift)" + (": that is the case here" if 0.5 <= ratio <= 0.64 else ""))
if failed:
    sys.exit(1)
EOF
