// Shared helpers for the addon: errno-carrying errors and argument checks.
// No policy lives here; each export is one ioctl or syscall.
#pragma once

#include <napi.h>
#include <cerrno>
#include <cstdint>
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

// Argument accessors: check type and range, throw ERR_INVALID_ARG otherwise.
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t ArgI64(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t ValueU64(Napi::Env env, Napi::Value v, const char* name);
uint32_t ValueU32(Napi::Env env, Napi::Value v, const char* name);
Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t PropU64(Napi::Object o, const char* key);
uint32_t PropU32(Napi::Object o, const char* key);
uint32_t PropU32Or(Napi::Object o, const char* key, uint32_t fallback);

// The kvm_run mapping of a vCPU fd, for kick() (memory.cc / vcpu.cc).
void RegisterKvmRun(int vcpu_fd, void* run);
void ForgetVcpu(int fd);
void KickVcpu(int fd);

// Host address of a region of a buffer from mmapAnonymous (memory.cc); throws ERR_INVALID_ARG.
uint64_t HostAddress(Napi::Env env, Napi::Value v, uint64_t offset, uint64_t size);

// Module parts.
void InitSystem(Napi::Env env, Napi::Object exports);
void InitVm(Napi::Env env, Napi::Object exports);
void InitVcpu(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitEventfd(Napi::Env env, Napi::Object exports);
void InitLayout(Napi::Env env, Napi::Object exports);

}  // namespace kvmaddon

// linux/kvm.h declares its flexible arrays with __DECLARE_FLEX_ARRAY, whose
// C++ expansion inserts an empty struct: in C++ kvm_cpuid2::entries sits at
// offset 12 (C: 8) and kvm_irq_routing::entries at 16 (C: 8), and the
// ioctl numbers, which encode sizeof, change too. So the variable-length
// ioctls use these C-layout headers, with the entries right after them.
#include <linux/kvm.h>
namespace kvmaddon {
struct CpuidHeader { uint32_t nent; uint32_t padding; };
struct RoutingHeader { uint32_t nr; uint32_t flags; };
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, RoutingHeader);
static_assert(kGetSupportedCpuid == 0xc008ae05UL, "KVM_GET_SUPPORTED_CPUID as the C ABI defines it");
static_assert(kSetCpuid2 == 0x4008ae90UL, "KVM_SET_CPUID2 as the C ABI defines it");
static_assert(kSetGsiRouting == 0x4008ae6aUL, "KVM_SET_GSI_ROUTING as the C ABI defines it");
}  // namespace kvmaddon
