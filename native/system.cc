// System-fd ioctls: open /dev/kvm, API version, extensions, VM creation, CPUID.
#include "common.h"
#include "handle.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace kvmaddon {
namespace {

int KvmFd(const Napi::CallbackInfo& info, size_t i, const char* syscall) {
  return ArgHandle<FdResource>(info, i, "kvm", Kind::Kvm)->Get(info.Env(), syscall);
}

Napi::Value OpenKvm(const Napi::CallbackInfo& info) {
  std::string path = "/dev/kvm";
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsString()) ThrowArg(info.Env(), "path must be a string");
    path = info[0].As<Napi::String>().Utf8Value();
  }
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), errno, "open");
  auto r = Adopt<FdResource>(fd, nullptr, 0, Kind::Kvm, fd);  // closes fd if the handle cannot be made
  // A path that opens but is not KVM (a regular file, /dev/null) is refused here, not at the first ioctl.
  if (Ioctl(fd, KVM_GET_API_VERSION, 0) < 0) ThrowErrno(info.Env(), errno, "KVM_GET_API_VERSION");
  return Handle::New(info.Env(), r);
}

Napi::Value GetApiVersion(const Napi::CallbackInfo& info) {
  int r = Ioctl(KvmFd(info, 0, "KVM_GET_API_VERSION"), KVM_GET_API_VERSION, 0);
  if (r < 0) ThrowErrno(info.Env(), errno, "KVM_GET_API_VERSION");
  return Napi::Number::New(info.Env(), r);
}

// KVM_CHECK_EXTENSION works on the system fd and on a VM fd.
Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = "KVM_CHECK_EXTENSION";
  int fd = AnyFd(info, 0, "fd", sc, {Kind::Kvm, Kind::Vm});
  uint32_t cap = ArgU32(info, 1, "cap");
  int r = Ioctl(fd, KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap));
  if (r < 0) ThrowErrno(env, errno, sc);
  return Napi::Number::New(env, r);
}

Napi::Value GetVcpuMmapSize(const Napi::CallbackInfo& info) {
  int r = Ioctl(KvmFd(info, 0, "KVM_GET_VCPU_MMAP_SIZE"), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (r < 0) ThrowErrno(info.Env(), errno, "KVM_GET_VCPU_MMAP_SIZE");
  return Napi::Number::New(info.Env(), r);
}

// The VM remembers KVM_GET_VCPU_MMAP_SIZE: its vCPUs' kvm_run mappings have exactly that size.
Napi::Value CreateVm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int kvm = KvmFd(info, 0, "KVM_CREATE_VM");
  uint32_t type = ArgU32(info, 1, "type");
  int size = Ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < 0) ThrowErrno(env, errno, "KVM_GET_VCPU_MMAP_SIZE");
  int r = Ioctl(kvm, KVM_CREATE_VM, static_cast<unsigned long>(type));
  if (r < 0) ThrowErrno(env, errno, "KVM_CREATE_VM");
  return Handle::New(env, Adopt<Vm>(r, nullptr, 0, r, static_cast<uint32_t>(size)));
}

#if KVMADDON_X86
Napi::Value GetSupportedCpuid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = KvmFd(info, 0, "KVM_GET_SUPPORTED_CPUID");
  std::vector<uint8_t> buf;
  for (uint32_t n = 64;; n *= 2) {
    buf.assign(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2), 0);
    reinterpret_cast<CpuidHeader*>(buf.data())->nent = n;
    if (Ioctl(fd, kGetSupportedCpuid, buf.data()) == 0) break;
    if (errno != E2BIG || n >= 4096) ThrowErrno(env, errno, "KVM_GET_SUPPORTED_CPUID");
  }
  uint32_t nent = reinterpret_cast<CpuidHeader*>(buf.data())->nent;
  auto* entries = reinterpret_cast<kvm_cpuid_entry2*>(buf.data() + sizeof(CpuidHeader));
  Napi::Array out = Napi::Array::New(env, nent);
  for (uint32_t i = 0; i < nent; i++) {
    const kvm_cpuid_entry2& e = entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("function", Napi::Number::New(env, e.function));
    o.Set("index", Napi::Number::New(env, e.index));
    o.Set("flags", Napi::Number::New(env, e.flags));
    o.Set("eax", Napi::Number::New(env, e.eax));
    o.Set("ebx", Napi::Number::New(env, e.ebx));
    o.Set("ecx", Napi::Number::New(env, e.ecx));
    o.Set("edx", Napi::Number::New(env, e.edx));
    out.Set(i, o);
  }
  return out;
}
#endif

}  // namespace

void InitSystem(Napi::Env env, Napi::Object exports) {
  exports.Set("openKvm", Napi::Function::New(env, OpenKvm, "openKvm"));
  exports.Set("getApiVersion", Napi::Function::New(env, GetApiVersion, "getApiVersion"));
  exports.Set("checkExtension", Napi::Function::New(env, CheckExtension, "checkExtension"));
  exports.Set("getVcpuMmapSize", Napi::Function::New(env, GetVcpuMmapSize, "getVcpuMmapSize"));
  exports.Set("createVm", Napi::Function::New(env, CreateVm, "createVm"));
#if KVMADDON_X86
  exports.Set("getSupportedCpuid", Napi::Function::New(env, GetSupportedCpuid, "getSupportedCpuid"));
#endif
}

}  // namespace kvmaddon
