// vCPU-fd ioctls, and the kick: immediate_exit plus a signal to the thread
// that runs the vCPU (KVM API: "vcpu ioctls should be issued from the same
// thread that was used to create the vcpu").
#include "common.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <linux/kvm.h>
#include <mutex>
#include <pthread.h>
#include <sys/ioctl.h>
#include <vector>

namespace kvmaddon {
namespace {

// One slot per fd number: run() must not lock or allocate.
struct VcpuSlot {
  std::atomic<kvm_run*> run{nullptr};
  std::atomic<pthread_t> thread{0};
  std::atomic<bool> has_thread{false};
};

constexpr int kMaxFds = 1 << 16;
VcpuSlot* g_slots = new VcpuSlot[kMaxFds];  // never freed: lives as long as the process
std::once_flag g_signal_once;

int KickSignal() { return SIGRTMIN + 2; }

void NoopHandler(int) {}

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

VcpuSlot* Slot(int fd) { return fd >= 0 && fd < kMaxFds ? &g_slots[fd] : nullptr; }

Napi::Value Run(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "vcpuFd");
  if (VcpuSlot* s = Slot(fd)) {
    pthread_t self = pthread_self();
    if (!s->has_thread.load(std::memory_order_relaxed) || !pthread_equal(s->thread.load(std::memory_order_relaxed), self)) {
      s->thread.store(self, std::memory_order_relaxed);
      s->has_thread.store(true, std::memory_order_release);
    }
  }
  int r = ioctl(fd, KVM_RUN, 0);
  if (r < 0) {
    int err = errno;
    if (err == EINTR || err == EAGAIN) return Napi::Number::New(info.Env(), -err);
    ThrowErrno(info.Env(), err, "KVM_RUN");
  }
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Kick(const Napi::CallbackInfo& info) {
  KickVcpu(ArgFd(info, 0, "vcpuFd"));
  return info.Env().Undefined();
}

Napi::Object SegmentToJs(Napi::Env env, const kvm_segment& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(s.base)));
  o.Set("limit", Napi::Number::New(env, s.limit));
  o.Set("selector", Napi::Number::New(env, s.selector));
  o.Set("type", Napi::Number::New(env, s.type));
  o.Set("present", Napi::Number::New(env, s.present));
  o.Set("dpl", Napi::Number::New(env, s.dpl));
  o.Set("db", Napi::Number::New(env, s.db));
  o.Set("s", Napi::Number::New(env, s.s));
  o.Set("l", Napi::Number::New(env, s.l));
  o.Set("g", Napi::Number::New(env, s.g));
  o.Set("avl", Napi::Number::New(env, s.avl));
  o.Set("unusable", Napi::Number::New(env, s.unusable));
  return o;
}

void SegmentFromJs(Napi::Env env, Napi::Value v, kvm_segment& s, const char* name) {
  if (!v.IsObject()) ThrowArg(env, std::string(name) + " must be a segment object");
  Napi::Object o = v.As<Napi::Object>();
  s.base = PropU64(o, "base");
  s.limit = PropU32(o, "limit");
  s.selector = static_cast<uint16_t>(PropU32(o, "selector"));
  s.type = static_cast<uint8_t>(PropU32(o, "type"));
  s.present = static_cast<uint8_t>(PropU32(o, "present"));
  s.dpl = static_cast<uint8_t>(PropU32(o, "dpl"));
  s.db = static_cast<uint8_t>(PropU32(o, "db"));
  s.s = static_cast<uint8_t>(PropU32(o, "s"));
  s.l = static_cast<uint8_t>(PropU32(o, "l"));
  s.g = static_cast<uint8_t>(PropU32(o, "g"));
  s.avl = static_cast<uint8_t>(PropU32(o, "avl"));
  s.unusable = static_cast<uint8_t>(PropU32Or(o, "unusable", 0));
}

#define REG_LIST(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) \
  X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

Napi::Value GetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvm_regs r{};
  if (Ioctl(ArgFd(info, 0, "vcpuFd"), KVM_GET_REGS, &r) < 0) ThrowErrno(env, errno, "KVM_GET_REGS");
  Napi::Object o = Napi::Object::New(env);
#define GET(n) o.Set(#n, Napi::BigInt::New(env, static_cast<uint64_t>(r.n)));
  REG_LIST(GET)
#undef GET
  return o;
}

Napi::Value SetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "vcpuFd");
  Napi::Object o = ArgObject(info, 1, "regs");
  kvm_regs r{};
#define SET(n) r.n = PropU64(o, #n);
  REG_LIST(SET)
#undef SET
  if (Ioctl(fd, KVM_SET_REGS, &r) < 0) ThrowErrno(env, errno, "KVM_SET_REGS");
  return env.Undefined();
}

#define SEG_LIST(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)

Napi::Value GetSregs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvm_sregs s{};
  if (Ioctl(ArgFd(info, 0, "vcpuFd"), KVM_GET_SREGS, &s) < 0) ThrowErrno(env, errno, "KVM_GET_SREGS");
  Napi::Object o = Napi::Object::New(env);
#define GETSEG(n) o.Set(#n, SegmentToJs(env, s.n));
  SEG_LIST(GETSEG)
#undef GETSEG
  for (auto [name, dt] : {std::pair<const char*, kvm_dtable*>{"gdt", &s.gdt}, {"idt", &s.idt}}) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(dt->base)));
    d.Set("limit", Napi::Number::New(env, dt->limit));
    o.Set(name, d);
  }
  o.Set("cr0", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr0)));
  o.Set("cr2", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr2)));
  o.Set("cr3", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr3)));
  o.Set("cr4", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr4)));
  o.Set("cr8", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr8)));
  o.Set("efer", Napi::BigInt::New(env, static_cast<uint64_t>(s.efer)));
  o.Set("apicBase", Napi::BigInt::New(env, static_cast<uint64_t>(s.apic_base)));
  Napi::Array bm = Napi::Array::New(env, 4);
  for (uint32_t i = 0; i < 4; i++) bm.Set(i, Napi::BigInt::New(env, static_cast<uint64_t>(s.interrupt_bitmap[i])));
  o.Set("interruptBitmap", bm);
  return o;
}

Napi::Value SetSregs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "vcpuFd");
  Napi::Object o = ArgObject(info, 1, "sregs");
  kvm_sregs s{};
#define SETSEG(n) SegmentFromJs(env, o.Get(#n), s.n, #n);
  SEG_LIST(SETSEG)
#undef SETSEG
  for (auto [name, dt] : {std::pair<const char*, kvm_dtable*>{"gdt", &s.gdt}, {"idt", &s.idt}}) {
    Napi::Value v = o.Get(name);
    if (!v.IsObject()) ThrowArg(env, std::string(name) + " must be {base, limit}");
    dt->base = PropU64(v.As<Napi::Object>(), "base");
    dt->limit = static_cast<uint16_t>(PropU32(v.As<Napi::Object>(), "limit"));
  }
  s.cr0 = PropU64(o, "cr0");
  s.cr2 = PropU64(o, "cr2");
  s.cr3 = PropU64(o, "cr3");
  s.cr4 = PropU64(o, "cr4");
  s.cr8 = PropU64(o, "cr8");
  s.efer = PropU64(o, "efer");
  s.apic_base = PropU64(o, "apicBase");
  Napi::Value bm = o.Get("interruptBitmap");
  if (bm.IsArray()) {
    Napi::Array a = bm.As<Napi::Array>();
    for (uint32_t i = 0; i < 4 && i < a.Length(); i++) s.interrupt_bitmap[i] = ValueU64(env, a.Get(i), "interruptBitmap[i]");
  }
  if (Ioctl(fd, KVM_SET_SREGS, &s) < 0) ThrowErrno(env, errno, "KVM_SET_SREGS");
  return env.Undefined();
}

Napi::Value SetCpuid2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "vcpuFd");
  Napi::Array entries = ArgArray(info, 1, "entries");
  uint32_t n = entries.Length();
  if (n > 4096) ThrowArg(env, "too many CPUID entries to encode", true);
  std::vector<uint8_t> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2), 0);
  reinterpret_cast<CpuidHeader*>(buf.data())->nent = n;
  auto* out = reinterpret_cast<kvm_cpuid_entry2*>(buf.data() + sizeof(CpuidHeader));
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = entries.Get(i);
    if (!v.IsObject()) ThrowArg(env, "each CPUID entry must be an object");
    Napi::Object o = v.As<Napi::Object>();
    kvm_cpuid_entry2& e = out[i];
    e.function = PropU32(o, "function");
    e.index = PropU32(o, "index");
    e.flags = PropU32(o, "flags");
    e.eax = PropU32(o, "eax");
    e.ebx = PropU32(o, "ebx");
    e.ecx = PropU32(o, "ecx");
    e.edx = PropU32(o, "edx");
  }
  if (Ioctl(fd, kSetCpuid2, buf.data()) < 0) ThrowErrno(env, errno, "KVM_SET_CPUID2");
  return env.Undefined();
}

Napi::Value Interrupt(const Napi::CallbackInfo& info) {
  kvm_interrupt irq{};
  irq.irq = ArgU32(info, 1, "irq");
  if (Ioctl(ArgFd(info, 0, "vcpuFd"), KVM_INTERRUPT, &irq) < 0) ThrowErrno(info.Env(), errno, "KVM_INTERRUPT");
  return info.Env().Undefined();
}

Napi::Value GetMpState(const Napi::CallbackInfo& info) {
  kvm_mp_state s{};
  if (Ioctl(ArgFd(info, 0, "vcpuFd"), KVM_GET_MP_STATE, &s) < 0) ThrowErrno(info.Env(), errno, "KVM_GET_MP_STATE");
  return Napi::Number::New(info.Env(), s.mp_state);
}

Napi::Value SetMpState(const Napi::CallbackInfo& info) {
  kvm_mp_state s{};
  s.mp_state = ArgU32(info, 1, "state");
  if (Ioctl(ArgFd(info, 0, "vcpuFd"), KVM_SET_MP_STATE, &s) < 0) ThrowErrno(info.Env(), errno, "KVM_SET_MP_STATE");
  return info.Env().Undefined();
}

}  // namespace

void RegisterKvmRun(int fd, void* run) {
  if (VcpuSlot* s = Slot(fd)) {
    s->has_thread.store(false, std::memory_order_relaxed);
    s->run.store(static_cast<kvm_run*>(run), std::memory_order_release);
  }
}

void ForgetVcpu(int fd) {
  if (VcpuSlot* s = Slot(fd)) {
    s->run.store(nullptr, std::memory_order_release);
    s->has_thread.store(false, std::memory_order_release);
  }
}

void KickVcpu(int fd) {
  VcpuSlot* s = Slot(fd);
  if (!s) return;
  kvm_run* run = s->run.load(std::memory_order_acquire);
  if (!run) return;
  __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (s->has_thread.load(std::memory_order_acquire)) pthread_kill(s->thread.load(std::memory_order_relaxed), KickSignal());
}

void InitVcpu(Napi::Env env, Napi::Object exports) {
  InstallKickHandler();
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("kick", Napi::Function::New(env, Kick, "kick"));
  exports.Set("getRegs", Napi::Function::New(env, GetRegs, "getRegs"));
  exports.Set("setRegs", Napi::Function::New(env, SetRegs, "setRegs"));
  exports.Set("getSregs", Napi::Function::New(env, GetSregs, "getSregs"));
  exports.Set("setSregs", Napi::Function::New(env, SetSregs, "setSregs"));
  exports.Set("setCpuid2", Napi::Function::New(env, SetCpuid2, "setCpuid2"));
  exports.Set("interrupt", Napi::Function::New(env, Interrupt, "interrupt"));
  exports.Set("getMpState", Napi::Function::New(env, GetMpState, "getMpState"));
  exports.Set("setMpState", Napi::Function::New(env, SetMpState, "setMpState"));
}

}  // namespace kvmaddon
