#!/usr/bin/env bash
# Builds the raw-C references of the benchmarks, warning-free, into build/bench/ (or the
# directory given): pio-ref (exit_ratio_vs_c), msi-ref and the ringer both sides share
# (msi_*_vs_c), and wake-ref (eventfd_wake_vs_c, against the same ringer).
#   scripts/bench/build-ref.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build/bench}"
mkdir -p "$out"
cflags=(-O2 -Wall -Wextra -Werror)
gcc "${cflags[@]}" -o "$out/pio-ref" scripts/bench/pio-ref.c
gcc "${cflags[@]}" -pthread -o "$out/msi-ref" scripts/bench/msi-ref.c
gcc "${cflags[@]}" -o "$out/msi-ringer" scripts/bench/msi-ringer.c
gcc "${cflags[@]}" -o "$out/wake-ref" scripts/bench/wake-ref.c
