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
  printf("done\n");
}
