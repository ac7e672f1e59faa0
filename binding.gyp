{
  "targets": [
    {
      "target_name": "kvm",
      "sources": [
        "native/addon.cc",
        "native/arm64.cc",
        "native/errors.cc",
        "native/handle.cc",
        "native/eventfd.cc",
        "native/layout.cc",
        "native/memory.cc",
        "native/system.cc",
        "native/vcpu.cc",
        "native/vcpu-thread.cc",
        "native/vm.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
