/* carton_test: drives libcarton from C.
 *
 * usage: carton_test CARTON REF_PREFIX [CARTON REF_PREFIX ...]
 *
 * For each carton: load it, print its info, infer with REF_PREFIX.in.*.npy
 * (wrapped in place, then copied into carton's own tensors) and compare
 * every output with REF_PREFIX.out.*.npy, then run 8 threads of 25 calls
 * each on the one model. Then the error paths. Prints "ok ..." per check
 * and "FAIL ..." per failure; exits 1 on any failure. */
#include <glob.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carton.h"
#include "npy.h"

#define MAX_TENSORS 32
#define THREADS 8
#define CALLS_PER_THREAD 25

static int failures;

#define CHECK(cond, ...)                      \
    do {                                      \
        if (!(cond)) {                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);              \
            printf("\n");                     \
            failures++;                       \
        }                                     \
    } while (0)

typedef struct refset {
    size_t n;
    char *names[MAX_TENSORS];
    npy_array arrays[MAX_TENSORS];
} refset;

static int load_refs(const char *prefix, const char *kind, refset *r) {
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s.%s.*.npy", prefix, kind);
    glob_t g;
    memset(r, 0, sizeof *r);
    if (glob(pattern, 0, NULL, &g) != 0) return -1;
    size_t skip = strlen(prefix) + strlen(kind) + 2;
    for (size_t i = 0; i < g.gl_pathc && r->n < MAX_TENSORS; i++) {
        const char *p = g.gl_pathv[i];
        size_t len = strlen(p) - skip - 4;
        r->names[r->n] = strndup(p + skip, len);
        if (npy_read(p, &r->arrays[r->n]) != 0) {
            globfree(&g);
            return -1;
        }
        r->n++;
    }
    globfree(&g);
    return 0;
}

static void free_refs(refset *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        npy_free(&r->arrays[i]);
    }
}

/* to_tensor makes a tensor of a: over its memory in place, or a copy in
 * carton's own memory. */
static carton_tensor *to_tensor(npy_array *a, int copy) {
    carton_tensor *t = NULL;
    char *err = NULL;
    carton_status st;
    if (a->dtype == CARTON_DTYPE_STRING) {
        st = carton_tensor_new_strings(a->shape, a->ndim, (const char *const *)a->data, NULL, &t, &err);
    } else if (!copy) {
        st = carton_tensor_wrap(a->dtype, a->shape, a->ndim, a->data, a->nbytes, NULL, NULL, &t, &err);
    } else {
        st = carton_tensor_new(a->dtype, a->shape, a->ndim, &t, &err);
        if (st == CARTON_OK) {
            size_t n;
            void *data = carton_tensor_data(t, &n);
            CHECK(n == a->nbytes, "carton_tensor_new: %zu bytes, want %zu", n, a->nbytes);
            memcpy(data, a->data, a->nbytes);
        }
    }
    CHECK(st == CARTON_OK, "making a tensor: %d %s", st, err ? err : "");
    carton_free_error(err);
    return t;
}

static int same(const carton_tensor *got, const npy_array *want, const char *what) {
    if (carton_tensor_dtype(got) != want->dtype || carton_tensor_ndim(got) != want->ndim) {
        printf("FAIL %s: dtype %d ndim %zu, want %d %zu\n", what, carton_tensor_dtype(got), carton_tensor_ndim(got),
               want->dtype, want->ndim);
        return 0;
    }
    const int64_t *shape = carton_tensor_shape(got);
    for (size_t i = 0; i < want->ndim; i++)
        if (shape[i] != want->shape[i]) {
            printf("FAIL %s: dim %zu is %lld, want %lld\n", what, i, (long long)shape[i], (long long)want->shape[i]);
            return 0;
        }
    if (want->dtype == CARTON_DTYPE_STRING) {
        for (size_t i = 0; i < want->count; i++) {
            const char *s;
            size_t len;
            if (carton_tensor_string(got, i, &s, &len) != CARTON_OK || len != strlen(((char **)want->data)[i]) ||
                memcmp(s, ((char **)want->data)[i], len) != 0) {
                printf("FAIL %s: string %zu differs\n", what, i);
                return 0;
            }
        }
        return 1;
    }
    size_t n;
    const void *data = carton_tensor_data(got, &n);
    if (n != want->nbytes) {
        printf("FAIL %s: %zu bytes, want %zu\n", what, n, want->nbytes);
        return 0;
    }
    if (want->dtype == CARTON_DTYPE_FLOAT32 || want->dtype == CARTON_DTYPE_FLOAT64) {
        for (size_t i = 0; i < want->count; i++) {
            double g = want->dtype == CARTON_DTYPE_FLOAT32 ? ((const float *)data)[i] : ((const double *)data)[i];
            double w = want->dtype == CARTON_DTYPE_FLOAT32 ? ((const float *)want->data)[i] : ((const double *)want->data)[i];
            if (fabs(g - w) > 1e-5 * fabs(w) + 1e-6) {
                printf("FAIL %s: element %zu is %g, want %g\n", what, i, g, w);
                return 0;
            }
        }
        return 1;
    }
    if (memcmp(data, want->data, n) != 0) {
        printf("FAIL %s: elements differ\n", what);
        return 0;
    }
    return 1;
}

/* infer_and_compare runs m once on in and compares with out; 1 if equal.
 * mode 0: inputs wrapped in place; 1: copied into carton's tensors; 2:
 * passed as views (carton_infer_views). */
static int infer_and_compare(carton_model *m, refset *in, refset *out, int mode) {
    carton_tensor *tensors[MAX_TENSORS] = {0};
    carton_tensor_view views[MAX_TENSORS];
    for (size_t i = 0; i < in->n; i++) {
        npy_array *a = &in->arrays[i];
        if (mode < 2) {
            tensors[i] = to_tensor(a, mode);
            continue;
        }
        views[i] = (carton_tensor_view){a->dtype, a->ndim, a->shape, NULL, 0, NULL, NULL};
        if (a->dtype == CARTON_DTYPE_STRING) {
            views[i].strings = (const char *const *)a->data;
        } else {
            views[i].data = a->data;
            views[i].nbytes = a->nbytes;
        }
    }
    carton_outputs *outs = NULL;
    char *err = NULL;
    carton_status st = mode < 2 ? carton_infer(m, in->n, (const char *const *)in->names, (const carton_tensor *const *)tensors, &outs, &err)
                                : carton_infer_views(m, in->n, (const char *const *)in->names, views, &outs, &err);
    int good = st == CARTON_OK;
    if (!good) printf("FAIL carton_infer: %d %s\n", st, err ? err : "");
    carton_free_error(err);
    for (size_t i = 0; good && i < out->n; i++) {
        const carton_tensor *got = carton_outputs_find(outs, out->names[i]);
        if (!got) {
            printf("FAIL no output %s\n", out->names[i]);
            good = 0;
        } else {
            good = same(got, &out->arrays[i], out->names[i]);
        }
    }
    carton_outputs_free(outs);
    for (size_t i = 0; i < in->n; i++) carton_tensor_free(tensors[i]);
    return good;
}

typedef struct job {
    carton_model *m;
    refset *in, *out;
    int bad;
} job;

static void *worker(void *arg) {
    job *j = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++)
        if (!infer_and_compare(j->m, j->in, j->out, i % 3)) j->bad++;
    return NULL;
}

static void print_specs(const carton_model *m) {
    for (size_t i = 0; i < carton_model_num_inputs(m); i++) {
        carton_tensor_spec s;
        if (carton_model_input(m, i, &s) == CARTON_OK) {
            printf("  input %s dtype=%d ndim=%lld", s.name, s.dtype, (long long)s.ndim);
            for (int64_t d = 0; d < s.ndim; d++) printf(" %lld", (long long)s.shape[d]);
            printf("\n");
        }
    }
    carton_tensor_spec s;
    CHECK(carton_model_input(m, carton_model_num_inputs(m), &s) == CARTON_ERR_INVALID_ARGUMENT, "input past the end");
}

static int release_calls;
static void count_release(void *ctx) { release_calls += *(int *)ctx; }

static void info_only(const char *path, refset *in) {
    carton_model *m = NULL;
    char *err = NULL;
    carton_status st = carton_info(path, &m, &err);
    CHECK(st == CARTON_OK && m, "carton_info: %d %s", st, err ? err : "");
    carton_free_error(err);
    if (!m) return;
    CHECK(strstr(carton_model_info_json(m), "\"manifest_sha256\"") != NULL, "info JSON: %s", carton_model_info_json(m));
    CHECK(strcmp(carton_model_runtime_version(m), "") == 0, "no runtime for carton_info");
    carton_tensor_view v = {in->arrays[0].dtype, in->arrays[0].ndim, in->arrays[0].shape, in->arrays[0].data, in->arrays[0].nbytes, NULL, NULL};
    carton_outputs *outs = NULL;
    st = carton_infer_views(m, 1, (const char *const *)in->names, &v, &outs, &err);
    CHECK(st == CARTON_ERR_INVALID_ARGUMENT && err && strstr(err, "metadata only"), "infer on carton_info's: %d %s", st, err ? err : "");
    carton_free_error(err);
    printf("ok info %s\n", carton_model_name(m));
    CHECK(carton_close(m, NULL) == CARTON_OK, "close carton_info's");
}

static void error_paths(const char *some_carton, refset *in) {
    carton_model *m = NULL;
    char *err = NULL;
    info_only(some_carton, in);
    carton_status st = carton_load("/nonexistent/model.carton", NULL, &m, &err);
    CHECK(st == CARTON_ERR_NOT_FOUND && err && !m, "load of a missing file: %d %s", st, err ? err : "");
    carton_free_error(err);
    printf("ok error not found\n");

    CHECK(carton_load(NULL, NULL, &m, NULL) == CARTON_ERR_INVALID_ARGUMENT, "load NULL");
    carton_load_options opts;
    memset(&opts, 0, sizeof opts);
    CHECK(carton_load(some_carton, &opts, &m, NULL) == CARTON_ERR_INVALID_ARGUMENT, "options without size");
    opts.size = sizeof opts;
    const char *keys[] = {"graph_optimization_level"}, *values[] = {"turbo"};
    opts.num_runner_opts = 1;
    opts.runner_opt_keys = keys;
    opts.runner_opt_values = values;
    st = carton_load(some_carton, &opts, &m, &err);
    CHECK(st == CARTON_ERR_INVALID_OPTION, "a refused runner option: %d %s", st, err ? err : "");
    carton_free_error(err);
    printf("ok error invalid option\n");

    opts.num_runner_opts = 0;
    opts.device = "cpu";
    st = carton_load(some_carton, &opts, &m, &err);
    CHECK(st == CARTON_OK && m, "load with options: %d %s", st, err ? err : "");
    carton_free_error(err);
    if (!m) return;
    carton_tensor *t = to_tensor(&in->arrays[0], 1);
    const char *wrong[] = {"no_such_input"};
    carton_outputs *outs = NULL;
    st = carton_infer(m, 1, wrong, (const carton_tensor *const *)&t, &outs, &err);
    CHECK(st == CARTON_ERR_INVALID_INPUT && !outs, "an unknown input: %d %s", st, err ? err : "");
    carton_free_error(err);
    printf("ok error invalid input\n");
    CHECK(carton_infer(m, 1, NULL, NULL, &outs, NULL) == CARTON_ERR_INVALID_ARGUMENT, "infer NULL names");
    carton_tensor_free(t);
    CHECK(carton_close(m, NULL) == CARTON_OK, "close");

    int64_t shape[] = {2, 2};
    CHECK(carton_tensor_new((carton_dtype)77, shape, 2, &t, NULL) == CARTON_ERR_INVALID_ARGUMENT, "an unknown dtype");
    CHECK(carton_tensor_new(CARTON_DTYPE_STRING, shape, 2, &t, NULL) == CARTON_ERR_INVALID_ARGUMENT, "carton_tensor_new of strings");
    float data[4] = {1, 2, 3, 4};
    CHECK(carton_tensor_wrap(CARTON_DTYPE_FLOAT32, shape, 2, data, 8, NULL, NULL, &t, NULL) != CARTON_OK, "too few bytes");
    int one = 1;
    st = carton_tensor_wrap(CARTON_DTYPE_FLOAT32, shape, 2, data, sizeof data, count_release, &one, &t, &err);
    CHECK(st == CARTON_OK, "wrap: %d", st);
    CHECK(carton_tensor_data(t, NULL) == data, "a wrapped tensor is the caller's memory");
    CHECK(release_calls == 0, "released early");
    carton_tensor_free(t);
    CHECK(release_calls == 1, "release called %d times, want once", release_calls);
    printf("ok release called once\n");
    carton_tensor_free(NULL);
    carton_outputs_free(NULL);
    CHECK(carton_close(NULL, NULL) == CARTON_OK, "close NULL");
}

int main(int argc, char **argv) {
    if (argc < 3 || argc % 2 == 0) {
        fprintf(stderr, "usage: %s CARTON REF_PREFIX ...\n", argv[0]);
        return 2;
    }
    CHECK(carton_abi_version() == CARTON_ABI_VERSION, "ABI %d, header %d", carton_abi_version(), CARTON_ABI_VERSION);
    printf("libcarton %s, ABI %d\n", carton_version(), carton_abi_version());
    refset first_in = {0};
    for (int a = 1; a + 1 < argc; a += 2) {
        refset in, out;
        if (load_refs(argv[a + 1], "in", &in) != 0 || load_refs(argv[a + 1], "out", &out) != 0) {
            printf("FAIL reading references %s\n", argv[a + 1]);
            return 1;
        }
        carton_model *m = NULL;
        char *err = NULL;
        carton_status st = carton_load(argv[a], NULL, &m, &err);
        if (st != CARTON_OK) {
            printf("FAIL load %s: %d %s\n", argv[a], st, err ? err : "");
            carton_free_error(err);
            return 1;
        }
        const char *name = carton_model_name(m);
        printf("ok load %s runner=%s runtime=%s %s\n", name, carton_model_runner(m), carton_model_runtime_framework(m),
               carton_model_runtime_version(m));
        print_specs(m);
        CHECK(infer_and_compare(m, &in, &out, 0), "%s: inputs in place", name);
        CHECK(infer_and_compare(m, &in, &out, 1), "%s: inputs copied", name);
        CHECK(infer_and_compare(m, &in, &out, 2), "%s: inputs as views", name);
        printf("ok infer %s\n", name);
        pthread_t threads[THREADS];
        job jobs[THREADS];
        for (int i = 0; i < THREADS; i++) {
            jobs[i] = (job){m, &in, &out, 0};
            pthread_create(&threads[i], NULL, worker, &jobs[i]);
        }
        int bad = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            bad += jobs[i].bad;
        }
        CHECK(bad == 0, "%s: %d of %d calls on %d threads differ", name, bad, THREADS * CALLS_PER_THREAD, THREADS);
        printf("ok threads %s %d calls\n", name, THREADS * CALLS_PER_THREAD);
        CHECK(carton_close(m, &err) == CARTON_OK, "close: %s", err ? err : "");
        if (a == 1) {
            first_in = in;
        } else {
            free_refs(&in);
        }
        free_refs(&out);
    }
    error_paths(argv[1], &first_in);
    free_refs(&first_in);
    printf(failures ? "FAILED %d\n" : "done\n", failures);
    return failures ? 1 : 0;
}
