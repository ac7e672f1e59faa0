// Struct offsets and kernel constants, computed here so TypeScript never
// retypes them. The static_asserts pin the ABI facts the VMM relies on.
#include "common.h"

#include <cstddef>
#include <linux/kvm.h>
#include <sys/eventfd.h>

namespace kvmaddon {
namespace {

static_assert(offsetof(kvm_run, request_interrupt_window) == 0, "kvm_run ABI");
static_assert(offsetof(kvm_run, immediate_exit) == 1, "kvm_run ABI");
static_assert(offsetof(kvm_run, exit_reason) == 8, "kvm_run ABI");
static_assert(offsetof(kvm_run, io) == 32, "kvm_run union starts at 32");
static_assert(offsetof(kvm_run, mmio.data) == 40, "kvm_run ABI");
static_assert(sizeof(kvm_irq_routing_entry) == 48, "routing entry ABI");
#if KVMADDON_X86
static_assert(sizeof(kvm_regs) == 18 * 8, "kvm_regs is 18 u64");
static_assert(sizeof(kvm_segment) == 24, "kvm_segment ABI");
static_assert(sizeof(kvm_cpuid_entry2) == 40, "cpuid entry ABI");
#endif
#if KVMADDON_ARM64
// arm64's kvm_sync_regs is the user-IRQ levels (KVM_CAP_ARM_USER_IRQ): bit 0 vtimer, 1 ptimer, 2 PMU.
static_assert(offsetof(kvm_sync_regs, device_irq_level) == 0, "kvm_sync_regs ABI");
static_assert(sizeof(kvm_vcpu_init) == 32, "kvm_vcpu_init ABI");
static_assert(sizeof(kvm_one_reg) == 16, "kvm_one_reg ABI");
#endif
static_assert(KVM_API_VERSION == 12, "KVM API version");

void Set(Napi::Object o, const char* k, size_t v) { o.Set(k, Napi::Number::New(o.Env(), static_cast<double>(v))); }

}  // namespace

void InitLayout(Napi::Env env, Napi::Object exports) {
  Napi::Object layout = Napi::Object::New(env);

  Napi::Object run = Napi::Object::New(env);
  Set(run, "size", sizeof(kvm_run));
  Set(run, "request_interrupt_window", offsetof(kvm_run, request_interrupt_window));
  Set(run, "immediate_exit", offsetof(kvm_run, immediate_exit));
  Set(run, "exit_reason", offsetof(kvm_run, exit_reason));
  Set(run, "ready_for_interrupt_injection", offsetof(kvm_run, ready_for_interrupt_injection));
  Set(run, "if_flag", offsetof(kvm_run, if_flag));
  Set(run, "flags", offsetof(kvm_run, flags));
  Set(run, "cr8", offsetof(kvm_run, cr8));
  Set(run, "apic_base", offsetof(kvm_run, apic_base));
  Set(run, "exit_union", offsetof(kvm_run, io));
  Set(run, "io_direction", offsetof(kvm_run, io.direction));
  Set(run, "io_size", offsetof(kvm_run, io.size));
  Set(run, "io_port", offsetof(kvm_run, io.port));
  Set(run, "io_count", offsetof(kvm_run, io.count));
  Set(run, "io_data_offset", offsetof(kvm_run, io.data_offset));
  Set(run, "mmio_phys_addr", offsetof(kvm_run, mmio.phys_addr));
  Set(run, "mmio_data", offsetof(kvm_run, mmio.data));
  Set(run, "mmio_len", offsetof(kvm_run, mmio.len));
  Set(run, "mmio_is_write", offsetof(kvm_run, mmio.is_write));
  Set(run, "fail_entry_hardware_entry_failure_reason", offsetof(kvm_run, fail_entry.hardware_entry_failure_reason));
  Set(run, "fail_entry_cpu", offsetof(kvm_run, fail_entry.cpu));
  Set(run, "internal_suberror", offsetof(kvm_run, internal.suberror));
  Set(run, "internal_ndata", offsetof(kvm_run, internal.ndata));
  Set(run, "internal_data", offsetof(kvm_run, internal.data));
  Set(run, "system_event_type", offsetof(kvm_run, system_event.type));
  Set(run, "system_event_ndata", offsetof(kvm_run, system_event.ndata));
  Set(run, "system_event_data", offsetof(kvm_run, system_event.data));
  Set(run, "eoi_vector", offsetof(kvm_run, eoi.vector));
  Set(run, "kvm_valid_regs", offsetof(kvm_run, kvm_valid_regs));
  Set(run, "kvm_dirty_regs", offsetof(kvm_run, kvm_dirty_regs));
  Set(run, "sync_regs", offsetof(kvm_run, s.regs));
  layout.Set("kvm_run", run);
#if KVMADDON_X86
  layout.Set("arch", Napi::String::New(env, "x86_64"));

  Napi::Object sync = Napi::Object::New(env);
  Set(sync, "regs", offsetof(kvm_sync_regs, regs));
  Set(sync, "sregs", offsetof(kvm_sync_regs, sregs));
  Set(sync, "events", offsetof(kvm_sync_regs, events));
  Set(sync, "size", sizeof(kvm_sync_regs));
  layout.Set("kvm_sync_regs", sync);

  Napi::Object regs = Napi::Object::New(env);
#define R(n) Set(regs, #n, offsetof(kvm_regs, n));
  R(rax) R(rbx) R(rcx) R(rdx) R(rsi) R(rdi) R(rsp) R(rbp) R(r8) R(r9) R(r10) R(r11) R(r12) R(r13) R(r14) R(r15) R(rip) R(rflags)
#undef R
  Set(regs, "size", sizeof(kvm_regs));
  layout.Set("kvm_regs", regs);

  Napi::Object sregs = Napi::Object::New(env);
#define S(n) Set(sregs, #n, offsetof(kvm_sregs, n));
  S(cs) S(ds) S(es) S(fs) S(gs) S(ss) S(tr) S(ldt) S(gdt) S(idt) S(cr0) S(cr2) S(cr3) S(cr4) S(cr8) S(efer) S(apic_base) S(interrupt_bitmap)
#undef S
  Set(sregs, "size", sizeof(kvm_sregs));
  layout.Set("kvm_sregs", sregs);

  Napi::Object seg = Napi::Object::New(env);
#define G(n) Set(seg, #n, offsetof(kvm_segment, n));
  G(base) G(limit) G(selector) G(type) G(present) G(dpl) G(db) G(s) G(l) G(g) G(avl) G(unusable)
#undef G
  Set(seg, "size", sizeof(kvm_segment));
  layout.Set("kvm_segment", seg);
#endif
#if KVMADDON_ARM64
  layout.Set("arch", Napi::String::New(env, "arm64"));
  Napi::Object sync = Napi::Object::New(env);
  Set(sync, "device_irq_level", offsetof(kvm_sync_regs, device_irq_level));
  Set(sync, "size", sizeof(kvm_sync_regs));
  layout.Set("kvm_sync_regs", sync);
#endif
  exports.Set("layout", layout);

  Napi::Object c = Napi::Object::New(env);
#define K(n) Set(c, #n, static_cast<size_t>(n));
  K(KVM_API_VERSION)
  K(KVM_EXIT_UNKNOWN) K(KVM_EXIT_EXCEPTION) K(KVM_EXIT_IO) K(KVM_EXIT_HYPERCALL) K(KVM_EXIT_DEBUG) K(KVM_EXIT_HLT)
  K(KVM_EXIT_MMIO) K(KVM_EXIT_IRQ_WINDOW_OPEN) K(KVM_EXIT_SHUTDOWN) K(KVM_EXIT_FAIL_ENTRY) K(KVM_EXIT_INTR)
  K(KVM_EXIT_SET_TPR) K(KVM_EXIT_TPR_ACCESS) K(KVM_EXIT_NMI) K(KVM_EXIT_INTERNAL_ERROR) K(KVM_EXIT_SYSTEM_EVENT)
  K(KVM_EXIT_IOAPIC_EOI) K(KVM_EXIT_IO_IN) K(KVM_EXIT_IO_OUT)
  K(KVM_CAP_IRQCHIP) K(KVM_CAP_USER_MEMORY) K(KVM_CAP_SET_TSS_ADDR) K(KVM_CAP_IRQ_ROUTING) K(KVM_CAP_IRQFD)
  K(KVM_CAP_IOEVENTFD) K(KVM_CAP_SIGNAL_MSI) K(KVM_CAP_SPLIT_IRQCHIP) K(KVM_CAP_IMMEDIATE_EXIT) K(KVM_CAP_SYNC_REGS)
  K(KVM_CAP_NR_VCPUS) K(KVM_CAP_MAX_VCPUS) K(KVM_CAP_NR_MEMSLOTS) K(KVM_CAP_IRQFD_RESAMPLE) K(KVM_CAP_X2APIC_API)
  K(KVM_CAP_MP_STATE) K(KVM_CAP_IOEVENTFD_ANY_LENGTH) K(KVM_CAP_EXT_CPUID)
  K(KVM_MEM_LOG_DIRTY_PAGES) K(KVM_MEM_READONLY) K(KVM_IRQFD_FLAG_DEASSIGN) K(KVM_IRQFD_FLAG_RESAMPLE)
  K(KVM_IOEVENTFD_FLAG_DATAMATCH) K(KVM_IOEVENTFD_FLAG_PIO) K(KVM_IOEVENTFD_FLAG_DEASSIGN)
  K(KVM_IRQ_ROUTING_IRQCHIP) K(KVM_IRQ_ROUTING_MSI) K(KVM_MSI_VALID_DEVID)
#if KVMADDON_X86
  K(KVM_SYNC_X86_REGS) K(KVM_SYNC_X86_SREGS) K(KVM_SYNC_X86_EVENTS)
#endif
#if KVMADDON_ARM64
  K(KVM_ARM_VCPU_POWER_OFF) K(KVM_ARM_VCPU_PSCI_0_2) K(KVM_ARM_VCPU_PMU_V3)
  K(KVM_ARM_IRQ_TYPE_SHIFT) K(KVM_ARM_IRQ_VCPU_SHIFT) K(KVM_ARM_IRQ_NUM_SHIFT)
  K(KVM_ARM_IRQ_TYPE_CPU) K(KVM_ARM_IRQ_TYPE_SPI) K(KVM_ARM_IRQ_TYPE_PPI) K(KVM_ARM_IRQ_CPU_IRQ) K(KVM_ARM_IRQ_CPU_FIQ)
  K(KVM_ARM_DEV_EL1_VTIMER) K(KVM_ARM_DEV_EL1_PTIMER) K(KVM_ARM_DEV_PMU)
#endif
  K(KVM_CAP_ARM_USER_IRQ) K(KVM_CAP_ARM_PSCI_0_2) K(KVM_CAP_ONE_REG) K(KVM_CAP_ARM_NISV_TO_USER)
  K(KVM_SYSTEM_EVENT_SHUTDOWN) K(KVM_SYSTEM_EVENT_RESET) K(KVM_EXIT_ARM_NISV)
  K(KVM_MP_STATE_RUNNABLE) K(KVM_MP_STATE_UNINITIALIZED) K(KVM_MP_STATE_INIT_RECEIVED) K(KVM_MP_STATE_HALTED)
  K(KVM_MP_STATE_SIPI_RECEIVED) K(KVM_MP_STATE_STOPPED)
  K(EFD_CLOEXEC) K(EFD_NONBLOCK) K(EFD_SEMAPHORE)
#undef K
  exports.Set("constants", c);
}

}  // namespace kvmaddon
