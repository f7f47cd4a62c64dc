/*
 * carton_torch.h: a small C ABI over libtorch's TorchScript, for loading
 * with dlopen (carton's backend/libtorch calls it through purego).
 *
 * Rules: no C++ exception crosses this boundary; every function that can
 * fail returns non-zero and sets *err to a message the caller frees with
 * ct_free_error. Input tensors are borrowed for the call (torch::from_blob,
 * no copy); outputs stay alive until ct_result_free, or until the result
 * is handed back to a later ct_forward as done.
 */
#ifndef CARTON_TORCH_H
#define CARTON_TORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CT_ABI_VERSION 3
/* Bumped when the shim's behaviour changes within one ABI: a shim built
 * from older sources lacks the symbol ct_revision_<N> of this revision,
 * and carton rebuilds it where it can (backend/libtorch). */
#define CT_SHIM_REVISION 3

/* Inputs whose data comes in ct_forward's own arguments; see ct_forward. */
#define CT_DIRECT_INPUTS 10
/* Results one ct_forward frees before it runs. */
#define CT_MAX_DONE 8

/* dtypes: carton's tensor.DType numbering. */
enum ct_dtype {
  CT_FLOAT32 = 1, CT_FLOAT64 = 2, CT_STRING = 3, CT_INT8 = 4, CT_INT16 = 5,
  CT_INT32 = 6, CT_INT64 = 7, CT_UINT8 = 8, CT_UINT16 = 9, CT_UINT32 = 10,
  CT_UINT64 = 11, CT_BOOL = 12, CT_FLOAT16 = 13, CT_BFLOAT16 = 14
};

/* One tensor. For CT_STRING, strs/str_lens hold numel UTF-8 strings and
 * data is unused. */
typedef struct ct_tensor {
  const char *name;
  int32_t dtype;
  int32_t ndim;
  const int64_t *shape;
  void *data;
  int64_t nbytes;
  const char *const *strs;
  const int64_t *str_lens;
} ct_tensor;

typedef struct ct_module ct_module;

/* One forward call's state, in the caller's memory. The caller fills
 * out_names/n_out_names (names for positional results) and done/n_done
 * (earlier results of this module it has finished with, freed first as
 * ct_result_free would, even when the forward fails; the shim may reuse
 * one's memory for this call's result); ct_forward writes result on
 * success and err on failure. */
typedef struct ct_call {
  const char *const *out_names;
  int64_t n_out_names;
  struct ct_result *done[CT_MAX_DONE];
  int64_t n_done;
  struct ct_result *result;
  char *err;
} ct_call;

/* The outputs of one forward call: n tensors, laid out in one array so
 * that the caller reads all metadata after a single call. */
typedef struct ct_result {
  int64_t n;
  const ct_tensor *tensors;
} ct_result;

int32_t ct_abi_version(void);
/* The libtorch version this shim was built against, e.g. "2.1.0". */
const char *ct_torch_version(void);
void ct_free_error(char *err);

/* Threads are process-wide in libtorch; <= 0 leaves a setting alone. */
int32_t ct_set_threads(int32_t intra_op, int32_t inter_op, char **err);

/* Load from a file (path) or from bytes (path NULL). device: "cpu" or
 * "cuda:N". */
int32_t ct_load(const char *path, const void *bytes, size_t len,
                const char *device, ct_module **out, char **err);
void ct_module_free(ct_module *m);

/* Describes forward: mode 1 = one Dict argument (upstream's convention),
 * 0 = positional tensors; n_args excludes self. */
int32_t ct_forward_info(ct_module *m, int32_t *mode, int32_t *n_args,
                        char **err);

/* Runs forward. In dict mode inputs go in by name; in positional mode in
 * the given order. Outputs: a dict keeps its keys; a tuple or list is
 * named by call->out_names or "output_0".. ; a single tensor by
 * out_names[0] or "output_0". Returns non-zero with call->err set on
 * failure.
 * Input shapes: inputs[i].shape is not read; the sizes of all inputs come
 * concatenated in dims (inputs[0].ndim entries, then inputs[1].ndim, ..).
 * Input data: input i < CT_DIRECT_INPUTS takes its data from argument
 * data<i>, later ones from inputs[i].data. A Go caller may pass its own
 * memory as a call's argument without pinning it, but not inside memory
 * that it passes: so the pointers ride as arguments, and what the
 * arguments point to holds none of the caller's pointers. */
int32_t ct_forward(ct_module *m, const ct_tensor *inputs, int64_t n_inputs,
                   const int64_t *dims, ct_call *call,
                   void *data0, void *data1, void *data2, void *data3,
                   void *data4, void *data5, void *data6, void *data7,
                   void *data8, void *data9);
void ct_result_free(ct_result *r);

#ifdef __cplusplus
}
#endif
#endif
