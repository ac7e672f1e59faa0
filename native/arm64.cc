// arm64-only ioctls: the vCPU target and its features. The rest of the arm64
// surface is generic (KVM_GET/SET_ONE_REG, KVM_GET_REG_LIST in vcpu.cc,
// KVM_IRQ_LINE in vm.cc, device_irq_level through the kvm_run layout).
// Built everywhere; on x86 it exports nothing.
#include "common.h"
#include "handle.h"

#if KVMADDON_ARM64
#include <cerrno>
#include <linux/kvm.h>

namespace kvmaddon {
namespace {

// KVM_ARM_PREFERRED_TARGET (VM fd): { target, features: number[7] } (features is the u32 bitmap words).
Napi::Value ArmPreferredTarget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vm> vm = ArgHandle<Vm>(info, 0, "vm", Kind::Vm);
  kvm_vcpu_init init{};
  if (Ioctl(vm->Get(env, "KVM_ARM_PREFERRED_TARGET"), KVM_ARM_PREFERRED_TARGET, &init) < 0) {
    ThrowErrno(env, errno, "KVM_ARM_PREFERRED_TARGET");
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("target", Napi::Number::New(env, init.target));
  Napi::Array f = Napi::Array::New(env, 7);
  for (uint32_t i = 0; i < 7; i++) f.Set(i, Napi::Number::New(env, init.features[i]));
  o.Set("features", f);
  return o;
}

// KVM_ARM_VCPU_INIT (vCPU fd): target and up to 7 u32 feature words (bit n of the bitmap = feature n).
Napi::Value ArmVcpuInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Vcpu> v = ArgHandle<Vcpu>(info, 0, "vcpu", Kind::Vcpu);
  kvm_vcpu_init init{};
  init.target = ArgU32(info, 1, "target");
  Napi::Array f = ArgArray(info, 2, "features");
  if (f.Length() > 7) ThrowArg(env, "features has at most 7 u32 words", true);
  for (uint32_t i = 0; i < f.Length(); i++) init.features[i] = ValueU32(env, f.Get(i), "features[i]");
  if (Ioctl(v->Get(env, "KVM_ARM_VCPU_INIT"), KVM_ARM_VCPU_INIT, &init) < 0) ThrowErrno(env, errno, "KVM_ARM_VCPU_INIT");
  return env.Undefined();
}

}  // namespace

void InitArm64(Napi::Env env, Napi::Object exports) {
  exports.Set("armPreferredTarget", Napi::Function::New(env, ArmPreferredTarget, "armPreferredTarget"));
  exports.Set("armVcpuInit", Napi::Function::New(env, ArmVcpuInit, "armVcpuInit"));
}

}  // namespace kvmaddon
#else
namespace kvmaddon {
void InitArm64(Napi::Env, Napi::Object) {}
}  // namespace kvmaddon
#endif
