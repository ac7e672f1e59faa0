#!/usr/bin/env bash
# Installs what the arm64 work needs from Debian, when we are root and apt-get
# exists: the cross toolchain (guests, the cross-built addon), the device-tree
# compiler (tests decompile the generated DTB) and qemu-system-aarch64 (TCG
# reference runs and the nested arm64 KVM harness). Idempotent; never fails
# the caller: what is missing stays missing and the checks that need it skip
# with the reason.
#   bash scripts/arm64/install-tools.sh [--quiet]
set -uo pipefail
want=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || want+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || want+=(g++-aarch64-linux-gnu)
[ -d /usr/aarch64-linux-gnu/include/linux ] || want+=(linux-libc-dev-arm64-cross)
command -v dtc >/dev/null 2>&1 || want+=(device-tree-compiler)
command -v qemu-system-aarch64 >/dev/null 2>&1 || want+=(qemu-system-arm)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "arm64 tools: not root or no apt-get; missing: ${want[*]}" >&2
  exit 0
fi
log="$(mktemp)"
if ! { timeout 600 apt-get update -qq && timeout 900 env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${want[@]}"; } >"$log" 2>&1; then
  echo "arm64 tools: apt-get could not install ${want[*]}:" >&2
  tail -5 "$log" >&2
fi
rm -f "$log"
exit 0
