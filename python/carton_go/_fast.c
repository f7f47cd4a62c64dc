/* carton_go._fast: the common case of Carton.infer_sync in C.
 *
 * A dict of str to ndarrays that are C-contiguous, aligned, native-endian
 * and of a carton dtype becomes carton_tensor_views over the arrays'
 * memory; carton_infer_views runs with the GIL released; numeric outputs
 * become ndarrays over carton's memory, whose base is a capsule that gives
 * the outputs back (carton_outputs_free) when the last array goes. What
 * this does not handle it declines (None) before running anything, and the
 * ctypes path in _tensors.py does it; string outputs and more outputs than
 * a call's slots are handed back as the outputs' address for that path.
 *
 * libcarton's functions come from ctypes (init), so this module links to
 * nothing but Python and numpy and follows CARTON_GO_LIB. Built by
 * python/build_wheel.py for the building interpreter; any other Python
 * uses the ctypes path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <stdint.h>

#include "carton.h"

#define SLOTS 32
#define MAX_DIMS 32

_Static_assert(sizeof(npy_intp) == sizeof(int64_t), "numpy's dimensions are read as carton's int64 shape");

typedef carton_status (*infer_views_fn)(carton_model *, size_t, const char *const *, const carton_tensor_view *,
                                        carton_outputs **, char **);
typedef size_t (*get_views_fn)(const carton_outputs *, const char **, carton_tensor_view *, size_t);
typedef void (*outputs_free_fn)(carton_outputs *);

static infer_views_fn infer_views;
static get_views_fn get_views;
static outputs_free_fn outputs_free;

static const char CAPSULE[] = "carton_go.outputs";

/* carton's dtype of a, or -1. */
static int carton_dtype_of(PyArrayObject *a) {
    PyArray_Descr *d = PyArray_DESCR(a);
    npy_intp size = PyArray_ITEMSIZE(a);
    switch (d->kind) {
    case 'f':
        return size == 4 ? CARTON_DTYPE_FLOAT32 : size == 8 ? CARTON_DTYPE_FLOAT64 : size == 2 ? CARTON_DTYPE_FLOAT16 : -1;
    case 'i':
        return size == 1 ? CARTON_DTYPE_INT8 : size == 2 ? CARTON_DTYPE_INT16 : size == 4 ? CARTON_DTYPE_INT32
             : size == 8 ? CARTON_DTYPE_INT64 : -1;
    case 'u':
        return size == 1 ? CARTON_DTYPE_UINT8 : size == 2 ? CARTON_DTYPE_UINT16 : size == 4 ? CARTON_DTYPE_UINT32
             : size == 8 ? CARTON_DTYPE_UINT64 : -1;
    case 'b':
        return size == 1 ? CARTON_DTYPE_BOOL : -1;
    }
    return -1;
}

/* numpy's type of carton dtype code (bfloat16 as its bits, uint16), or -1. */
static int npy_type_of(int code) {
    switch (code) {
    case CARTON_DTYPE_FLOAT32: return NPY_FLOAT32;
    case CARTON_DTYPE_FLOAT64: return NPY_FLOAT64;
    case CARTON_DTYPE_INT8: return NPY_INT8;
    case CARTON_DTYPE_INT16: return NPY_INT16;
    case CARTON_DTYPE_INT32: return NPY_INT32;
    case CARTON_DTYPE_INT64: return NPY_INT64;
    case CARTON_DTYPE_UINT8: return NPY_UINT8;
    case CARTON_DTYPE_UINT16: return NPY_UINT16;
    case CARTON_DTYPE_UINT32: return NPY_UINT32;
    case CARTON_DTYPE_UINT64: return NPY_UINT64;
    case CARTON_DTYPE_BOOL: return NPY_BOOL;
    case CARTON_DTYPE_FLOAT16: return NPY_FLOAT16;
    case CARTON_DTYPE_BFLOAT16: return NPY_UINT16;
    }
    return -1;
}

static void free_outputs(PyObject *capsule) {
    carton_outputs *outs = PyCapsule_GetPointer(capsule, CAPSULE);
    if (outs != NULL) {
        outputs_free(outs);
    }
}

/* The outputs' address as an int, for the ctypes path to convert. */
static PyObject *handed_back(carton_outputs *outs) {
    return Py_BuildValue("(iK)", 0, (unsigned long long)(uintptr_t)outs);
}

static PyObject *to_arrays(carton_outputs *outs) {
    const char *names[SLOTS];
    carton_tensor_view views[SLOTS];
    size_t n = get_views(outs, names, views, SLOTS);
    if (n > SLOTS) {
        return handed_back(outs);
    }
    for (size_t i = 0; i < n; i++) {
        if (npy_type_of(views[i].dtype) < 0 || views[i].ndim > MAX_DIMS) {
            return handed_back(outs); /* strings */
        }
    }
    PyObject *owner = PyCapsule_New(outs, CAPSULE, free_outputs);
    if (owner == NULL) {
        outputs_free(outs);
        return NULL;
    }
    PyObject *result = PyDict_New();
    if (result == NULL) {
        Py_DECREF(owner);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const carton_tensor_view *v = &views[i];
        npy_intp dims[MAX_DIMS];
        for (size_t d = 0; d < v->ndim; d++) {
            dims[d] = (npy_intp)v->shape[d];
        }
        PyObject *arr;
        if (v->data == NULL || v->nbytes == 0) {
            arr = PyArray_SimpleNew((int)v->ndim, dims, npy_type_of(v->dtype));
        } else {
            arr = PyArray_New(&PyArray_Type, (int)v->ndim, dims, npy_type_of(v->dtype), NULL, (void *)v->data, 0,
                              NPY_ARRAY_CARRAY, NULL);
            if (arr != NULL) {
                Py_INCREF(owner);
                if (PyArray_SetBaseObject((PyArrayObject *)arr, owner) < 0) { /* steals owner */
                    Py_DECREF(arr);
                    arr = NULL;
                }
            }
        }
        if (arr == NULL || PyDict_SetItemString(result, names[i], arr) < 0) {
            Py_XDECREF(arr);
            Py_DECREF(result);
            Py_DECREF(owner);
            return NULL;
        }
        Py_DECREF(arr);
    }
    Py_DECREF(owner); /* the arrays hold it now; with none, this frees the outputs */
    return result;
}

static void release(PyObject **objs, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(objs[i]);
    }
}

/* infer(model, tensors) -> dict of arrays; (status, error address) when
 * carton failed; (0, outputs address) for the ctypes path to convert;
 * None when the inputs are not for this path (nothing ran). */
static PyObject *fast_infer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "infer(model, tensors)");
        return NULL;
    }
    if (infer_views == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "carton_go._fast: init was not called");
        return NULL;
    }
    carton_model *model = PyLong_AsVoidPtr(args[0]);
    if (model == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *tensors = args[1];
    if (!PyDict_CheckExact(tensors) || PyDict_GET_SIZE(tensors) > SLOTS) {
        Py_RETURN_NONE;
    }
    const char *names[SLOTS];
    carton_tensor_view views[SLOTS];
    /* Names and arrays are held through the call: with the GIL released,
     * another thread could change the dict. */
    PyObject *held[2 * SLOTS];
    Py_ssize_t pos = 0, n = 0;
    PyObject *key, *value;
    while (PyDict_Next(tensors, &pos, &key, &value)) {
        PyArrayObject *a = (PyArrayObject *)value;
        int code = PyUnicode_CheckExact(key) && PyArray_CheckExact(value) ? carton_dtype_of(a) : -1;
        if (code < 0 || !PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a) ||
            PyArray_NDIM(a) > MAX_DIMS) {
            release(held, 2 * n);
            Py_RETURN_NONE;
        }
        const char *name = PyUnicode_AsUTF8(key); /* cached in the str */
        if (name == NULL) {
            release(held, 2 * n);
            return NULL;
        }
        held[2 * n] = Py_NewRef(key);
        held[2 * n + 1] = Py_NewRef(value);
        names[n] = name;
        views[n] = (carton_tensor_view){
            .dtype = code,
            .ndim = (size_t)PyArray_NDIM(a),
            .shape = (const int64_t *)PyArray_DIMS(a),
            .data = PyArray_DATA(a),
            .nbytes = (size_t)PyArray_NBYTES(a),
        };
        n++;
    }
    carton_outputs *outs = NULL;
    char *err = NULL;
    carton_status status;
    Py_BEGIN_ALLOW_THREADS
    status = infer_views(model, (size_t)n, names, views, &outs, &err);
    Py_END_ALLOW_THREADS
    release(held, 2 * n);
    if (status != CARTON_OK) {
        return Py_BuildValue("(iK)", (int)status, (unsigned long long)(uintptr_t)err);
    }
    return to_arrays(outs);
}

/* init(infer_views, outputs_get_views, outputs_free): libcarton's functions. */
static PyObject *fast_init(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long a, b, c;
    if (!PyArg_ParseTuple(args, "KKK", &a, &b, &c)) {
        return NULL;
    }
    if (a == 0 || b == 0 || c == 0) {
        PyErr_SetString(PyExc_ValueError, "a null function");
        return NULL;
    }
    infer_views = (infer_views_fn)(uintptr_t)a;
    get_views = (get_views_fn)(uintptr_t)b;
    outputs_free = (outputs_free_fn)(uintptr_t)c;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"infer", (PyCFunction)(void (*)(void))fast_infer, METH_FASTCALL, "Carton.infer_sync's common case."},
    {"init", fast_init, METH_VARARGS, "Takes libcarton's functions."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "carton_go._fast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fast(void) {
    import_array();
    return PyModule_Create(&module);
}
