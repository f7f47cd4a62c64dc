// carton_test.cpp: libcarton from C++: RAII ownership over the C handles,
// and 8 std::threads sharing one model.
//
// usage: carton_test_cpp CARTON REF_PREFIX INPUT_NAME OUTPUT_NAME
//
// Infers REF_PREFIX.in.INPUT_NAME.npy and compares OUTPUT_NAME with
// REF_PREFIX.out.OUTPUT_NAME.npy (float32), once and then on 8 threads.
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "carton.h"
#include "npy.h"

namespace {

struct ModelCloser {
    void operator()(carton_model *m) const { carton_close(m, nullptr); }
};
struct TensorFree {
    void operator()(carton_tensor *t) const { carton_tensor_free(t); }
};
struct OutputsFree {
    void operator()(carton_outputs *o) const { carton_outputs_free(o); }
};
using Model = std::unique_ptr<carton_model, ModelCloser>;
using Tensor = std::unique_ptr<carton_tensor, TensorFree>;
using Outputs = std::unique_ptr<carton_outputs, OutputsFree>;

// check throws with the call's message when it failed.
void check(carton_status st, char *err, const char *what) {
    if (st == CARTON_OK) return;
    std::string msg = std::string(what) + ": " + (err ? err : "?");
    carton_free_error(err);
    throw std::runtime_error(msg);
}

struct Npy {
    npy_array a{};
    explicit Npy(const std::string &path) {
        if (npy_read(path.c_str(), &a) != 0) throw std::runtime_error("cannot read " + path);
    }
    ~Npy() { npy_free(&a); }
    Npy(const Npy &) = delete;
    Npy &operator=(const Npy &) = delete;
};

// run infers once and returns how many elements differ from want.
size_t run(carton_model *m, const std::string &in_name, const Npy &in, const std::string &out_name, const Npy &want) {
    char *err = nullptr;
    carton_tensor *raw = nullptr;
    check(carton_tensor_wrap(in.a.dtype, in.a.shape, in.a.ndim, in.a.data, in.a.nbytes, nullptr, nullptr, &raw, &err), err,
          "carton_tensor_wrap");
    Tensor t(raw);
    const char *names[] = {in_name.c_str()};
    const carton_tensor *inputs[] = {t.get()};
    carton_outputs *outs_raw = nullptr;
    check(carton_infer(m, 1, names, inputs, &outs_raw, &err), err, "carton_infer");
    Outputs outs(outs_raw);
    const carton_tensor *got = carton_outputs_find(outs.get(), out_name.c_str());
    if (!got) throw std::runtime_error("no output " + out_name);
    size_t nbytes = 0;
    auto *data = static_cast<const float *>(carton_tensor_data(got, &nbytes));
    if (nbytes != want.a.nbytes) throw std::runtime_error("output size differs");
    auto *w = static_cast<const float *>(want.a.data);
    size_t bad = 0;
    for (size_t i = 0; i < want.a.count; i++)
        if (std::fabs(data[i] - w[i]) > 1e-5f * std::fabs(w[i]) + 1e-6f) bad++;
    return bad;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s CARTON REF_PREFIX INPUT_NAME OUTPUT_NAME\n", argv[0]);
        return 2;
    }
    try {
        std::string prefix = argv[2], in_name = argv[3], out_name = argv[4];
        Npy in(prefix + ".in." + in_name + ".npy"), want(prefix + ".out." + out_name + ".npy");
        carton_load_options opts{};
        opts.size = sizeof opts;
        opts.device = "cpu";
        carton_model *raw = nullptr;
        char *err = nullptr;
        check(carton_load(argv[1], &opts, &raw, &err), err, "carton_load");
        Model m(raw);
        std::printf("ok c++ load %s runtime=%s %s\n", carton_model_name(m.get()), carton_model_runtime_framework(m.get()),
                    carton_model_runtime_version(m.get()));
        if (run(m.get(), in_name, in, out_name, want) != 0) throw std::runtime_error("outputs differ");
        std::printf("ok c++ infer\n");
        std::vector<std::thread> threads;
        std::vector<size_t> bad(8);
        std::vector<std::string> errors(8);
        for (int i = 0; i < 8; i++)
            threads.emplace_back([&, i] {
                try {
                    for (int j = 0; j < 25; j++) bad[i] += run(m.get(), in_name, in, out_name, want);
                } catch (const std::exception &e) {
                    errors[i] = e.what();
                }
            });
        for (auto &t : threads) t.join();
        for (int i = 0; i < 8; i++) {
            if (!errors[i].empty()) throw std::runtime_error("thread: " + errors[i]);
            if (bad[i]) throw std::runtime_error("a thread's outputs differ");
        }
        std::printf("ok c++ threads 200 calls\n");
    } catch (const std::exception &e) {
        std::printf("FAIL %s\n", e.what());
        return 1;
    }
    std::printf("done\n");
    return 0;
}
