// vCPU-fd ioctls, the kick, and the hand-over of a vCPU to another thread.
// KVM API: "vcpu ioctls should be issued from the same thread that was used
// to create the vcpu" -- except KVM_RUN, which the VMM may move to a thread
// of the vCPU's own (attachVcpu); the kick reaches whichever thread is
// inside KVM_RUN at that moment, and no other (handle.h).
#include "common.h"
#include "handle.h"

#include <cerrno>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <vector>

namespace kvmaddon {
namespace {

std::shared_ptr<Vcpu> ArgVcpu(const Napi::CallbackInfo& info) { return ArgHandle<Vcpu>(info, 0, "vcpu", Kind::Vcpu); }
int VcpuFd(const Napi::CallbackInfo& info, const char* syscall) { return ArgVcpu(info)->Get(info.Env(), syscall); }

Napi::Value RunOn(Napi::Env env, Vcpu& v) {
  bool closed = false;
  int r = v.Run(&closed);
  if (closed) ThrowClosed(env, "vcpu", "KVM_RUN");
  if (r < 0) {
    if (r == -EINTR || r == -EAGAIN) return Napi::Number::New(env, r);
    if (r == -EBUSY) ThrowCode(env, "ERR_VCPU_BUSY", "KVM_RUN refused: another thread is inside KVM_RUN with this vCPU");
    ThrowErrno(env, -r, "KVM_RUN");
  }
  return Napi::Number::New(env, r);
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  std::shared_ptr<Vcpu> v = ArgVcpu(info);
  return RunOn(info.Env(), *v);
}

// run() bound to one vCPU, for the exit path: the handle was checked once, here, so
// a call costs no type-tag check, unwrap or reference count (a tenth of a
// microsecond per exit, a few percent of a nested host's exit). The function
// keeps the vCPU's bookkeeping alive, not its fd: close() still closes it, and
// the function then throws EBADF like run().
struct Runner { std::shared_ptr<Vcpu> vcpu; };

Napi::Value RunBound(const Napi::CallbackInfo& info) {
  return RunOn(info.Env(), *static_cast<Runner*>(info.Data())->vcpu);
}

Napi::Value VcpuRunner(const Napi::CallbackInfo& info) {
  auto* r = new Runner{ArgVcpu(info)};
  Napi::Function f;
  try {
    f = Napi::Function::New(info.Env(), RunBound, "run", r);
    f.AddFinalizer([](Napi::Env, Runner* p) { delete p; }, r);
  } catch (...) {
    delete r;
    throw;
  }
  return f;
}

Napi::Value Kick(const Napi::CallbackInfo& info) {
  ArgVcpu(info)->Kick();
  return info.Env().Undefined();
}

// The vCPU's kvm_run area as an ArrayBuffer (the same one every time; detached when the vCPU closes).
Napi::Value VcpuRunBuffer(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) ThrowArg(info.Env(), "vcpu is required");
  Handle* h = Handle::Checked(info.Env(), info[0], "vcpu", Kind::Vcpu);
  if (!h->owner()) ThrowArg(info.Env(), "an attached vCPU handle has no kvm_run buffer; use the owner's");
  return h->RunBuffer(info.Env());
}

// A number another thread (worker) passes to attachVcpu to run this vCPU: never reused in this process.
Napi::Value VcpuShareId(const Napi::CallbackInfo& info) {
  std::shared_ptr<Vcpu> v = ArgVcpu(info);
  v->Get(info.Env(), "attach");
  return Napi::Number::New(info.Env(), static_cast<double>(v->share_id));
}

// A handle in this thread's environment for the vCPU with that share id. Its close() only lets go:
// the vCPU is closed by its owner's handle.
Napi::Value AttachVcpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowArg(env, "shareId must be a number from vcpuShareId");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    ThrowArg(env, "shareId must be a positive integer", true);
  }
  std::shared_ptr<Vcpu> v = FindVcpu(static_cast<uint64_t>(d));
  if (!v || v->Closed()) ThrowClosed(env, "vcpu", "attach");
  return Handle::New(env, v, false);
}

// Every vCPU of the process, kicked: a worker being terminated must leave KVM_RUN to see it.
Napi::Value KickAllVcpus(const Napi::CallbackInfo& info) {
  auto all = AllVcpus();
  for (auto& v : all) v->Kick();
  return Napi::Number::New(info.Env(), static_cast<double>(all.size()));
}

// Every vCPU of the process: kicked out of KVM_RUN, and every later run() returns -EINTR at once.
// For process exit: a worker halted in KVM_RUN would otherwise hold the exit forever.
Napi::Value StopAllVcpus(const Napi::CallbackInfo& info) {
  auto all = AllVcpus();
  for (auto& v : all) v->Stop();
  return Napi::Number::New(info.Env(), static_cast<double>(all.size()));
}

// The same for the vCPUs this environment created: a worker thread that runs a VMM, when it exits.
Napi::Value StopOwnVcpus(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  size_t n = 0;
  for (auto& v : AllVcpus()) {
    if (v->owner_env != env) continue;
    v->Stop();
    n++;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

#if KVMADDON_X86
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
  // Each field in the range the descriptor gives it: nothing is truncated.
  s.selector = static_cast<uint16_t>(PropMax(o, "selector", 0xffff));
  s.type = static_cast<uint8_t>(PropMax(o, "type", 15));
  s.present = static_cast<uint8_t>(PropMax(o, "present", 1));
  s.dpl = static_cast<uint8_t>(PropMax(o, "dpl", 3));
  s.db = static_cast<uint8_t>(PropMax(o, "db", 1));
  s.s = static_cast<uint8_t>(PropMax(o, "s", 1));
  s.l = static_cast<uint8_t>(PropMax(o, "l", 1));
  s.g = static_cast<uint8_t>(PropMax(o, "g", 1));
  s.avl = static_cast<uint8_t>(PropMax(o, "avl", 1));
  Napi::Value u = o.Get("unusable");
  s.unusable = u.IsUndefined() ? 0 : static_cast<uint8_t>(ValueMax(env, u, "unusable", 1));
}

#define REG_LIST(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) \
  X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

Napi::Value GetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvm_regs r{};
  if (Ioctl(VcpuFd(info, "KVM_GET_REGS"), KVM_GET_REGS, &r) < 0) ThrowErrno(env, errno, "KVM_GET_REGS");
  Napi::Object o = Napi::Object::New(env);
#define GET(n) o.Set(#n, Napi::BigInt::New(env, static_cast<uint64_t>(r.n)));
  REG_LIST(GET)
#undef GET
  return o;
}

Napi::Value SetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = ArgObject(info, 1, "regs");
  kvm_regs r{};
#define SET(n) r.n = PropU64(o, #n);
  REG_LIST(SET)
#undef SET
  if (Ioctl(VcpuFd(info, "KVM_SET_REGS"), KVM_SET_REGS, &r) < 0) ThrowErrno(env, errno, "KVM_SET_REGS");
  return env.Undefined();
}

#define SEG_LIST(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)

Napi::Value GetSregs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvm_sregs s{};
  if (Ioctl(VcpuFd(info, "KVM_GET_SREGS"), KVM_GET_SREGS, &s) < 0) ThrowErrno(env, errno, "KVM_GET_SREGS");
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
  Napi::Object o = ArgObject(info, 1, "sregs");
  kvm_sregs s{};
#define SETSEG(n) SegmentFromJs(env, o.Get(#n), s.n, #n);
  SEG_LIST(SETSEG)
#undef SETSEG
  for (auto [name, dt] : {std::pair<const char*, kvm_dtable*>{"gdt", &s.gdt}, {"idt", &s.idt}}) {
    Napi::Value v = o.Get(name);
    if (!v.IsObject()) ThrowArg(env, std::string(name) + " must be {base, limit}");
    dt->base = PropU64(v.As<Napi::Object>(), "base");
    dt->limit = static_cast<uint16_t>(PropMax(v.As<Napi::Object>(), "limit", 0xffff));
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
    if (a.Length() > 4) ThrowArg(env, "interruptBitmap has 4 u64 words", true);
    for (uint32_t i = 0; i < a.Length(); i++) s.interrupt_bitmap[i] = ValueU64(env, a.Get(i), "interruptBitmap[i]");
  }
  if (Ioctl(VcpuFd(info, "KVM_SET_SREGS"), KVM_SET_SREGS, &s) < 0) ThrowErrno(env, errno, "KVM_SET_SREGS");
  return env.Undefined();
}

Napi::Value SetCpuid2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
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
  if (Ioctl(VcpuFd(info, "KVM_SET_CPUID2"), kSetCpuid2, buf.data()) < 0) ThrowErrno(env, errno, "KVM_SET_CPUID2");
  return env.Undefined();
}

Napi::Value Interrupt(const Napi::CallbackInfo& info) {
  kvm_interrupt irq{};
  irq.irq = ArgU32(info, 1, "irq");
  if (Ioctl(VcpuFd(info, "KVM_INTERRUPT"), KVM_INTERRUPT, &irq) < 0) ThrowErrno(info.Env(), errno, "KVM_INTERRUPT");
  return info.Env().Undefined();
}
#endif  // KVMADDON_X86

// KVM_GET_ONE_REG / KVM_SET_ONE_REG: registers of up to 64 bits (the id's size field says which), as a bigint.
uint64_t OneRegSize(Napi::Env env, uint64_t id) {
  uint64_t size = 1ULL << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
  if (size > 8) ThrowArg(env, "register ids wider than 64 bits are not supported", true);
  return size;
}

Napi::Value GetOneReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = ArgU64(info, 1, "id");
  uint64_t size = OneRegSize(env, id);
  uint64_t value = 0;
  kvm_one_reg r{};
  r.id = id;
  r.addr = reinterpret_cast<uint64_t>(&value);
  if (Ioctl(VcpuFd(info, "KVM_GET_ONE_REG"), KVM_GET_ONE_REG, &r) < 0) ThrowErrno(env, errno, "KVM_GET_ONE_REG");
  if (size < 8) value &= (1ULL << (size * 8)) - 1;  // little-endian: the register is the low bytes
  return Napi::BigInt::New(env, value);
}

Napi::Value SetOneReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = ArgU64(info, 1, "id");
  uint64_t size = OneRegSize(env, id);
  uint64_t value = ArgU64(info, 2, "value");
  if (size < 8 && (value >> (size * 8)) != 0) ThrowArg(env, "value does not fit the register's size", true);
  kvm_one_reg r{};
  r.id = id;
  r.addr = reinterpret_cast<uint64_t>(&value);
  if (Ioctl(VcpuFd(info, "KVM_SET_ONE_REG"), KVM_SET_ONE_REG, &r) < 0) ThrowErrno(env, errno, "KVM_SET_ONE_REG");
  return env.Undefined();
}

// KVM_GET_REG_LIST: asks with n = 0 for the count (E2BIG), then fetches the ids.
Napi::Value GetRegList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = VcpuFd(info, "KVM_GET_REG_LIST");
  RegListHeader probe{0};
  if (Ioctl(fd, kGetRegList, &probe) == 0) return Napi::Array::New(env, 0);
  if (errno != E2BIG) ThrowErrno(env, errno, "KVM_GET_REG_LIST");
  std::vector<uint64_t> buf(1 + probe.n);
  buf[0] = probe.n;
  if (Ioctl(fd, kGetRegList, buf.data()) < 0) ThrowErrno(env, errno, "KVM_GET_REG_LIST");
  uint64_t n = buf[0];
  Napi::Array out = Napi::Array::New(env, n);
  for (uint64_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), Napi::BigInt::New(env, buf[1 + i]));
  return out;
}

Napi::Value GetMpState(const Napi::CallbackInfo& info) {
  kvm_mp_state s{};
  if (Ioctl(VcpuFd(info, "KVM_GET_MP_STATE"), KVM_GET_MP_STATE, &s) < 0) ThrowErrno(info.Env(), errno, "KVM_GET_MP_STATE");
  return Napi::Number::New(info.Env(), s.mp_state);
}

Napi::Value SetMpState(const Napi::CallbackInfo& info) {
  kvm_mp_state s{};
  s.mp_state = ArgU32(info, 1, "state");  // KVM validates the value (EINVAL)
  if (Ioctl(VcpuFd(info, "KVM_SET_MP_STATE"), KVM_SET_MP_STATE, &s) < 0) ThrowErrno(info.Env(), errno, "KVM_SET_MP_STATE");
  return info.Env().Undefined();
}

}  // namespace

void InitVcpu(Napi::Env env, Napi::Object exports) {
  InstallKickHandler();
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("kick", Napi::Function::New(env, Kick, "kick"));
  exports.Set("vcpuRunner", Napi::Function::New(env, VcpuRunner, "vcpuRunner"));
  exports.Set("vcpuRunBuffer", Napi::Function::New(env, VcpuRunBuffer, "vcpuRunBuffer"));
  exports.Set("vcpuShareId", Napi::Function::New(env, VcpuShareId, "vcpuShareId"));
  exports.Set("attachVcpu", Napi::Function::New(env, AttachVcpu, "attachVcpu"));
  exports.Set("stopAllVcpus", Napi::Function::New(env, StopAllVcpus, "stopAllVcpus"));
  exports.Set("kickAllVcpus", Napi::Function::New(env, KickAllVcpus, "kickAllVcpus"));
  exports.Set("stopOwnVcpus", Napi::Function::New(env, StopOwnVcpus, "stopOwnVcpus"));
#if KVMADDON_X86
  exports.Set("getRegs", Napi::Function::New(env, GetRegs, "getRegs"));
  exports.Set("setRegs", Napi::Function::New(env, SetRegs, "setRegs"));
  exports.Set("getSregs", Napi::Function::New(env, GetSregs, "getSregs"));
  exports.Set("setSregs", Napi::Function::New(env, SetSregs, "setSregs"));
  exports.Set("setCpuid2", Napi::Function::New(env, SetCpuid2, "setCpuid2"));
  exports.Set("interrupt", Napi::Function::New(env, Interrupt, "interrupt"));
#endif
  exports.Set("getOneReg", Napi::Function::New(env, GetOneReg, "getOneReg"));
  exports.Set("setOneReg", Napi::Function::New(env, SetOneReg, "setOneReg"));
  exports.Set("getRegList", Napi::Function::New(env, GetRegList, "getRegList"));
  exports.Set("getMpState", Napi::Function::New(env, GetMpState, "getMpState"));
  exports.Set("setMpState", Napi::Function::New(env, SetMpState, "setMpState"));
}

}  // namespace kvmaddon
