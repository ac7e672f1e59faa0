// Shared helpers for the addon: errno-carrying errors and argument checks.
// No policy lives here; each export is one ioctl or syscall.
#pragma once

#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/ioctl.h>

namespace kvmaddon {

// Every ioctl but KVM_RUN goes through this. KVM answers some of them
// (KVM_CREATE_VM among them) with EINTR when any signal is pending on the
// calling thread -- a child's SIGCHLD, a kick that raced with the end of a
// run -- and SA_RESTART does not restart an EINTR, only ERESTARTSYS. They
// fail before taking effect, so the call is simply issued again. KVM_RUN's
// EINTR is a kick, and run() returns it.
template <typename A>
int Ioctl(int fd, unsigned long request, A arg) {
  int r;
  do r = ioctl(fd, request, arg); while (r < 0 && errno == EINTR);
  return r;
}

// Throws an Error with errno, code ('EINVAL') and syscall ('KVM_IRQFD').
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall);

// Throws a TypeError/RangeError with code 'ERR_INVALID_ARG'.
[[noreturn]] void ThrowArg(Napi::Env env, const std::string& message, bool range = false);

// Throws EBADF (errno 9, code 'EBADF') naming `syscall`: "<what> handle is closed".
[[noreturn]] void ThrowClosed(Napi::Env env, const char* what, const char* syscall);

// Throws an Error with the given code (e.g. 'ERR_MAPPING_IN_USE') and no errno.
[[noreturn]] void ThrowCode(Napi::Env env, const char* code, const std::string& message);

// Argument accessors: check type and range, throw ERR_INVALID_ARG otherwise.
// Nothing is truncated: a value outside the field's range is an error.
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t ValueU64(Napi::Env env, Napi::Value v, const char* name);
uint32_t ValueU32(Napi::Env env, Napi::Value v, const char* name);
Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t PropU64(Napi::Object o, const char* key);
uint32_t PropU32(Napi::Object o, const char* key);
uint32_t PropU32Or(Napi::Object o, const char* key, uint32_t fallback);
// An unsigned integer property in 0..max.
uint32_t PropMax(Napi::Object o, const char* key, uint32_t max);
uint32_t ValueMax(Napi::Env env, Napi::Value v, const char* name, uint32_t max);

struct Mapping;
// The mapping behind a buffer from mmapAnonymous, checked to hold
// [offset, offset + size); throws ERR_INVALID_ARG (memory.cc).
std::shared_ptr<Mapping> MappingOf(Napi::Env env, Napi::Value v, uint64_t offset, uint64_t size);

// Module parts.
void InitSystem(Napi::Env env, Napi::Object exports);
void InitVm(Napi::Env env, Napi::Object exports);
void InitVcpu(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitEventfd(Napi::Env env, Napi::Object exports);
void InitLayout(Napi::Env env, Napi::Object exports);
void InitVcpuThread(Napi::Env env, Napi::Object exports);
void InitArm64(Napi::Env env, Napi::Object exports);

}  // namespace kvmaddon

// linux/kvm.h declares its flexible arrays with __DECLARE_FLEX_ARRAY, whose
// C++ expansion inserts an empty struct: in C++ kvm_cpuid2::entries sits at
// offset 12 (C: 8) and kvm_irq_routing::entries at 16 (C: 8), and the
// ioctl numbers, which encode sizeof, change too. The same holds for every
// struct with such an array: kvm_msrs, kvm_msr_list, kvm_signal_mask,
// kvm_reg_list. So the variable-length ioctls use these C-layout headers,
// with the entries right after them, and the header's own names for those
// ioctls and structs are poisoned below: using one is a compile error, not a
// silently wrong ioctl number.
#include <linux/kvm.h>
#if defined(__x86_64__)
#define KVMADDON_X86 1
#elif defined(__aarch64__)
#define KVMADDON_ARM64 1
#else
#error "the addon supports x86-64 and arm64 hosts"
#endif
namespace kvmaddon {
struct RoutingHeader { uint32_t nr; uint32_t flags; };       // kvm_irq_routing
struct SignalMaskHeader { uint32_t len; };                   // kvm_signal_mask (sigset bytes follow)
struct RegListHeader { uint64_t n; };                        // kvm_reg_list (u64 reg[] follow)
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, RoutingHeader);
constexpr unsigned long kSetSignalMask = _IOW(KVMIO, 0x8b, SignalMaskHeader);
constexpr unsigned long kGetRegList = _IOWR(KVMIO, 0xb0, RegListHeader);
static_assert(kSetGsiRouting == 0x4008ae6aUL, "KVM_SET_GSI_ROUTING as the C ABI defines it");
static_assert(kSetSignalMask == 0x4004ae8bUL, "KVM_SET_SIGNAL_MASK as the C ABI defines it");
static_assert(kGetRegList == 0xc008aeb0UL, "KVM_GET_REG_LIST as the C ABI defines it");
}  // namespace kvmaddon
#undef KVM_SET_GSI_ROUTING
#undef KVM_SET_SIGNAL_MASK
#undef KVM_GET_REG_LIST
#pragma GCC poison KVM_SET_GSI_ROUTING KVM_SET_SIGNAL_MASK KVM_GET_REG_LIST
#pragma GCC poison kvm_irq_routing kvm_signal_mask kvm_reg_list
#if KVMADDON_X86
namespace kvmaddon {
struct CpuidHeader { uint32_t nent; uint32_t padding; };     // kvm_cpuid2
struct MsrsHeader { uint32_t nmsrs; uint32_t pad; };         // kvm_msrs (kvm_msr_entry[] follow)
struct MsrListHeader { uint32_t nmsrs; };                    // kvm_msr_list (u32 indices[] follow)
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kGetEmulatedCpuid = _IOWR(KVMIO, 0x09, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, CpuidHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kGetMsrFeatureIndexList = _IOWR(KVMIO, 0x0a, MsrListHeader);
// The numbers the C ABI gives them (what a C program compiled against the same header uses).
static_assert(kGetSupportedCpuid == 0xc008ae05UL, "KVM_GET_SUPPORTED_CPUID as the C ABI defines it");
static_assert(kGetEmulatedCpuid == 0xc008ae09UL, "KVM_GET_EMULATED_CPUID as the C ABI defines it");
static_assert(kSetCpuid2 == 0x4008ae90UL, "KVM_SET_CPUID2 as the C ABI defines it");
static_assert(kGetCpuid2 == 0xc008ae91UL, "KVM_GET_CPUID2 as the C ABI defines it");
static_assert(kGetMsrs == 0xc008ae88UL, "KVM_GET_MSRS as the C ABI defines it");
static_assert(kSetMsrs == 0x4008ae89UL, "KVM_SET_MSRS as the C ABI defines it");
static_assert(kGetMsrIndexList == 0xc004ae02UL, "KVM_GET_MSR_INDEX_LIST as the C ABI defines it");
static_assert(kGetMsrFeatureIndexList == 0xc004ae0aUL, "KVM_GET_MSR_FEATURE_INDEX_LIST as the C ABI defines it");
static_assert(sizeof(kvm_msr_entry) == 16, "kvm_msr_entry ABI");
}  // namespace kvmaddon
#undef KVM_GET_SUPPORTED_CPUID
#undef KVM_GET_EMULATED_CPUID
#undef KVM_SET_CPUID2
#undef KVM_GET_CPUID2
#undef KVM_GET_MSRS
#undef KVM_SET_MSRS
#undef KVM_GET_MSR_INDEX_LIST
#undef KVM_GET_MSR_FEATURE_INDEX_LIST
#pragma GCC poison KVM_GET_SUPPORTED_CPUID KVM_GET_EMULATED_CPUID KVM_SET_CPUID2 KVM_GET_CPUID2
#pragma GCC poison KVM_GET_MSRS KVM_SET_MSRS KVM_GET_MSR_INDEX_LIST KVM_GET_MSR_FEATURE_INDEX_LIST
#pragma GCC poison kvm_cpuid2 kvm_msrs kvm_msr_list
#endif  // KVMADDON_X86
