#!/usr/bin/env bash
# KVM's own view of a run: records the kernel's kvm tracepoints that matter
# for interrupt work (userspace exits, PIO/MMIO, MSIs, LAPIC accepts, LAPIC
# register writes, EOIs) while COMMAND runs, and prints them in order.
#
#   scripts/kvm-trace.sh [-e EXTRA_EVENT]... -- COMMAND [ARGS...]
#   scripts/kvm-trace.sh -- npx vmm run guests/x86/ioapic-storm.elf --irqchip split --cmdline n=3
#   scripts/kvm-trace.sh -- qemu-system-x86_64 -machine pc,kernel-irqchip=split -accel kvm ...
#
# Needs perf and the right to open tracepoints (root, or a low enough
# kernel.perf_event_paranoid). Set KVM_TRACE_STACKS=1 for the kernel call
# chain of every event (how the host's EOI-at-delivery was found).
set -euo pipefail
events=(kvm:kvm_userspace_exit kvm:kvm_pio kvm:kvm_mmio kvm:kvm_msi_set_irq
        kvm:kvm_apic_accept_irq kvm:kvm_apic kvm:kvm_eoi)
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    -e) events+=("$2"); shift 2 ;;
    *) echo "usage: $0 [-e EVENT]... -- COMMAND [ARGS...]" >&2; exit 2 ;;
  esac
done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [-e EVENT]... -- COMMAND [ARGS...]" >&2; exit 2; }
command -v perf >/dev/null || { echo "kvm-trace: perf is not installed (Debian: linux-perf)" >&2; exit 2; }
out=$(mktemp /tmp/kvm-trace.XXXXXX)
trap 'rm -f "$out"' EXIT
args=()
for e in "${events[@]}"; do args+=(-e "$e"); done
[ "${KVM_TRACE_STACKS:-0}" = 1 ] && args+=(-g)
# The command's own output goes to stderr so that stdout is the trace.
status=0
perf record -q -o "$out" "${args[@]}" -- "$@" >&2 || status=$?
# Drop perf's task/pid/cpu/timestamp columns: what is left is the event and its fields.
perf script -i "$out" 2>/dev/null | sed -E 's/^ *[^ ].* +[0-9]+ +\[[0-9]+\] +[0-9.]+: +//'
exit "$status"
