#!/usr/bin/env bash
# Cross-compiles the addon for arm64 hosts with Debian's g++-aarch64-linux-gnu:
# the same sources and flags as binding.gyp, linked as a shared object whose
# Node-API symbols resolve against the arm64 node that loads it.
#   bash scripts/arm64/build-addon.sh [OUT]     (default build-arm64/kvm.node)
# Exit 3 (with the reason) when the cross compiler or the Node headers are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build-arm64/kvm.node}"
cxx="${CXX_ARM64:-aarch64-linux-gnu-g++}"
command -v "$cxx" >/dev/null 2>&1 || { echo "arm64 addon: $cxx is not installed (scripts/arm64/install-tools.sh)" >&2; exit 3; }
napi_inc="$(node -p "require('node-addon-api').include_dir")"
node_inc=""
for d in "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node "${npm_config_nodedir:-/nonexistent}/include/node"; do
  [ -f "$d/node_api.h" ] && { node_inc="$d"; break; }
done
[ -n "$node_inc" ] || node_inc="$(node -p "try{require('node-api-headers').include_dir}catch{''}")"
[ -n "$node_inc" ] && [ -f "$node_inc/node_api.h" ] || { echo "arm64 addon: no Node-API headers found" >&2; exit 3; }
mkdir -p "$(dirname "$out")"
srcs=$(node -e "console.log(JSON.parse(require('fs').readFileSync('binding.gyp','utf8')).targets[0].sources.join(' '))")
# shellcheck disable=SC2086
"$cxx" -std=c++17 -O2 -fPIC -shared -fexceptions -Wall -Wextra -Wno-unused-parameter -Werror \
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS \
  -DBUILDING_NODE_EXTENSION -I"$napi_inc" -I"$node_inc" $srcs -o "$out" -lpthread
echo "arm64 addon: $out"
