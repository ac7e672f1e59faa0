// eventfd(2) and the poller: an epoll thread that kicks vCPUs directly and
// tells JS (through a thread-safe function) when a watched eventfd is readable,
// and, for watches that kick nobody, an epoll set the JS thread's own event
// loop polls, so their readiness reaches JS with no thread in between.
#include "common.h"
#include "handle.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <uv.h>
#include <vector>

namespace kvmaddon {
namespace {

std::shared_ptr<FdResource> ArgEventfd(const Napi::CallbackInfo& info, size_t i) {
  return ArgHandle<FdResource>(info, i, "eventfd", Kind::Eventfd);
}

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  uint32_t initval = ArgU32(info, 0, "initval");
  uint32_t flags = ArgU32(info, 1, "flags");
  if (flags & ~static_cast<uint32_t>(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) ThrowArg(info.Env(), "flags must be EFD_* bits", true);
  // Always non-blocking: a read or write on a JS thread must never sleep
  // (eventfdRead answers null for "nothing yet"; a write that would overflow
  // the counter fails with EAGAIN instead of waiting for a reader).
  int fd = eventfd(initval, static_cast<int>(flags | EFD_NONBLOCK));
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfd");
  return Handle::New(info.Env(), Adopt<FdResource>(fd, nullptr, 0, Kind::Eventfd, fd));
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  std::shared_ptr<FdResource> e = ArgEventfd(info, 0);
  uint64_t v = 0;
  ssize_t n = read(e->Get(info.Env(), "read"), &v, sizeof v);
  if (n < 0) {
    if (errno == EAGAIN) return info.Env().Null();
    ThrowErrno(info.Env(), errno, "read");
  }
  if (n != sizeof v) ThrowErrno(info.Env(), EIO, "read");
  return Napi::BigInt::New(info.Env(), v);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  std::shared_ptr<FdResource> e = ArgEventfd(info, 0);
  uint64_t v = ArgU64(info, 1, "value");
  if (v == UINT64_MAX) ThrowArg(info.Env(), "an eventfd cannot be written 2^64-1", true);
  ssize_t n = write(e->Get(info.Env(), "write"), &v, sizeof v);
  if (n < 0) ThrowErrno(info.Env(), errno, "write");
  return info.Env().Undefined();
}

// dupFd(fd): a file handle owning a close-on-exec duplicate of `fd` (stdin,
// say), so that a poller can watch it; the caller's fd number is read once,
// here, and never again.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowArg(env, "fd must be a file descriptor number");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 2147483647.0 || d != static_cast<double>(static_cast<int>(d))) ThrowArg(env, "fd must be an integer in 0..2^31-1", true);
  int fd = fcntl(static_cast<int>(d), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, "fcntl");
  return Handle::New(env, Adopt<FdResource>(fd, nullptr, 0, Kind::File, fd));
}

// The eventfd or file handle a poller watches.
std::shared_ptr<FdResource> ArgWatchable(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i) ThrowArg(info.Env(), "eventfd is required");
  auto r = Handle::CheckedAny(info.Env(), info[i], "eventfd")->resource();
  if (!r || (r->kind != Kind::Eventfd && r->kind != Kind::File)) ThrowArg(info.Env(), "eventfd must be an eventfd or a file handle");
  return std::static_pointer_cast<FdResource>(r);
}

// ---- the poller -------------------------------------------------------------

struct Watch {
  std::shared_ptr<FdResource> eventfd;  // keeps the number from being reused while watched
  uint64_t token;
  std::vector<std::shared_ptr<Vcpu>> kicks;
  bool on_loop;  // in the event loop's set (LoopSet), not the thread's
};

struct Poller;

// The epoll set of the watches that kick nobody, polled by the owning JS
// thread's libuv loop: a ring wakes that thread directly, where the poller
// thread would wake first and then wake it through the thread-safe function
// (two wake-ups on the miss path's critical path instead of one). Nothing is
// lost to a thread hop that could not help anyway: with no vCPU to kick, only
// the event loop could serve the token. Owned by its uv handle from
// uv_close() on, and freed (with the set's fd) in the close callback; at
// environment teardown an async cleanup hook closes it, so a worker's loop
// ends with no handle of ours left open.
struct LoopSet {
  std::weak_ptr<Poller> poller;  // empty once the poller let go of it
  napi_env env = nullptr;
  bool closing = false;  // uv_close() called; the close callback frees it
  int epfd = -1;
  uv_poll_t poll{};
  napi_async_context async_context = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;
};

struct Poller : Resource, std::enable_shared_from_this<Poller> {
  Poller() : Resource(Kind::Poller) {}
  ~Poller() override { CloseFds(); }
  void Close() override;
  bool Closed() const override { return closed; }
  int Fd() const override { return closed ? -1 : epfd; }
  void CloseFds() {
    if (epfd >= 0) close(epfd);
    if (stopfd >= 0) close(stopfd);
    epfd = stopfd = -1;
  }

  int epfd = -1;
  int stopfd = -1;
  LoopSet* loop = nullptr;  // made at the first watch that kicks nobody
  std::thread thread;
  napi_threadsafe_function tsfn = nullptr;
  napi_env env = nullptr;
  // Weak (MakeCallbackTsfn): the callback may well reach the handle (a VM
  // object holding its poller); a strong reference from here would make the
  // poller, its thread and fds, immortal.
  napi_ref callback_ref = nullptr;
  std::mutex mutex;
  std::map<FdResource*, Watch> watches;
  std::map<uint64_t, FdResource*> tokens;
  // Tokens that became readable and were not yet handed to JS, in order, each once. They
  // reach JS through the thread-safe function (CallJs), or sooner through pollerTake() from a
  // JS thread that a kick brought out of KVM_RUN. `call_queued`: a CallJs is pending; while it
  // is, new tokens queue no other (so pollerTake() leaves no pile of empty calls behind).
  std::vector<uint64_t> ready;
  bool call_queued = false;
  bool closed = false;
};

std::mutex g_pollers_mutex;
std::set<Poller*> g_pollers;

void Loop(Poller* p) {
  epoll_event events[32];
  for (;;) {
    int n = epoll_wait(p->epfd, events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; i++) {
      uint64_t token = events[i].data.u64;
      if (token == 0) return;  // the stop eventfd
      // The token is queued (and a call to JS with it) before the kick, never
      // after: a vCPU on the JS thread leaves KVM_RUN on the kick and takes
      // the ready tokens (pollerTake) or yields to the event loop, and either
      // must already find them. Kicked first, the thread could find nothing to
      // serve, enter KVM_RUN again and sleep in HLT with the event undelivered
      // (edge-triggered: no second wake-up comes).
      bool call = false;
      {
        std::lock_guard<std::mutex> lock(p->mutex);
        if (std::find(p->ready.begin(), p->ready.end(), token) == p->ready.end()) p->ready.push_back(token);
        call = !p->call_queued;
        p->call_queued = true;
      }
      if (call) napi_call_threadsafe_function(p->tsfn, nullptr, napi_tsfn_nonblocking);
      std::lock_guard<std::mutex> lock(p->mutex);
      auto t = p->tokens.find(token);
      if (t != p->tokens.end()) {
        auto w = p->watches.find(t->second);
        if (w != p->watches.end()) for (auto& v : w->second.kicks) v->Kick();
      }
    }
  }
}

// Hands the ready tokens over (and lets the next readiness queue a call again).
std::vector<uint64_t> TakeReady(Poller* p, bool from_call) {
  std::lock_guard<std::mutex> lock(p->mutex);
  std::vector<uint64_t> out;
  out.swap(p->ready);
  if (from_call) p->call_queued = false;
  return out;
}

// Calls the poller's callback with each token, in order, through `call` (a plain call in a
// thread-safe function's call_js; napi_make_callback from the event loop). When one throws,
// the exception stays pending for the caller, and the tokens not yet handed over go back to
// the front of the ready list, with a call of the thread-safe function to deliver them later.
template <typename Call>
void CallTokens(napi_env env, Poller* p, const std::vector<uint64_t>& tokens, Call call) {
  if (tokens.empty() || p->closed || !p->callback_ref) return;
  napi_value cb = nullptr;
  if (napi_get_reference_value(env, p->callback_ref, &cb) != napi_ok || !cb) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = 0; i < tokens.size(); i++) {
    napi_value arg;
    napi_create_double(env, static_cast<double>(tokens[i]), &arg);
    if (call(undefined, cb, arg) == napi_ok) {
      if (p->closed) return;  // the callback closed the poller
      continue;
    }
    bool queue = false;
    {
      std::lock_guard<std::mutex> lock(p->mutex);
      p->ready.insert(p->ready.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(i) + 1, tokens.end());
      queue = !p->ready.empty() && !p->call_queued;
      if (queue) p->call_queued = true;
    }
    if (queue && p->tsfn) napi_call_threadsafe_function(p->tsfn, nullptr, napi_tsfn_nonblocking);
    return;
  }
}

void CallJs(napi_env env, napi_value, void* context, void*) {
  if (!env) return;  // being torn down
  Poller* p = TsfnOwner<Poller>(context);
  if (p->closed || !p->callback_ref) return;
  // A throw stays pending here: Node reports it as uncaught.
  CallTokens(env, p, TakeReady(p, true), [env](napi_value recv, napi_value cb, napi_value arg) {
    return napi_call_function(env, recv, cb, 1, &arg, nullptr);
  });
}

// The event loop found the loop set readable: its ready tokens go to the callback now, each
// in a callback scope of its own (microtasks run after it, as after any event loop callback).
void OnLoopReadable(uv_poll_t* handle, int status, int events) {
  LoopSet* set = static_cast<LoopSet*>(handle->data);
  std::shared_ptr<Poller> p = set->poller.lock();  // alive through the calls, whatever they drop
  if (!p || p->closed) return;
  epoll_event evs[32];
  int n = epoll_wait(set->epfd, evs, 32, 0);
  if (n <= 0) return;
  std::vector<uint64_t> tokens;
  tokens.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) tokens.push_back(evs[i].data.u64);
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global;  // napi_make_callback wants an object for `this`
  napi_get_global(env, &global);
  CallTokens(env, p.get(), tokens, [env, set, global](napi_value, napi_value cb, napi_value arg) {
    return napi_make_callback(env, set->async_context, global, cb, 1, &arg, nullptr);
  });
  // Nobody up the stack to throw to: a throw is an uncaught exception, as from a timer.
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

// Closes a loop set: off the loop, then freed in the close callback, which closes the set's fd
// and removes its async cleanup hook (ending the hook's run if teardown is under way: Node
// runs the loop until then). Once only: a second call finds it closing.
void CloseLoopSet(LoopSet* set) {
  if (set->closing) return;
  set->closing = true;
  set->poller.reset();
  if (set->async_context) napi_async_destroy(set->env, set->async_context);
  set->async_context = nullptr;
  uv_poll_stop(&set->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&set->poll), [](uv_handle_t* h) {
    LoopSet* s = static_cast<LoopSet*>(h->data);
    if (s->epfd >= 0) close(s->epfd);
    if (s->cleanup) napi_remove_async_cleanup_hook(s->cleanup);
    delete s;
  });
}

// Environment teardown reached a loop set still open: close it, and let Node wait for the
// close callback (which removes this hook).
void LoopSetTeardown(napi_async_cleanup_hook_handle, void* arg) {
  LoopSet* set = static_cast<LoopSet*>(arg);
  if (auto p = set->poller.lock()) p->loop = nullptr;
  CloseLoopSet(set);
}

// The poller's loop set, made at its first use: an epoll fd polled by this thread's loop.
LoopSet* LoopSetOf(Napi::Env env, Poller* p) {
  if (p->loop) return p->loop;
  uv_loop_t* uvloop = nullptr;
  if (napi_get_uv_event_loop(env, &uvloop) != napi_ok || !uvloop) ThrowErrno(env, EINVAL, "napi_get_uv_event_loop");
  auto* set = new LoopSet();
  set->env = env;
  set->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (set->epfd < 0) {
    int err = errno;
    delete set;
    ThrowErrno(env, err, "epoll_create1");
  }
  int err = uv_poll_init(uvloop, &set->poll, set->epfd);
  if (err != 0) {
    close(set->epfd);
    delete set;
    ThrowErrno(env, -err, "uv_poll_init");
  }
  // From here on the uv handle owns the set: every failure closes it.
  set->poll.data = set;
  set->poller = p->shared_from_this();
  p->loop = set;
  if (napi_async_init(env, nullptr, Napi::String::New(env, "kvm-poller"), &set->async_context) != napi_ok ||
      napi_add_async_cleanup_hook(env, LoopSetTeardown, set, &set->cleanup) != napi_ok) {
    set->cleanup = nullptr;
    p->loop = nullptr;
    CloseLoopSet(set);
    ThrowErrno(env, ENOMEM, "napi_add_async_cleanup_hook");
  }
  err = uv_poll_start(&set->poll, UV_READABLE, OnLoopReadable);
  if (err != 0) {
    p->loop = nullptr;
    CloseLoopSet(set);
    ThrowErrno(env, -err, "uv_poll_start");
  }
  // Like the thread-safe function: an idle watch must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&set->poll));
  return set;
}

// pollerTake(poller) -> number[]: the tokens that became readable since they were last handed
// over, each once, in order; the caller serves them now (a vCPU's thread that a kick brought
// out of KVM_RUN, instead of a trip through the event loop). They are not called back again.
Napi::Value PollerTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = ArgHandle<Poller>(info, 0, "poller", Kind::Poller);
  if (p->closed) return Napi::Array::New(env, 0);
  std::vector<uint64_t> tokens = TakeReady(p.get(), false);
  Napi::Array a = Napi::Array::New(env, tokens.size());
  for (size_t i = 0; i < tokens.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(tokens[i])));
  return a;
}

// Stops and joins the thread, releases the thread-safe function, closes the fds. On the owning JS thread.
void Poller::Close() {
  if (closed) return;
  closed = true;
  uint64_t one = 1;
  if (write(stopfd, &one, sizeof one) < 0) { /* the thread also stops when epfd closes */ }
  if (thread.joinable()) thread.join();
  if (tsfn) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  tsfn = nullptr;
  if (loop) CloseLoopSet(loop);
  loop = nullptr;
  if (callback_ref) napi_delete_reference(env, callback_ref);
  callback_ref = nullptr;
  CloseFds();
  {
    std::lock_guard<std::mutex> lock(mutex);
    watches.clear();
    tokens.clear();
  }
  std::lock_guard<std::mutex> lock(g_pollers_mutex);
  g_pollers.erase(this);
}

std::shared_ptr<Poller> ArgPoller(const Napi::CallbackInfo& info) {
  auto p = ArgHandle<Poller>(info, 0, "poller", Kind::Poller);
  if (p->closed) ThrowClosed(info.Env(), "poller", "epoll_ctl");
  return p;
}

Napi::Value PollerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowArg(env, "callback must be a function");
  auto p = std::make_shared<Poller>();  // closes its fds if anything below throws
  p->env = env;
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0) ThrowErrno(env, errno, "epoll_create1");
  p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->stopfd < 0) ThrowErrno(env, errno, "eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->stopfd, &ev) < 0) ThrowErrno(env, errno, "epoll_ctl");

  Napi::Object handle = Handle::New(env, p);
  if (MakeCallbackTsfn(env, handle, info[0], "kvm-poller", p, CallJs, &p->callback_ref, &p->tsfn) != napi_ok) {
    p->Close();
    ThrowErrno(env, ENOMEM, "napi_create_threadsafe_function");
  }
  {
    std::lock_guard<std::mutex> lock(g_pollers_mutex);
    g_pollers.insert(p.get());
  }
  try {
    p->thread = std::thread(Loop, p.get());
  } catch (const std::system_error& e) {
    // No thread (e.g. under ulimit -v): a clear error, and nothing left registered.
    p->Close();
    ThrowErrno(env, e.code().value() ? e.code().value() : EAGAIN, "pthread_create");
  }
  return handle;
}

// pollerAdd(poller, eventfd, token, kickVcpus[]): watch `eventfd`; on readiness the
// poller thread kicks those vCPUs and calls back with `token`. A watch that kicks nobody
// is in the loop set instead: the JS thread's event loop polls it and calls back itself.
Napi::Value PollerAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Poller> p = ArgPoller(info);
  std::shared_ptr<FdResource> e = ArgWatchable(info, 1);
  int fd = e->Get(env, "epoll_ctl");
  if (info.Length() < 3 || !info[2].IsNumber()) ThrowArg(env, "token must be a positive integer");
  double token = info[2].As<Napi::Number>().DoubleValue();
  if (!(token >= 1) || token > 9007199254740991.0 || token != static_cast<double>(static_cast<uint64_t>(token))) {
    ThrowArg(env, "token must be a positive integer", true);
  }
  Watch w{e, static_cast<uint64_t>(token), {}, false};
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Array a = ArgArray(info, 3, "kickVcpus");
    for (uint32_t i = 0; i < a.Length(); i++) {
      w.kicks.push_back(std::static_pointer_cast<Vcpu>(Handle::Checked(env, a.Get(i), "kickVcpus[i]", Kind::Vcpu)->resource()));
    }
  }
  {
    // Refused before anything changes: a second watch of the same eventfd
    // (epoll's EEXIST) or a token in use must not disturb the first.
    std::lock_guard<std::mutex> lock(p->mutex);
    if (p->watches.count(e.get())) ThrowErrno(env, EEXIST, "epoll_ctl");
    if (p->tokens.count(w.token)) ThrowArg(env, "token is already in use by this poller");
  }
  w.on_loop = w.kicks.empty();
  int set = w.on_loop ? LoopSetOf(env, p.get())->epfd : p->epfd;
  {
    std::lock_guard<std::mutex> lock(p->mutex);
    p->tokens[w.token] = e.get();
    p->watches.emplace(e.get(), std::move(w));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = static_cast<uint64_t>(token);
  if (epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    std::lock_guard<std::mutex> lock(p->mutex);
    p->watches.erase(e.get());
    p->tokens.erase(static_cast<uint64_t>(token));
    ThrowErrno(env, err, "epoll_ctl");
  }
  return env.Undefined();
}

Napi::Value PollerRemove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Poller> p = ArgPoller(info);
  std::shared_ptr<FdResource> e = ArgWatchable(info, 1);
  std::lock_guard<std::mutex> lock(p->mutex);
  auto w = p->watches.find(e.get());
  if (w == p->watches.end()) ThrowErrno(env, ENOENT, "epoll_ctl");
  // A closed eventfd left epoll by itself when its file was released.
  int set = w->second.on_loop ? (p->loop ? p->loop->epfd : -1) : p->epfd;
  if (!e->Closed() && set >= 0) epoll_ctl(set, EPOLL_CTL_DEL, e->Fd(), nullptr);
  p->tokens.erase(w->second.token);
  p->ready.erase(std::remove(p->ready.begin(), p->ready.end(), w->second.token), p->ready.end());
  p->watches.erase(w);
  return env.Undefined();
}

// At an environment's teardown, its own pollers close -- only its own: the
// addon is loaded by the main thread and by every vCPU worker, each worker's
// teardown runs this hook too, and a worker ending while the main thread
// runs the next VM must not close that VM's poller (it did: the vCPU,
// halted in KVM_RUN, was never kicked again).
void CleanupPollers(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::vector<Poller*> own;
  {
    std::lock_guard<std::mutex> lock(g_pollers_mutex);
    for (Poller* p : g_pollers) if (p->env == env) own.push_back(p);
  }
  for (Poller* p : own) p->Close();
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("pollerCreate", Napi::Function::New(env, PollerCreate, "pollerCreate"));
  exports.Set("pollerAdd", Napi::Function::New(env, PollerAdd, "pollerAdd"));
  exports.Set("pollerRemove", Napi::Function::New(env, PollerRemove, "pollerRemove"));
  exports.Set("pollerTake", Napi::Function::New(env, PollerTake, "pollerTake"));
  napi_add_env_cleanup_hook(env, CleanupPollers, env);
}

}  // namespace kvmaddon
