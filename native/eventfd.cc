// eventfd(2) and the poller: an epoll thread that kicks vCPUs directly and
// tells JS (through a thread-safe function) when a watched fd is readable.
#include "common.h"

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <set>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace kvmaddon {
namespace {

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  int fd = eventfd(ArgU32(info, 0, "initval"), static_cast<int>(ArgU32(info, 1, "flags")));
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  uint64_t v = 0;
  ssize_t n = read(ArgFd(info, 0, "fd"), &v, sizeof v);
  if (n < 0) {
    if (errno == EAGAIN) return info.Env().Null();
    ThrowErrno(info.Env(), errno, "read");
  }
  if (n != sizeof v) ThrowErrno(info.Env(), EIO, "read");
  return Napi::BigInt::New(info.Env(), v);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  uint64_t v = ArgU64(info, 1, "value");
  ssize_t n = write(ArgFd(info, 0, "fd"), &v, sizeof v);
  if (n < 0) ThrowErrno(info.Env(), errno, "write");
  return info.Env().Undefined();
}

struct Poller {
  int epfd = -1;
  int stopfd = -1;
  std::thread thread;
  Napi::ThreadSafeFunction tsfn;
  std::mutex mutex;
  std::map<int, std::vector<int>> kicks;  // fd → vCPU fds to kick
  std::map<uint64_t, int> tokens;         // token → fd (epoll data carries the token)
  bool closed = false;
  napi_env env = nullptr;                 // the environment (main thread or a worker) that created it
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
      // The call is queued before the kick, never after: a vCPU on the JS
      // thread leaves KVM_RUN on the kick and yields to the event loop once,
      // and that turn must already see the callback pending. Kicked first,
      // the thread could find nothing to serve, enter KVM_RUN again and
      // sleep in HLT with the event undelivered (edge-triggered: no second
      // wake-up comes).
      p->tsfn.NonBlockingCall([token](Napi::Env env, Napi::Function cb) {
        cb.Call({Napi::Number::New(env, static_cast<double>(token))});
      });
      {
        std::lock_guard<std::mutex> lock(p->mutex);
        auto t = p->tokens.find(token);
        if (t != p->tokens.end()) {
          auto k = p->kicks.find(t->second);
          if (k != p->kicks.end()) for (int vcpu : k->second) KickVcpu(vcpu);
        }
      }
    }
  }
}

void ClosePoller(Poller* p) {
  if (p->closed) return;
  p->closed = true;
  uint64_t one = 1;
  if (write(p->stopfd, &one, sizeof one) < 0) { /* the thread also stops when epfd closes */ }
  if (p->thread.joinable()) p->thread.join();
  p->tsfn.Release();
  close(p->epfd);
  close(p->stopfd);
  std::lock_guard<std::mutex> lock(g_pollers_mutex);
  g_pollers.erase(p);
}

Poller* GetPoller(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsExternal()) ThrowArg(info.Env(), "poller must be a handle from pollerCreate");
  Poller* p = info[i].As<Napi::External<Poller>>().Data();
  {
    std::lock_guard<std::mutex> lock(g_pollers_mutex);
    if (!g_pollers.count(p)) ThrowArg(info.Env(), "poller is closed");
  }
  return p;
}

Napi::Value PollerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowArg(env, "callback must be a function");
  auto* p = new Poller();
  p->env = env;
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0) {
    int err = errno;
    delete p;
    ThrowErrno(env, err, "epoll_create1");
  }
  p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->stopfd < 0) {
    int err = errno;
    close(p->epfd);
    delete p;
    ThrowErrno(env, err, "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->stopfd, &ev);
  p->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "kvm-poller", 0, 1);
  // An idle poller must not keep the process alive.
  p->tsfn.Unref(env);
  {
    std::lock_guard<std::mutex> lock(g_pollers_mutex);
    g_pollers.insert(p);
  }
  p->thread = std::thread(Loop, p);
  // The External's finalizer frees the struct; closing is explicit (or at env cleanup).
  return Napi::External<Poller>::New(env, p, [](Napi::Env, Poller* q) {
    ClosePoller(q);
    delete q;
  });
}

Napi::Value PollerAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Poller* p = GetPoller(info, 0);
  int fd = ArgFd(info, 1, "fd");
  double token = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(token >= 1) || token > 9007199254740991.0) ThrowArg(env, "token must be a positive integer", true);
  std::vector<int> kicks;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Array a = ArgArray(info, 3, "kickVcpuFds");
    for (uint32_t i = 0; i < a.Length(); i++) kicks.push_back(static_cast<int>(ValueU32(env, a.Get(i), "kickVcpuFds[i]")));
  }
  {
    std::lock_guard<std::mutex> lock(p->mutex);
    p->kicks[fd] = kicks;
    p->tokens[static_cast<uint64_t>(token)] = fd;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = static_cast<uint64_t>(token);
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    std::lock_guard<std::mutex> lock(p->mutex);
    p->kicks.erase(fd);
    p->tokens.erase(static_cast<uint64_t>(token));
    ThrowErrno(env, err, "epoll_ctl");
  }
  return env.Undefined();
}

Napi::Value PollerRemove(const Napi::CallbackInfo& info) {
  Poller* p = GetPoller(info, 0);
  int fd = ArgFd(info, 1, "fd");
  if (epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, nullptr) < 0) ThrowErrno(info.Env(), errno, "epoll_ctl");
  std::lock_guard<std::mutex> lock(p->mutex);
  p->kicks.erase(fd);
  for (auto it = p->tokens.begin(); it != p->tokens.end();) it = it->second == fd ? p->tokens.erase(it) : std::next(it);
  return info.Env().Undefined();
}

Napi::Value PollerClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) ThrowArg(info.Env(), "poller must be a handle from pollerCreate");
  ClosePoller(info[0].As<Napi::External<Poller>>().Data());
  return info.Env().Undefined();
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
  for (Poller* p : own) ClosePoller(p);
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("pollerCreate", Napi::Function::New(env, PollerCreate, "pollerCreate"));
  exports.Set("pollerAdd", Napi::Function::New(env, PollerAdd, "pollerAdd"));
  exports.Set("pollerRemove", Napi::Function::New(env, PollerRemove, "pollerRemove"));
  exports.Set("pollerClose", Napi::Function::New(env, PollerClose, "pollerClose"));
  napi_add_env_cleanup_hook(env, CleanupPollers, env);
}

}  // namespace kvmaddon
