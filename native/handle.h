// Owned handles. JavaScript never sees a bare file descriptor it could
// forge, reuse after close or pass to the wrong ioctl: every fd the addon
// opens lives in a Resource, and JS holds a Handle object (an ObjectWrap,
// type-tagged so that no other addon's object passes for one) that refers
// to it through a shared_ptr.
//
// Lifetimes, and why:
// - A Vm keeps every guest-memory Mapping that one of its slots points at.
//   KVM keeps the raw host address of a slot, so the pages must stay mapped
//   for as long as the kernel VM can reach them: until the VM fd is closed
//   and no vCPU of it is left (a vCPU fd or its kvm_run mapping keeps the
//   kernel VM alive).
// - A Vcpu owns its kvm_run mapping (exactly KVM_GET_VCPU_MMAP_SIZE bytes).
//   The thread that runs it is recorded only while it is inside KVM_RUN,
//   under the vCPU's mutex, so a kick never signals a thread that has left
//   (or ended) and never writes into an unmapped kvm_run. Closing a vCPU
//   that another thread is running kicks it and leaves the final close(2)
//   to that thread, when KVM_RUN returns: a reused fd number is never run.
#pragma once

#include "common.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace kvmaddon {

enum class Kind { Kvm, Vm, Vcpu, Eventfd, Poller, File, Thread };
const char* KindName(Kind k);

// Something with an fd (or a thread) that must be released exactly once.
struct Resource {
  explicit Resource(Kind k) : kind(k) {}
  virtual ~Resource() = default;
  const Kind kind;
  // Releases what it owns; idempotent; callable from the JS thread that owns the handle.
  virtual void Close() = 0;
  virtual bool Closed() const = 0;
  // The fd number, for diagnostics and for handing to another process (-1 once closed).
  virtual int Fd() const = 0;
};

// A plain fd: /dev/kvm, an eventfd, a duplicate of a caller's fd (a file handle, only ever watched).
struct FdResource : Resource {
  FdResource(Kind k, int fd) : Resource(k), fd_(fd) {}
  ~FdResource() override { Close(); }
  void Close() override;
  bool Closed() const override { return fd_.load() < 0; }
  int Fd() const override { return fd_.load(); }
  // The fd, or a thrown EBADF naming `syscall` when closed.
  int Get(Napi::Env env, const char* syscall) const;
 private:
  std::atomic<int> fd_;
};

// Anonymous guest memory from mmapAnonymous. Unmapped when the last owner
// (the JS ArrayBuffer's registry entry, memory slots) lets go, or by munmap().
struct Mapping {
  Mapping(void* b, size_t s) : base(b), size(s) {}
  ~Mapping();
  void* const base;
  const size_t size;
  int slots = 0;  // memory slots (of any VM) that point into it; guarded by MappingsMutex()
};
std::mutex& MappingsMutex();

struct Vm : Resource {
  Vm(int fd, uint32_t mmap_size) : Resource(Kind::Vm), vcpu_mmap_size(mmap_size), fd_(fd) {}
  ~Vm() override;
  void Close() override;
  bool Closed() const override { return fd_.load() < 0; }
  int Fd() const override { return fd_.load(); }
  int Get(Napi::Env env, const char* syscall) const;

  // Slot bookkeeping after a successful KVM_SET_USER_MEMORY_REGION.
  void SetSlot(uint32_t slot, std::shared_ptr<Mapping> m);
  void VcpuCreated();
  void VcpuGone();

  const uint32_t vcpu_mmap_size;
 private:
  void ReleaseSlotsLocked();
  std::atomic<int> fd_;
  std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Mapping>> slots_;
  int live_vcpus_ = 0;
};

struct Vcpu : Resource {
  Vcpu(int fd, std::shared_ptr<Vm> vm, void* run, size_t run_size, uint32_t id);
  ~Vcpu() override;
  void Close() override;
  bool Closed() const override;
  int Fd() const override;

  // KVM_RUN with the calling thread registered for kicks while inside.
  // Returns the ioctl's result, or -errno.
  int Run(bool* closed);
  // immediate_exit = 1, and a signal to the thread inside KVM_RUN, if any.
  void Kick();
  // Kicks, and makes every later run() return -EINTR at once (process exit).
  void Stop();
  // The fd for an ioctl, or a thrown EBADF naming `syscall`.
  int Get(Napi::Env env, const char* syscall);

  void* run_base() const { return run_; }
  size_t run_size() const { return run_size_; }
  const uint32_t id;
  const uint64_t share_id;  // process-wide, never reused: what another thread attaches by
  napi_env owner_env = nullptr;  // the environment that created it (stopOwnVcpus)
 private:
  void ReleaseLocked(bool* vm_gone);  // closes the fd once nobody is in KVM_RUN
  mutable std::mutex mu_;
  int fd_;
  bool fd_open_ = true;
  bool closed_ = false;
  bool stopped_ = false;
  bool in_run_ = false;
  pthread_t thread_{};
  void* run_;          // nullptr once unmapped
  const size_t run_size_;
  std::shared_ptr<Vm> vm_;  // until the fd is closed
};

// Every vCPU of the process, by share id (weakly): attachVcpu and stopAllVcpus.
std::shared_ptr<Vcpu> FindVcpu(uint64_t share_id);
std::vector<std::shared_ptr<Vcpu>> AllVcpus();
void RegisterVcpu(const std::shared_ptr<Vcpu>& v);

int KickSignal();
void InstallKickHandler();

// The JS object for a resource.
class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // A new handle object in `env` for `r`. `owner`: closing this handle closes the
  // resource (false for a vCPU attached from another thread, whose close() only lets go).
  static Napi::Object New(Napi::Env env, std::shared_ptr<Resource> r, bool owner = true);
  // The resource behind argument i, checked for kind; throws ERR_INVALID_ARG otherwise.
  static std::shared_ptr<Resource> From(const Napi::CallbackInfo& info, size_t i, const char* name, Kind kind);
  static Handle* Checked(Napi::Env env, Napi::Value v, const char* name, Kind kind);
  // Any live handle of ours (for ioctls valid on several fd kinds).
  static Handle* CheckedAny(Napi::Env env, Napi::Value v, const char* name);

  explicit Handle(const Napi::CallbackInfo& info);
  ~Handle() override;
  std::shared_ptr<Resource> resource() const { return res_; }
  bool owner() const { return owner_; }
  // The kvm_run ArrayBuffer of a vCPU handle (made once, detached at close).
  Napi::Value RunBuffer(Napi::Env env);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  void DoClose();
  std::shared_ptr<Resource> res_;
  bool owner_ = true;
  bool released_ = false;
  Napi::Reference<Napi::ArrayBuffer> run_buffer_;  // weak
};

// make_shared for a resource that takes over `fd` (and, for a vCPU, a mapping): if the
// allocation itself fails, the fd (and mapping) are released before the error goes on,
// so no errno or allocation path leaks what it opened.
template <typename T, typename... A>
std::shared_ptr<T> Adopt(int fd, void* map, size_t map_size, A&&... args) {
  try {
    return std::make_shared<T>(std::forward<A>(args)...);
  } catch (...) {
    if (map) munmap(map, map_size);
    close(fd);
    throw;
  }
}

// A thread-safe function that calls a JS callback on the handle's JS thread,
// for a native thread (the poller's, a vCPU's). The callback is held weakly:
// the handle object keeps it (a read-only `callback` property, a JS edge that
// dies with the handle), since a callback that reaches its own handle (a VM
// holding its poller) would otherwise make that cycle a root. The function's
// context owns a reference to `owner` until it is finalized, after release.
// Created unref'd: an idle thread must not keep the process alive.
// Returns napi_ok, or the failing status (nothing then needs releasing).
template <typename T>
napi_status MakeCallbackTsfn(Napi::Env env, Napi::Object handle, Napi::Value callback, const char* name,
                             const std::shared_ptr<T>& owner, napi_threadsafe_function_call_js call_js,
                             napi_ref* callback_ref, napi_threadsafe_function* tsfn) {
  handle.DefineProperty(Napi::PropertyDescriptor::Value("callback", callback, napi_default));
  napi_status st = napi_create_reference(env, callback, 0, callback_ref);
  if (st != napi_ok) return st;
  auto* ctx = new std::shared_ptr<T>(owner);
  st = napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, name), 0, 1, nullptr,
    [](napi_env, void*, void* c) { delete static_cast<std::shared_ptr<T>*>(c); }, ctx, call_js, tsfn);
  if (st != napi_ok) {
    delete ctx;
    return st;
  }
  return napi_unref_threadsafe_function(env, *tsfn);
}

// The owner a MakeCallbackTsfn call_js receives as its context.
template <typename T>
T* TsfnOwner(void* context) { return static_cast<std::shared_ptr<T>*>(context)->get(); }

template <typename T>
std::shared_ptr<T> ArgHandle(const Napi::CallbackInfo& info, size_t i, const char* name, Kind kind) {
  return std::static_pointer_cast<T>(Handle::From(info, i, name, kind));
}

}  // namespace kvmaddon

namespace kvmaddon {
// The fd behind argument i, a live handle of one of `kinds` (KVM_CHECK_EXTENSION, KVM_ENABLE_CAP).
int AnyFd(const Napi::CallbackInfo& info, size_t i, const char* name, const char* syscall, std::initializer_list<Kind> kinds);
}  // namespace kvmaddon
