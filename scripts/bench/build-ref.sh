#!/usr/bin/env bash
# Builds the raw-C references of the benchmarks into build/bench/: pio-ref
# (exit_ratio_vs_c), msi-ref and the ringer both sides share (msi_*_vs_c).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/bench
gcc -O2 -Wall -Wextra -o build/bench/pio-ref scripts/bench/pio-ref.c
gcc -O2 -Wall -Wextra -pthread -o build/bench/msi-ref scripts/bench/msi-ref.c
gcc -O2 -Wall -Wextra -o build/bench/msi-ringer scripts/bench/msi-ringer.c
