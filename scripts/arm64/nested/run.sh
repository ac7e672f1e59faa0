#!/usr/bin/env bash
# Run a command on real (nested) arm64 KVM from an x86-64 host.
#
#   bash scripts/arm64/nested/run.sh [--cpus N] [--mem MiB] [--timeout S] -- CMD [ARG...]
#   bash scripts/arm64/nested/run.sh --fetch-only   (fill the cache and stop)
#
# Boots Debian's arm64 kernel (CONFIG_KVM=y) at EL2 under QEMU's TCG
# (-machine virt,virtualization=on), so /dev/kvm inside it is a real arm64
# KVM; with no in-kernel irqchip it offers KVM_CAP_ARM_USER_IRQ. The root
# filesystem is Debian's arm64 Node (nodejs:arm64 and its Depends/PreDepends
# closure over :arm64 and arch-all packages, unpacked with dpkg-deb), read-only over 9p with
# a tmpfs overlay; this checkout is mounted read-only at the same absolute
# path. PID 1 is a static arm64 init (init.c next to this script) that runs
# CMD (looked up in PATH, no shell) in the current directory when it is
# inside the checkout (else the checkout's root), with CI, TSVMM_* and
# NODE_OPTIONS from this environment, prints "TSVMM-NESTED-EXIT <status>"
# and powers off. The exit status is CMD's; 124 when the guest ended
# without one (timeout, crash); 3 when something needed cannot be
# installed or fetched; 2 for usage errors.
#
# TCG emulates the outer CPU: slow, good for correctness on a real KVM,
# useless for timing. Downloads are cached in $TSVMM_NESTED_CACHE (default
# ~/.cache/tsvmm/nested-arm64); a second run fetches nothing.
# TSVMM_NESTED_APPEND adds to the kernel's command line (e.g.
# "loglevel=7 print-fatal-signals=1" to see why a process died).
#
# The outer CPU is `max,pauth=off,sve=off,sme=off`: with SVE/SME on (QEMU
# 7.2 TCG, MTTCG, Debian 6.1), node itself dies now and then inside the
# guest (SIGILL, SIGSEGV, V8 "Check failed: CodeKindCanDeoptimize") even
# with no KVM in use (the suite on the sim); with both off, none in a dozen
# runs. TSVMM_NESTED_CPU and TSVMM_NESTED_ACCEL override -cpu and -accel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
checkout="$(cd "$here/../../.." && pwd)"
cpus=2 mem=2048 timeout_s=1800 fetch_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fetch-only) fetch_only=1; shift ;;
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "nested-arm64: unknown option $1 (usage: run.sh [--cpus N] [--mem MiB] [--timeout S] -- CMD...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || [ "$fetch_only" = 1 ] || { echo "nested-arm64: no command given" >&2; exit 2; }
unavailable() { echo "nested-arm64: $*" >&2; exit 3; }

cache="${TSVMM_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvmm/nested-arm64}"
mkdir -p "$cache"

# Tools: QEMU is installed when missing and we can; the cross compiler is
# scripts/arm64/install-tools.sh's business.
if ! command -v qemu-system-aarch64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "nested-arm64: installing qemu-system-arm" >&2
    (timeout 600 apt-get update -qq && timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm >/dev/null) || true
  fi
  command -v qemu-system-aarch64 >/dev/null 2>&1 || unavailable "qemu-system-aarch64 is not installed"
fi
cc="${CC_ARM64:-aarch64-linux-gnu-gcc}"
command -v "$cc" >/dev/null 2>&1 || unavailable "$cc is not installed (scripts/arm64/install-tools.sh)"
command -v node >/dev/null 2>&1 || unavailable "node is needed on the host (to write the initramfs)"

need_apt() {
  for t in apt-get apt-cache dpkg dpkg-deb; do
    command -v "$t" >/dev/null 2>&1 || unavailable "$t is needed to fetch Debian's arm64 packages"
  done
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [ "$(id -u)" = 0 ] || unavailable "dpkg has no arm64 architecture (run: dpkg --add-architecture arm64 && apt-get update)"
    echo "nested-arm64: dpkg --add-architecture arm64; apt-get update" >&2
    dpkg --add-architecture arm64
    timeout 600 apt-get update -qq || unavailable "apt-get update failed"
  fi
}

# apt-get download PKG... into DIR, then dpkg-deb -x each into DEST.
fetch_into() {
  local dest="$1"; shift
  local dl="$cache/dl"
  rm -rf "$dl" && mkdir -p "$dl"
  if ! (cd "$dl" && timeout 900 apt-get download -q "$@" >"$dl/log" 2>&1); then
    tail -3 "$dl/log" >&2 || true
    unavailable "apt-get download failed for: $*"
  fi
  local deb
  for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
  rm -rf "$dl"
}

# virtio-pci (the virt machine's -virtfs), 9p over it, overlayfs; virtio and
# the PCI host bridge are built in. In dependency order.
mods=(virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay)

# The kernel: Debian's current arm64 image (linux-image-arm64's dependency), unpacked once.
if [ ! -f "$cache/kernel/ok" ]; then
  need_apt
  pkg="$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)"
  [ -n "$pkg" ] || unavailable "cannot resolve linux-image-arm64:arm64 (run apt-get update)"
  echo "nested-arm64: fetching $pkg" >&2
  rm -rf "$cache/kernel" && mkdir -p "$cache/kernel"
  fetch_into "$cache/kernel" "$pkg"
  # Only the image and the modules above are used: drop the rest (~340 MB).
  keep=()
  for m in "${mods[@]}"; do keep+=(! -name "$m.ko"); done
  find "$cache/kernel/lib/modules" -type f "${keep[@]}" -delete
  echo "$pkg" > "$cache/kernel/ok"
fi

# The root: nodejs:arm64 and the closure of its Depends/PreDepends over the
# packages an arm64 system would install: :arm64 ones and Architecture: all
# ones (Debian's node loads acorn, cjs-module-lexer and undici from
# node-* arch-all packages, named through virtual <node-*:arm64>
# dependencies); anything of the host's architecture (e.g. node-acorn's
# "nodejs") is not followed.
deps_of() {  # PKG... -> the real packages their Depends/PreDepends name, virtual ones replaced by their providers
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | awk '
    /^ *\|?(Pre)?Depends: / { virt = ($2 ~ /^</); if (!virt) print $2; next }
    /^    [^ ]/ { if (virt) print $1; next }
    { virt = 0 }' | sort -u
}
arch_all() {  # PKG... (no :arch suffix) -> those that are Architecture: all
  [ $# -gt 0 ] || return 0
  apt-cache show --no-all-versions "$@" 2>/dev/null | awk '/^Package: /{p=$2} /^Architecture: all$/{print p}' | sort -u
}
if [ ! -f "$cache/root/ok" ]; then
  need_apt
  seen=" " todo=(nodejs:arm64) all=()
  while [ ${#todo[@]} -gt 0 ]; do
    for p in "${todo[@]}"; do seen+="$p "; all+=("$p"); done
    next=() plain=()
    for p in $(deps_of "${todo[@]}"); do
      case "$seen" in *" $p "*) continue ;; esac
      case "$p" in *:arm64) next+=("$p") ;; *:*) ;; *) plain+=("$p") ;; esac
    done
    for p in $(arch_all "${plain[@]+"${plain[@]}"}"); do next+=("$p"); done
    todo=("${next[@]+"${next[@]}"}")
  done
  case "$seen" in *" libnode"*) ;; *) unavailable "cannot resolve nodejs:arm64's dependencies (run apt-get update)" ;; esac
  echo "nested-arm64: fetching ${all[*]}" >&2
  rm -rf "$cache/root" && mkdir -p "$cache/root"
  fetch_into "$cache/root" "${all[@]}"
  [ -x "$cache/root/usr/bin/node" ] || [ -L "$cache/root/usr/bin/node" ] || unavailable "nodejs:arm64 did not provide /usr/bin/node"
  mkdir -p "$cache/root/proc" "$cache/root/sys" "$cache/root/dev" "$cache/root/tmp" "$cache/root/root"
  printf '%s\n' "${all[@]}" > "$cache/root/ok"
fi
vmlinuz="$(ls "$cache"/kernel/boot/vmlinuz-* | head -1)"
moddir="$(ls -d "$cache"/kernel/lib/modules/* | head -1)/kernel"

# PID 1, static so it needs nothing from the initramfs.
if [ ! -x "$cache/init" ] || [ "$here/init.c" -nt "$cache/init" ]; then
  "$cc" -static -O2 -Wall -Werror -o "$cache/init.tmp" "$here/init.c" || unavailable "cannot build the arm64 init with $cc -static"
  mv "$cache/init.tmp" "$cache/init"
fi

[ "$fetch_only" = 1 ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The command for the init: NUL-separated cwd, checkout, argc, argv..., envc, env...
case "$PWD/" in "$checkout"/*) cwd="$PWD" ;; *) cwd="$checkout" ;; esac
envs=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=/root" "TERM=dumb" "LANG=C.UTF-8")
while IFS= read -r name; do
  envs+=("$name=${!name}")
done < <(compgen -e | grep -E '^(CI|TSVMM_[A-Z0-9_]+|NODE_OPTIONS)$' | grep -vx TSVMM_NESTED_CACHE || true)
printf '%s\0' "$cwd" "$checkout" "$#" "$@" "${#envs[@]}" "${envs[@]}" > "$work/cmd"

specs=("init=$cache/init" "cmd=$work/cmd" "modules/")
for m in "${mods[@]}"; do
  f="$(find "$moddir" -name "$m.ko" | head -1)"
  [ -n "$f" ] || unavailable "the kernel package has no $m.ko"
  specs+=("modules/$m.ko=$f")
done
node "$checkout/scripts/nested-kvm/mkcpio.mjs" "$work/initrd" "${specs[@]}"

set +e
timeout "$timeout_s" qemu-system-aarch64 \
  -machine virt,virtualization=on,gic-version=3 -cpu "${TSVMM_NESTED_CPU:-max,pauth=off,sve=off,sme=off}" -accel "${TSVMM_NESTED_ACCEL:-tcg,thread=multi}" \
  -smp "$cpus" -m "$mem" -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$vmlinuz" -initrd "$work/initrd" -append "console=ttyAMA0 quiet panic=-1 loglevel=4 ${TSVMM_NESTED_APPEND:-}" \
  -virtfs "local,path=$cache/root,mount_tag=root,security_model=none,readonly=on,multidevs=remap,id=root" \
  -virtfs "local,path=$checkout,mount_tag=checkout,security_model=none,readonly=on,multidevs=remap,id=checkout" \
  </dev/null | tee "$work/console" | grep --line-buffered -av 'TSVMM-NESTED-EXIT '
qemu_rc=${PIPESTATUS[0]}
set -e
status="$(grep -ao 'TSVMM-NESTED-EXIT [0-9]*' "$work/console" | tail -1 | cut -d' ' -f2 || true)"
if [ -z "$status" ]; then
  if [ "$qemu_rc" = 124 ]; then echo "nested-arm64: timed out after ${timeout_s}s" >&2
  else echo "nested-arm64: the guest ended without reporting a status (qemu exit $qemu_rc)" >&2; fi
  exit 124
fi
exit "$status"
