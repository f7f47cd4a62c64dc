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
    ct_tensor in{}; in.name = "x"; in.dtype = CT_FLOAT32; in.ndim = 2; in.shape = shape; in.data = data.data(); in.nbytes = 32;
    // Results are freed both ways: by ct_result_free, and handed back to
    // the next forward as done.
    ct_result* prev = nullptr;
    for (int i = 0; i < iters; i++) {
      ct_result* r;
      if (ct_forward(m, &in, 1, nullptr, 0, &prev, prev ? 1 : 0, &r, &err)) { printf("%s\n", err); return 1; }
      prev = nullptr;
      if (i % 2 && i != iters - 1) ct_result_free(r); else prev = r;
    }
    // an error path too: a wrong shape comes back as an error string, and
    // the done result is freed all the same
    int64_t bad[2] = {2, 5}; in.shape = bad; in.nbytes = 40; std::vector<float> d2(10); in.data = d2.data();
    ct_result* r;
    if (ct_forward(m, &in, 1, nullptr, 0, &prev, prev ? 1 : 0, &r, &err) == 0) { printf("expected an error\n"); return 1; }
    ct_free_error(err); err = nullptr;
    ct_module_free(m);
  }
  printf("done\n");
}
