// VM-fd ioctls. The VM is a handle (handle.h); eventfds and vCPUs are handles too.
#include "common.h"
#include "handle.h"

#include <cerrno>
#include <cstring>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace kvmaddon {
namespace {

std::shared_ptr<Vm> ArgVm(const Napi::CallbackInfo& info) { return ArgHandle<Vm>(info, 0, "vm", Kind::Vm); }

int EventfdOf(Napi::Env env, Napi::Value v, const char* name, const char* syscall) {
  return std::static_pointer_cast<FdResource>(Handle::Checked(env, v, name, Kind::Eventfd)->resource())->Get(env, syscall);
}

Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = "KVM_SET_USER_MEMORY_REGION";
  std::shared_ptr<Vm> vm = ArgVm(info);
  kvm_userspace_memory_region r{};
  r.slot = ArgU32(info, 1, "slot");
  r.flags = ArgU32(info, 2, "flags");
  r.guest_phys_addr = ArgU64(info, 3, "guestPhysAddr");
  r.memory_size = ArgU64(info, 4, "memorySize");
  uint64_t offset = info.Length() > 6 && !info[6].IsUndefined() ? ArgU64(info, 6, "bufferOffset") : 0;
  std::shared_ptr<Mapping> m;
  if (info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined()) {
    m = MappingOf(env, info[5], offset, r.memory_size);
    r.userspace_addr = reinterpret_cast<uintptr_t>(m->base) + offset;
  } else if (r.memory_size != 0) {
    ThrowArg(env, "buffer is required unless memorySize is 0");
  }
  if (Ioctl(vm->Get(env, sc), KVM_SET_USER_MEMORY_REGION, &r) < 0) ThrowErrno(env, errno, sc);
  // The VM now holds the mapping for as long as the slot points into it.
  vm->SetSlot(r.slot, r.memory_size == 0 ? nullptr : std::move(m));
  return env.Undefined();
}

// The vCPU comes mapped: its kvm_run area has exactly KVM_GET_VCPU_MMAP_SIZE bytes.
Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgVm(info);
  uint32_t id = ArgU32(info, 1, "vcpuId");
  int fd = Ioctl(vm->Get(env, "KVM_CREATE_VCPU"), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) ThrowErrno(env, errno, "KVM_CREATE_VCPU");
  void* run = mmap(nullptr, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "mmap");
  }
  auto v = Adopt<Vcpu>(fd, run, vm->vcpu_mmap_size, fd, vm, run, vm->vcpu_mmap_size, id);
  v->owner_env = env;
  RegisterVcpu(v);
  return Handle::New(env, v);
}

Napi::Value EnableCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = "KVM_ENABLE_CAP";
  kvm_enable_cap c{};
  c.cap = ArgU32(info, 1, "cap");
  c.flags = ArgU32(info, 2, "flags");
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Array args = ArgArray(info, 3, "args");
    if (args.Length() > 4) ThrowArg(env, "args takes at most 4 values", true);
    for (uint32_t i = 0; i < args.Length(); i++) c.args[i] = ValueU64(env, args.Get(i), "args[i]");
  }
  int fd = AnyFd(info, 0, "fd", sc, {Kind::Vm, Kind::Vcpu});
  if (Ioctl(fd, KVM_ENABLE_CAP, &c) < 0) ThrowErrno(env, errno, sc);
  return env.Undefined();
}

Napi::Value SetGsiRouting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgVm(info);
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
  if (Ioctl(vm->Get(env, "KVM_SET_GSI_ROUTING"), kSetGsiRouting, buf.data()) < 0) ThrowErrno(env, errno, "KVM_SET_GSI_ROUTING");
  return env.Undefined();
}

// irqfd(vm, eventfd, gsi, flags, resampleEventfd | null)
Napi::Value Irqfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = "KVM_IRQFD";
  std::shared_ptr<Vm> vm = ArgVm(info);
  if (info.Length() < 2) ThrowArg(env, "eventfd is required");
  kvm_irqfd a{};
  a.fd = static_cast<uint32_t>(EventfdOf(env, info[1], "eventfd", sc));
  a.gsi = ArgU32(info, 2, "gsi");
  a.flags = ArgU32(info, 3, "flags");
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
    a.resamplefd = static_cast<uint32_t>(EventfdOf(env, info[4], "resampleEventfd", sc));
  }
  if (Ioctl(vm->Get(env, sc), KVM_IRQFD, &a) < 0) ThrowErrno(env, errno, sc);
  return env.Undefined();
}

// ioeventfd(vm, { addr, len, eventfd, flags, datamatch? })
Napi::Value Ioeventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = "KVM_IOEVENTFD";
  std::shared_ptr<Vm> vm = ArgVm(info);
  Napi::Object o = ArgObject(info, 1, "args");
  kvm_ioeventfd a{};
  a.addr = PropU64(o, "addr");
  a.len = PropMax(o, "len", 8);
  a.fd = EventfdOf(env, o.Get("eventfd"), "eventfd", sc);
  a.flags = PropU32(o, "flags");
  Napi::Value dm = o.Get("datamatch");
  a.datamatch = dm.IsUndefined() ? 0 : ValueU64(env, dm, "datamatch");
  if (Ioctl(vm->Get(env, sc), KVM_IOEVENTFD, &a) < 0) ThrowErrno(env, errno, sc);
  return env.Undefined();
}

Napi::Value SignalMsi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgVm(info);
  kvm_msi m{};
  m.address_lo = ArgU32(info, 1, "addressLo");
  m.address_hi = ArgU32(info, 2, "addressHi");
  m.data = ArgU32(info, 3, "data");
  m.flags = ArgU32(info, 4, "flags");
  m.devid = ArgU32(info, 5, "devid");
  int r = Ioctl(vm->Get(env, "KVM_SIGNAL_MSI"), KVM_SIGNAL_MSI, &m);
  if (r < 0) ThrowErrno(env, errno, "KVM_SIGNAL_MSI");
  return Napi::Number::New(env, r);
}

Napi::Value IrqLine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgVm(info);
  kvm_irq_level l{};
  l.irq = ArgU32(info, 1, "irq");
  l.level = ArgU32(info, 2, "level");
  if (Ioctl(vm->Get(env, "KVM_IRQ_LINE_STATUS"), KVM_IRQ_LINE_STATUS, &l) < 0) ThrowErrno(env, errno, "KVM_IRQ_LINE_STATUS");
  return Napi::Number::New(env, l.status);
}

// KVM_IRQ_LINE (no status; arm64's way to drive a vCPU's IRQ/FIQ input or an in-kernel GIC line).
Napi::Value IrqLineNoStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgVm(info);
  kvm_irq_level l{};
  l.irq = ArgU32(info, 1, "irq");
  l.level = ArgU32(info, 2, "level");
  if (Ioctl(vm->Get(env, "KVM_IRQ_LINE"), KVM_IRQ_LINE, &l) < 0) ThrowErrno(env, errno, "KVM_IRQ_LINE");
  return env.Undefined();
}

Napi::Value SetTssAddr(const Napi::CallbackInfo& info) {
  std::shared_ptr<Vm> vm = ArgVm(info);
  uint32_t addr = ArgU32(info, 1, "addr");
  if (Ioctl(vm->Get(info.Env(), "KVM_SET_TSS_ADDR"), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)) < 0) {
    ThrowErrno(info.Env(), errno, "KVM_SET_TSS_ADDR");
  }
  return info.Env().Undefined();
}

Napi::Value SetIdentityMapAddr(const Napi::CallbackInfo& info) {
  std::shared_ptr<Vm> vm = ArgVm(info);
  uint64_t addr = ArgU64(info, 1, "addr");
  if (Ioctl(vm->Get(info.Env(), "KVM_SET_IDENTITY_MAP_ADDR"), KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0) {
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
  exports.Set("irqLineNoStatus", Napi::Function::New(env, IrqLineNoStatus, "irqLineNoStatus"));
  exports.Set("setTssAddr", Napi::Function::New(env, SetTssAddr, "setTssAddr"));
  exports.Set("setIdentityMapAddr", Napi::Function::New(env, SetIdentityMapAddr, "setIdentityMapAddr"));
}

}  // namespace kvmaddon
