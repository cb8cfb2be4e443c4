/* stage2_plan.c - what all tensor encodes of one model share: the model-wide codebook set
 * (stage 2 trained once on a bounded, deterministic sample of every quantizable tensor)
 * and the calibration statistics of stage 3.
 *
 * Sample: tensor t contributes about train_vectors * weights_t / weights_total vectors
 * (at least one row), from evenly spaced rows; each row is rotated as stage 1 rotates it (when
 * settings rotate), divided by its root mean square (the stage-1 scale of a row without a
 * stored mean) and cut into zero-padded d-vectors. Stages are trained by greedy residual
 * k-means, then refit jointly (additive.c) when settings ask for it. Under mixed precision
 * (base_stages < nstages) the base stages are trained that way on their own and the extra
 * stages on what the base stages leave (train_mixed); plan->stages says which stages each
 * tensor uses (nq_mixed_allocate sets it).
 * Tensors are visited in name order, so the sample, and with it the codebooks, depend
 * only on the tensors' names and bytes and the settings, not on their order in the files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "compress/stages.h"
#include "common/dtype.h"

uint64_t nq_stage_seed(const char *name, uint64_t seed, int64_t group, int stage) {
    uint64_t h = nq_hash_str(name, 0xcbf29ce484222325ull ^ seed);
    return h ^ ((uint64_t)group * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(stage + 1) << 56);
}

nq_status nq_train_stages(float *X, int64_t n, const nq_settings *s, const char *name, int64_t group,
                          float **C, uint8_t **raw, nq_err *e) {
    int d = s->d, joint = s->joint && s->nstages > 1;
    float *X0 = joint ? malloc((size_t)(n > 0 ? n : 1) * d * sizeof *X0) : NULL;
    if (joint && !X0) return nq_fail(e, NQ_E_NOMEM, "codebook training: out of memory");
    if (X0) memcpy(X0, X, (size_t)n * d * sizeof *X0);
    nq_status rc = NQ_OK;
    for (int st = 0; st < s->nstages && rc == NQ_OK; st++) {
        int K = s->K[st];
        rc = nq_kmeans(X, n, d, K, s->kmeans_iters, nq_stage_seed(name, s->seed, group, st), C[st], e);
        for (int64_t i = 0; i < n && rc == NQ_OK; i++) { /* residuals for the next stage */
            float *x = X + i * d;
            int c = nq_k_nearest(x, C[st], K, d, NULL);
            for (int j = 0; j < d; j++) x[j] -= C[st][(int64_t)c * d + j];
        }
    }
    if (rc == NQ_OK && joint) rc = nq_vq_joint_refine(X0, n, d, C, s->K, s->nstages, NQ_JOINT_TRAIN_ROUNDS, e);
    free(X0);
    for (int st = 0; st < s->nstages && rc == NQ_OK; st++) /* stored fp16: encode with what is stored */
        nq_f16_round(C[st], (size_t)s->K[st] * d, raw ? raw[st] : NULL);
    return rc;
}

void nq_plan_free(nq_plan *p) {
    if (!p) return;
    for (int s = 0; s < NQ_MAX_STAGES; s++) { free(p->C[s]); free(p->raw[s]); }
    free(p->stages);
    free(p);
}

int nq_plan_stages(const nq_plan *p, const nq_settings *s, int t) {
    if (p && p->stages && t >= 0 && t < p->ntensors && p->stages[t] > 0) return p->stages[t];
    return s->base_stages > 0 ? s->base_stages : s->nstages;
}

/* Mixed precision (base_stages < nstages): the base stages are trained (and refit jointly) as
 * a set of their own, since most tensors use them alone; the extra stages are greedy k-means
 * on what the base stages, coded as the encoder codes them (beam search), leave over. */
static nq_status train_mixed(const float *X, int64_t n, const nq_settings *s, nq_plan *p, nq_err *e) {
    nq_settings b = *s;
    b.nstages = s->base_stages;
    int d = s->d;
    float *R = malloc((size_t)(n > 0 ? n : 1) * d * sizeof *R);
    if (!R) return nq_fail(e, NQ_E_NOMEM, "shared codebook: out of memory");
    memcpy(R, X, (size_t)n * d * sizeof *R);
    nq_status st = nq_train_stages(R, n, &b, "", 0, p->C, p->raw, e);
    uint16_t codes[NQ_MAX_STAGES];
    float u[64];
    for (int64_t i = 0; i < n && st == NQ_OK; i++) {
        const float *x = X + i * d;
        nq_vq_beam((const float *const *)p->C, s->K, b.nstages, d, x, codes, s->beam);
        nq_vq_reconstruct((const float *const *)p->C, codes, b.nstages, d, u);
        for (int j = 0; j < d; j++) R[i * d + j] = x[j] - u[j];
    }
    for (int k = b.nstages; k < s->nstages && st == NQ_OK; k++) {
        int K = s->K[k];
        st = nq_kmeans(R, n, d, K, s->kmeans_iters, nq_stage_seed("", s->seed, 0, k), p->C[k], e);
        if (st == NQ_OK) nq_f16_round(p->C[k], (size_t)K * d, p->raw[k]);
        for (int64_t i = 0; i < n && st == NQ_OK; i++) {
            float *x = R + i * d;
            int c = nq_k_nearest(x, p->C[k], K, d, NULL);
            for (int j = 0; j < d; j++) x[j] -= p->C[k][(int64_t)c * d + j];
        }
    }
    free(R);
    return st;
}

/* Rows sampled from tensor t for a share of `want` vectors. */
static int64_t sample_rows(const nq_tensor_info *ti, int d, double want) {
    int64_t nvec = (ti->cols + d - 1) / d, rows = (int64_t)ceil(want / (double)nvec);
    if (rows < 1) rows = 1;
    return rows > ti->rows ? ti->rows : rows;
}

static void rms_vectors(float *w, int64_t cols, int d, const nq_rot *rot, float *X) {
    if (rot->block) nq_rot_forward(rot, w);
    double sq = 0;
    for (int64_t j = 0; j < cols; j++) sq += (double)w[j] * w[j];
    double rms = cols ? sqrt(sq / (double)cols) : 0;
    float inv = rms > 0 && rms < 1e300 ? (float)(1.0 / rms) : 0.0f;
    int64_t nvec = (cols + d - 1) / d;
    for (int64_t k = 0; k < nvec * d; k++) X[k] = k < cols ? w[k] * inv : 0.0f;
}

/* Quantizable tensors in name order: the sample must not depend on how a model's tensors
 * are ordered or split across shard files (the same weights give the same codebooks). */
static int *by_name(const nq_model *m, const nq_settings *s, int *count) {
    int nt = nq_model_tensor_count(m), n = 0;
    int *v = malloc((size_t)(nt ? nt : 1) * sizeof *v);
    if (!v) return NULL;
    for (int t = 0; t < nt; t++)
        if (nq_should_quantize(m, t, s)) v[n++] = t;
    for (int i = 1; i < n; i++) /* insertion sort: stable, no comparator context needed */
        for (int j = i; j > 0 && strcmp(nq_model_tensor(m, v[j - 1])->name, nq_model_tensor(m, v[j])->name) > 0; j--) {
            int x = v[j]; v[j] = v[j - 1]; v[j - 1] = x;
        }
    *count = n;
    return v;
}

static nq_status shared_sample(const nq_model *m, const nq_settings *s, float **X, int64_t *n, nq_err *e) {
    int nt = 0, d = s->d;
    int *order = by_name(m, s, &nt);
    if (!order) return nq_fail(e, NQ_E_NOMEM, "shared codebook: out of memory");
    double total = 0;
    int64_t count = 0;
    for (int i = 0; i < nt; i++) total += (double)nq_model_tensor(m, order[i])->rows * nq_model_tensor(m, order[i])->cols;
    for (int i = 0; i < nt; i++) {
        const nq_tensor_info *ti = nq_model_tensor(m, order[i]);
        count += sample_rows(ti, d, s->train_vectors * ((double)ti->rows * ti->cols / total)) * ((ti->cols + d - 1) / d);
    }
    float *x = malloc((size_t)(count ? count : 1) * d * sizeof *x);
    if (!x) { free(order); return nq_fail(e, NQ_E_NOMEM, "shared codebook: out of memory for %lld sample vectors", (long long)count); }
    int64_t at = 0;
    for (int i = 0; i < nt; i++) {
        int t = order[i];
        const nq_tensor_info *ti = nq_model_tensor(m, t);
        int64_t take = sample_rows(ti, d, s->train_vectors * ((double)ti->rows * ti->cols / total));
        int64_t nvec = (ti->cols + d - 1) / d;
        float *w = malloc((size_t)ti->cols * sizeof *w);
        nq_rot rot = {0};
        nq_status rs = w ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "shared codebook: out of memory");
        if (rs == NQ_OK && s->rotate && nq_rot_block(ti->cols) > 1) rs = nq_rot_init(&rot, ti->cols, nq_rot_seed(ti->name, s->seed), e);
        if (rs) { free(w); free(x); free(order); return rs; }
        for (int64_t i = 0; i < take; i++) {
            nq_status rc = nq_model_read_rows(m, t, i * ti->rows / take, 1, w, e);
            if (rc) { free(w); free(x); free(order); nq_rot_free(&rot); return rc; }
            rms_vectors(w, ti->cols, d, &rot, x + at * d);
            at += nvec;
        }
        nq_rot_free(&rot);
        free(w);
    }
    free(order);
    *X = x;
    *n = at;
    return NQ_OK;
}

static int finite_all(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] > -3e38f && x[i] < 3e38f)) return 0;
    return 1;
}

nq_status nq_plan_build(nq_plan **out, const nq_model *m, const nq_settings *s, const nq_calib *calib, nq_err *e) {
    *out = NULL;
    nq_status st = nq_settings_check(s, e);
    if (st) return st;
    nq_plan *p = calloc(1, sizeof *p);
    if (!p) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    p->calib = calib;
    p->ntensors = nq_model_tensor_count(m);
    if (!(p->stages = calloc((size_t)(p->ntensors ? p->ntensors : 1), sizeof *p->stages))) {
        free(p);
        return nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    p->d = s->d;
    p->nstages = s->nstages;
    memcpy(p->K, s->K, sizeof p->K);
    if (!s->share_codebooks || s->scope_rows) { *out = p; return NQ_OK; }
    float *X = NULL;
    int64_t n = 0;
    st = shared_sample(m, s, &X, &n, e);
    if (st == NQ_OK && !finite_all(X, n * s->d)) { /* such tensors are kept raw anyway */
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (finite_all(X + i * s->d, s->d)) memmove(X + (k++) * s->d, X + i * s->d, (size_t)s->d * sizeof *X);
        n = k;
    }
    for (int i = 0; st == NQ_OK && i < s->nstages; i++) {
        p->C[i] = malloc((size_t)s->K[i] * s->d * sizeof(float));
        p->raw[i] = malloc((size_t)s->K[i] * s->d * 2);
        if (!p->C[i] || !p->raw[i]) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    int mixed = s->base_stages > 0 && s->base_stages < s->nstages;
    if (st == NQ_OK) st = mixed ? train_mixed(X, n, s, p, e) : nq_train_stages(X, n, s, "", 0, p->C, p->raw, e);
    free(X);
    if (st) { nq_plan_free(p); return st; }
    p->shared = 1;
    p->trained_vectors = n;
    *out = p;
    return NQ_OK;
}
