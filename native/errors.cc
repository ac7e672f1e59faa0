#include "common.h"

#include <cerrno>
#include <cstring>

namespace kvmaddon {

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ESRCH: return "ESRCH";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    default: return nullptr;
  }
}

}  // namespace

void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  std::string message = std::string(syscall) + " failed: " + std::strerror(err);
  Napi::Error e = Napi::Error::New(env, message);
  const char* name = ErrnoName(err);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, name ? name : ("E" + std::to_string(err))));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

void ThrowClosed(Napi::Env env, const char* what, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " failed: the " + what + " handle is closed");
  e.Set("errno", Napi::Number::New(env, EBADF));
  e.Set("code", Napi::String::New(env, "EBADF"));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

void ThrowCode(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

void ThrowArg(Napi::Env env, const std::string& message, bool range) {
  Napi::Error e = range ? static_cast<Napi::Error>(Napi::RangeError::New(env, message))
                        : static_cast<Napi::Error>(Napi::TypeError::New(env, message));
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  throw e;
}

uint64_t ValueU64(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowArg(env, std::string(name) + " does not fit in 64 bits", true);
    return r;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      ThrowArg(env, std::string(name) + " must be a non-negative integer", true);
    }
    return static_cast<uint64_t>(d);
  }
  ThrowArg(env, std::string(name) + " must be a number or bigint");
}

uint32_t ValueU32(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsNumber()) ThrowArg(env, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowArg(env, std::string(name) + " must be an integer in 0..2^32-1", true);
  }
  return static_cast<uint32_t>(d);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i) ThrowArg(info.Env(), std::string(name) + " is required");
  return ValueU32(info.Env(), info[i], name);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i) ThrowArg(info.Env(), std::string(name) + " is required");
  return ValueU64(info.Env(), info[i], name);
}

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject() || info[i].IsArray()) ThrowArg(info.Env(), std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsArray()) ThrowArg(info.Env(), std::string(name) + " must be an array");
  return info[i].As<Napi::Array>();
}

uint64_t PropU64(Napi::Object o, const char* key) {
  return ValueU64(o.Env(), o.Get(key), key);
}

uint32_t PropU32(Napi::Object o, const char* key) {
  return ValueU32(o.Env(), o.Get(key), key);
}

uint32_t ValueMax(Napi::Env env, Napi::Value v, const char* name, uint32_t max) {
  uint32_t r = ValueU32(env, v, name);
  if (r > max) ThrowArg(env, std::string(name) + " must be an integer in 0.." + std::to_string(max), true);
  return r;
}

uint32_t PropMax(Napi::Object o, const char* key, uint32_t max) {
  return ValueMax(o.Env(), o.Get(key), key, max);
}

uint32_t PropU32Or(Napi::Object o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  return ValueU32(o.Env(), v, key);
}

}  // namespace kvmaddon
