#!/usr/bin/env bash
# Prepares the Linux boot of the nested arm64 harness: Debian's arm64 kernel
# Image (the one scripts/arm64/nested/run.sh boots as L1, from its cache) and a
# tiny initramfs whose /init (init.c, static) reports and powers off, into
# build-arm64/linux/ inside this checkout, where the nested guest sees them.
#   bash scripts/arm64/linux/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/build-arm64/linux"
cache="${TSVMM_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvmm/nested-arm64}"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || { echo "arm64 linux: aarch64-linux-gnu-gcc is not installed" >&2; exit 3; }
image="$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -1 || true)"
[ -n "$image" ] || { echo "arm64 linux: no kernel in $cache (scripts/arm64/nested/run.sh fetches it)" >&2; exit 3; }
mkdir -p "$out"
cp "$image" "$out/Image"
aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o "$out/init" "$here/init.c"
node "$root/scripts/nested-kvm/mkcpio.mjs" "$out/initramfs.cpio" dev/ proc/ sys/ "init=$out/init"
echo "arm64 linux: $out/Image ($(basename "$image")), $out/initramfs.cpio"
