#!/usr/bin/env bash
# Rebuilds the arm64 test guests into guests/arm64/<name>.img (Linux arm64
# Image format: header, text_offset 0x80000), reproducibly with Debian's
# aarch64-linux-gnu toolchain (no build-id, no debug info, fixed paths), so the
# output is byte-identical on the same toolchain (guests/arm64/README.md).
#   scripts/build-guests-arm64.sh          rebuild the committed images
#   scripts/build-guests-arm64.sh --check  rebuild into a temp dir and compare
set -euo pipefail
cd "$(dirname "$0")/.."
G=guests/arm64
CC=aarch64-linux-gnu-gcc
command -v $CC >/dev/null 2>&1 || { echo "arm64 guests: $CC is not installed (scripts/arm64/install-tools.sh)" >&2; exit 3; }
GUESTS=()
for f in "$G"/*.c; do GUESTS+=("$(basename "$f" .c)"); done
CFLAGS=(-O2 -std=gnu11 -ffreestanding -fno-pic -fno-pie -mgeneral-regs-only -mstrict-align -fno-stack-protector
  -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-builtin -fno-ident -fno-tree-loop-distribute-patterns
  -Wall -Wextra -Werror -I"$G")
out=$G
[ "${1:-}" = "--check" ] && out=$(mktemp -d)
obj=$(mktemp -d)
trap 'rm -rf "$obj"; [ "${1:-}" = "--check" ] && rm -rf "$out"' EXIT
$CC "${CFLAGS[@]}" -c "$G/common/start.S" -o "$obj/start.o"
$CC "${CFLAGS[@]}" -c "$G/common/rt.c" -o "$obj/rt.o"
for g in "${GUESTS[@]}"; do
  extra=()
  [ -f "$G/$g.S" ] && { $CC "${CFLAGS[@]}" -c "$G/$g.S" -o "$obj/$g-asm.o"; extra+=("$obj/$g-asm.o"); }
  $CC "${CFLAGS[@]}" -c "$G/$g.c" -o "$obj/$g.o"
  aarch64-linux-gnu-ld -nostdlib --build-id=none -z noexecstack --no-warn-rwx-segments -T "$G/common/linker.ld" \
    -o "$obj/$g.elf" "$obj/start.o" "$obj/$g.o" "${extra[@]}" "$obj/rt.o"
  aarch64-linux-gnu-objcopy -O binary "$obj/$g.elf" "$out/$g.img"
done
if [ "${1:-}" = "--check" ]; then
  status=0
  for g in "${GUESTS[@]}"; do
    if cmp -s "$out/$g.img" "$G/$g.img"; then echo "same: $g.img"; else echo "DIFFERENT: $g.img"; status=1; fi
  done
  exit $status
fi
echo "built: ${GUESTS[*]}"
