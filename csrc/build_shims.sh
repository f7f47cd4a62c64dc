#!/usr/bin/env bash
# Builds libcarton_torch.so once per libtorch found, into
# SHIM_DIR/<version>/libcarton_torch.so (and, with BENCH=1, beside it the
# C++ floor of the overhead benchmarks, libcarton_torch_bench.so, which the
# Go benchmarks load into their own process). A libtorch is found:
#   - in the system (Debian's libtorch-dev: /usr/include/torch), and
#   - in every CACHE/runtimes/libtorch/<goos>-<goarch>/<version>/ (lib/, include/, build-version).
# The version is what the headers say (TORCH_VERSION in torch/version.h),
# which is also what the shim reports at run time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shim_dir=${SHIM_DIR:?set SHIM_DIR}
cache=${CACHE:-}
CXX=${CXX:-g++}

header_version() { # include-dir -> X.Y.Z (newer libtorch keeps the defines in torch/headeronly/)
  local files=()
  for h in "$1/torch/csrc/api/include/torch/version.h" "$1/torch/headeronly/version.h" "$1/torch/version.h"; do
    [ -f "$h" ] && files+=("$h")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) / && !seen[$2]++ {v[$2]=$3}
       END {if (v["TORCH_VERSION_MAJOR"] != "") print v["TORCH_VERSION_MAJOR"] "." v["TORCH_VERSION_MINOR"] "." v["TORCH_VERSION_PATCH"]}' "${files[@]}"
}

compile() { # source output lib-dir flags...: output appears whole or not at all
  local src=$1 out=$2 lib=$3
  shift 3
  "$CXX" "$@" "$src" -o "$out.tmp" -L"$lib" -ltorch_cpu -lc10 -Wl,-rpath,"$lib" || { rm -f "$out.tmp"; return 1; }
  mv "$out.tmp" "$out"
}

build() { # include-dir lib-dir
  local inc=$1 lib=$2 version abi std out
  version=$(header_version "$inc")
  [ -n "$version" ] || { echo "build_shims: no torch/version.h under $inc" >&2; return 1; }
  out="$shim_dir/$version/libcarton_torch.so"
  # libtorch built with the pre-C++11 string ABI has no __cxx11 symbols.
  abi=0
  if nm -DC "$(ls "$lib"/libc10.so* | head -n 1)" | grep '__cxx11' >/dev/null; then abi=1; fi
  std=c++17
  if grep -q 'C++20 or later' "$inc/ATen/ATen.h" 2>/dev/null; then std=c++20; fi
  mkdir -p "$shim_dir/$version"
  local flags=(-O2 -shared -fPIC -std=$std -D_GLIBCXX_USE_CXX11_ABI=$abi -I"$root/include" -I"$inc" -I"$inc/torch/csrc/api/include")
  local pids=()
  if [ ! -f "$out" ] || [ "$here/carton_torch.cpp" -nt "$out" ] || [ "$root/include/carton_torch.h" -nt "$out" ]; then
    echo "building the shim for libtorch $version ($lib, -std=$std, _GLIBCXX_USE_CXX11_ABI=$abi)"
    compile "$here/carton_torch.cpp" "$out" "$lib" "${flags[@]}" & pids+=($!)
  fi
  if [ "${BENCH:-0}" = 1 ]; then
    local direct="$shim_dir/$version/libcarton_torch_bench.so"
    if [ ! -f "$direct" ] || [ "$here/bench_direct.cpp" -nt "$direct" ] || [ "$root/include/carton_torch.h" -nt "$direct" ]; then
      echo "building the in-process C++ forward floor for libtorch $version"
      compile "$here/bench_direct.cpp" "$direct" "$lib" "${flags[@]}" & pids+=($!)
    fi
  fi
  # Both compiles at once: each spends a minute or more in libtorch's headers.
  local pid status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}

found=0
if [ -f /usr/include/torch/csrc/api/include/torch/version.h ] || [ -f /usr/include/torch/version.h ]; then
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  build /usr/include "/usr/lib/$multiarch"
  found=$((found + 1))
fi
if [ -n "$cache" ] && [ -d "$cache/runtimes/libtorch" ]; then
  for d in "$cache"/runtimes/libtorch/*/*/; do
    [ -f "$d/build-version" ] || continue
    build "$d/include" "$d/lib"
    found=$((found + 1))
  done
fi
[ "$found" -gt 0 ] || { echo "build_shims: no libtorch found (install libtorch-dev, or put one in the cache)" >&2; exit 1; }
