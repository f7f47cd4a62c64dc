// bench_forward: the floor for carton's TorchScript overhead benchmark.
// Loads a module and times forward() called from C++ directly, the way the
// shim calls it (InferenceMode, from_blob over a buffer the caller owns).
//
//   bench_forward MODEL.pt N_ELEMENTS ITERATIONS [dict|positional|load]
// prints: ns_per_op=<median of 10 batches>; with "load", the op timed is
// torch::jit::load of MODEL.pt plus eval() (ITERATIONS loads in all).
#include <torch/script.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.pt N_ELEMENTS ITERATIONS [dict|positional]\n", argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[2]);
  const int iters = std::atoi(argv[3]);
  const bool dict = argc > 4 && std::string(argv[4]) == "dict";
  at::set_num_threads(1);
  if (argc > 4 && std::string(argv[4]) == "load") {
    std::vector<double> times;
    for (int i = 0; i < iters; i++) {
      auto t0 = std::chrono::steady_clock::now();
      auto m = torch::jit::load(argv[1]);
      m.eval();
      auto t1 = std::chrono::steady_clock::now();
      times.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    std::sort(times.begin(), times.end());
    std::printf("ns_per_op=%.1f\n", times[times.size() / 2]);
    return 0;
  }
  auto module = torch::jit::load(argv[1]);
  module.eval();
  std::vector<float> data(n, 1.0f);
  std::vector<int64_t> shape = {n};
  if (n == 8) shape = {2, 4};
  auto once = [&]() {
    c10::InferenceMode guard;
    at::Tensor x = torch::from_blob(data.data(), shape, at::kFloat);
    std::vector<c10::IValue> args;
    if (dict) {
      c10::Dict<std::string, at::Tensor> d;
      d.insert("x", x);
      args.emplace_back(d);
    } else {
      args.emplace_back(x);
    }
    c10::IValue out = module.forward(args);
    if (out.isNone()) std::abort();
  };
  for (int i = 0; i < std::max(iters / 10, 100); i++) once();
  std::vector<double> batches;
  for (int b = 0; b < 10; b++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters / 10; i++) once();
    auto t1 = std::chrono::steady_clock::now();
    batches.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / (iters / 10));
  }
  std::sort(batches.begin(), batches.end());
  std::printf("ns_per_op=%.1f\n", (batches[4] + batches[5]) / 2);
  return 0;
}
