/* model.c - the format-independent nq_model: tensor table, lookups, row/raw reads. */
#include <stdlib.h>
#include <string.h>
#include "io/model.h"

nq_model *nq_model_alloc(const char *format, int n, const nq_reader *files, int nfiles) {
    nq_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->format = format;
    m->ntensors = n;
    m->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *m->tensors);
    m->files = calloc(nfiles > 0 ? (size_t)nfiles : 1, sizeof *m->files);
    if (!m->tensors || !m->files) { nq_model_free(m); return NULL; }
    if (nfiles > 0) memcpy(m->files, files, (size_t)nfiles * sizeof *files);
    m->nfiles = nfiles;
    return m;
}

void nq_model_free(nq_model *m) {
    if (!m) return;
    if (m->ops && m->ops->free_impl) m->ops->free_impl(m->impl);
    for (int i = 0; i < m->ntensors; i++) free(m->tensors[i].name);
    free(m->tensors);
    free(m->files);
    free(m->metadata_json);
    free(m);
}

void nq_tensor_info_finish(nq_tensor_info *ti) {
    ti->rows = ti->ndim >= 2 ? ti->shape[0] : 1;
    ti->cols = 1;
    for (int d = ti->ndim >= 2 ? 1 : 0; d < ti->ndim; d++) ti->cols *= ti->shape[d];
    if (ti->ndim >= 2 && ti->rows == 0) ti->cols = 0;
}

int nq_model_tensor_count(const nq_model *m) { return m->ntensors; }

const nq_tensor_info *nq_model_tensor(const nq_model *m, int i) {
    return i >= 0 && i < m->ntensors ? &m->tensors[i] : NULL;
}

int nq_model_find(const nq_model *m, const char *name) {
    for (int i = 0; i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return i;
    return -1;
}

const char *nq_model_format(const nq_model *m) { return m->format; }
const char *nq_model_metadata_json(const nq_model *m) { return m->metadata_json; }

nq_status nq_model_read_rows(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst,
                             nq_err *e) {
    if (t < 0 || t >= m->ntensors) return nq_fail(e, NQ_E_ARG, "tensor index %d out of range", t);
    const nq_tensor_info *ti = &m->tensors[t];
    if (!nq_dtype_is_float(ti->dtype))
        return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': dtype %s cannot be read as f32",
                       ti->name, ti->dtype_name);
    if (row0 < 0 || nrows < 0 || row0 > ti->rows || nrows > ti->rows - row0)
        return nq_fail(e, NQ_E_ARG, "tensor '%s': rows [%lld, %lld) outside 0..%lld", ti->name,
                       (long long)row0, (long long)(row0 + nrows), (long long)ti->rows);
    if (nrows == 0) return NQ_OK;
    return m->ops->read_rows(m, t, row0, nrows, dst, e);
}

nq_status nq_model_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len,
                            nq_err *e) {
    if (t < 0 || t >= m->ntensors) return nq_fail(e, NQ_E_ARG, "tensor index %d out of range", t);
    const nq_tensor_info *ti = &m->tensors[t];
    if (off > ti->nbytes || len > ti->nbytes - off)
        return nq_fail(e, NQ_E_ARG, "tensor '%s': raw range [%llu, +%zu) outside %llu bytes",
                       ti->name, (unsigned long long)off, len, (unsigned long long)ti->nbytes);
    if (!m->ops->read_raw)
        return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': raw bytes not available", ti->name);
    return m->ops->read_raw(m, t, off, dst, len, e);
}

nq_status nq_model_file_read(const nq_model *m, int file, uint64_t off, void *dst, size_t len,
                             nq_err *e) {
    const nq_reader *r = &m->files[file];
    const char *name = r->name ? r->name : "input";
    if (off > r->size || len > r->size - off)
        return nq_fail(e, NQ_E_FORMAT, "%s: read of %zu bytes at offset %llu past end of file (%llu bytes)",
                       name, len, (unsigned long long)off, (unsigned long long)r->size);
    if (len && r->read(r->ctx, off, dst, len))
        return nq_fail(e, NQ_E_IO, "%s: read of %zu bytes at offset %llu failed", name, len,
                       (unsigned long long)off);
    return NQ_OK;
}
