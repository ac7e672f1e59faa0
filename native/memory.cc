// Guest memory, handed to JS as external ArrayBuffers (zero copy).
//
// A Mapping is shared: the JS buffer holds one reference (an entry in
// g_buffers, dropped by the buffer's finalizer or by munmap()) and every
// memory slot that points into it holds one more (Vm::SetSlot). The pages
// are unmapped when the last reference goes, so neither munmap() nor a
// garbage collection can pull memory from under a VM that still has it in a
// slot: KVM would keep the stale host address, and the next mapping placed
// there would silently become guest memory.
#include "common.h"
#include "handle.h"

#include <cerrno>
#include <map>
#include <mutex>
#include <sys/mman.h>

namespace kvmaddon {
namespace {

// The JS buffers' references, by id (the finalizer's hint) and by base address.
std::map<uint64_t, std::shared_ptr<Mapping>> g_buffers;
std::map<uintptr_t, uint64_t> g_by_base;
uint64_t g_next_id = 1;

void DropBufferLocked(uint64_t id) {
  auto it = g_buffers.find(id);
  if (it == g_buffers.end()) return;
  g_by_base.erase(reinterpret_cast<uintptr_t>(it->second->base));
  // Destroying the last reference unmaps; that takes no lock of ours.
  std::shared_ptr<Mapping> last = std::move(it->second);
  g_buffers.erase(it);
}

void Finalize(napi_env, void*, void* hint) {
  uint64_t id = reinterpret_cast<uintptr_t>(hint);
  std::lock_guard<std::mutex> lock(MappingsMutex());
  DropBufferLocked(id);
}

Napi::Value MmapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t size = ArgU64(info, 0, "size");
  if (size == 0) ThrowArg(env, "size must be > 0", true);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) ThrowErrno(env, errno, "mmap");
  std::shared_ptr<Mapping> m;
  try {
    m = std::make_shared<Mapping>(p, size);  // unmaps if anything below fails
  } catch (...) {
    munmap(p, size);
    throw;
  }
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(MappingsMutex());
    id = g_next_id++;
    g_buffers[id] = m;
    g_by_base[reinterpret_cast<uintptr_t>(p)] = id;
  }
  m.reset();
  // The raw call, not Napi::ArrayBuffer::New: when V8 refuses the size, Node
  // runs the finalizer itself and node-addon-api would free its own copy of
  // the hint again (a double free). Here the hint is an id, and whichever of
  // the finalizer and this error path comes first drops the reference once.
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, p, size, Finalize, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), &ab);
  if (st != napi_ok) {
    napi_value pending;
    napi_get_and_clear_last_exception(env, &pending);
    {
      std::lock_guard<std::mutex> lock(MappingsMutex());
      DropBufferLocked(id);
    }
    ThrowArg(env, "size " + std::to_string(size) + " is larger than an ArrayBuffer can be in this Node.js", true);
  }
  return Napi::Value(env, ab);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) ThrowArg(env, "buffer must be an ArrayBuffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return env.Undefined();
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  std::shared_ptr<Mapping> last;
  {
    std::lock_guard<std::mutex> lock(MappingsMutex());
    auto it = g_by_base.find(base);
    if (it == g_by_base.end()) ThrowArg(env, "buffer was not mapped by mmapAnonymous");
    auto& m = g_buffers.at(it->second);
    if (m->slots > 0) {
      ThrowCode(env, "ERR_MAPPING_IN_USE", "munmap refused: " + std::to_string(m->slots) +
        " memory slot(s) still point into this buffer; delete the slot (memorySize 0) or close the VM first");
    }
    last = std::move(m);
    g_buffers.erase(it->second);
    g_by_base.erase(it);
  }
  ab.Detach();
  return env.Undefined();  // `last` unmaps here
}

}  // namespace

std::shared_ptr<Mapping> MappingOf(Napi::Env env, Napi::Value v, uint64_t offset, uint64_t size) {
  if (!v.IsArrayBuffer()) ThrowArg(env, "buffer must be an ArrayBuffer from mmapAnonymous");
  Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) ThrowArg(env, "buffer is detached (unmapped)");
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  std::lock_guard<std::mutex> lock(MappingsMutex());
  auto it = g_by_base.find(base);
  if (it == g_by_base.end()) ThrowArg(env, "buffer was not allocated by mmapAnonymous");
  const std::shared_ptr<Mapping>& m = g_buffers.at(it->second);
  if (offset > m->size || size > m->size - offset) ThrowArg(env, "bufferOffset + memorySize exceeds the buffer", true);
  return m;
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mmapAnonymous", Napi::Function::New(env, MmapAnonymous, "mmapAnonymous"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
}

}  // namespace kvmaddon
