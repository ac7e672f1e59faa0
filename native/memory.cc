// Guest memory and kvm_run mappings, handed to JS as external ArrayBuffers
// (zero copy). munmap() is explicit and detaches the buffer first; the
// finalizer only unmaps what munmap() did not.
#include "common.h"

#include <cerrno>
#include <map>
#include <mutex>
#include <sys/mman.h>

namespace kvmaddon {

struct Mapping {
  void* base;
  size_t size;
  bool mapped;
  int vcpu_fd;  // >= 0 for a kvm_run mapping
};

namespace {

std::mutex g_mutex;
std::map<uintptr_t, Mapping*> g_mappings;

void Unmap(Mapping* m) {
  if (!m->mapped) return;
  if (m->vcpu_fd >= 0) ForgetVcpu(m->vcpu_fd);
  munmap(m->base, m->size);
  m->mapped = false;
  g_mappings.erase(reinterpret_cast<uintptr_t>(m->base));
}

void Finalize(Napi::Env, void*, Mapping* m) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Unmap(m);
  delete m;
}

Napi::ArrayBuffer Wrap(Napi::Env env, void* base, size_t size, int vcpu_fd) {
  auto* m = new Mapping{base, size, true, vcpu_fd};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_mappings[reinterpret_cast<uintptr_t>(base)] = m;
  }
  return Napi::ArrayBuffer::New(env, base, size, Finalize, m);
}

Napi::Value MmapAnonymous(const Napi::CallbackInfo& info) {
  uint64_t size = ArgU64(info, 0, "size");
  if (size == 0) ThrowArg(info.Env(), "size must be > 0", true);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) ThrowErrno(info.Env(), errno, "mmap");
  return Wrap(info.Env(), p, size, -1);
}

Napi::Value MmapVcpu(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "vcpuFd");
  uint64_t size = ArgU64(info, 1, "size");
  if (size == 0) ThrowArg(info.Env(), "size must be > 0", true);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) ThrowErrno(info.Env(), errno, "mmap");
  RegisterKvmRun(fd, p);
  return Wrap(info.Env(), p, size, fd);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) ThrowArg(info.Env(), "buffer must be an ArrayBuffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return info.Env().Undefined();
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_mappings.find(base);
    if (it != g_mappings.end()) m = it->second;
  }
  if (!m) ThrowArg(info.Env(), "buffer was not mapped by this addon");
  ab.Detach();
  std::lock_guard<std::mutex> lock(g_mutex);
  Unmap(m);
  return info.Env().Undefined();
}

}  // namespace

// Resolves a buffer from mmapAnonymous to its host address, or throws.
uint64_t HostAddress(Napi::Env env, Napi::Value v, uint64_t offset, uint64_t size) {
  if (!v.IsArrayBuffer()) ThrowArg(env, "buffer must be an ArrayBuffer from mmapAnonymous");
  Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) ThrowArg(env, "buffer is detached (unmapped)");
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_mappings.find(base);
  if (it == g_mappings.end() || it->second->vcpu_fd >= 0) ThrowArg(env, "buffer was not allocated by mmapAnonymous");
  if (offset > it->second->size || size > it->second->size - offset) {
    ThrowArg(env, "bufferOffset + memorySize exceeds the buffer", true);
  }
  return static_cast<uint64_t>(base + offset);
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mmapAnonymous", Napi::Function::New(env, MmapAnonymous, "mmapAnonymous"));
  exports.Set("mmapVcpu", Napi::Function::New(env, MmapVcpu, "mmapVcpu"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
}

}  // namespace kvmaddon
