#!/usr/bin/env bash
# Host side of `npm run test:arm64` / `npm run bench:arm64`: the cross-built
# addon (build-arm64/kvm.node), the raw-C vtimer reference
# (build-arm64/vtimer-ref), the nested harness's cache (kernel, arm64 root),
# and the Linux boot's kernel Image and initramfs (build-arm64/linux/). Exit 3
# with the reason when a tool or a download is missing. dist/ is the npm
# script's business (tsc).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || { echo "nested-arm64: aarch64-linux-gnu-gcc is not installed (scripts/arm64/install-tools.sh)" >&2; exit 3; }
bash scripts/arm64/build-addon.sh build-arm64/kvm.node
aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o build-arm64/vtimer-ref scripts/bench/vtimer-ref.c
bash scripts/arm64/nested/run.sh --fetch-only
bash scripts/arm64/linux/build.sh
