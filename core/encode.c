/* encode.c - one tensor through the stages: stage 1 normalization, stage 2 multi-stage
 * vector codebooks, then the encoder (bit-packed codes, fp16 codebooks, zstd where it
 * helps). The result is an nq_encoded: parts in memory plus the tensor's manifest entry.
 * Depends only on the tensor's bytes, its name and the settings (not on thread or order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <zstd.h>
#include "kernels.h"
#include "model.h"
#include "quant.h"
#include "util.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int is_embedding(const char *name) {
    return contains(name, "embed_tokens") || contains(name, "tok_embeddings") ||
           contains(name, "token_embd") || contains(name, "wte.") || contains(name, "word_embeddings");
}

static int is_lm_head(const char *name) {
    return contains(name, "lm_head") || !strcmp(name, "output.weight");
}

/* Why tensor t is stored raw, or NULL if it is vector-quantized. */
static const char *raw_reason(const nq_model *m, int t, const nq_settings *s) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    if (!nq_dtype_is_float(ti->dtype)) return "dtype not quantized";
    if (ti->ndim < 2) return "1-D tensor kept in original precision";
    if (ti->rows < 1 || ti->cols < 1) return "empty tensor";
    if (!s->quantize_embeddings && is_embedding(ti->name)) return "embedding kept (settings)";
    if (!s->quantize_lm_head && is_lm_head(ti->name)) return "lm_head kept (settings)";
    return NULL;
}

int nq_should_quantize(const nq_model *m, int t, const nq_settings *s) {
    return raw_reason(m, t, s) == NULL;
}

void nq_encoded_free(nq_encoded *enc) {
    if (!enc) return;
    for (int i = 0; i < enc->nparts; i++) free(enc->parts[i].data);
    free(enc->parts);
    free(enc->meta_json);
    free(enc);
}

/* Append a part holding raw (takes ownership of raw); zstd-compressed if that is smaller. */
static nq_status add_part(nq_encoded *enc, int kind, int64_t a, int64_t b, uint8_t *raw,
                          size_t n, int level, nq_err *e) {
    nq_part *np = realloc(enc->parts, (size_t)(enc->nparts + 1) * sizeof *np);
    if (!np) { free(raw); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    enc->parts = np;
    nq_part *p = &enc->parts[enc->nparts++];
    *p = (nq_part){kind, NQ_CODEC_NONE, a, b, n, raw, n};
    if (level > 0 && n >= 64) {
        size_t cap = ZSTD_compressBound(n);
        uint8_t *z = malloc(cap);
        size_t zn = z ? ZSTD_compress(z, cap, raw, n, level) : 0;
        if (z && !ZSTD_isError(zn) && zn < n) {
            free(raw);
            p->data = z;
            p->size = zn;
            p->codec = NQ_CODEC_ZSTD;
        } else {
            free(z);
        }
    }
    enc->stored_bytes += p->size;
    return NQ_OK;
}

static cJSON *shape_json(const nq_tensor_info *ti) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < ti->ndim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)ti->shape[i]));
    return a;
}

static nq_status finish_meta(nq_encoded *enc, const nq_tensor_info *ti, const char *method,
                             cJSON *detail, const char *reason, nq_err *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", ti->name);
    cJSON_AddItemToObject(o, "shape", shape_json(ti));
    cJSON_AddStringToObject(o, "dtype", ti->dtype_name);
    cJSON_AddStringToObject(o, "method", method);
    if (reason) cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddNumberToObject(o, "weights", (double)enc->weights);
    cJSON_AddNumberToObject(o, "stored_bytes", (double)enc->stored_bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight",
                            enc->weights ? (double)enc->stored_bytes * 8.0 / (double)enc->weights : 0);
    if (detail) cJSON_AddItemToObject(o, "vq", detail);
    if (detail) {
        cJSON *err = cJSON_AddObjectToObject(o, "error");
        cJSON_AddNumberToObject(err, "sse", enc->sse);
        cJSON_AddNumberToObject(err, "signal", enc->signal);
        double rel = enc->signal > 0 ? enc->sse / enc->signal : 0;
        cJSON_AddNumberToObject(err, "sqnr_db", rel > 0 ? -10.0 * nq_log10(rel) : 999.0);
    }
    enc->meta_json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return enc->meta_json ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
}

static nq_status encode_raw(const nq_model *m, int t, const nq_settings *s, const char *reason,
                            nq_encoded *enc, nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    uint64_t chunk = s->shard_max_bytes;
    nq_status st = NQ_OK;
    for (uint64_t off = 0; off < ti->nbytes && st == NQ_OK; off += chunk) {
        size_t n = (size_t)(ti->nbytes - off < chunk ? ti->nbytes - off : chunk);
        uint8_t *buf = malloc(n);
        if (!buf) return nq_fail(e, NQ_E_NOMEM, "out of memory");
        st = nq_model_read_raw(m, t, off, buf, n, e);
        if (st == NQ_OK) st = add_part(enc, NQ_PART_RAW, (int64_t)off, (int64_t)(off + n), buf, n, s->zstd_level, e);
        else free(buf);
    }
    return st ? st : finish_meta(enc, ti, "raw", NULL, reason, e);
}

/* ------------------------------------------------------------- vector quantization */

typedef struct vq_ctx {
    const nq_model *m;
    int t;
    const nq_tensor_info *ti;
    const nq_settings *s;
    nq_norm norm;
    int64_t nvec;                 /* vectors per row (last one zero-padded) */
    int bits[NQ_MAX_STAGES];
    float *C[NQ_MAX_STAGES];      /* current group's codebooks, f16-rounded values */
    nq_encoded *enc;
} vq_ctx;

/* Split a normalized row into nvec zero-padded vectors of length d. */
static void row_vectors(const vq_ctx *q, const float *u, float *X) {
    int d = q->s->d;
    for (int64_t v = 0; v < q->nvec; v++)
        for (int j = 0; j < d; j++) {
            int64_t c = v * d + j;
            X[v * d + j] = c < q->ti->cols ? u[c] : 0.0f;
        }
}

/* Sample up to train_vectors normalized vectors from evenly spaced rows of [ra, rb). */
static nq_status training_set(vq_ctx *q, int64_t ra, int64_t rb, float **X, int64_t *n, nq_err *e) {
    int64_t rows = rb - ra, take = q->s->train_vectors / q->nvec;
    if (take < 1) take = 1;
    if (take > rows) take = rows;
    float *x = malloc((size_t)(take * q->nvec * q->s->d) * sizeof *x);
    float *w = malloc((size_t)q->ti->cols * sizeof *w);
    nq_status st = x && w ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory", q->ti->name);
    for (int64_t i = 0; i < take && st == NQ_OK; i++) {
        int64_t r = ra + i * rows / take;
        if ((st = nq_model_read_rows(q->m, q->t, r, 1, w, e))) break;
        nq_norm_forward(&q->norm, r, w, w);
        row_vectors(q, w, x + i * q->nvec * q->s->d);
    }
    free(w);
    if (st) { free(x); return st; }
    *X = x;
    *n = take * q->nvec;
    return NQ_OK;
}

/* Greedy multi-stage assignment of one vector: each stage codes what the previous left. */
static void assign_vector(const vq_ctx *q, const float *x, uint16_t *codes) {
    int d = q->s->d;
    float r[64];
    memcpy(r, x, (size_t)d * sizeof *r);
    for (int st = 0; st < q->s->nstages; st++) {
        int c = nq_k_nearest(r, q->C[st], q->s->K[st], d, NULL);
        codes[st] = (uint16_t)c;
        for (int j = 0; j < d; j++) r[j] -= q->C[st][(int64_t)c * d + j];
    }
}

static uint64_t stage_seed(const vq_ctx *q, int64_t group, int stage) {
    uint64_t h = nq_hash_str(q->ti->name, 0xcbf29ce484222325ull ^ q->s->seed);
    return h ^ ((uint64_t)group * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(stage + 1) << 56);
}

/* Train the group's codebooks stage by stage on the sampled vectors and store them. */
static nq_status train_group(vq_ctx *q, int64_t g, int64_t ra, int64_t rb, nq_err *e) {
    float *X;
    int64_t n;
    nq_status st = training_set(q, ra, rb, &X, &n, e);
    if (st) return st;
    int d = q->s->d;
    for (int s = 0; s < q->s->nstages && st == NQ_OK; s++) {
        int K = q->s->K[s];
        st = nq_kmeans(X, n, d, K, q->s->kmeans_iters, stage_seed(q, g, s), q->C[s], e);
        if (st) break;
        uint8_t *raw = malloc((size_t)K * d * 2);
        if (!raw) { st = nq_fail(e, NQ_E_NOMEM, "out of memory"); break; }
        for (int64_t i = 0; i < (int64_t)K * d; i++) { /* stored fp16; encode with what is stored */
            uint16_t h = nq_f32_to_f16(q->C[s][i]);
            raw[2 * i] = (uint8_t)h;
            raw[2 * i + 1] = (uint8_t)(h >> 8);
            q->C[s][i] = nq_f16_to_f32(h);
        }
        st = add_part(q->enc, NQ_PART_CODEBOOK, g, s, raw, (size_t)K * d * 2, q->s->zstd_level, e);
        for (int64_t i = 0; i < n && st == NQ_OK; i++) { /* residuals for the next stage */
            float *x = X + i * d;
            int c = nq_k_nearest(x, q->C[s], K, d, NULL);
            for (int j = 0; j < d; j++) x[j] -= q->C[s][(int64_t)c * d + j];
        }
    }
    free(X);
    return st;
}

typedef struct block_buf {
    float *w, *u, *X, *uhat, *what;
    uint16_t *codes;
} block_buf;

/* Encode one row into packed codes at out; accumulate the reconstruction error. */
static void encode_row(vq_ctx *q, block_buf *b, int64_t r, uint8_t *out) {
    int d = q->s->d, S = q->s->nstages;
    int64_t cols = q->ti->cols;
    nq_norm_forward(&q->norm, r, b->w, b->u);
    row_vectors(q, b->u, b->X);
    const float *const *C = (const float *const *)q->C;
    for (int64_t v = 0; v < q->nvec; v++) {
        assign_vector(q, b->X + v * d, b->codes + v * S);
        nq_vq_reconstruct(C, b->codes + v * S, S, d, b->uhat + v * d);
    }
    nq_pack_row(b->codes, q->nvec, q->bits, S, out);
    nq_norm_inverse(q->norm.g, q->norm.mean_h[r], q->norm.scale_h[r], q->norm.colfac, cols, b->uhat,
                    b->what);
    for (int64_t j = 0; j < cols; j++) {
        double diff = (double)b->w[j] - b->what[j];
        q->enc->sse += diff * diff;
        q->enc->signal += (double)b->w[j] * b->w[j];
    }
}

/* Rows per CODES part: the part must fit a shard; row buffers stay near 4 MB. */
static int64_t block_rows(const vq_ctx *q, size_t row_bytes) {
    int64_t by_shard = (int64_t)(q->s->shard_max_bytes / row_bytes);
    int64_t by_mem = (int64_t)((1 << 20) / (q->ti->cols > 0 ? q->ti->cols : 1));
    int64_t r = by_shard < by_mem ? by_shard : by_mem;
    return r < 1 ? 1 : r;
}

static nq_status encode_block(vq_ctx *q, block_buf *b, int64_t ra, int64_t rb, size_t code_bytes,
                              nq_err *e) {
    int64_t n = rb - ra;
    size_t size = (size_t)n * (4 + code_bytes);
    uint8_t *raw = malloc(size);
    if (!raw) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_status st = NQ_OK;
    for (int64_t i = 0; i < n && st == NQ_OK; i++) {
        int64_t r = ra + i;
        raw[2 * i] = (uint8_t)q->norm.mean_h[r];
        raw[2 * i + 1] = (uint8_t)(q->norm.mean_h[r] >> 8);
        raw[2 * n + 2 * i] = (uint8_t)q->norm.scale_h[r];
        raw[2 * n + 2 * i + 1] = (uint8_t)(q->norm.scale_h[r] >> 8);
        if ((st = nq_model_read_rows(q->m, q->t, r, 1, b->w, e))) break;
        encode_row(q, b, r, raw + 4 * n + (size_t)i * code_bytes);
    }
    if (st) { free(raw); return st; }
    return add_part(q->enc, NQ_PART_CODES, ra, rb, raw, size, q->s->zstd_level, e);
}

static nq_status encode_groups(vq_ctx *q, nq_err *e) {
    const nq_settings *s = q->s;
    int64_t rows = q->ti->rows, R = s->scope_rows ? s->scope_rows : rows;
    size_t code_bytes = nq_codes_row_bytes(q->nvec, q->bits, s->nstages);
    if (4 + code_bytes > s->shard_max_bytes)
        return nq_fail(e, NQ_E_LIMIT, "tensor '%s': one row of codes (%zu bytes) exceeds the shard size",
                       q->ti->name, 4 + code_bytes);
    int64_t br = block_rows(q, 4 + code_bytes), width = q->nvec * s->d;
    block_buf b = {malloc((size_t)q->ti->cols * 4), malloc((size_t)q->ti->cols * 4),
                   malloc((size_t)width * 4), malloc((size_t)width * 4),
                   malloc((size_t)q->ti->cols * 4), malloc((size_t)q->nvec * s->nstages * 2)};
    nq_status st = b.w && b.u && b.X && b.uhat && b.what && b.codes ? NQ_OK
                   : nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int64_t g = 0, ga = 0; ga < rows && st == NQ_OK; g++, ga += R) {
        int64_t gb = ga + R < rows ? ga + R : rows;
        st = train_group(q, g, ga, gb, e);
        for (int64_t ra = ga; ra < gb && st == NQ_OK; ra += br)
            st = encode_block(q, &b, ra, ra + br < gb ? ra + br : gb, code_bytes, e);
    }
    free(b.w); free(b.u); free(b.X); free(b.uhat); free(b.what); free(b.codes);
    return st;
}

static cJSON *vq_detail(const vq_ctx *q) {
    cJSON *o = cJSON_CreateObject(), *k = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "d", q->s->d);
    for (int i = 0; i < q->s->nstages; i++) cJSON_AddItemToArray(k, cJSON_CreateNumber(q->s->K[i]));
    cJSON_AddItemToObject(o, "K", k);
    cJSON_AddNumberToObject(o, "scope_rows", (double)(q->s->scope_rows ? q->s->scope_rows : q->ti->rows));
    cJSON_AddNumberToObject(o, "outlier_columns", q->norm.nout);
    return o;
}

static nq_status encode_vq(const nq_model *m, int t, const nq_settings *s, nq_encoded *enc, nq_err *e) {
    vq_ctx q = {.m = m, .t = t, .ti = nq_model_tensor(m, t), .s = s, .enc = enc};
    q.nvec = (q.ti->cols + s->d - 1) / s->d;
    nq_status st = nq_norm_fit(m, t, s->outlier_fraction, &q.norm, e);
    if (st) return st;
    for (int i = 0; i < s->nstages; i++) {
        while ((1 << q.bits[i]) < s->K[i]) q.bits[i]++;
        q.C[i] = malloc((size_t)s->K[i] * s->d * sizeof(float));
        if (!q.C[i]) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    uint8_t *np = malloc(nq_norm_part_size(&q.norm));
    if (st == NQ_OK && !np) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (st == NQ_OK) {
        nq_norm_part_write(&q.norm, np);
        st = add_part(enc, NQ_PART_NORM, 0, 0, np, nq_norm_part_size(&q.norm), s->zstd_level, e);
    } else {
        free(np);
    }
    if (st == NQ_OK) st = encode_groups(&q, e);
    if (st == NQ_OK) st = finish_meta(enc, q.ti, "vq", vq_detail(&q), NULL, e);
    for (int i = 0; i < s->nstages; i++) free(q.C[i]);
    nq_norm_free(&q.norm);
    return st;
}

nq_status nq_encode_tensor(const nq_model *m, int t, const nq_settings *s, nq_encoded **out,
                           nq_err *e) {
    *out = NULL;
    nq_status st = nq_settings_check(s, e);
    if (st) return st;
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    if (!ti) return nq_fail(e, NQ_E_ARG, "tensor index %d out of range", t);
    nq_encoded *enc = calloc(1, sizeof *enc);
    if (!enc) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    enc->weights = (uint64_t)ti->rows * (uint64_t)ti->cols;
    const char *reason = raw_reason(m, t, s);
    if (reason) {
        st = encode_raw(m, t, s, reason, enc, e);
    } else {
        st = encode_vq(m, t, s, enc, e);
        if (st == NQ_E_UNSUPPORTED) { /* e.g. non-finite weights: keep them exactly */
            char why[200];
            snprintf(why, sizeof why, "not quantized: %.180s", e ? e->msg : "unsupported values");
            nq_encoded_free(enc);
            enc = calloc(1, sizeof *enc);
            if (!enc) return nq_fail(e, NQ_E_NOMEM, "out of memory");
            enc->weights = (uint64_t)ti->rows * (uint64_t)ti->cols;
            st = encode_raw(m, t, s, why, enc, e);
        }
    }
    if (st) { nq_encoded_free(enc); return st; }
    *out = enc;
    return NQ_OK;
}
