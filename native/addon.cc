// Module entry: one function per ioctl, grouped by fd kind.
#include "common.h"
#include "handle.h"

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  kvmaddon::Handle::Init(env, exports);
  kvmaddon::InitSystem(env, exports);
  kvmaddon::InitVm(env, exports);
  kvmaddon::InitVcpu(env, exports);
  kvmaddon::InitVcpuThread(env, exports);
  kvmaddon::InitMemory(env, exports);
  kvmaddon::InitEventfd(env, exports);
  kvmaddon::InitLayout(env, exports);
  kvmaddon::InitArm64(env, exports);
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

NODE_API_MODULE(kvm, InitAddon)
