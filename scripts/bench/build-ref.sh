#!/usr/bin/env bash
# Builds the raw-C reference of the exit benchmark into build/bench/pio-ref.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/bench
gcc -O2 -Wall -Wextra -o build/bench/pio-ref scripts/bench/pio-ref.c
