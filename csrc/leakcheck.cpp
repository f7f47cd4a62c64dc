// leakcheck: load a module twice, run forwards (and one that fails), free
// every result and the module. `make leakcheck` runs it under valgrind:
// nothing may be definitely, indirectly or possibly lost.
#include "carton_torch.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  char* err = nullptr;
  int iters = atoi(argv[2]);
  for (int round = 0; round < 2; round++) {
    ct_module* m;
    if (ct_load(argv[1], nullptr, 0, "cpu", &m, &err)) { printf("load: %s\n", err); return 1; }
    std::vector<float> data(8, 1.0f);
    int64_t shape[2] = {2, 4};
    ct_tensor in{}; in.name = "x"; in.dtype = CT_FLOAT32; in.ndim = 2; in.nbytes = 32;
    // Results are freed both ways: by ct_result_free, and handed back to
    // the next forward as done.
    ct_call call{};
    for (int i = 0; i < iters; i++) {
      if (ct_forward(m, &in, 1, shape, &call, data.data(), 0, 0, 0, 0, 0, 0, 0, 0, 0)) { printf("%s\n", call.err); return 1; }
      if (i % 2 && i != iters - 1) ct_result_free(call.result); else { call.done[0] = call.result; call.n_done = 1; }
    }
    // an error path too: a wrong shape comes back as an error string, and
    // the done result is freed all the same
    int64_t bad[2] = {2, 5}; in.nbytes = 40; std::vector<float> d2(10);
    if (ct_forward(m, &in, 1, bad, &call, d2.data(), 0, 0, 0, 0, 0, 0, 0, 0, 0) == 0) { printf("expected an error\n"); return 1; }
    ct_free_error(call.err); call.err = nullptr;
    ct_module_free(m);
  }
  // With a third argument, the scalars model: int, float, bool, List[int]
  // and Optional[float] arguments from tensors, and scalar and list results.
  if (argc > 3) {
    ct_module* m;
    if (ct_load(argv[3], nullptr, 0, "cpu", &m, &err)) { printf("load: %s\n", err); return 1; }
    float x[2] = {1, 2}, shift = 0.5f; int64_t n = 3, sizes[3] = {1, 2, 3}; double scale = 1.5; bool flag = true;
    int64_t dims[2] = {2, 3};  // x's and sizes' (the others are 0-d)
    ct_tensor in[6] = {};
    const char* names[6] = {"x", "n", "scale", "flag", "sizes", "shift"};
    int32_t dtypes[6] = {CT_FLOAT32, CT_INT64, CT_FLOAT64, CT_BOOL, CT_INT64, CT_FLOAT32};
    int32_t ndims[6] = {1, 0, 0, 0, 1, 0};
    int64_t nbytes[6] = {8, 8, 8, 1, 24, 4};
    for (int i = 0; i < 6; i++) { in[i].name = names[i]; in[i].dtype = dtypes[i]; in[i].ndim = ndims[i]; in[i].nbytes = nbytes[i]; }
    ct_call call{};
    for (int i = 0; i < iters; i++) {
      if (ct_forward(m, in, 6, dims, &call, x, &n, &scale, &flag, sizes, &shift, 0, 0, 0, 0)) { printf("%s\n", call.err); return 1; }
      if (i % 2 && i != iters - 1) ct_result_free(call.result); else { call.done[0] = call.result; call.n_done = 1; }
    }
    ct_result_free(call.result);
    ct_module_free(m);
  }
  printf("done\n");
}
