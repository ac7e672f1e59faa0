#!/usr/bin/env bash
# Rebuilds the x86 test guests into guests/x86/<name>.elf, reproducibly:
# fixed relative paths, no build-id, no debug info, stripped, so the output
# is byte-identical on the same toolchain (recorded in guests/x86/README.md).
#   scripts/build-guests.sh          rebuild the committed ELFs
#   scripts/build-guests.sh --check  rebuild into a temp dir and compare
set -euo pipefail
cd "$(dirname "$0")/.."
G=guests/x86
# Every guests/x86/<name>.c is a guest (plus <name>.S when present).
GUESTS=()
for f in "$G"/*.c; do GUESTS+=("$(basename "$f" .c)"); done
# Guests that take interrupts say "build: irqwait" in their .c and link the shared entry stub and wait loop.
IRQ_GUESTS=" "
for g in "${GUESTS[@]}"; do grep -q 'build: irqwait' "$G/$g.c" && IRQ_GUESTS+="$g "; done
# Guests that start the other CPUs say "build: smp" and link the AP trampoline (common/smp.S).
SMP_GUESTS=" "
for g in "${GUESTS[@]}"; do grep -q 'build: smp' "$G/$g.c" && SMP_GUESTS+="$g "; done
# Guests that say "build: vectors" link one entry stub per vector 0x40..0x7f (common/vectors.S).
VEC_GUESTS=" "
for g in "${GUESTS[@]}"; do grep -q 'build: vectors' "$G/$g.c" && VEC_GUESTS+="$g "; done
CFLAGS=(-m32 -march=i686 -O2 -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-stack-protector
  -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-builtin -mno-sse -mno-mmx -mno-80387
  -fno-ident -Wall -Wextra -Werror -I"$G")
out=$G
if [ "${1:-}" = "--check" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
obj=$(mktemp -d); trap 'rm -rf "$obj"; [ "${1:-}" = "--check" ] && rm -rf "$out"' EXIT
gcc "${CFLAGS[@]}" -c "$G/common/start.S" -o "$obj/start.o"
gcc "${CFLAGS[@]}" -c "$G/common/rt.c" -o "$obj/rt.o"
gcc "${CFLAGS[@]}" -c "$G/common/irqwait.S" -o "$obj/irqwait.o"
gcc "${CFLAGS[@]}" -c "$G/common/smp.S" -o "$obj/smp.o"
gcc "${CFLAGS[@]}" -c "$G/common/vectors.S" -o "$obj/vectors.o"
for g in "${GUESTS[@]}"; do
  extra=()
  [ -f "$G/$g.S" ] && { gcc "${CFLAGS[@]}" -c "$G/$g.S" -o "$obj/$g-asm.o"; extra+=("$obj/$g-asm.o"); }
  case "$IRQ_GUESTS" in *" $g "*) extra+=("$obj/irqwait.o") ;; esac
  case "$SMP_GUESTS" in *" $g "*) extra+=("$obj/smp.o") ;; esac
  case "$VEC_GUESTS" in *" $g "*) extra+=("$obj/vectors.o") ;; esac
  gcc "${CFLAGS[@]}" -c "$G/$g.c" -o "$obj/$g.o"
  ld -m elf_i386 -nostdlib --build-id=none -z noexecstack --no-warn-rwx-segments -T "$G/common/linker.ld" -o "$out/$g.elf" \
    "$obj/start.o" "$obj/$g.o" "${extra[@]}" "$obj/rt.o"
  strip --strip-all "$out/$g.elf"
done
if [ "${1:-}" = "--check" ]; then
  status=0
  for g in "${GUESTS[@]}"; do
    if cmp -s "$out/$g.elf" "$G/$g.elf"; then echo "same: $g.elf"; else echo "DIFFERENT: $g.elf"; status=1; fi
  done
  exit $status
fi
echo "built: ${GUESTS[*]}"
