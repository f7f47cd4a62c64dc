/*
 * carton.h: carton's C ABI, for C and every language with a C FFI.
 *
 * libcarton (`make libcarton`: build/lib/libcarton.so, .dylib on macOS) is
 * the Go library built as a shared library: the same loader, runners and
 * runtimes, in-process. Link with -lcarton, or dlopen it.
 *
 * Ownership. Every object this API returns is freed by the one function
 * named for it: a model by carton_close, a tensor by carton_tensor_free,
 * outputs by carton_outputs_free, an error message by carton_free_error.
 * Strings and arrays a getter returns belong to the object they came from
 * and live as long as it does. Memory the caller passes in is read in
 * place during the call and not kept, except a tensor's data given to
 * carton_tensor_wrap, which the tensor uses until it is freed.
 *
 * Errors. A function that can fail returns a carton_status (CARTON_OK, 0,
 * on success) and, when err is not NULL, sets *err to a message (NULL on
 * success) the caller frees with carton_free_error.
 *
 * Threads. A model may run carton_infer from many threads at once; close
 * it only when none is running. A tensor may be read from many threads; an
 * outputs object belongs to the thread that frees it. Nothing here keeps
 * thread-local state.
 *
 * Stability. CARTON_ABI_VERSION changes when a function's meaning or a
 * struct's layout changes incompatibly; functions and fields are only
 * added at the end. carton_abi_version() is the library's: check it
 * against the header's before use.
 */
#ifndef CARTON_H
#define CARTON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CARTON_ABI_VERSION 1

/* Opaque handles. */
typedef struct carton_model carton_model;
typedef struct carton_tensor carton_tensor;
typedef struct carton_outputs carton_outputs;

/* What a call came to. The codes follow the Go library's sentinel errors. */
typedef enum carton_status {
    CARTON_OK = 0,
    CARTON_ERR_INVALID_ARGUMENT = 1, /* a misuse of this API: NULL, unknown dtype, sizes that disagree */
    CARTON_ERR_INVALID_INPUT = 2,    /* inputs the model refuses (names, dtypes, shapes) */
    CARTON_ERR_NO_RUNTIME = 3,       /* no framework runtime found or fetched for this carton */
    CARTON_ERR_CHECKSUM = 4,         /* a file of the carton does not match its manifest */
    CARTON_ERR_CLOSED = 5,           /* the model was closed */
    CARTON_ERR_MALFORMED = 6,        /* not a carton, or one breaking the format or its limits */
    CARTON_ERR_MODEL = 7,            /* the framework refused the model */
    CARTON_ERR_FRAMEWORK = 8,        /* the framework failed while running */
    CARTON_ERR_INVALID_OPTION = 9,   /* a load option or runner option refused */
    CARTON_ERR_UNKNOWN_RUNNER = 10,  /* a runner carton does not have */
    CARTON_ERR_PLATFORM = 11,        /* the runtime does not run on this platform */
    CARTON_ERR_NOT_FOUND = 12,       /* no such file or URL */
    CARTON_ERR_OFFLINE = 13,         /* needed the network with CARTON_OFFLINE set */
    CARTON_ERR_REMOTE = 14,          /* a carton read by URL changed or stalled */
    CARTON_ERR_OTHER = 99
} carton_status;

/* Element types; the values are stable. Strings are UTF-8 byte strings. */
typedef enum carton_dtype {
    CARTON_DTYPE_INVALID = 0,
    CARTON_DTYPE_FLOAT32 = 1,
    CARTON_DTYPE_FLOAT64 = 2,
    CARTON_DTYPE_STRING = 3,
    CARTON_DTYPE_INT8 = 4,
    CARTON_DTYPE_INT16 = 5,
    CARTON_DTYPE_INT32 = 6,
    CARTON_DTYPE_INT64 = 7,
    CARTON_DTYPE_UINT8 = 8,
    CARTON_DTYPE_UINT16 = 9,
    CARTON_DTYPE_UINT32 = 10,
    CARTON_DTYPE_UINT64 = 11,
    CARTON_DTYPE_BOOL = 12,     /* one byte, 0 or 1 */
    CARTON_DTYPE_FLOAT16 = 13,  /* IEEE half, two bytes */
    CARTON_DTYPE_BFLOAT16 = 14  /* two bytes */
} carton_dtype;

/* The ABI version the library was built with. */
int carton_abi_version(void);

/* The library's version, e.g. "0.1.0" (static storage). */
const char *carton_version(void);

/* Frees an error message; NULL is allowed. */
void carton_free_error(char *err);

/* ---- Loading ---- */

/* Load options. Zero every field you do not set (memset, or = {0} in C);
 * set size to sizeof(carton_load_options) so that a newer library knows
 * which fields this header had. */
typedef struct carton_load_options {
    size_t size;
    const char *device;            /* "cpu" (NULL) or "cuda:N" */
    const char *framework_version; /* a runtime version or requirement ("2.15.0", "^2") besides the carton's */
    const char *runtime_path;      /* the framework library or directory to use */
    const char *cache_dir;         /* where unpacked cartons and runtimes live (NULL: the default) */
    size_t num_runner_opts;        /* runner option overrides: keys[i] = values[i] */
    const char *const *runner_opt_keys;
    const char *const *runner_opt_values; /* read as `carton pack --opt` reads them: integer, float, true/false, else string */
} carton_load_options;

/* Loads the carton at path (a file, an unpacked carton's directory, or an
 * http(s) URL); opts may be NULL. On success *out is the model. carton's
 * environment settings (CARTON_CACHE_DIR, CARTON_PYTHON, CARTON_OFFLINE,
 * pip's index settings, ...) are read from the process environment as it
 * is at this call. */
carton_status carton_load(const char *path, const carton_load_options *opts, carton_model **out, char **err);

/* Closes the model and frees the handle; NULL is allowed. Outputs of the
 * model not yet freed stay valid until freed. */
carton_status carton_close(carton_model *model, char **err);

/* Opens the carton at path for its metadata only, without a runtime: the
 * info getters below work on it, carton_infer refuses it. Free it with
 * carton_close. */
carton_status carton_info(const char *path, carton_model **out, char **err);

/* ---- Model info (owned by the model) ---- */

/* All of the carton's metadata as JSON: carton.toml's fields under their
 * own names, manifest_sha256, and for a loaded model its runtime. */
const char *carton_model_info_json(const carton_model *model);

const char *carton_model_name(const carton_model *model);           /* "" when unnamed */
const char *carton_model_runner(const carton_model *model);         /* "onnx", "torchscript", "tensorflow", ... */
const char *carton_model_required_framework_version(const carton_model *model); /* the carton's requirement */
const char *carton_model_runtime_framework(const carton_model *model); /* "onnxruntime", "libtorch", ... */
const char *carton_model_runtime_version(const carton_model *model);   /* the runtime that runs it */

/* A declared input or output. ndim is -1 when any shape is accepted; a
 * dimension of -1 is symbolic (any size). */
typedef struct carton_tensor_spec {
    const char *name;
    carton_dtype dtype;
    int64_t ndim;
    const int64_t *shape;
} carton_tensor_spec;

size_t carton_model_num_inputs(const carton_model *model);
size_t carton_model_num_outputs(const carton_model *model);
/* The i-th declared input or output; CARTON_ERR_INVALID_ARGUMENT past the end. */
carton_status carton_model_input(const carton_model *model, size_t i, carton_tensor_spec *out);
carton_status carton_model_output(const carton_model *model, size_t i, carton_tensor_spec *out);

/* ---- Tensors ---- */

/* Called with ctx when carton is done with wrapped memory. */
typedef void (*carton_release_fn)(void *ctx);

/* A tensor over the caller's memory, without a copy: data holds nbytes,
 * the elements of shape in C order. The memory must stay valid and
 * unchanged until the tensor is freed, which calls release(ctx) (release
 * may be NULL). Numeric dtypes only. */
carton_status carton_tensor_wrap(carton_dtype dtype, const int64_t *shape, size_t ndim, void *data, size_t nbytes,
                                 carton_release_fn release, void *ctx, carton_tensor **out, char **err);

/* A zeroed tensor whose memory carton owns: fill it through
 * carton_tensor_data. Numeric dtypes only. */
carton_status carton_tensor_new(carton_dtype dtype, const int64_t *shape, size_t ndim, carton_tensor **out, char **err);

/* A string tensor: strs[i] holds lens[i] bytes (lens NULL: NUL-terminated
 * strings), copied. */
carton_status carton_tensor_new_strings(const int64_t *shape, size_t ndim, const char *const *strs, const size_t *lens,
                                        carton_tensor **out, char **err);

/* Frees a tensor the caller made (outputs are freed with their
 * carton_outputs); NULL is allowed. */
void carton_tensor_free(carton_tensor *t);

carton_dtype carton_tensor_dtype(const carton_tensor *t);
size_t carton_tensor_ndim(const carton_tensor *t);
const int64_t *carton_tensor_shape(const carton_tensor *t);
size_t carton_tensor_num_elements(const carton_tensor *t);
/* The elements, and their size in bytes in *nbytes (may be NULL); NULL for
 * a string tensor. Writable for tensors from carton_tensor_new. */
void *carton_tensor_data(const carton_tensor *t, size_t *nbytes);
/* The i-th string of a string tensor and its length (not NUL-terminated
 * in general; it is followed by a NUL). */
carton_status carton_tensor_string(const carton_tensor *t, size_t i, const char **s, size_t *len);

/* A tensor described by plain fields, for bindings that marshal several
 * at once: what carton_tensor_get_view returns, and what
 * carton_infer_views takes. */
typedef struct carton_tensor_view {
    carton_dtype dtype;
    size_t ndim;
    const int64_t *shape;
    const void *data;           /* numeric dtypes: nbytes of elements in C order; NULL for strings */
    size_t nbytes;
    const char *const *strings; /* CARTON_DTYPE_STRING: the elements */
    const size_t *string_lens;  /* their lengths (NULL in carton_infer_views: NUL-terminated) */
} carton_tensor_view;

/* Fills *out with t's fields (owned by t). */
carton_status carton_tensor_get_view(const carton_tensor *t, carton_tensor_view *out);

/* ---- Inference ---- */

/* Runs the model on n inputs (names[i] = inputs[i]). Inputs are read in
 * place during the call and stay the caller's. On success *out holds the
 * outputs, each over the framework's memory where it allows (no copy),
 * until carton_outputs_free. Safe from many threads on one model. */
carton_status carton_infer(carton_model *model, size_t n, const char *const *names, const carton_tensor *const *inputs,
                           carton_outputs **out, char **err);

/* carton_infer with inputs described by views: their memory is read in
 * place during the call, and no tensor objects are made. (A runner that
 * hands an input back as an output, as the noop runner does, returns a
 * view of the caller's memory.) */
carton_status carton_infer_views(carton_model *model, size_t n, const char *const *names, const carton_tensor_view *inputs,
                                 carton_outputs **out, char **err);

size_t carton_outputs_count(const carton_outputs *outs);
/* The i-th output (in name order) and its name; NULL past the end. */
const char *carton_outputs_name(const carton_outputs *outs, size_t i);
const carton_tensor *carton_outputs_tensor(const carton_outputs *outs, size_t i);
/* The output named name; NULL if none. */
const carton_tensor *carton_outputs_find(const carton_outputs *outs, const char *name);
/* Fills names[i] and views[i] (owned by outs) for the first
 * min(capacity, count) outputs, in name order, and returns the count: all
 * of a call's outputs in one call, for bindings. */
size_t carton_outputs_get_views(const carton_outputs *outs, const char **names, carton_tensor_view *views, size_t capacity);
/* Gives the outputs back to the model (their memory is reused or freed);
 * NULL is allowed. */
void carton_outputs_free(carton_outputs *outs);

#ifdef __cplusplus
}
#endif

#endif /* CARTON_H */
