/* safetensors_write.c - write any nq_model as one safetensors file (used by `decompress`).
 * The header is computed first (every size is known from the tensor table), then data is
 * streamed in row blocks, so memory stays bounded by a block (rows wider than a block are
 * converted from their raw bytes in pieces; vq rows are decoded whole). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "io/model.h"
#include "common/util.h"

static int out_dtype_for(const nq_tensor_info *ti, int requested) {
    if (!nq_dtype_is_float(ti->dtype)) return ti->dtype;     /* copied byte for byte */
    if (requested >= 0) return requested;
    return ti->dtype == NQ_DT_Q8_0 ? NQ_DT_F32 : (int)ti->dtype;
}

static char *build_header(const nq_model *m, int req, uint64_t *data_size) {
    cJSON *root = cJSON_CreateObject();
    const char *meta = nq_model_metadata_json(m);
    cJSON *mo = meta ? cJSON_Parse(meta) : NULL;
    if (mo && cJSON_IsObject(mo)) {
        cJSON *clean = cJSON_CreateObject(); /* safetensors allows string values only */
        for (cJSON *kv = mo->child; kv; kv = kv->next)
            if (cJSON_IsString(kv)) cJSON_AddStringToObject(clean, kv->string, kv->valuestring);
        cJSON_AddItemToObject(root, "__metadata__", clean);
    }
    cJSON_Delete(mo);
    uint64_t off = 0;
    for (int t = 0; t < m->ntensors; t++) {
        const nq_tensor_info *ti = &m->tensors[t];
        int dt = out_dtype_for(ti, req);
        uint64_t n = nq_dtype_is_float(ti->dtype) ? (uint64_t)ti->rows * ti->cols * nq_dtype_size(dt) : ti->nbytes;
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "dtype", dt == NQ_DT_OTHER ? ti->dtype_name : nq_dtype_name(dt));
        for (int d = 0; d < ti->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ti->shape[d]));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + n)));
        cJSON_AddItemToObject(o, "data_offsets", offs);
        cJSON_AddItemToObject(root, ti->name, o);
        off += n;
    }
    *data_size = off;
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static nq_status put(const nq_writer *w, const void *p, size_t n, nq_err *e) {
    return n && w->write(w->ctx, p, n) ? nq_fail(e, NQ_E_IO, "write of %zu bytes failed", n) : NQ_OK;
}

enum { BLOCK = 1 << 20 }; /* values converted at once */

/* A tensor whose rows are wider than a block, from its raw bytes in blocks of values (the
 * conversion is elementwise, so a row may be cut anywhere). NQ_E_UNSUPPORTED, with nothing
 * written, when the model has no raw bytes for it (a vq tensor: its rows are decoded whole,
 * and a .novaq reader bounds their width by NQ_MAX_VQ_COLS) or no element size. */
static nq_status write_wide_tensor(const nq_model *m, int t, int dt, const nq_writer *w, nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    size_t es = nq_dtype_size(ti->dtype);
    if (es == 0 || !m->ops->read_raw) return NQ_E_UNSUPPORTED;
    uint64_t total = (uint64_t)ti->rows * (uint64_t)ti->cols;
    uint8_t *raw = malloc((size_t)BLOCK * es), *b = malloc((size_t)BLOCK * 4);
    float *f = malloc((size_t)BLOCK * sizeof *f);
    nq_status st = raw && b && f ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (uint64_t o = 0; o < total && st == NQ_OK; o += BLOCK) {
        size_t n = (size_t)(total - o < BLOCK ? total - o : BLOCK);
        nq_err local = {0};
        st = nq_model_read_raw(m, t, o * es, raw, n * es, &local);
        if (st == NQ_E_UNSUPPORTED && o == 0) break; /* nothing written yet: decode by rows */
        if (st) { if (e) *e = local; break; }
        nq_convert_to_f32(ti->dtype, raw, n, f);
        nq_convert_from_f32((nq_dtype)dt, f, n, b);
        st = put(w, b, n * nq_dtype_size(dt), e);
    }
    free(raw);
    free(b);
    free(f);
    return st;
}

static nq_status write_float_tensor(const nq_model *m, int t, int dt, const nq_writer *w, nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    if (ti->cols > BLOCK) {
        nq_status st = write_wide_tensor(m, t, dt, w, e);
        if (st != NQ_E_UNSUPPORTED) return st;
    }
    int64_t br = BLOCK / (ti->cols > 0 ? ti->cols : 1);
    if (br < 1) br = 1;
    float *f = malloc((size_t)(br * ti->cols) * sizeof *f + 1);
    uint8_t *b = malloc((size_t)(br * ti->cols) * 4 + 1);
    nq_status st = f && b ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int64_t r = 0; r < ti->rows && st == NQ_OK; r += br) {
        int64_t n = ti->rows - r < br ? ti->rows - r : br;
        if ((st = nq_model_read_rows(m, t, r, n, f, e))) break;
        nq_convert_from_f32((nq_dtype)dt, f, (size_t)(n * ti->cols), b);
        st = put(w, b, (size_t)(n * ti->cols) * nq_dtype_size(dt), e);
    }
    free(f);
    free(b);
    return st;
}

static nq_status copy_raw_tensor(const nq_model *m, int t, const nq_writer *w, nq_err *e) {
    enum { CHUNK = 1 << 20 };
    const nq_tensor_info *ti = &m->tensors[t];
    uint8_t *b = malloc(CHUNK);
    nq_status st = b ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (uint64_t o = 0; o < ti->nbytes && st == NQ_OK; o += CHUNK) {
        size_t n = (size_t)(ti->nbytes - o < CHUNK ? ti->nbytes - o : CHUNK);
        if ((st = nq_model_read_raw(m, t, o, b, n, e)) == NQ_OK) st = put(w, b, n, e);
    }
    free(b);
    return st;
}

nq_status nq_safetensors_write(const nq_model *m, int out_dtype, const nq_writer *w, nq_err *e) {
    if (out_dtype >= 0 && out_dtype != NQ_DT_F32 && out_dtype != NQ_DT_F16 && out_dtype != NQ_DT_BF16)
        return nq_fail(e, NQ_E_ARG, "output dtype must be F32, F16 or BF16");
    uint64_t data_size;
    char *hdr = build_header(m, out_dtype, &data_size);
    if (!hdr) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    size_t n = strlen(hdr), pad = (8 - n % 8) % 8; /* data starts 8-byte aligned */
    uint8_t len[8];
    nq_put_u64(len, n + pad);
    nq_status st = put(w, len, 8, e);
    if (st == NQ_OK) st = put(w, hdr, n, e);
    if (st == NQ_OK) st = put(w, "        ", pad, e);
    free(hdr);
    for (int t = 0; t < m->ntensors && st == NQ_OK; t++) {
        const nq_tensor_info *ti = &m->tensors[t];
        st = nq_dtype_is_float(ti->dtype) ? write_float_tensor(m, t, out_dtype_for(ti, out_dtype), w, e)
                                          : copy_raw_tensor(m, t, w, e);
    }
    return st;
}
