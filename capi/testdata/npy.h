/* npy.h: reads the .npy reference files the tests compare with (format
 * 1.0/2.0, C order; numeric dtypes, and unicode strings of ASCII). */
#ifndef CARTON_TEST_NPY_H
#define CARTON_TEST_NPY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carton.h"

typedef struct npy_array {
    carton_dtype dtype;
    size_t ndim;
    int64_t shape[16];
    size_t count;    /* elements */
    void *data;      /* numeric: count elements; strings: count NUL-terminated strings (char **) */
    size_t nbytes;
} npy_array;

static int npy_dtype(const char *descr, carton_dtype *dt, size_t *width) {
    static const struct { const char *d; carton_dtype t; size_t w; } table[] = {
        {"<f4", CARTON_DTYPE_FLOAT32, 4}, {"<f8", CARTON_DTYPE_FLOAT64, 8}, {"|i1", CARTON_DTYPE_INT8, 1},
        {"<i2", CARTON_DTYPE_INT16, 2},   {"<i4", CARTON_DTYPE_INT32, 4},   {"<i8", CARTON_DTYPE_INT64, 8},
        {"|u1", CARTON_DTYPE_UINT8, 1},   {"<u2", CARTON_DTYPE_UINT16, 2},  {"<u4", CARTON_DTYPE_UINT32, 4},
        {"<u8", CARTON_DTYPE_UINT64, 8},  {"|b1", CARTON_DTYPE_BOOL, 1},    {"<f2", CARTON_DTYPE_FLOAT16, 2},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(descr, table[i].d) == 0) {
            *dt = table[i].t;
            *width = table[i].w;
            return 0;
        }
    if (descr[0] == '<' && descr[1] == 'U') {
        *dt = CARTON_DTYPE_STRING;
        *width = 4 * (size_t)atoi(descr + 2);
        return 0;
    }
    return -1;
}

/* npy_parse reads an open .npy file into a; 0 on success. */
static int npy_parse(FILE *f, npy_array *a) {
    unsigned char magic[10];
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0) return -1;
    size_t hlen = magic[8] | (magic[9] << 8);
    if (magic[6] >= 2) {
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) return -1;
        hlen |= ((size_t)more[0] << 16) | ((size_t)more[1] << 24);
    }
    char h[4096] = {0};
    if (hlen >= sizeof h || fread(h, 1, hlen, f) != hlen) return -1;
    char descr[16] = {0};
    const char *d = strstr(h, "'descr': '");
    const char *s = strstr(h, "'shape': (");
    if (!d || !s || strstr(h, "'fortran_order': True")) return -1;
    sscanf(d + 10, "%15[^']", descr);
    s += 10;
    a->count = 1;
    while (*s && *s != ')' && a->ndim < 16) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s) break;
        a->shape[a->ndim++] = v;
        a->count *= (size_t)v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    size_t width;
    if (npy_dtype(descr, &a->dtype, &width) != 0) return -1;
    size_t n = a->count * width;
    unsigned char *raw = (unsigned char *)malloc(n ? n : 1);
    if (fread(raw, 1, n, f) != n) {
        free(raw);
        return -1;
    }
    if (a->dtype != CARTON_DTYPE_STRING) {
        a->data = raw;
        a->nbytes = n;
        return 0;
    }
    /* UTF-32 code points of ASCII text into NUL-terminated strings. */
    size_t chars = width / 4;
    char **strs = (char **)calloc(a->count ? a->count : 1, sizeof(char *));
    for (size_t i = 0; i < a->count; i++) {
        strs[i] = (char *)calloc(1, chars + 1);
        for (size_t j = 0; j < chars; j++) strs[i][j] = (char)raw[(i * chars + j) * 4];
    }
    free(raw);
    a->data = strs;
    return 0;
}

/* npy_read reads path into a; 0 on success. */
static int npy_read(const char *path, npy_array *a) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int rc = npy_parse(f, a);
    fclose(f);
    return rc;
}

static void npy_free(npy_array *a) {
    if (a->dtype == CARTON_DTYPE_STRING && a->data) {
        char **strs = (char **)a->data;
        for (size_t i = 0; i < a->count; i++) free(strs[i]);
    }
    free(a->data);
    a->data = NULL;
}

#endif
