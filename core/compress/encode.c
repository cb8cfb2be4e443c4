/* encode.c - one tensor through the stages: stage 1 normalization, stage 2 multi-stage
 * vector codebooks, then the encoder (bit-packed codes, fp16 codebooks, zstd where it
 * helps). The result is an nq_encoded: parts in memory plus the tensor's manifest entry.
 * Depends only on the tensor's bytes, its name and the settings (not on thread or order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <zstd.h>
#include "common/format.h"
#include "kernels/kernels.h"
#include "io/model.h"
#include "compress/stages.h"
#include "common/util.h"

void nq_encoded_free(nq_encoded *enc) {
    if (!enc) return;
    for (int i = 0; i < enc->nparts; i++) free(enc->parts[i].data);
    free(enc->parts);
    free(enc->meta_json);
    free(enc);
}

nq_status nq_part_store(nq_part *p, uint8_t *raw, size_t n, int level, nq_err *e) {
    p->codec = NQ_CODEC_NONE;
    p->data = raw;
    p->size = p->raw_size = n;
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
    (void)e;
    return NQ_OK;
}

nq_status nq_part_load(const nq_part *p, uint8_t **out, nq_err *e) {
    *out = malloc(p->raw_size ? (size_t)p->raw_size : 1);
    if (!*out) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (p->codec == NQ_CODEC_NONE && p->size == p->raw_size) {
        memcpy(*out, p->data, p->size);
        return NQ_OK;
    }
    size_t n = p->codec == NQ_CODEC_ZSTD ? ZSTD_decompress(*out, (size_t)p->raw_size, p->data, p->size) : 0;
    if (p->codec != NQ_CODEC_ZSTD || ZSTD_isError(n) || n != p->raw_size) {
        free(*out);
        *out = NULL;
        return nq_fail(e, NQ_E_FORMAT, "encoded part does not decompress to its %llu bytes", (unsigned long long)p->raw_size);
    }
    return NQ_OK;
}

/* Append a part holding raw (takes ownership of raw); zstd-compressed if that is smaller. */
static nq_status add_part(nq_encoded *enc, int kind, int64_t a, int64_t b, uint8_t *raw,
                          size_t n, int level, nq_err *e) {
    nq_part *np = realloc(enc->parts, (size_t)(enc->nparts + 1) * sizeof *np);
    if (!np) { free(raw); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    enc->parts = np;
    nq_part *p = &enc->parts[enc->nparts++];
    *p = (nq_part){kind, NQ_CODEC_NONE, a, b, 0, NULL, 0};
    nq_status st = nq_part_store(p, raw, n, level, e);
    enc->stored_bytes += p->size;
    return st;
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
        cJSON_AddNumberToObject(err, "sqnr_db", nq_sqnr_db(enc->sse, enc->signal));
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
    const nq_plan *plan;
    nq_norm norm;
    int64_t nvec;                 /* vectors per row (last one zero-padded) */
    int bits[NQ_MAX_STAGES];
    float *C[NQ_MAX_STAGES];      /* current group's codebooks, f16-rounded values */
    int own_codebooks;            /* C[] allocated here (not the plan's shared set) */
    nq_refiner *ref;              /* stage 3 output-aware; NULL: weight-space or off */
    double *Hrot;                 /* H in rotated coordinates (owned), when rotating */
    const char *mode;             /* stage 3: "output-aware", "weight-space" or "off" */
    char why[200];                /* why not output-aware */
    double obj, obj2, obj_sig;    /* stage-3 objective: chosen, stage 2 alone, signal */
    int64_t rows3;                /* rows where the output-aware codes won */
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

/* ICM rounds after the first coding pass: only after a greedy one (a beam leaves nothing
 * measurable for ICM to win, docs/QUALITY.md). Stage 2 and stage 3 share this rule. */
static int icm_rounds(const nq_settings *s) { return s->joint && s->beam == 1 ? NQ_ICM_ROUNDS : 0; }

/* Codes of one vector: beam search over the stages (greedy residual at beam 1), then ICM. */
static void assign_vector(const vq_ctx *q, const float *x, uint16_t *codes) {
    const nq_settings *s = q->s;
    nq_vq_beam((const float *const *)q->C, s->K, s->nstages, s->d, x, codes, s->beam);
    nq_vq_icm((const float *const *)q->C, s->K, s->nstages, s->d, x, codes, icm_rounds(s));
}

/* Codebooks of group g: the plan's shared set, or trained on the group's rows and stored
 * as the tensor's own CODEBOOK parts. */
static nq_status group_codebooks(vq_ctx *q, int64_t g, int64_t ra, int64_t rb, nq_err *e) {
    const nq_settings *s = q->s;
    nq_status st = NQ_OK;
    if (!q->own_codebooks) {
        for (int i = 0; i < s->nstages; i++) q->C[i] = q->plan->C[i];
    } else {
        float *X;
        int64_t n;
        uint8_t *raw[NQ_MAX_STAGES] = {0};
        if ((st = training_set(q, ra, rb, &X, &n, e))) return st;
        for (int i = 0; i < s->nstages && st == NQ_OK; i++)
            if (!(raw[i] = malloc((size_t)s->K[i] * s->d * 2))) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
        if (st == NQ_OK) st = nq_train_stages(X, n, s, q->ti->name, g, q->C, raw, e);
        free(X);
        for (int i = 0; i < s->nstages; i++) {
            if (st == NQ_OK) st = add_part(q->enc, NQ_PART_CODEBOOK, g, i, raw[i], (size_t)s->K[i] * s->d * 2, s->zstd_level, e);
            else free(raw[i]);
            raw[i] = NULL;
        }
    }
    if (st == NQ_OK && q->ref)
        st = nq_refiner_set_codebooks(q->ref, (const float *const *)q->C, s->K, s->nstages, icm_rounds(s), s->beam, e);
    return st;
}

typedef struct block_buf {
    float *w, *u, *X, *uhat, *what, *t, *v, *uhat3;
    double *Ht, *Hv;
    uint16_t *codes, *codes3;
} block_buf;

/* The stage-3 objective of one row as a function of its scale s:
 * err(s) = a - 2 s b + s^2 c, with a = t'Ht, b = t'Hv, c = v'Hv (H = I in weight space),
 * t = w - mean, v = colfac * uhat. */
typedef struct row_obj { double a, b, c; } row_obj;

static double dot(const double *x, const float *y, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j] * y[j];
    return s;
}

static double obj_at(const row_obj *o, double s) { return o->a - 2 * s * o->b + s * s * o->c; }

/* Fill o->b and o->c for the reconstruction uhat (o->a is the row's). */
static void fit_terms(const vq_ctx *q, block_buf *b, const float *uhat, row_obj *o) {
    int64_t cols = q->ti->cols;
    for (int64_t j = 0; j < cols; j++) b->v[j] = q->norm.colfac[j] * uhat[j];
    o->b = o->c = 0;
    if (q->ref) {
        nq_refiner_hmul(q->ref, b->v, b->Hv);
        o->b = dot(b->Hv, b->t, cols);
        o->c = dot(b->Hv, b->v, cols);
        return;
    }
    for (int64_t j = 0; j < cols; j++) { o->b += (double)b->t[j] * b->v[j]; o->c += (double)b->v[j] * b->v[j]; }
}

/* Best scale code for fixed terms: the stage-1 code, the least-squares optimum rounded,
 * and its neighbours; returns the objective reached and the code in *qout. */
static double best_scale(const vq_ctx *q, const row_obj *o, uint8_t q0, uint8_t *qout) {
    const float *tab = q->norm.scale_tab;
    double best = obj_at(o, tab[q0]);
    *qout = q0;
    if (o->c > 0) {
        int qs = nq_row_scale_code(tab, o->b / o->c);
        for (int k = qs - 1; k <= qs + 1; k++) {
            if (k < 0 || k > 255) continue;
            double v = obj_at(o, tab[k]);
            if (v < best) { best = v; *qout = (uint8_t)k; }
        }
    }
    return best;
}

/* Stage 3 for one row: starting from the stage-2 codes (uhat, codes), refit the scale and,
 * if output-aware, try the error-feedback codes; keep whichever has the lower objective
 * (so no row is ever worse than stage 2 alone). Returns the chosen codes/uhat. */
static void refine_row(vq_ctx *q, block_buf *b, float mean, uint8_t q0, const uint16_t **codes,
                       const float **uhat, uint8_t *qout) {
    int64_t cols = q->ti->cols;
    row_obj o = {0, 0, 0};
    for (int64_t j = 0; j < cols; j++) b->t[j] = b->w[j] - mean;
    if (q->norm.rot.block) nq_rot_forward(&q->norm.rot, b->t); /* where u and H live */
    if (q->ref) {
        nq_refiner_hmul(q->ref, b->t, b->Ht);
        o.a = dot(b->Ht, b->t, cols);
    } else {
        for (int64_t j = 0; j < cols; j++) o.a += (double)b->t[j] * b->t[j];
    }
    fit_terms(q, b, b->uhat, &o);
    double stage2 = obj_at(&o, q->norm.scale_tab[q0]), chosen = best_scale(q, &o, q0, qout);
    if (q->ref) {
        uint8_t q3;
        nq_refine_row(q->ref, b->u, b->codes3, b->uhat3);
        fit_terms(q, b, b->uhat3, &o);
        double e3 = best_scale(q, &o, q0, &q3);
        if (e3 < chosen) {
            chosen = e3;
            *qout = q3;
            *codes = b->codes3;
            *uhat = b->uhat3;
            q->rows3++;
        }
    }
    q->obj += chosen;
    q->obj2 += stage2;
    q->obj_sig += o.a;
}

/* Encode one row: stage 2 codes, then stage 3 unless it is off. Writes packed codes to out
 * and the scale code to *qout; accumulates the reconstruction error. */
static void encode_row(vq_ctx *q, block_buf *b, int64_t r, uint8_t *out, uint8_t *qout) {
    int d = q->s->d, S = q->s->nstages;
    int64_t cols = q->ti->cols;
    float mean = nq_norm_row_mean(&q->norm, r);
    nq_norm_forward(&q->norm, r, b->w, b->u);
    row_vectors(q, b->u, b->X);
    const float *const *C = (const float *const *)q->C;
    for (int64_t v = 0; v < q->nvec; v++) {
        assign_vector(q, b->X + v * d, b->codes + v * S);
        nq_vq_reconstruct(C, b->codes + v * S, S, d, b->uhat + v * d);
    }
    const uint16_t *codes = b->codes;
    const float *uhat = b->uhat;
    *qout = q->norm.scale_q[r];
    if (strcmp(q->mode, "off")) refine_row(q, b, mean, q->norm.scale_q[r], &codes, &uhat, qout);
    nq_pack_row(codes, q->nvec, q->bits, S, out);
    nq_norm_inverse(mean, q->norm.scale_tab[*qout], q->norm.colfac, &q->norm.rot, cols, uhat, b->what);
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
    nq_codes_layout L = nq_codes_layout_of(q->norm.has_mean, n, code_bytes);
    uint8_t *raw = malloc((size_t)L.size);
    if (!raw) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    uint8_t *scales = raw + L.scales;
    nq_status st = NQ_OK;
    for (int64_t i = 0; i < n && st == NQ_OK; i++) {
        int64_t r = ra + i;
        if (q->norm.has_mean) nq_codes_set_mean(raw, i, q->norm.mean_h[r]);
        if ((st = nq_model_read_rows(q->m, q->t, r, 1, b->w, e))) break;
        encode_row(q, b, r, raw + nq_codes_row_at(&L, i), &scales[i]);
    }
    if (st) { free(raw); return st; }
    return add_part(q->enc, NQ_PART_CODES, ra, rb, raw, (size_t)L.size, q->s->zstd_level, e);
}

static void block_buf_free(block_buf *b) {
    free(b->w); free(b->u); free(b->X); free(b->uhat); free(b->what); free(b->t); free(b->v);
    free(b->uhat3); free(b->Ht); free(b->Hv); free(b->codes); free(b->codes3);
}

static int block_buf_alloc(block_buf *b, int64_t cols, int64_t width, int64_t ncodes) {
    size_t fc = (size_t)cols * 4, fw = (size_t)width * 4;
    *b = (block_buf){malloc(fc), malloc(fc), malloc(fw), malloc(fw), malloc(fc), malloc(fc), malloc(fc),
                     malloc(fw), malloc((size_t)cols * 8), malloc((size_t)cols * 8),
                     malloc((size_t)ncodes * 2), malloc((size_t)ncodes * 2)};
    return b->w && b->u && b->X && b->uhat && b->what && b->t && b->v && b->uhat3 && b->Ht && b->Hv &&
           b->codes && b->codes3;
}

static nq_status encode_groups(vq_ctx *q, nq_err *e) {
    const nq_settings *s = q->s;
    int64_t rows = q->ti->rows, R = s->scope_rows ? s->scope_rows : rows;
    size_t code_bytes = nq_codes_row_bytes(q->nvec, q->bits, s->nstages);
    size_t per_row = (size_t)nq_codes_layout_of(1, 1, code_bytes).size; /* a row with its mean and scale */
    if (per_row > s->shard_max_bytes)
        return nq_fail(e, NQ_E_LIMIT, "tensor '%s': one row of codes (%zu bytes) exceeds the shard size",
                       q->ti->name, per_row);
    int64_t br = block_rows(q, per_row), width = q->nvec * s->d;
    block_buf b;
    nq_status st = block_buf_alloc(&b, q->ti->cols, width, q->nvec * s->nstages) ? NQ_OK
                   : nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int64_t g = 0, ga = 0; ga < rows && st == NQ_OK; g++, ga += R) {
        int64_t gb = ga + R < rows ? ga + R : rows;
        st = group_codebooks(q, g, ga, gb, e);
        for (int64_t ra = ga; ra < gb && st == NQ_OK; ra += br)
            st = encode_block(q, &b, ra, ra + br < gb ? ra + br : gb, code_bytes, e);
    }
    block_buf_free(&b);
    return st;
}

static cJSON *vq_detail(const vq_ctx *q) {
    cJSON *o = cJSON_CreateObject(), *k = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "d", q->s->d);
    for (int i = 0; i < q->s->nstages; i++) cJSON_AddItemToArray(k, cJSON_CreateNumber(q->s->K[i]));
    cJSON_AddItemToObject(o, "K", k);
    cJSON_AddNumberToObject(o, "scope_rows", (double)(q->s->scope_rows ? q->s->scope_rows : q->ti->rows));
    cJSON_AddNumberToObject(o, "outlier_columns", q->norm.nout);
    cJSON_AddBoolToObject(o, "row_mean", q->norm.has_mean);
    if (q->norm.rot.block) {
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)q->norm.rot.seed);
        cJSON *r = cJSON_AddObjectToObject(o, "rotation");
        cJSON_AddStringToObject(r, "kind", "hadamard");
        cJSON_AddNumberToObject(r, "block", (double)q->norm.rot.block);
        cJSON_AddStringToObject(r, "seed", seed);
    }
    if (!q->own_codebooks) cJSON_AddNumberToObject(o, "codebook_set", 0);
    cJSON *r = cJSON_AddObjectToObject(o, "stage3");
    cJSON_AddStringToObject(r, "mode", q->mode);
    if (q->why[0]) cJSON_AddStringToObject(r, "reason", q->why);
    if (strcmp(q->mode, "off")) {
        /* relative objective: calibration output error (output-aware) or weight error */
        cJSON_AddNumberToObject(r, "objective", q->obj_sig > 0 ? q->obj / q->obj_sig : 0);
        cJSON_AddNumberToObject(r, "objective_stage2", q->obj_sig > 0 ? q->obj2 / q->obj_sig : 0);
        if (q->ref) cJSON_AddNumberToObject(r, "rows_output_aware", (double)q->rows3);
    }
    return o;
}

/* Stage 3 for this tensor: output-aware when the plan has its calibration statistics,
 * weight-space scale refit otherwise (the reason is kept for the manifest). */
static nq_status choose_stage3(vq_ctx *q, nq_err *e) {
    q->mode = "off";
    if (!q->s->refine) return NQ_OK;
    q->mode = "weight-space";
    const nq_calib *cal = q->plan ? q->plan->calib : NULL;
    int64_t hc = 0;
    const double *H = cal ? nq_calib_hessian(cal, q->t, &hc) : NULL;
    if (!cal) { snprintf(q->why, sizeof q->why, "no calibration statistics given"); return NQ_OK; }
    if (!H) { snprintf(q->why, sizeof q->why, "the forward pass gives no activations for this tensor"); return NQ_OK; }
    if (hc != q->ti->cols) {
        snprintf(q->why, sizeof q->why, "calibration input width %lld != %lld columns", (long long)hc, (long long)q->ti->cols);
        return NQ_OK;
    }
    if (q->norm.rot.block) { /* the objective in the coordinates the codes live in */
        size_t n = (size_t)(hc * hc);
        if (!(q->Hrot = malloc(n * sizeof *q->Hrot))) return nq_fail(e, NQ_E_NOMEM, "out of memory in stage 3");
        memcpy(q->Hrot, H, n * sizeof *q->Hrot);
        nq_rot_hessian(&q->norm.rot, q->Hrot);
        H = q->Hrot;
    }
    nq_err le = {0};
    nq_status st = nq_refiner_new(&q->ref, H, q->ti->cols, q->norm.colfac, q->s->d, q->s->damp, q->s->act_order,
                                  q->ti->name, &le);
    if (st == NQ_E_UNSUPPORTED) { snprintf(q->why, sizeof q->why, "%.190s", le.msg); return NQ_OK; }
    if (st) { if (e) *e = le; return st; }
    q->mode = "output-aware";
    return NQ_OK;
}

static nq_status encode_vq(const nq_model *m, int t, const nq_settings *set_s, const nq_plan *plan, nq_encoded *enc,
                           nq_err *e) {
    /* With a shared set the tensor codes with the first nq_plan_stages() stages of it (all but
     * under mixed precision); the whole set travels along all the same. */
    nq_settings own = *set_s;
    if (plan && plan->shared) own.nstages = nq_plan_stages(plan, set_s, t);
    const nq_settings *s = &own;
    vq_ctx q = {.m = m, .t = t, .ti = nq_model_tensor(m, t), .s = s, .plan = plan, .enc = enc};
    q.nvec = (q.ti->cols + s->d - 1) / s->d;
    q.own_codebooks = !(plan && plan->shared);
    nq_status st = nq_norm_fit(m, t, s->outlier_fraction, s->rotate, nq_rot_seed(q.ti->name, s->seed), &q.norm, e);
    if (st) return st;
    for (int i = 0; i < s->nstages; i++) {
        while ((1 << q.bits[i]) < s->K[i]) q.bits[i]++;
        if (q.own_codebooks && !(q.C[i] = malloc((size_t)s->K[i] * s->d * sizeof(float))))
            st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < set_s->nstages && st == NQ_OK && !q.own_codebooks; i++) { /* the set travels along */
        size_t n = (size_t)s->K[i] * s->d * 2;
        uint8_t *raw = malloc(n);
        if (!raw) { st = nq_fail(e, NQ_E_NOMEM, "out of memory"); break; }
        memcpy(raw, plan->raw[i], n);
        st = add_part(enc, NQ_PART_SHARED, 0, i, raw, n, s->zstd_level, e);
    }
    uint64_t shared_bytes = enc->stored_bytes; /* counted once, by the container */
    uint8_t *np = malloc(nq_norm_part_size(&q.norm));
    if (st == NQ_OK && !np) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (st == NQ_OK) {
        nq_norm_part_write(&q.norm, np);
        st = add_part(enc, NQ_PART_NORM, 0, 0, np, nq_norm_part_size(&q.norm), s->zstd_level, e);
    } else {
        free(np);
    }
    if (st == NQ_OK) st = choose_stage3(&q, e);
    if (st == NQ_OK) st = encode_groups(&q, e);
    enc->stored_bytes -= shared_bytes;
    if (st == NQ_OK) st = finish_meta(enc, q.ti, "vq", vq_detail(&q), NULL, e);
    for (int i = 0; i < s->nstages && q.own_codebooks; i++) free(q.C[i]);
    nq_refiner_free(q.ref);
    free(q.Hrot);
    nq_norm_free(&q.norm);
    return st;
}

/* Stage 1+2(+3) for one vq tensor; a tensor whose values stage 1 cannot take (non-finite)
 * is kept raw with the reason. */
static nq_status encode_any(const nq_model *m, int t, const nq_settings *s, const nq_plan *plan,
                            nq_encoded **out, nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    nq_encoded *enc = calloc(1, sizeof *enc);
    if (!enc) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    enc->weights = (uint64_t)ti->rows * (uint64_t)ti->cols;
    const char *reason = nq_raw_reason(m, t, s);
    nq_status st;
    if (reason) {
        st = encode_raw(m, t, s, reason, enc, e);
    } else {
        st = encode_vq(m, t, s, plan, enc, e);
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

nq_status nq_encode_tensor_plan(const nq_model *m, int t, const nq_settings *s, const nq_plan *p,
                                nq_encoded **out, nq_err *e) {
    *out = NULL;
    nq_status st = nq_settings_check(s, e);
    if (st) return st;
    if (!nq_model_tensor(m, t)) return nq_fail(e, NQ_E_ARG, "tensor index %d out of range", t);
    int wants_shared = s->share_codebooks && !s->scope_rows;
    if (p && (p->shared != wants_shared || p->d != s->d || p->nstages != s->nstages ||
              memcmp(p->K, s->K, sizeof p->K)))
        return nq_fail(e, NQ_E_ARG, "tensor %d: the plan was built for other settings", t);
    return encode_any(m, t, s, p, out, e);
}

nq_status nq_encode_tensor(const nq_model *m, int t, const nq_settings *s, nq_encoded **out,
                           nq_err *e) {
    *out = NULL;
    nq_status st = nq_settings_check(s, e);
    if (st) return st;
    if (!nq_model_tensor(m, t)) return nq_fail(e, NQ_E_ARG, "tensor index %d out of range", t);
    if (!nq_should_quantize(m, t, s) || !s->share_codebooks || s->scope_rows) return encode_any(m, t, s, NULL, out, e);
    nq_plan *p; /* the shared set, trained again for this one call (see novaq.h) */
    if ((st = nq_plan_build(&p, m, s, NULL, e))) return st;
    st = encode_any(m, t, s, p, out, e);
    nq_plan_free(p);
    return st;
}
