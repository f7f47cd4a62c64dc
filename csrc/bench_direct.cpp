// bench_direct: the floor for carton's TorchScript overhead benchmark,
// loaded into the Go benchmark's own process (beside the shim, same
// libtorch) so that carton.Infer and the bare forward are timed
// alternately on one thread. The forward is called the way a C++ program
// would call it at its cheapest: InferenceMode, at::from_blob over the
// caller's buffer (no autograd wrapper, as the shim), the
// module's forward, the result dropped.
#include <torch/script.h>

#include "carton_torch.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {
struct Bench {
  torch::jit::Module module;
  std::unique_ptr<torch::jit::Method> forward;
  c10::impl::GenericDict kept{c10::StringType::get(), c10::TensorType::get()};  // {"x": the last input}
};
int32_t fail(char **err, const char *msg) {
  *err = strdup(msg);
  return 1;
}

// repeat calls forward iters times, each under InferenceMode on a tensor
// over data (as the shim: from_blob, no autograd wrapper), the result
// dropped; an exception or a None result is an error.
template <typename Forward>
int32_t repeat(float *data, const int64_t *shape, int64_t ndim, int64_t iters, char **err, Forward &&forward) {
  try {
    for (int64_t i = 0; i < iters; i++) {
      c10::InferenceMode guard;
      at::Tensor x = at::from_blob(data, at::IntArrayRef(shape, ndim), at::kFloat);
      if (forward(x).isNone()) return fail(err, "forward returned None");
    }
    return 0;
  } catch (const std::exception &e) {
    return fail(err, e.what());
  }
}
}  // namespace

extern "C" {

int32_t ctb_load(const char *path, void **out, char **err) {
  try {
    auto b = new Bench{torch::jit::load(path)};
    b->module.eval();
    b->forward = std::make_unique<torch::jit::Method>(b->module.get_method("forward"));
    b->kept.insert(std::string("x"), at::Tensor());
    *out = b;
    return 0;
  } catch (const std::exception &e) {
    return fail(err, e.what());
  }
}

// ctb_forward runs forward iters times on one float32 input named "x"
// (dict != 0: inside a Dict[str, Tensor]).
int32_t ctb_forward(void *h, float *data, const int64_t *shape, int64_t ndim, int32_t dict, int64_t iters,
                    char **err) {
  auto *b = static_cast<Bench *>(h);
  return repeat(data, shape, ndim, iters, err, [&](const at::Tensor &x) {
    std::vector<c10::IValue> args;
    if (dict) {
      c10::Dict<std::string, at::Tensor> d;
      d.insert("x", x);
      args.emplace_back(d);
    } else {
      args.emplace_back(x);
    }
    return b->module.forward(args);
  });
}

// ctb_forward_tuned is ctb_forward with what the shim saves a caller
// (carton_torch.cpp, ct_forward): forward's Method looked up once, the
// argument vector sized for self, and in dict mode the input dict kept and
// refilled, run without the schema check, which a dict ct_forward builds
// passes by construction. Against this floor carton's added time is its
// own, not what it saves over the plain call.
int32_t ctb_forward_tuned(void *h, float *data, const int64_t *shape, int64_t ndim, int32_t dict, int64_t iters,
                          char **err) {
  auto *b = static_cast<Bench *>(h);
  return repeat(data, shape, ndim, iters, err, [&](const at::Tensor &x) {
    std::vector<c10::IValue> args;
    args.reserve(2);
    if (!dict) {
      args.emplace_back(x);
      return (*b->forward)(std::move(args));
    }
    b->kept.begin()->setValue(x);
    args.emplace_back(b->kept);
    b->forward->run(args);
    return std::move(args.front());
  });
}

void ctb_free(void *h) { delete static_cast<Bench *>(h); }

// ctb_shim_loop calls the shim's ct_forward (fn) iters times from C++ on
// one input whose data is passed as an argument, each call handing the
// previous result back as done: the shim's own cost, without Go's.
int32_t ctb_shim_loop(void *fn, ct_module *m, const ct_tensor *in, const int64_t *dims, ct_call *call, void *data,
                      int64_t iters) {
  auto forward = reinterpret_cast<decltype(&ct_forward)>(fn);
  for (int64_t i = 0; i < iters; i++) {
    if (forward(m, in, 1, dims, call, data, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                nullptr) != 0)
      return 1;
    call->done[0] = call->result;
    call->n_done = 1;
  }
  return 0;
}
}
