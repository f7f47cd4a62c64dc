/* The functions of carton.h: plain C where a getter reads what the Go side
 * stored in C memory, a call into Go (_cgo_export.h) otherwise. The Go
 * exports take non-const pointers (cgo drops const), hence the casts. */
#include "capi.h"
#include "_cgo_export.h"

int carton_abi_version(void) { return CARTON_ABI_VERSION; }

const char *carton_version(void) { return capi_version(); }

void carton_free_error(char *err) { free(err); }

carton_status carton_load(const char *path, const carton_load_options *opts, carton_model **out, char **err) {
    return (carton_status)capi_load((char *)path, (carton_load_options *)opts, out, err);
}

carton_status carton_close(carton_model *model, char **err) { return (carton_status)capi_close(model, err); }

carton_status carton_info(const char *path, carton_model **out, char **err) {
    return (carton_status)capi_info((char *)path, out, err);
}

#define MODEL_STRING(fn, field) \
    const char *fn(const carton_model *m) { return m ? m->field : NULL; }
MODEL_STRING(carton_model_info_json, info_json)
MODEL_STRING(carton_model_name, name)
MODEL_STRING(carton_model_runner, runner)
MODEL_STRING(carton_model_required_framework_version, required_framework_version)
MODEL_STRING(carton_model_runtime_framework, runtime_framework)
MODEL_STRING(carton_model_runtime_version, runtime_version)

size_t carton_model_num_inputs(const carton_model *m) { return m ? m->num_inputs : 0; }
size_t carton_model_num_outputs(const carton_model *m) { return m ? m->num_outputs : 0; }

static carton_status spec_at(const carton_tensor_spec *specs, size_t n, size_t i, carton_tensor_spec *out) {
    if (!out || i >= n) return CARTON_ERR_INVALID_ARGUMENT;
    *out = specs[i];
    return CARTON_OK;
}

carton_status carton_model_input(const carton_model *m, size_t i, carton_tensor_spec *out) {
    return m ? spec_at(m->inputs, m->num_inputs, i, out) : CARTON_ERR_INVALID_ARGUMENT;
}

carton_status carton_model_output(const carton_model *m, size_t i, carton_tensor_spec *out) {
    return m ? spec_at(m->outputs, m->num_outputs, i, out) : CARTON_ERR_INVALID_ARGUMENT;
}

carton_status carton_tensor_wrap(carton_dtype dtype, const int64_t *shape, size_t ndim, void *data, size_t nbytes,
                                 carton_release_fn release, void *ctx, carton_tensor **out, char **err) {
    return (carton_status)capi_tensor_wrap((int)dtype, (int64_t *)shape, ndim, data, nbytes, release, ctx, out, err);
}

carton_status carton_tensor_new(carton_dtype dtype, const int64_t *shape, size_t ndim, carton_tensor **out, char **err) {
    return (carton_status)capi_tensor_new((int)dtype, (int64_t *)shape, ndim, out, err);
}

carton_status carton_tensor_new_strings(const int64_t *shape, size_t ndim, const char *const *strs, const size_t *lens,
                                        carton_tensor **out, char **err) {
    return (carton_status)capi_tensor_new_strings((int64_t *)shape, ndim, (char **)strs, (size_t *)lens, out, err);
}

void carton_tensor_free(carton_tensor *t) {
    if (t && t->handle) capi_tensor_free(t); /* an output's tensor goes with its outputs */
}

carton_dtype carton_tensor_dtype(const carton_tensor *t) { return t ? t->dtype : CARTON_DTYPE_INVALID; }
size_t carton_tensor_ndim(const carton_tensor *t) { return t ? t->ndim : 0; }
const int64_t *carton_tensor_shape(const carton_tensor *t) { return t ? t->shape : NULL; }
size_t carton_tensor_num_elements(const carton_tensor *t) { return t ? t->num_elements : 0; }

void *carton_tensor_data(const carton_tensor *t, size_t *nbytes) {
    if (nbytes) *nbytes = t && !t->strs ? t->nbytes : 0;
    return t && !t->strs ? t->data : NULL;
}

carton_status carton_tensor_get_view(const carton_tensor *t, carton_tensor_view *out) {
    if (!t || !out) return CARTON_ERR_INVALID_ARGUMENT;
    out->dtype = t->dtype;
    out->ndim = t->ndim;
    out->shape = t->shape;
    out->data = t->strs ? NULL : t->data;
    out->nbytes = t->strs ? 0 : t->nbytes;
    out->strings = (const char *const *)t->strs;
    out->string_lens = t->lens;
    return CARTON_OK;
}

carton_status carton_tensor_string(const carton_tensor *t, size_t i, const char **s, size_t *len) {
    if (!t || !t->strs || i >= t->num_elements || !s) return CARTON_ERR_INVALID_ARGUMENT;
    *s = t->strs[i];
    if (len) *len = t->lens[i];
    return CARTON_OK;
}

carton_status carton_infer(carton_model *model, size_t n, const char *const *names, const carton_tensor *const *inputs,
                           carton_outputs **out, char **err) {
    return (carton_status)capi_infer(model, n, (char **)names, (carton_tensor **)inputs, out, err);
}

carton_status carton_infer_views(carton_model *model, size_t n, const char *const *names, const carton_tensor_view *inputs,
                                 carton_outputs **out, char **err) {
    return (carton_status)capi_infer_views(model, n, (char **)names, (carton_tensor_view *)inputs, out, err);
}

size_t carton_outputs_count(const carton_outputs *o) { return o ? o->n : 0; }

const char *carton_outputs_name(const carton_outputs *o, size_t i) { return o && i < o->n ? o->names[i] : NULL; }

const carton_tensor *carton_outputs_tensor(const carton_outputs *o, size_t i) {
    return o && i < o->n ? &o->tensors[i] : NULL;
}

const carton_tensor *carton_outputs_find(const carton_outputs *o, const char *name) {
    if (!o || !name) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0) return &o->tensors[i];
    return NULL;
}

size_t carton_outputs_get_views(const carton_outputs *o, const char **names, carton_tensor_view *views, size_t capacity) {
    if (!o) return 0;
    for (size_t i = 0; i < o->n && i < capacity; i++) {
        if (names) names[i] = o->names[i];
        if (views) carton_tensor_get_view(&o->tensors[i], &views[i]);
    }
    return o->n;
}

void carton_outputs_free(carton_outputs *o) {
    if (o) capi_outputs_free(o);
}
