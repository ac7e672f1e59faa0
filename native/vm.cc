// VM-fd ioctls.
#include "common.h"

#include <cerrno>
#include <cstring>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <vector>

namespace kvmaddon {
namespace {

Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "vmFd");
  kvm_userspace_memory_region r{};
  r.slot = ArgU32(info, 1, "slot");
  r.flags = ArgU32(info, 2, "flags");
  r.guest_phys_addr = ArgU64(info, 3, "guestPhysAddr");
  r.memory_size = ArgU64(info, 4, "memorySize");
  uint64_t offset = info.Length() > 6 && !info[6].IsUndefined() ? ArgU64(info, 6, "bufferOffset") : 0;
  if (info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined()) {
    r.userspace_addr = HostAddress(env, info[5], offset, r.memory_size);
  } else if (r.memory_size != 0) {
    ThrowArg(env, "buffer is required unless memorySize is 0");
  }
  if (Ioctl(fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) ThrowErrno(env, errno, "KVM_SET_USER_MEMORY_REGION");
  return env.Undefined();
}

Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
  int r = Ioctl(ArgFd(info, 0, "vmFd"), KVM_CREATE_VCPU, static_cast<unsigned long>(ArgU32(info, 1, "vcpuId")));
  if (r < 0) ThrowErrno(info.Env(), errno, "KVM_CREATE_VCPU");
  return Napi::Number::New(info.Env(), r);
}

Napi::Value EnableCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  kvm_enable_cap c{};
  c.cap = ArgU32(info, 1, "cap");
  c.flags = ArgU32(info, 2, "flags");
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Array args = ArgArray(info, 3, "args");
    if (args.Length() > 4) ThrowArg(env, "args takes at most 4 values", true);
    for (uint32_t i = 0; i < args.Length(); i++) c.args[i] = ValueU64(env, args.Get(i), "args[i]");
  }
  if (Ioctl(fd, KVM_ENABLE_CAP, &c) < 0) ThrowErrno(env, errno, "KVM_ENABLE_CAP");
  return env.Undefined();
}

Napi::Value SetGsiRouting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "vmFd");
  Napi::Array entries = ArgArray(info, 1, "entries");
  uint32_t n = entries.Length();
  if (n > 65536) ThrowArg(env, "too many routing entries to encode", true);
  std::vector<uint8_t> buf(sizeof(RoutingHeader) + n * sizeof(kvm_irq_routing_entry), 0);
  reinterpret_cast<RoutingHeader*>(buf.data())->nr = n;
  auto* out = reinterpret_cast<kvm_irq_routing_entry*>(buf.data() + sizeof(RoutingHeader));
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = entries.Get(i);
    if (!v.IsObject()) ThrowArg(env, "each routing entry must be an object");
    Napi::Object o = v.As<Napi::Object>();
    kvm_irq_routing_entry& e = out[i];
    e.gsi = PropU32(o, "gsi");
    e.flags = PropU32Or(o, "flags", 0);
    std::string type = o.Get("type").IsString() ? o.Get("type").As<Napi::String>().Utf8Value() : "";
    if (type == "irqchip") {
      e.type = KVM_IRQ_ROUTING_IRQCHIP;
      e.u.irqchip.irqchip = PropU32(o, "irqchip");
      e.u.irqchip.pin = PropU32(o, "pin");
    } else if (type == "msi") {
      e.type = KVM_IRQ_ROUTING_MSI;
      e.u.msi.address_lo = PropU32(o, "addressLo");
      e.u.msi.address_hi = PropU32(o, "addressHi");
      e.u.msi.data = PropU32(o, "data");
      e.u.msi.devid = PropU32Or(o, "devid", 0);
    } else {
      ThrowArg(env, "routing entry type must be 'irqchip' or 'msi'");
    }
  }
  if (Ioctl(fd, kSetGsiRouting, buf.data()) < 0) ThrowErrno(env, errno, "KVM_SET_GSI_ROUTING");
  return env.Undefined();
}

Napi::Value Irqfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vm = ArgFd(info, 0, "vmFd");
  kvm_irqfd a{};
  a.fd = static_cast<uint32_t>(ArgFd(info, 1, "fd"));
  a.gsi = ArgU32(info, 2, "gsi");
  a.flags = ArgU32(info, 3, "flags");
  a.resamplefd = static_cast<uint32_t>(info.Length() > 4 ? ArgFd(info, 4, "resampleFd") : 0);
  if (Ioctl(vm, KVM_IRQFD, &a) < 0) ThrowErrno(env, errno, "KVM_IRQFD");
  return env.Undefined();
}

Napi::Value Ioeventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vm = ArgFd(info, 0, "vmFd");
  Napi::Object o = ArgObject(info, 1, "args");
  kvm_ioeventfd a{};
  a.addr = PropU64(o, "addr");
  a.len = PropU32(o, "len");
  a.fd = static_cast<int32_t>(PropU32(o, "fd"));
  a.flags = PropU32(o, "flags");
  Napi::Value dm = o.Get("datamatch");
  a.datamatch = dm.IsUndefined() ? 0 : ValueU64(env, dm, "datamatch");
  if (Ioctl(vm, KVM_IOEVENTFD, &a) < 0) ThrowErrno(env, errno, "KVM_IOEVENTFD");
  return env.Undefined();
}

Napi::Value SignalMsi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vm = ArgFd(info, 0, "vmFd");
  kvm_msi m{};
  m.address_lo = ArgU32(info, 1, "addressLo");
  m.address_hi = ArgU32(info, 2, "addressHi");
  m.data = ArgU32(info, 3, "data");
  m.flags = ArgU32(info, 4, "flags");
  m.devid = ArgU32(info, 5, "devid");
  int r = Ioctl(vm, KVM_SIGNAL_MSI, &m);
  if (r < 0) ThrowErrno(env, errno, "KVM_SIGNAL_MSI");
  return Napi::Number::New(env, r);
}

Napi::Value IrqLine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vm = ArgFd(info, 0, "vmFd");
  kvm_irq_level l{};
  l.irq = ArgU32(info, 1, "irq");
  l.level = ArgU32(info, 2, "level");
  if (Ioctl(vm, KVM_IRQ_LINE_STATUS, &l) < 0) ThrowErrno(env, errno, "KVM_IRQ_LINE_STATUS");
  return Napi::Number::New(env, l.status);
}

Napi::Value SetTssAddr(const Napi::CallbackInfo& info) {
  if (Ioctl(ArgFd(info, 0, "vmFd"), KVM_SET_TSS_ADDR, static_cast<unsigned long>(ArgU32(info, 1, "addr"))) < 0) {
    ThrowErrno(info.Env(), errno, "KVM_SET_TSS_ADDR");
  }
  return info.Env().Undefined();
}

Napi::Value SetIdentityMapAddr(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 1, "addr");
  if (Ioctl(ArgFd(info, 0, "vmFd"), KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0) {
    ThrowErrno(info.Env(), errno, "KVM_SET_IDENTITY_MAP_ADDR");
  }
  return info.Env().Undefined();
}

}  // namespace

void InitVm(Napi::Env env, Napi::Object exports) {
  exports.Set("setUserMemoryRegion", Napi::Function::New(env, SetUserMemoryRegion, "setUserMemoryRegion"));
  exports.Set("createVcpu", Napi::Function::New(env, CreateVcpu, "createVcpu"));
  exports.Set("enableCap", Napi::Function::New(env, EnableCap, "enableCap"));
  exports.Set("setGsiRouting", Napi::Function::New(env, SetGsiRouting, "setGsiRouting"));
  exports.Set("irqfd", Napi::Function::New(env, Irqfd, "irqfd"));
  exports.Set("ioeventfd", Napi::Function::New(env, Ioeventfd, "ioeventfd"));
  exports.Set("signalMsi", Napi::Function::New(env, SignalMsi, "signalMsi"));
  exports.Set("irqLine", Napi::Function::New(env, IrqLine, "irqLine"));
  exports.Set("setTssAddr", Napi::Function::New(env, SetTssAddr, "setTssAddr"));
  exports.Set("setIdentityMapAddr", Napi::Function::New(env, SetIdentityMapAddr, "setIdentityMapAddr"));
}

}  // namespace kvmaddon
