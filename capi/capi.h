/* capi.h: the layout of carton.h's opaque handles, shared by the Go side
 * (cgo) and the plain C getters (abi.c). Not installed. */
#ifndef CARTON_CAPI_H
#define CARTON_CAPI_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "carton.h"

struct carton_model {
    uintptr_t handle; /* cgo.Handle of the *carton.Model; 0 for carton_info's */
    char *info_json;
    char *name, *runner, *required_framework_version, *runtime_framework, *runtime_version;
    size_t num_inputs, num_outputs;
    carton_tensor_spec *inputs, *outputs; /* names and shapes malloc'd */
};

#define CARTON_INLINE_DIMS 8

struct carton_tensor {
    uintptr_t handle; /* cgo.Handle of a caller's tensor; 0 for an output */
    uintptr_t owner;  /* an output's: its carton_outputs' handle, and its place there */
    size_t index;
    carton_dtype dtype;
    size_t ndim;
    int64_t *shape; /* inline_shape, or malloc'd past CARTON_INLINE_DIMS */
    int64_t inline_shape[CARTON_INLINE_DIMS];
    void *data;
    size_t nbytes, num_elements;
    char **strs; /* string tensors: NUL-terminated copies, and their lengths */
    size_t *lens;
};

struct carton_outputs {
    uintptr_t handle; /* cgo.Handle of the Go side: the model, the outputs, their pins */
    size_t n;
    char **names;
    carton_tensor *tensors;
};

static inline void capi_call_release(carton_release_fn f, void *ctx) {
    if (f) f(ctx);
}

#endif
