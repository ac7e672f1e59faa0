#!/usr/bin/env bash
# Run a command on real (nested) KVM when this host has no /dev/kvm.
#
#   bash scripts/nested-kvm/run.sh [--cpus N] [--mem MiB] [--timeout S] -- CMD [ARG...]
#
# Boots Debian's amd64 kernel under QEMU's TCG with an SVM-capable `-cpu max`,
# loads kvm-amd inside it, and runs CMD in the current directory of a
# chroot that is this host's root filesystem, read-only over 9p with a tmpfs
# overlay (nothing the guest writes reaches the host). The exit status is
# CMD's. TCG emulates the outer CPU, so this is the same whichever vendor the
# host is, and it is slow: good for correctness on a real KVM, useless for
# timing.
#
# Needs qemu-system-x86 and apt-get (for the kernel package); both are
# installed/fetched when missing and we are root. The kernel is cached in
# $TSVMM_NESTED_CACHE (default ~/.cache/tsvmm/nested-kvm).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cpus=2 mem=6144 timeout_s=1800
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "nested-kvm: unknown option $1 (usage: run.sh [--cpus N] [--mem MiB] [--timeout S] -- CMD...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "nested-kvm: no command given" >&2; exit 2; }

cache="${TSVMM_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvmm/nested-kvm}"
mkdir -p "$cache"

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    timeout 600 apt-get update -qq && timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 >/dev/null
  fi
  command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "nested-kvm: qemu-system-x86_64 is not installed" >&2; exit 3; }
fi

# The kernel: Debian's current amd64 image, unpacked once.
if [ ! -f "$cache/kernel/ok" ]; then
  command -v apt-get >/dev/null 2>&1 || { echo "nested-kvm: apt-get is needed to fetch the kernel" >&2; exit 3; }
  pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)"
  [ -n "$pkg" ] || { echo "nested-kvm: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 3; }
  rm -rf "$cache/kernel" "$cache/dl" && mkdir -p "$cache/dl"
  (cd "$cache/dl" && timeout 600 apt-get download -q "$pkg" 2>/dev/null >/dev/null)
  dpkg-deb -x "$cache"/dl/*.deb "$cache/kernel"
  rm -rf "$cache/dl"
  touch "$cache/kernel/ok"
fi
vmlinuz="$(ls "$cache"/kernel/boot/vmlinuz-* | head -1)"
moddir="$(ls -d "$cache"/kernel/lib/modules/* | head -1)/kernel"

# PID 1, static so it needs nothing from the initramfs.
if [ ! -x "$cache/init" ] || [ "$here/init.c" -nt "$cache/init" ]; then
  gcc -static -O2 -Wall -o "$cache/init.tmp" "$here/init.c" && mv "$cache/init.tmp" "$cache/init"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
{
  echo 'set -e'
  echo "export PATH=$(printf %q "$PATH") HOME=$(printf %q "${HOME:-/root}") TERM=dumb"
  env | sed -n 's/^\(CI\|TSVMM_[A-Z0-9_]*\|NODE_OPTIONS\|npm_config_[a-z_]*\)=.*/\1/p' | while read -r name; do
    echo "export $name=$(printf %q "${!name}")"
  done
  echo "cd $(printf %q "$PWD")"
  printf 'exec'; printf ' %q' "$@"; echo
} > "$work/cmd.sh"

specs=("init=$cache/init" "cmd.sh=$work/cmd.sh" "modules/")
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio \
         netfs fscache 9p overlay irqbypass kvm ccp kvm-amd kvm-intel; do
  f="$(find "$moddir" -name "$m.ko" | head -1)"
  [ -n "$f" ] && specs+=("modules/$m.ko=$f")
done
node "$here/mkcpio.mjs" "$work/initrd" "${specs[@]}"

set +e
timeout "$timeout_s" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max \
  -smp "$cpus" -m "$mem" -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$vmlinuz" -initrd "$work/initrd" -append "console=ttyS0 quiet panic=-1 loglevel=4" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap,id=host \
  </dev/null | tee "$work/console" | grep --line-buffered -av 'TSVMM-NESTED-EXIT '
qemu_rc=${PIPESTATUS[0]}
set -e
# `|| true`: with pipefail, a console without the line (a timeout, a crash) must reach the message below, not end the script.
status="$( (grep -ao 'TSVMM-NESTED-EXIT [0-9]*' "$work/console" || true) | tail -1 | cut -d' ' -f2)"
if [ -z "$status" ]; then
  echo "nested-kvm: the guest ended without reporting a status (qemu exit $qemu_rc)" >&2
  exit 124
fi
exit "$status"
