#!/usr/bin/env bash
# Builds the fake /dev/kvm (fake-kvm.c) into build-fake-kvm/fake-kvm.so; prints its path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$root/build-fake-kvm"
cc -shared -fPIC -O2 -Wall -o "$root/build-fake-kvm/fake-kvm.so" "$root/scripts/fake-kvm/fake-kvm.c" -ldl -lpthread
echo "$root/build-fake-kvm/fake-kvm.so"
