/* stage3_distill.c - stage 3, end to end: once every tensor is encoded (codes fixed), refine the
 * continuous values stored beside the codes against the original model (the teacher) on
 * calibration text:
 *   - the model-wide codebook set (f16 centroids),
 *   - every row's 8-bit scale code (trained as a real number on the code axis),
 *   - the RMSNorm weights (stored in their own dtype),
 * with Adam on  L = KL(p_teacher || p_student) + lambda * mean (1 - cos(h_teacher, h_student))
 * over windows of calibration tokens, the gradients coming from the training pass
 * (llama_train.c). The forward pass always sees the values as they will be stored (scale
 * codes rounded, centroids in f16, norms in their dtype; the gradient passes straight
 * through the rounding), so the model trained is the model decoded. The parts keep their
 * sizes apart from zstd: the bit budget does not change.
 *
 * The chain from a weight gradient G (rows x cols) to the stored values: a row is
 * w = mean + R^T (s * colfac .* u), u = sum over stages of C_k[code], so with z = R G_row,
 * dL/du_j = s colfac_j z_j (summed into every stage's chosen centroid) and
 * dL/ds = sum_j z_j colfac_j u_j, s = g * 2^((code - 239) / 16).
 *
 * Held-out calibration windows (never trained on) decide: unless the refined model's mean
 * KL there is lower than before, nothing is changed. One thread, fixed order: the same
 * bytes on every target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "llm/llama_internal.h"
#include "io/model.h"
#include "compress/stages.h"
#include "common/util.h"

#define LN2_16 0.043321698784996581 /* ln(2) / 16: d scale / d code, per unit of scale */
/* Learning rates per unit of relative weight error. Adam moves a value by about its rate per
 * step, and how far a stored value should move scales with how wrong the quantized weights
 * are: err = sqrt(sse / signal) over the quantized tensors (about 0.32 at 2 bits per
 * weight, 0.1 at 4). So at 2 bits a scale code moves ~0.05 code steps per step. */
#define LR_SCALE_CODE 0.16f
#define LR_CENTROID 0.00625f
#define LR_NORM 0.003f

typedef struct adam {
    float *p, *g, *m, *v;  /* master values, gradient, moments */
    size_t n;
    float lr;
} adam;

typedef struct qview {   /* a vector-quantized tensor the forward pass uses */
    int t;
    int64_t rows, cols, nvec;
    int S;               /* stages of the set this tensor uses (a prefix: mixed precision) */
    int has_mean;
    nq_norm nm;          /* g, scale table, colfac, rotation */
    float *mean;         /* per row */
    uint16_t *codes;     /* rows x nvec x S */
    float *w;            /* the student's weights (owned by the student model) */
    const float *grad;   /* their gradient (owned by the training pass) */
    adam sc;             /* scale codes on a real axis */
} qview;

typedef struct nview {   /* an RMSNorm weight vector, stored raw */
    int t;
    nq_dtype dtype;
    float *w;
    const float *grad;
    adam a;
} nview;

typedef struct distill {
    const nq_model *m;
    const nq_settings *s;
    nq_encoded **enc;
    nq_llama *student;
    nq_train *tr;
    qview *q;
    int nq;
    nview *nv;
    int nn;
    int S, d, K[NQ_MAX_STAGES], bits[NQ_MAX_STAGES];
    adam cb[NQ_MAX_STAGES];  /* the shared centroids */
    float *C[NQ_MAX_STAGES]; /* as stored (f16-rounded): what the forward uses */
    float *row, *u;          /* scratch: cols, nvec * d */
    int tr_ctx;              /* tokens per training window */
    float lr;                /* e2e_lr * the relative weight error (see LR_*) */
} distill;

/* ------------------------------------------------------------------ Adam */

static int adam_init(adam *a, size_t n, float lr) {
    a->n = n;
    a->lr = lr;
    a->p = calloc(n ? n : 1, sizeof(float));
    a->g = calloc(n ? n : 1, sizeof(float));
    a->m = calloc(n ? n : 1, sizeof(float));
    a->v = calloc(n ? n : 1, sizeof(float));
    return a->p && a->g && a->m && a->v;
}

static void adam_free(adam *a) {
    free(a->p); free(a->g); free(a->m); free(a->v);
}

/* One Adam step (beta 0.9 / 0.999, bias-corrected), then the gradient is cleared. */
static void adam_step(adam *a, int step) {
    double b1t = 1, b2t = 1;
    for (int i = 0; i < step; i++) { b1t *= 0.9; b2t *= 0.999; }
    float c1 = (float)(1 - b1t), c2 = (float)(1 - b2t);
    for (size_t i = 0; i < a->n; i++) {
        float g = a->g[i];
        a->m[i] = 0.9f * a->m[i] + 0.1f * g;
        a->v[i] = 0.999f * a->v[i] + 0.001f * (g * g);
        a->p[i] -= a->lr * (a->m[i] / c1) / (sqrtf(a->v[i] / c2) + 1e-12f);
        a->g[i] = 0.0f;
    }
}

/* ------------------------------------------------------------------ values as stored */

static uint8_t code_of(float x) {
    return x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)(x + 0.5f);
}

static float as_stored(nq_dtype dt, float x) {
    if (dt == NQ_DT_BF16) return nq_bf16_to_f32(nq_f32_to_bf16(x));
    if (dt == NQ_DT_F16) return nq_f16_to_f32(nq_f32_to_f16(x));
    return x;
}

static void round_codebooks(distill *D) {
    for (int k = 0; k < D->S; k++)
        for (size_t i = 0; i < D->cb[k].n; i++) D->C[k][i] = nq_f16_to_f32(nq_f32_to_f16(D->cb[k].p[i]));
}

/* u = the row's vectors from the current centroids. */
static void row_u(const distill *D, const qview *q, int64_t r, float *u) {
    const uint16_t *c = q->codes + (size_t)r * q->nvec * q->S;
    for (int64_t v = 0; v < q->nvec; v++)
        nq_vq_reconstruct((const float *const *)D->C, c + v * q->S, q->S, D->d, u + v * D->d);
}

/* The student's weights of q from the current values, as the decoder computes them. */
static void rebuild(distill *D, qview *q) {
    for (int64_t r = 0; r < q->rows; r++) {
        row_u(D, q, r, D->u);
        float s = q->nm.scale_tab[code_of(q->sc.p[r])];
        nq_norm_inverse(q->mean[r], s, q->nm.colfac, &q->nm.rot, q->cols, D->u, q->w + (size_t)r * q->cols);
    }
}

static void rebuild_all(distill *D) {
    for (int i = 0; i < D->nq; i++) rebuild(D, &D->q[i]);
    for (int i = 0; i < D->nn; i++)
        for (size_t j = 0; j < D->nv[i].a.n; j++) D->nv[i].w[j] = as_stored(D->nv[i].dtype, D->nv[i].a.p[j]);
}

/* Weight gradient of q -> gradients of its scale codes and of the shared centroids. */
static void backprop(distill *D, qview *q) {
    int d = D->d, S = q->S;
    for (int64_t r = 0; r < q->rows; r++) {
        float *z = D->row;
        memcpy(z, q->grad + (size_t)r * q->cols, (size_t)q->cols * sizeof *z);
        if (q->nm.rot.block) nq_rot_forward(&q->nm.rot, z);
        row_u(D, q, r, D->u);
        float s = q->nm.scale_tab[code_of(q->sc.p[r])];
        double ds = 0;
        for (int64_t j = 0; j < q->cols; j++) {
            z[j] *= q->nm.colfac[j];
            ds += (double)z[j] * D->u[j];
        }
        q->sc.g[r] += (float)(ds * s * LN2_16);
        const uint16_t *c = q->codes + (size_t)r * q->nvec * S;
        for (int64_t v = 0; v < q->nvec; v++)
            for (int k = 0; k < S; k++) {
                float *gc = D->cb[k].g + (size_t)c[v * S + k] * d;
                for (int j = 0; j < d && v * d + j < q->cols; j++) gc[j] += s * z[v * d + j];
            }
    }
}

/* ------------------------------------------------------------------ reading the encodes */

static const nq_part *find_part(const nq_encoded *enc, int kind, int64_t b) {
    for (int i = 0; i < enc->nparts; i++)
        if (enc->parts[i].kind == kind && (b < 0 || enc->parts[i].b == b)) return &enc->parts[i];
    return NULL;
}

/* Rows, codes, means and scale codes of a vq tensor from its parts. */
static nq_status parse_codes(distill *D, qview *q, const nq_encoded *enc, const char *name, nq_err *e) {
    size_t code_bytes = nq_codes_row_bytes(q->nvec, D->bits, q->S);
    for (int i = 0; i < enc->nparts; i++) {
        const nq_part *p = &enc->parts[i];
        if (p->kind != NQ_PART_CODES) continue;
        int64_t n = p->b - p->a;
        nq_codes_layout L = nq_codes_layout_of(q->has_mean, n, code_bytes);
        uint8_t *raw;
        nq_status st = nq_part_load(p, &raw, e);
        if (st) return st;
        if (p->a < 0 || p->b > q->rows || n < 0 || p->raw_size != L.size) {
            free(raw);
            return nq_fail(e, NQ_E_FORMAT, "tensor '%s': codes part of rows [%lld, %lld) is malformed", name,
                           (long long)p->a, (long long)p->b);
        }
        const uint8_t *sc = raw + L.scales;
        for (int64_t k = 0; k < n; k++) {
            int64_t r = p->a + k;
            q->mean[r] = q->has_mean ? q->nm.g * nq_f16_to_f32(nq_codes_mean(raw, k)) : 0.0f;
            q->sc.p[r] = (float)sc[k];
            nq_unpack_row(raw + nq_codes_row_at(&L, k), q->nvec, D->bits, q->S,
                          q->codes + (size_t)r * q->nvec * q->S);
        }
        free(raw);
    }
    return NQ_OK;
}

static nq_status parse_vq(distill *D, qview *q, nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(D->m, q->t);
    const nq_encoded *enc = D->enc[q->t];
    cJSON *meta = cJSON_Parse(enc->meta_json);
    const cJSON *vq = cJSON_GetObjectItemCaseSensitive(meta, "vq");
    const cJSON *rot = cJSON_GetObjectItemCaseSensitive(vq, "rotation");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(rot, "seed");
    int shared = cJSON_GetObjectItemCaseSensitive(vq, "codebook_set") != NULL;
    q->S = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(vq, "K"));
    q->has_mean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vq, "row_mean"));
    uint64_t rseed = cJSON_IsString(seed) ? strtoull(seed->valuestring, NULL, 10) : 0;
    int rotated = cJSON_IsObject(rot);
    cJSON_Delete(meta);
    if (!vq) return nq_fail(e, NQ_E_ARG, "tensor '%s': encoded entry has no vq record", ti->name);
    if (!shared)
        return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': end-to-end refinement needs the model-wide codebook set "
                       "(per-tensor codebooks are not refined)", ti->name);
    if (q->S < 1 || q->S > D->S)
        return nq_fail(e, NQ_E_ARG, "tensor '%s': uses %d codebook stages of a %d-stage set", ti->name, q->S, D->S);
    q->rows = ti->rows;
    q->cols = ti->cols;
    q->nvec = (ti->cols + D->d - 1) / D->d;
    const nq_part *np = find_part(enc, NQ_PART_NORM, -1);
    if (!np) return nq_fail(e, NQ_E_ARG, "tensor '%s': encoded entry has no normalization part", ti->name);
    uint8_t *raw;
    nq_status st = nq_part_load(np, &raw, e);
    if (st) return st;
    st = nq_norm_part_read(raw, (size_t)np->raw_size, q->cols, &q->nm, ti->name, e);
    free(raw);
    if (st == NQ_OK && rotated) st = nq_rot_init(&q->nm.rot, q->cols, rseed, e);
    if (st) return st;
    q->mean = malloc((size_t)q->rows * sizeof *q->mean);
    q->codes = malloc((size_t)(q->rows * q->nvec * q->S) * sizeof *q->codes);
    if (!q->mean || !q->codes || !adam_init(&q->sc, (size_t)q->rows, LR_SCALE_CODE * D->lr))
        return nq_fail(e, NQ_E_NOMEM, "out of memory");
    return parse_codes(D, q, enc, ti->name, e);
}

/* The shared centroids from the SHARED parts any vq tensor carries. */
static nq_status parse_shared(distill *D, const nq_encoded *enc, nq_err *e) {
    for (int k = 0; k < D->S; k++) {
        const nq_part *p = find_part(enc, NQ_PART_SHARED, k);
        size_t n = (size_t)D->K[k] * D->d;
        if (!p || p->raw_size != 2 * n) return nq_fail(e, NQ_E_ARG, "shared codebook stage %d is missing or has the wrong size", k);
        uint8_t *raw;
        nq_status st = nq_part_load(p, &raw, e);
        if (st) return st;
        if (!adam_init(&D->cb[k], n, LR_CENTROID * D->lr) || !(D->C[k] = malloc(n * sizeof(float)))) {
            free(raw);
            return nq_fail(e, NQ_E_NOMEM, "out of memory");
        }
        nq_convert_to_f32(NQ_DT_F16, raw, n, D->cb[k].p);
        free(raw);
    }
    round_codebooks(D);
    return NQ_OK;
}

static int is_vq(const nq_encoded *enc) { return enc && find_part(enc, NQ_PART_CODES, -1) != NULL; }

static nq_status add_qview(distill *D, int t, float *w, const float *grad, nq_err *e) {
    if (t < 0 || !is_vq(D->enc[t])) return NQ_OK;
    for (int i = 0; i < D->nq; i++)
        if (D->q[i].t == t) return NQ_OK; /* tied embedding and lm_head: one tensor */
    qview *q = &D->q[D->nq++];
    memset(q, 0, sizeof *q);
    q->t = t;
    q->w = w;
    q->grad = grad;
    return parse_vq(D, q, e);
}

static nq_status add_nview(distill *D, int t, float *w, const float *grad, nq_err *e) {
    const nq_tensor_info *ti = nq_model_tensor(D->m, t);
    const nq_encoded *enc = D->enc[t];
    if (!enc || is_vq(enc) || enc->nparts != 1 || enc->parts[0].kind != NQ_PART_RAW) return NQ_OK;
    if (ti->dtype != NQ_DT_F32 && ti->dtype != NQ_DT_F16 && ti->dtype != NQ_DT_BF16) return NQ_OK;
    nview *v = &D->nv[D->nn++];
    memset(v, 0, sizeof *v);
    v->t = t;
    v->dtype = ti->dtype;
    v->w = w;
    v->grad = grad;
    if (!adam_init(&v->a, (size_t)ti->cols, LR_NORM * D->lr)) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    memcpy(v->a.p, w, (size_t)ti->cols * sizeof(float));
    return NQ_OK;
}

/* Views of every refinable value the student model uses. */
static nq_status collect_views(distill *D, nq_err *e) {
    nq_llama *l = D->student;
    nq_llama_grads *G = nq_train_grads(D->tr);
    int nl = l->c.n_layers;
    D->q = calloc((size_t)nl * W_LINEARS + 2, sizeof *D->q);
    D->nv = calloc((size_t)nl * 2 + 1, sizeof *D->nv);
    size_t wide = (size_t)l->c.dim, qd = (size_t)l->c.n_heads * l->c.head_dim;
    if ((size_t)l->c.hidden > wide) wide = (size_t)l->c.hidden;
    if (qd > wide) wide = qd;
    D->row = malloc(wide * sizeof(float));
    D->u = malloc((wide + 64) * sizeof(float));
    if (!D->q || !D->nv || !D->row || !D->u) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_status st = NQ_OK;
    for (int b = 0; b < nl && st == NQ_OK; b++) {
        llama_layer *L = &l->layers[b], *GL = &G->layers[b];
        for (int w = 0; w < W_LINEARS && st == NQ_OK; w++) st = add_qview(D, L->tensor[w], L->w[w], GL->w[w], e);
        if (st == NQ_OK) st = add_nview(D, L->attn_norm_tensor, L->attn_norm, GL->attn_norm, e);
        if (st == NQ_OK) st = add_nview(D, L->mlp_norm_tensor, L->mlp_norm, GL->mlp_norm, e);
    }
    if (st == NQ_OK) st = add_nview(D, l->final_norm_tensor, l->final_norm, G->final_norm, e);
    if (st == NQ_OK) st = add_qview(D, l->lm_head_tensor, l->lm_head, G->lm_head, e);
    if (st == NQ_OK && l->embed != l->lm_head) st = add_qview(D, l->embed_tensor, l->embed, G->embed, e);
    return st;
}

/* ------------------------------------------------------------------ training */

/* Mean KL and cosine of the student against the teacher on the held-out windows. */
static nq_status held_out(const nq_llama *teacher, const nq_llama *student, const int32_t *tokens, int ctx, int nheld,
                          size_t first, double *kl, double *cs, nq_err *e) {
    nq_llama_state *a = NULL, *b = NULL;
    nq_status st = nq_llama_state_new(&a, teacher, ctx, ctx, e);
    if (st == NQ_OK) st = nq_llama_state_new(&b, student, ctx, ctx, e);
    nq_eval_sums sums = {0};
    for (int h = 0; h < nheld && st == NQ_OK; h++)
        st = nq_llama_eval_window(a, b, tokens + first + (size_t)h * (ctx + 1), ctx, &sums, e);
    nq_llama_state_free(a);
    nq_llama_state_free(b);
    *kl = sums.ntok ? sums.kl / (double)sums.ntok : 0;
    *cs = sums.ntok ? sums.cos / (double)sums.ntok : 0;
    return st;
}

static nq_status train(distill *D, const nq_llama *teacher, const int32_t *tokens, int ctx, int nwin,
                       nq_distill_report *rep, nq_err *e) {
    const nq_llama_config *c = &D->student->c;
    size_t nlog = (size_t)ctx * c->vocab, nhid = (size_t)c->n_layers * ctx * c->dim;
    float *tl = malloc(nlog * sizeof *tl), *th = malloc(nhid * sizeof *th);
    nq_status st = tl && th ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "end-to-end refinement: out of memory");
    nq_llama_grads *G = nq_train_grads(D->tr);
    int tied = D->student->lm_head == D->student->embed;
    for (int step = 1; step <= D->s->e2e_steps && st == NQ_OK; step++) {
        const int32_t *win = tokens + (size_t)((step - 1) % nwin) * ctx;
        nq_train_loss L;
        if ((st = nq_train_teacher(teacher, win, ctx, tl, th, e))) break;
        nq_train_zero_grads(D->tr);
        if ((st = nq_train_step(D->tr, win, tl, th, D->s->e2e_lambda, 1, &L, e))) break;
        if (step == 1) rep->loss_first = L.kl + D->s->e2e_lambda * L.cos;
        rep->loss_last = L.kl + D->s->e2e_lambda * L.cos;
        if (tied && G->lm_head && G->embed)
            for (size_t i = 0; i < (size_t)c->vocab * c->dim; i++) G->lm_head[i] += G->embed[i];
        for (int i = 0; i < D->nq; i++) backprop(D, &D->q[i]);
        for (int i = 0; i < D->nn; i++) memcpy(D->nv[i].a.g, D->nv[i].grad, D->nv[i].a.n * sizeof(float));
        for (int k = 0; k < D->S; k++) adam_step(&D->cb[k], step);
        for (int i = 0; i < D->nq; i++) adam_step(&D->q[i].sc, step);
        for (int i = 0; i < D->nn; i++) adam_step(&D->nv[i].a, step);
        round_codebooks(D);
        rebuild_all(D);
        rep->steps = step;
    }
    free(tl);
    free(th);
    return st;
}

/* ------------------------------------------------------------------ writing back */

/* Replace part p's bytes by raw (ownership taken); counted parts change stored_bytes. */
static nq_status restore(const distill *D, nq_encoded *enc, nq_part *p, uint8_t *raw, size_t n, int counted, nq_err *e) {
    uint64_t old = p->size;
    free(p->data);
    p->data = NULL;
    nq_status st = nq_part_store(p, raw, n, D->s->zstd_level, e);
    if (counted) enc->stored_bytes = enc->stored_bytes - old + p->size;
    return st;
}

/* The manifest entry's sizes and error after the change; what changed goes under `key`. */
static nq_status update_meta(nq_encoded *enc, const char *key, cJSON *what, nq_err *e) {
    cJSON *o = cJSON_Parse(enc->meta_json);
    if (!o) { cJSON_Delete(what); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    cJSON_ReplaceItemInObjectCaseSensitive(o, "stored_bytes", cJSON_CreateNumber((double)enc->stored_bytes));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "bits_per_weight", cJSON_CreateNumber(
        enc->weights ? (double)enc->stored_bytes * 8.0 / (double)enc->weights : 0));
    cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (err) {
        cJSON_ReplaceItemInObjectCaseSensitive(err, "sse", cJSON_CreateNumber(enc->sse));
        cJSON_ReplaceItemInObjectCaseSensitive(err, "sqnr_db", cJSON_CreateNumber(nq_sqnr_db(enc->sse, enc->signal)));
    }
    cJSON *s3 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "vq"), "stage3");
    cJSON_AddItemToObject(s3 ? s3 : o, key, what);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    free(enc->meta_json);
    enc->meta_json = text;
    return NQ_OK;
}

static nq_status patch_vq(distill *D, qview *q, nq_err *e) {
    nq_encoded *enc = D->enc[q->t];
    nq_status st = NQ_OK;
    int64_t changed = 0;
    for (int i = 0; i < enc->nparts && st == NQ_OK; i++) {
        nq_part *p = &enc->parts[i];
        if (p->kind != NQ_PART_CODES) continue;
        uint8_t *raw;
        if ((st = nq_part_load(p, &raw, e))) break;
        int64_t n = p->b - p->a;
        uint8_t *sc = raw + nq_codes_layout_of(q->has_mean, n, 0).scales;
        for (int64_t k = 0; k < n; k++) {
            uint8_t c = code_of(q->sc.p[p->a + k]);
            changed += sc[k] != c;
            sc[k] = c;
        }
        st = restore(D, enc, p, raw, (size_t)p->raw_size, 1, e);
    }
    double sse = 0;
    for (int64_t r = 0; r < q->rows && st == NQ_OK; r++) {
        if ((st = nq_model_read_rows(D->m, q->t, r, 1, D->row, e))) break;
        for (int64_t j = 0; j < q->cols; j++) {
            double diff = (double)D->row[j] - q->w[(size_t)r * q->cols + j];
            sse += diff * diff;
        }
    }
    if (st) return st;
    enc->sse = sse;
    cJSON *what = cJSON_CreateObject();
    cJSON_AddNumberToObject(what, "scale_codes_changed", (double)changed);
    return update_meta(enc, "end_to_end", what, e);
}

static nq_status patch_norm(distill *D, nview *v, nq_err *e) {
    nq_encoded *enc = D->enc[v->t];
    size_t n = v->a.n, es = v->dtype == NQ_DT_F32 ? 4 : 2;
    uint8_t *raw = malloc(n * es);
    if (!raw) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_convert_from_f32(v->dtype, v->w, n, raw);
    nq_status st = restore(D, enc, &enc->parts[0], raw, n * es, 1, e);
    return st ? st : update_meta(enc, "refined", cJSON_CreateString("end to end against the teacher (stage 3)"), e);
}

static nq_status patch_shared(distill *D, nq_err *e) {
    int nt = nq_model_tensor_count(D->m);
    nq_status st = NQ_OK;
    for (int t = 0; t < nt && st == NQ_OK; t++)
        for (int i = 0; i < D->enc[t]->nparts && st == NQ_OK; i++) {
            nq_part *p = &D->enc[t]->parts[i];
            if (p->kind != NQ_PART_SHARED) continue;
            size_t n = D->cb[p->b].n;
            uint8_t *raw = malloc(2 * n);
            if (!raw) return nq_fail(e, NQ_E_NOMEM, "out of memory");
            nq_convert_from_f32(NQ_DT_F16, D->C[p->b], n, raw);
            st = restore(D, D->enc[t], p, raw, 2 * n, 0, e);
        }
    return st;
}

static nq_status patch_all(distill *D, nq_err *e) {
    nq_status st = patch_shared(D, e);
    for (int i = 0; i < D->nq && st == NQ_OK; i++) st = patch_vq(D, &D->q[i], e);
    for (int i = 0; i < D->nn && st == NQ_OK; i++) st = patch_norm(D, &D->nv[i], e);
    return st;
}

/* ------------------------------------------------------------------ entry */

static void distill_free(distill *D) {
    for (int i = 0; i < D->nq; i++) {
        nq_norm_free(&D->q[i].nm);
        free(D->q[i].mean);
        free(D->q[i].codes);
        adam_free(&D->q[i].sc);
    }
    for (int i = 0; i < D->nn; i++) adam_free(&D->nv[i].a);
    for (int k = 0; k < NQ_MAX_STAGES; k++) { adam_free(&D->cb[k]); free(D->C[k]); }
    free(D->q);
    free(D->nv);
    free(D->row);
    free(D->u);
    nq_train_free(D->tr);
    nq_llama_free(D->student);
}

static nq_status setup(distill *D, const nq_llama *teacher, nq_err *e) {
    int nt = nq_model_tensor_count(D->m), first = -1;
    for (int t = 0; t < nt; t++) {
        if (!D->enc[t]) return nq_fail(e, NQ_E_ARG, "end-to-end refinement: tensor %d is not encoded", t);
        if (first < 0 && find_part(D->enc[t], NQ_PART_SHARED, -1)) first = t;
    }
    if (first < 0)
        return nq_fail(e, NQ_E_UNSUPPORTED, "end-to-end refinement needs the model-wide codebook set "
                       "(no tensor carries it)");
    double sse = 0, signal = 0;
    for (int t = 0; t < nt; t++) {
        sse += D->enc[t]->sse;
        signal += D->enc[t]->signal;
    }
    D->lr = (float)(D->s->e2e_lr * (signal > 0 ? sqrt(sse / signal) : 0.0));
    nq_status st = nq_llama_load(&D->student, D->m, nq_llama_get_config(teacher), e);
    if (st) return st;
    const nq_llama *l = D->student;
    int tied = l->lm_head == l->embed, lm = is_vq(D->enc[l->lm_head_tensor]);
    int emb = is_vq(D->enc[l->embed_tensor]) || (tied && lm);
    if ((st = nq_train_new(&D->tr, D->student, D->tr_ctx, lm, emb, e))) return st;
    if ((st = parse_shared(D, D->enc[first], e))) return st;
    return collect_views(D, e);
}

/* The student from the encodes (every vq tensor decoded as stored), ready to train. */
static nq_status distill_init(distill *D, nq_encoded **enc, const nq_model *m, const nq_settings *s,
                              const nq_llama *teacher, int ctx, nq_err *e) {
    *D = (distill){.m = m, .s = s, .enc = enc, .S = s->nstages, .d = s->d, .tr_ctx = ctx};
    for (int k = 0; k < s->nstages; k++) {
        D->K[k] = s->K[k];
        while ((1 << D->bits[k]) < s->K[k]) D->bits[k]++;
    }
    nq_status st = setup(D, teacher, e);
    if (st == NQ_OK) rebuild_all(D);
    return st;
}

nq_status nq_distill_sensitivity(nq_encoded **enc, const nq_model *m, const nq_settings *s, const nq_llama *teacher,
                                 const int32_t *tokens, size_t ntok, int ctx, int nwin, double *score, nq_err *e) {
    for (int t = 0; t < nq_model_tensor_count(m); t++) score[t] = 0;
    if (ctx < 1 || nwin < 1 || ntok < (size_t)nwin * (size_t)ctx)
        return nq_fail(e, NQ_E_ARG, "sensitivity: %zu calibration tokens make no %d windows of %d", ntok, nwin, ctx);
    const nq_llama_config *c = nq_llama_get_config(teacher);
    size_t nlog = (size_t)ctx * c->vocab, nhid = (size_t)c->n_layers * ctx * c->dim;
    float *tl = malloc(nlog * sizeof *tl), *th = malloc(nhid * sizeof *th);
    if (!tl || !th) { free(tl); free(th); return nq_fail(e, NQ_E_NOMEM, "sensitivity: out of memory"); }
    distill D;
    nq_status st = distill_init(&D, enc, m, s, teacher, ctx, e);
    nq_llama_grads *G = st == NQ_OK ? nq_train_grads(D.tr) : NULL;
    int tied = st == NQ_OK && D.student->lm_head == D.student->embed;
    for (int k = 0; k < nwin && st == NQ_OK; k++) {
        const int32_t *win = tokens + (size_t)k * ctx;
        nq_train_loss L;
        if ((st = nq_train_teacher(teacher, win, ctx, tl, th, e))) break;
        nq_train_zero_grads(D.tr);
        if ((st = nq_train_step(D.tr, win, tl, th, s->e2e_lambda, 1, &L, e))) break;
        if (tied && G->lm_head && G->embed)
            for (size_t i = 0; i < (size_t)c->vocab * c->dim; i++) G->lm_head[i] += G->embed[i];
        for (int i = 0; i < D.nq && st == NQ_OK; i++) {
            const qview *q = &D.q[i];
            double acc = 0;
            for (int64_t r = 0; r < q->rows && st == NQ_OK; r++) {
                if ((st = nq_model_read_rows(m, q->t, r, 1, D.row, e))) break;
                const float *g = q->grad + (size_t)r * q->cols, *wq = q->w + (size_t)r * q->cols;
                for (int64_t j = 0; j < q->cols; j++) acc += (double)g[j] * ((double)wq[j] - D.row[j]);
            }
            score[q->t] += acc / nwin;
        }
    }
    distill_free(&D);
    free(tl);
    free(th);
    return st;
}

nq_status nq_distill(nq_encoded **enc, const nq_model *m, const nq_settings *s, const nq_llama *teacher,
                     const int32_t *tokens, size_t ntok, int ctx, nq_distill_report *rep, nq_err *e) {
    memset(rep, 0, sizeof *rep);
    nq_status st = nq_settings_check(s, e);
    if (st || s->e2e_steps == 0) return st;
    if (ctx < 1) return nq_fail(e, NQ_E_ARG, "end-to-end refinement: window of %d tokens", ctx);
    int nheld = 4;
    while (nheld > 1 && ntok < (size_t)nheld * (ctx + 1) + (size_t)ctx) nheld--;
    if (ntok < (size_t)nheld * (ctx + 1) + (size_t)ctx)
        return nq_fail(e, NQ_E_ARG, "calibration: %zu tokens are too few for end-to-end refinement "
                       "(one training window and one held-out window need %d)", ntok, 2 * ctx + 1);
    size_t first_held = ntok - (size_t)nheld * (ctx + 1);
    distill D;
    st = distill_init(&D, enc, m, s, teacher, ctx, e);
    if (st == NQ_OK) {
        rep->windows_train = (int)(first_held / (size_t)ctx);
        rep->windows_eval = nheld;
        rep->lr_factor = D.lr;
        for (int i = 0; i < D.nq; i++) rep->params += (int64_t)D.q[i].rows;
        for (int i = 0; i < D.nn; i++) rep->params += (int64_t)D.nv[i].a.n;
        for (int k = 0; k < D.S; k++) rep->params += (int64_t)D.cb[k].n;
        st = held_out(teacher, D.student, tokens, ctx, nheld, first_held, &rep->kl_before, &rep->cos_before, e);
    }
    if (st == NQ_OK) st = train(&D, teacher, tokens, ctx, rep->windows_train, rep, e);
    if (st == NQ_OK) st = held_out(teacher, D.student, tokens, ctx, nheld, first_held, &rep->kl_after, &rep->cos_after, e);
    rep->accepted = st == NQ_OK && rep->kl_after < rep->kl_before;
    if (rep->accepted) st = patch_all(&D, e);
    distill_free(&D);
    return st;
}
