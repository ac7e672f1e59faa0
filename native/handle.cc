// Owned handles and the resources behind them (see handle.h).
#include "handle.h"

#include <cerrno>
#include <csignal>
#include <sys/mman.h>
#include <unistd.h>

namespace kvmaddon {

// "a vm handle", "an eventfd handle".
std::string AHandle(Kind k) { return std::string(k == Kind::Eventfd ? "an " : "a ") + KindName(k) + " handle"; }

const char* KindName(Kind k) {
  switch (k) {
    case Kind::Kvm: return "kvm";
    case Kind::Vm: return "vm";
    case Kind::Vcpu: return "vcpu";
    case Kind::Eventfd: return "eventfd";
    case Kind::Poller: return "poller";
    case Kind::File: return "file";
    case Kind::Thread: return "thread";
  }
  return "?";
}

// ---- fds ------------------------------------------------------------------

void FdResource::Close() {
  int fd = fd_.exchange(-1);
  if (fd >= 0) close(fd);
}

int FdResource::Get(Napi::Env env, const char* syscall) const {
  int fd = fd_.load();
  if (fd < 0) ThrowClosed(env, KindName(kind), syscall);
  return fd;
}

// ---- guest memory -----------------------------------------------------------

std::mutex& MappingsMutex() {
  static std::mutex m;
  return m;
}

Mapping::~Mapping() { munmap(base, size); }

// ---- VMs ------------------------------------------------------------------

Vm::~Vm() {
  int fd = fd_.exchange(-1);
  if (fd >= 0) close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseSlotsLocked();
}

int Vm::Get(Napi::Env env, const char* syscall) const {
  int fd = fd_.load();
  if (fd < 0) ThrowClosed(env, "vm", syscall);
  return fd;
}

void Vm::ReleaseSlotsLocked() {
  std::lock_guard<std::mutex> lock(MappingsMutex());
  for (auto& [slot, m] : slots_) m->slots--;
  slots_.clear();
}

void Vm::Close() {
  int fd = fd_.exchange(-1);
  if (fd < 0) return;
  close(fd);
  // The kernel VM lives on while any of its vCPUs does; so does its memory.
  std::lock_guard<std::mutex> lock(mu_);
  if (live_vcpus_ == 0) ReleaseSlotsLocked();
}

void Vm::SetSlot(uint32_t slot, std::shared_ptr<Mapping> m) {
  std::lock_guard<std::mutex> lock(mu_);
  std::lock_guard<std::mutex> mlock(MappingsMutex());
  auto it = slots_.find(slot);
  if (it != slots_.end()) {
    it->second->slots--;
    slots_.erase(it);
  }
  if (m) {
    m->slots++;
    slots_.emplace(slot, std::move(m));
  }
}

void Vm::VcpuCreated() {
  std::lock_guard<std::mutex> lock(mu_);
  live_vcpus_++;
}

void Vm::VcpuGone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--live_vcpus_ == 0 && fd_.load() < 0) ReleaseSlotsLocked();
}

// ---- vCPUs ------------------------------------------------------------------

namespace {
std::mutex g_vcpus_mutex;
std::map<uint64_t, std::weak_ptr<Vcpu>> g_vcpus;
std::atomic<uint64_t> g_next_share_id{1};
std::once_flag g_signal_once;
void NoopHandler(int) {}
}  // namespace

int KickSignal() { return SIGRTMIN + 2; }

void InstallKickHandler() {
  std::call_once(g_signal_once, [] {
    struct sigaction sa {};
    sa.sa_handler = NoopHandler;
    sigemptyset(&sa.sa_mask);
    // SA_RESTART keeps other syscalls of the kicked thread restarting;
    // KVM_RUN itself returns EINTR whatever the flag says.
    sa.sa_flags = SA_RESTART;
    sigaction(KickSignal(), &sa, nullptr);
  });
}

Vcpu::Vcpu(int fd, std::shared_ptr<Vm> vm, void* run, size_t run_size, uint32_t vcpu_id)
    : Resource(Kind::Vcpu), id(vcpu_id), share_id(g_next_share_id++), fd_(fd), run_(run), run_size_(run_size), vm_(std::move(vm)) {
  vm_->VcpuCreated();
}

Vcpu::~Vcpu() {
  bool vm_gone = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ReleaseLocked(&vm_gone);
  }
  if (vm_gone && vm_) vm_->VcpuGone();
  {
    std::lock_guard<std::mutex> lock(g_vcpus_mutex);
    g_vcpus.erase(share_id);
  }
}

bool Vcpu::Closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int Vcpu::Fd() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_ ? -1 : fd_;
}

int Vcpu::Get(Napi::Env env, const char* syscall) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) ThrowClosed(env, "vcpu", syscall);
  return fd_;
}

// With mu_ held. Unmaps kvm_run (no kick can touch it after: they check run_
// under the same lock) and closes the fd unless a thread is inside KVM_RUN
// with it, in which case that thread closes it on its way out.
void Vcpu::ReleaseLocked(bool* vm_gone) {
  if (run_) {
    munmap(run_, run_size_);
    run_ = nullptr;
  }
  if (fd_open_ && !in_run_) {
    close(fd_);
    fd_open_ = false;
    *vm_gone = true;
  }
}

void Vcpu::Close() {
  bool vm_gone = false;
  std::shared_ptr<Vm> vm;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    if (in_run_) {
      if (run_) __atomic_store_n(&static_cast<kvm_run*>(run_)->immediate_exit, 1, __ATOMIC_SEQ_CST);
      pthread_kill(thread_, KickSignal());
    }
    ReleaseLocked(&vm_gone);
    if (vm_gone) vm = std::move(vm_);
  }
  if (vm) vm->VcpuGone();
}

int Vcpu::Run(bool* closed) {
  int fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) { *closed = true; return -EBADF; }
    if (in_run_) return -EBUSY;
    if (stopped_) return -EINTR;
    in_run_ = true;
    thread_ = pthread_self();
    fd = fd_;
  }
  int r = ioctl(fd, KVM_RUN, 0);
  int err = r < 0 ? errno : 0;
  bool vm_gone = false;
  std::shared_ptr<Vm> vm;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_run_ = false;
    if (closed_) {
      // Closed while we were inside: the fd is ours to close now.
      ReleaseLocked(&vm_gone);
      if (vm_gone) vm = std::move(vm_);
    }
  }
  if (vm) vm->VcpuGone();
  return r < 0 ? -err : r;
}

void Vcpu::Kick() {
  std::lock_guard<std::mutex> lock(mu_);
  if (run_) __atomic_store_n(&static_cast<kvm_run*>(run_)->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (in_run_) pthread_kill(thread_, KickSignal());
}

void Vcpu::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  Kick();
}

void RegisterVcpu(const std::shared_ptr<Vcpu>& v) {
  std::lock_guard<std::mutex> lock(g_vcpus_mutex);
  g_vcpus[v->share_id] = v;
}

std::shared_ptr<Vcpu> FindVcpu(uint64_t share_id) {
  std::lock_guard<std::mutex> lock(g_vcpus_mutex);
  auto it = g_vcpus.find(share_id);
  return it == g_vcpus.end() ? nullptr : it->second.lock();
}

std::vector<std::shared_ptr<Vcpu>> AllVcpus() {
  std::vector<std::shared_ptr<Vcpu>> out;
  std::lock_guard<std::mutex> lock(g_vcpus_mutex);
  for (auto& [id, w] : g_vcpus) if (auto v = w.lock()) out.push_back(std::move(v));
  return out;
}

// ---- the JS handle ----------------------------------------------------------

namespace {

// Marks our handle objects, so an object wrapped by another addon (or a plain
// object with our prototype) is refused instead of being reinterpreted.
constexpr napi_type_tag kHandleTag = {0x7473766d6d2d6876ULL, 0x68616e646c652d31ULL};

struct PerEnv {
  Napi::FunctionReference ctor;
  std::shared_ptr<Resource> pending;  // what the constructor call being made wraps
  bool pending_owner = true;
};

PerEnv& EnvData(Napi::Env env) {
  PerEnv* d = env.GetInstanceData<PerEnv>();
  if (!d) ThrowArg(env, "addon not initialised in this environment");
  return *d;
}

}  // namespace

void Handle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "NativeHandle", {});
  // Plain functions on the prototype rather than ObjectWrap's instance methods: a
  // receiver that is not one of our handles then gets ERR_INVALID_ARG, like
  // every other bad argument, instead of node-addon-api's bare "Invalid argument".
  auto self = [](const Napi::CallbackInfo& info) { return CheckedAny(info.Env(), info.This(), "this"); };
  Napi::Object proto = f.Get("prototype").As<Napi::Object>();
  proto.DefineProperties({
    Napi::PropertyDescriptor::Function(env, proto, "close", [self](const Napi::CallbackInfo& info) { return self(info)->Close(info); }),
    Napi::PropertyDescriptor::Accessor(env, proto, "fd", [self](const Napi::CallbackInfo& info) { return self(info)->GetFd(info); }),
    Napi::PropertyDescriptor::Accessor(env, proto, "kind", [self](const Napi::CallbackInfo& info) { return self(info)->GetKind(info); }),
    Napi::PropertyDescriptor::Accessor(env, proto, "closed", [self](const Napi::CallbackInfo& info) { return self(info)->GetClosed(info); }),
  });
  auto* d = new PerEnv();
  d->ctor = Napi::Persistent(f);
  env.SetInstanceData<PerEnv>(d);
  exports.Set("NativeHandle", f);
}

Napi::Object Handle::New(Napi::Env env, std::shared_ptr<Resource> r, bool owner) {
  PerEnv& d = EnvData(env);
  d.pending = std::move(r);
  d.pending_owner = owner;
  Napi::Object o = d.ctor.New({});
  d.pending.reset();
  if (napi_type_tag_object(env, o, &kHandleTag) != napi_ok) ThrowArg(env, "cannot tag a handle");
  return o;
}

Handle::Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {
  PerEnv& d = EnvData(info.Env());
  if (!d.pending) ThrowArg(info.Env(), "handles are made by the addon (openKvm, createVm, createVcpu, eventfd, pollerCreate)");
  res_ = std::move(d.pending);
  owner_ = d.pending_owner;
}

Handle::~Handle() {
  // The backstop for a handle dropped without close(), and for handles left at
  // environment teardown. The TypeScript layer closes explicitly and warns when
  // its FinalizationRegistry finds one dropped.
  DoClose();
}

void Handle::DoClose() {
  if (released_) return;
  released_ = true;
  if (!run_buffer_.IsEmpty()) {
    // Also reached from the destructor (a finalizer, or environment teardown, where
    // N-API calls may fail): nothing may throw out of here. Where JavaScript can no
    // longer run, nothing can touch the buffer after the unmap anyway.
    try {
      Napi::ArrayBuffer ab = run_buffer_.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    } catch (...) {
    }
    run_buffer_.Reset();
  }
  if (owner_ && res_) res_->Close();
  // A vCPU handle attached from another thread only lets go of its reference.
  if (!owner_) res_.reset();
}

Handle* Handle::CheckedAny(Napi::Env env, Napi::Value v, const char* name) {
  bool tagged = false;
  void* p = nullptr;
  if (!v.IsObject() || napi_check_object_type_tag(env, v, &kHandleTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, v, &p) != napi_ok || !p) {
    ThrowArg(env, std::string(name) + " must be a handle from this addon");
  }
  return static_cast<Handle*>(p);
}

Handle* Handle::Checked(Napi::Env env, Napi::Value v, const char* name, Kind kind) {
  bool tagged = false;
  void* p = nullptr;
  if (!v.IsObject() || napi_check_object_type_tag(env, v, &kHandleTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, v, &p) != napi_ok || !p) {
    ThrowArg(env, std::string(name) + " must be " + AHandle(kind));
  }
  Handle* h = static_cast<Handle*>(p);
  if (!h->res_ || h->res_->kind != kind) {
    ThrowArg(env, std::string(name) + " must be " + AHandle(kind) + ", not " + (h->res_ ? AHandle(h->res_->kind) : "a released one"));
  }
  return h;
}

std::shared_ptr<Resource> Handle::From(const Napi::CallbackInfo& info, size_t i, const char* name, Kind kind) {
  if (info.Length() <= i) ThrowArg(info.Env(), std::string(name) + " is required");
  return Checked(info.Env(), info[i], name, kind)->res_;
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  DoClose();
  return info.Env().Undefined();
}

Napi::Value Handle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), released_ || !res_ ? -1 : res_->Fd());
}

Napi::Value Handle::GetKind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), res_ ? KindName(res_->kind) : "released");
}

Napi::Value Handle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), released_ || !res_ || res_->Closed());
}

Napi::Value Handle::RunBuffer(Napi::Env env) {
  if (!run_buffer_.IsEmpty()) {
    Napi::ArrayBuffer ab = run_buffer_.Value();
    if (!ab.IsEmpty()) return ab;
  }
  auto v = std::static_pointer_cast<Vcpu>(res_);
  if (released_ || !owner_ || v->Closed() || !v->run_base()) ThrowClosed(env, "vcpu", "mmap");
  // No finalizer: the vCPU owns the mapping and detaches this buffer before unmapping it.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, v->run_base(), v->run_size());
  run_buffer_ = Napi::Weak(ab);
  return ab;
}

}  // namespace kvmaddon

namespace kvmaddon {
int AnyFd(const Napi::CallbackInfo& info, size_t i, const char* name, const char* syscall, std::initializer_list<Kind> kinds) {
  Napi::Env env = info.Env();
  if (info.Length() <= i) ThrowArg(env, std::string(name) + " is required");
  std::shared_ptr<Resource> r = Handle::CheckedAny(env, info[i], name)->resource();
  std::string allowed;
  for (Kind k : kinds) {
    if (r && r->kind == k) {
      switch (k) {
        case Kind::Vm: return std::static_pointer_cast<Vm>(r)->Get(env, syscall);
        case Kind::Vcpu: return std::static_pointer_cast<Vcpu>(r)->Get(env, syscall);
        case Kind::Kvm:
        case Kind::File:
        case Kind::Eventfd: return std::static_pointer_cast<FdResource>(r)->Get(env, syscall);
        case Kind::Poller:
        case Kind::Thread: break;
      }
    }
    allowed += allowed.empty() ? KindName(k) : std::string(" or ") + KindName(k);
  }
  ThrowArg(env, std::string(name) + " must be a " + allowed + " handle");
}
}  // namespace kvmaddon
