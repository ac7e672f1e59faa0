// A vCPU's own thread: a native thread that does nothing but KVM_RUN on its
// vCPU when told to (STYLE.md 12: a dedicated thread per vCPU, not a slot on
// libuv's pool). The exit itself is read and served on the JS thread that
// owns the devices, from the vCPU's kvm_run page.
//
// Hand-over through a small control block both sides read and write with
// atomics (JS through an Int32Array over it):
//   [STATE]    IDLE -> RUN (JS: enter KVM_RUN) -> EXITED (thread: returned) -> RUN ...
//              STOP (close: leave the loop)
//   [RESULT]   KVM_RUN's return value, or -EINTR/-EAGAIN for a kick
//   [ERR]      errno when KVM_RUN failed otherwise (EBADF: the vCPU was closed)
//   [SLEEPING] the thread sleeps on STATE's futex: JS must wake it (vcpuThreadWake)
//   [WAITING]  JS stopped spinning and waits for the thread's call (a thread-safe
//              function call): the thread makes it after an exit only then
// Both sides spin briefly before sleeping: a port exit comes back in a few
// microseconds, a wake-up through the event loop costs tens. Seq-cst
// stores and loads on both sides (store own flag, then load the other's)
// make a lost wake-up impossible.
//
// Unlike a worker_thread, this thread is not joined by Node when an
// environment ends: the environment's cleanup hook (and close()) stop it,
// after a kick has brought it out of KVM_RUN, so a halted guest never holds
// a process or a worker's teardown.
#include "common.h"
#include "handle.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <linux/futex.h>
#include <set>
#include <sys/syscall.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace kvmaddon {
namespace {

enum Slot { STATE = 0, RESULT = 1, ERR = 2, SLEEPING = 3, WAITING = 4, SLOTS = 16 };
enum State { IDLE = 0, RUN = 1, EXITED = 2, STOP = 3 };

// The control block, shared by the thread, the resource and the JS ArrayBuffer over it.
struct Ctl {
  alignas(64) int32_t slot[SLOTS] = {};
  int32_t load(int i) const { return __atomic_load_n(&slot[i], __ATOMIC_SEQ_CST); }
  void store(int i, int32_t v) { __atomic_store_n(&slot[i], v, __ATOMIC_SEQ_CST); }
  bool cas(int i, int32_t expected, int32_t v) {
    return __atomic_compare_exchange_n(&slot[i], &expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  }
  void wait(int i, int32_t v) { syscall(SYS_futex, &slot[i], FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0); }
  void wake(int i) { syscall(SYS_futex, &slot[i], FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0); }
};

constexpr int kThreadSpins = 20000;

struct VcpuThread : Resource {
  explicit VcpuThread(std::shared_ptr<Vcpu> v) : Resource(Kind::Thread), vcpu(std::move(v)), ctl(std::make_shared<Ctl>()) {}
  ~VcpuThread() override { Stop(); }
  void Close() override;
  bool Closed() const override { return closed; }
  int Fd() const override { return -1; }
  void Stop();

  std::shared_ptr<Vcpu> vcpu;
  std::shared_ptr<Ctl> ctl;
  std::thread thread;
  napi_threadsafe_function tsfn = nullptr;
  napi_env env = nullptr;
  napi_ref callback_ref = nullptr;  // weak (MakeCallbackTsfn)
  bool closed = false;
};

std::mutex g_threads_mutex;
std::set<VcpuThread*> g_threads;

void Loop(std::shared_ptr<Ctl> ctl, std::shared_ptr<Vcpu> vcpu, napi_threadsafe_function tsfn) {
  for (;;) {
    int32_t s;
    int spins = kThreadSpins;
    while ((s = ctl->load(STATE)) != RUN && s != STOP) {
      if (spins > 0) { spins--; continue; }
      ctl->store(SLEEPING, 1);
      s = ctl->load(STATE);
      if (s != RUN && s != STOP) ctl->wait(STATE, s);
      ctl->store(SLEEPING, 0);
    }
    if (s == STOP) return;
    bool closed = false;
    int r = vcpu->Run(&closed);
    int err = closed ? EBADF : (r < 0 && r != -EINTR && r != -EAGAIN) ? -r : 0;
    ctl->store(RESULT, err ? 0 : r);
    ctl->store(ERR, err);
    if (!ctl->cas(STATE, RUN, EXITED)) return;  // STOP came meanwhile
    if (ctl->load(WAITING)) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
  }
}

void CallJs(napi_env env, napi_value, void* context, void*) {
  if (!env) return;
  VcpuThread* t = TsfnOwner<VcpuThread>(context);
  if (t->closed || !t->callback_ref) return;
  napi_value cb = nullptr, undefined;
  if (napi_get_reference_value(env, t->callback_ref, &cb) != napi_ok || !cb) return;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, cb, 0, nullptr, nullptr);
}

// Stops and joins the thread: STOP, a futex wake for a sleeping thread, a kick for one inside KVM_RUN.
void VcpuThread::Stop() {
  if (!thread.joinable()) return;
  ctl->store(STATE, STOP);
  ctl->wake(STATE);
  vcpu->Kick();
  thread.join();
}

void VcpuThread::Close() {
  if (closed) return;
  closed = true;
  Stop();
  if (tsfn) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  tsfn = nullptr;
  if (callback_ref) napi_delete_reference(env, callback_ref);
  callback_ref = nullptr;
  std::lock_guard<std::mutex> lock(g_threads_mutex);
  g_threads.erase(this);
}

std::shared_ptr<VcpuThread> ArgThread(const Napi::CallbackInfo& info) {
  auto t = ArgHandle<VcpuThread>(info, 0, "thread", Kind::Thread);
  if (t->closed) ThrowClosed(info.Env(), "thread", "vcpu thread");
  return t;
}

// vcpuThreadCreate(vcpu, onExit): the thread, idle until told to run. onExit() is called
// (on this JS thread) after an exit that JS waits for with WAITING set.
Napi::Value VcpuThreadCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto vcpu = ArgHandle<Vcpu>(info, 0, "vcpu", Kind::Vcpu);
  vcpu->Get(env, "vcpu thread");
  if (info.Length() < 2 || !info[1].IsFunction()) ThrowArg(env, "onExit must be a function");
  auto t = std::make_shared<VcpuThread>(vcpu);
  t->env = env;
  Napi::Object handle = Handle::New(env, t);
  // Unref'd: only a JS side that waits keeps the process alive (vcpuThreadRef).
  if (MakeCallbackTsfn(env, handle, info[1], "kvm-vcpu-thread", t, CallJs, &t->callback_ref, &t->tsfn) != napi_ok) {
    t->Close();
    ThrowErrno(env, ENOMEM, "napi_create_threadsafe_function");
  }
  {
    std::lock_guard<std::mutex> lock(g_threads_mutex);
    g_threads.insert(t.get());
  }
  try {
    t->thread = std::thread(Loop, t->ctl, t->vcpu, t->tsfn);
  } catch (const std::system_error& e) {
    t->Close();
    ThrowErrno(env, e.code().value() ? e.code().value() : EAGAIN, "pthread_create");
  }
  return handle;
}

// The control block as an ArrayBuffer (an Int32Array of 16 over it); it stays valid after close.
Napi::Value VcpuThreadControl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = ArgHandle<VcpuThread>(info, 0, "thread", Kind::Thread);
  auto* keep = new std::shared_ptr<Ctl>(t->ctl);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, t->ctl->slot, sizeof t->ctl->slot,
        [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<Ctl>*>(hint); }, keep, &ab) != napi_ok) {
    delete keep;
    ThrowErrno(env, ENOMEM, "napi_create_external_arraybuffer");
  }
  return Napi::Value(env, ab);
}

// Wakes a thread that sleeps on STATE (JS calls it after storing RUN, when SLEEPING is set).
Napi::Value VcpuThreadWake(const Napi::CallbackInfo& info) {
  ArgThread(info)->ctl->wake(STATE);
  return info.Env().Undefined();
}

// Whether a pending exit keeps the event loop (and the process) alive: on while JS waits.
Napi::Value VcpuThreadRef(const Napi::CallbackInfo& info) {
  auto t = ArgThread(info);
  if (info.Length() < 2 || !info[1].IsBoolean()) ThrowArg(info.Env(), "ref must be a boolean");
  if (info[1].As<Napi::Boolean>().Value()) napi_ref_threadsafe_function(info.Env(), t->tsfn);
  else napi_unref_threadsafe_function(info.Env(), t->tsfn);
  return info.Env().Undefined();
}

// An environment's teardown stops its own vCPU threads (kicked out of KVM_RUN, joined): Node does
// not know about them, so nothing else would, and a halted guest must not hold the teardown.
void CleanupThreads(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::vector<VcpuThread*> own;
  {
    std::lock_guard<std::mutex> lock(g_threads_mutex);
    for (VcpuThread* t : g_threads) if (t->env == env) own.push_back(t);
  }
  for (VcpuThread* t : own) t->Close();
}

}  // namespace

void InitVcpuThread(Napi::Env env, Napi::Object exports) {
  exports.Set("vcpuThreadCreate", Napi::Function::New(env, VcpuThreadCreate, "vcpuThreadCreate"));
  exports.Set("vcpuThreadControl", Napi::Function::New(env, VcpuThreadControl, "vcpuThreadControl"));
  exports.Set("vcpuThreadWake", Napi::Function::New(env, VcpuThreadWake, "vcpuThreadWake"));
  exports.Set("vcpuThreadRef", Napi::Function::New(env, VcpuThreadRef, "vcpuThreadRef"));
  napi_add_env_cleanup_hook(env, CleanupThreads, env);
}

}  // namespace kvmaddon
