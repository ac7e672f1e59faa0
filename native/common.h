// Shared helpers for the addon: errno-carrying errors and argument checks.
// No policy lives here; each export is one ioctl or syscall.
#pragma once

#include <napi.h>
#include <cstdint>
#include <string>

namespace kvmaddon {

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
