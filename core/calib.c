/* calib.c - calibration statistics for stage 3: the second moment H = sum x x^T of the
 * inputs of every linear layer (and lm_head), gathered on the original model through the
 * forward-pass hooks (llama.c) over windows of calibration tokens.
 *
 * Each window's X (ntok x width) is added as X^T X: the upper triangle as f32 dot products
 * over the window's tokens (8 lanes, fixed order), each added to the f64 total; the lower
 * triangle is mirrored at the end. Windows run one after another, so the result does not
 * depend on anything but the tokens and the model. */
#include <stdlib.h>
#include <string.h>
#include "quant.h"

typedef struct calib_site {
    int layer, site, width;
    double *H;
} calib_site;

struct nq_calib {
    calib_site *sites;
    int nsites;
    int *tensor_site;   /* model tensor index -> site, -1 if none */
    int ntensor_map;
    int64_t tokens;
    float *xt;          /* scratch: width x ntok, transposed window */
    size_t xt_cap;
    nq_status st;       /* first failure inside the hook */
};

void nq_calib_free(nq_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->nsites; i++) free(c->sites[i].H);
    free(c->sites);
    free(c->tensor_site);
    free(c->xt);
    free(c);
}

int64_t nq_calib_tokens(const nq_calib *c) { return c ? c->tokens : 0; }

const double *nq_calib_hessian(const nq_calib *c, int t, int64_t *cols) {
    if (!c || t < 0 || t >= c->ntensor_map || c->tensor_site[t] < 0) return NULL;
    const calib_site *s = &c->sites[c->tensor_site[t]];
    *cols = s->width;
    return s->H;
}

static calib_site *find_site(nq_calib *c, const nq_llama_act *a) {
    for (int i = 0; i < c->nsites; i++)
        if (c->sites[i].layer == a->layer && c->sites[i].site == (int)a->site) return &c->sites[i];
    calib_site *ns = realloc(c->sites, (size_t)(c->nsites + 1) * sizeof *ns);
    if (!ns) return NULL;
    c->sites = ns;
    calib_site *s = &c->sites[c->nsites];
    *s = (calib_site){a->layer, (int)a->site, a->width, calloc((size_t)a->width * (size_t)a->width, sizeof(double))};
    if (!s->H) return NULL;
    int idx = c->nsites++;
    for (int k = 0; k < a->ntensors; k++) {
        int t = a->tensors[k];
        if (t < 0) continue;
        if (t >= c->ntensor_map) {
            int *m = realloc(c->tensor_site, (size_t)(t + 1) * sizeof *m);
            if (!m) return NULL;
            for (int i = c->ntensor_map; i <= t; i++) m[i] = -1;
            c->tensor_site = m;
            c->ntensor_map = t + 1;
        }
        c->tensor_site[t] = idx;
    }
    return s;
}

/* Dot product of two f32 rows of length n in 8 lanes, combined pairwise. */
static float dot8(const float *a, const float *b, int n) {
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) l[j] += a[k + j] * b[k + j];
    for (; k < n; k++) l[k & 7] += a[k] * b[k];
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* dot8 of (a0, b0), (a0, b1), (a1, b0), (a1, b1) at once, each in dot8's exact order. */
static void dot8x4(const float *a0, const float *a1, const float *b0, const float *b1, int n, float r[4]) {
    float l00[8] = {0}, l01[8] = {0}, l10[8] = {0}, l11[8] = {0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) {
            float x0 = a0[k + j], x1 = a1[k + j], y0 = b0[k + j], y1 = b1[k + j];
            l00[j] += x0 * y0;
            l01[j] += x0 * y1;
            l10[j] += x1 * y0;
            l11[j] += x1 * y1;
        }
    for (; k < n; k++) {
        l00[k & 7] += a0[k] * b0[k];
        l01[k & 7] += a0[k] * b1[k];
        l10[k & 7] += a1[k] * b0[k];
        l11[k & 7] += a1[k] * b1[k];
    }
    const float *l[4] = {l00, l01, l10, l11};
    for (int q = 0; q < 4; q++)
        r[q] = ((l[q][0] + l[q][1]) + (l[q][2] + l[q][3])) + ((l[q][4] + l[q][5]) + (l[q][6] + l[q][7]));
}

static void accumulate(nq_calib *c, calib_site *s, const float *x, int ntok) {
    int w = s->width;
    size_t need = (size_t)w * (size_t)ntok;
    if (need > c->xt_cap) {
        float *nx = realloc(c->xt, need * sizeof *nx);
        if (!nx) { c->st = NQ_E_NOMEM; return; }
        c->xt = nx;
        c->xt_cap = need;
    }
    for (int t = 0; t < ntok; t++)
        for (int i = 0; i < w; i++) c->xt[(size_t)i * ntok + t] = x[(size_t)t * w + i];
    int i = 0;
    for (; i + 2 <= w; i += 2) { /* 2 x 2 tiles: the same sums as dot8, fewer loads */
        const float *a0 = c->xt + (size_t)i * ntok, *a1 = a0 + ntok;
        double *h0 = s->H + (size_t)i * w, *h1 = h0 + w;
        int j = i;
        for (; j + 2 <= w; j += 2) {
            float r[4];
            dot8x4(a0, a1, c->xt + (size_t)j * ntok, c->xt + (size_t)(j + 1) * ntok, ntok, r);
            h0[j] += r[0];
            h0[j + 1] += r[1];
            if (j > i) h1[j] += r[2]; /* (i+1, i) is below the diagonal */
            h1[j + 1] += r[3];
        }
        for (; j < w; j++) {
            h0[j] += dot8(a0, c->xt + (size_t)j * ntok, ntok);
            h1[j] += dot8(a1, c->xt + (size_t)j * ntok, ntok);
        }
    }
    for (; i < w; i++) {
        const float *xi = c->xt + (size_t)i * ntok;
        double *hi = s->H + (size_t)i * w;
        for (int j = i; j < w; j++) hi[j] += dot8(xi, c->xt + (size_t)j * ntok, ntok);
    }
}

static void on_act(void *ctx, const nq_llama_act *a) {
    nq_calib *c = ctx;
    if (c->st || a->ntensors == 0) return;
    if (a->site != NQ_SITE_ATTN_IN && a->site != NQ_SITE_O_IN && a->site != NQ_SITE_MLP_IN &&
        a->site != NQ_SITE_DOWN_IN && a->site != NQ_SITE_FINAL)
        return;
    calib_site *s = find_site(c, a);
    if (!s) { c->st = NQ_E_NOMEM; return; }
    accumulate(c, s, a->x, a->ntok);
}

static void mirror(nq_calib *c) {
    for (int k = 0; k < c->nsites; k++) {
        int w = c->sites[k].width;
        double *H = c->sites[k].H;
        for (int i = 0; i < w; i++)
            for (int j = 0; j < i; j++) H[(size_t)i * w + j] = H[(size_t)j * w + i];
    }
}

nq_status nq_calib_collect(nq_calib **out, const nq_llama *l, const int32_t *tokens, size_t ntok, int ctx,
                           int max_tokens, nq_err *e) {
    *out = NULL;
    if (ctx < 1 || max_tokens < 1) return nq_fail(e, NQ_E_ARG, "calibration: window %d and token cap %d must be >= 1", ctx, max_tokens);
    size_t nwin = ntok / (size_t)ctx;
    if ((size_t)max_tokens / (size_t)ctx < nwin) nwin = (size_t)max_tokens / (size_t)ctx;
    if (nwin == 0)
        return nq_fail(e, NQ_E_ARG, "calibration: %zu tokens make no full window of %d (cap %d)", ntok, ctx, max_tokens);
    nq_calib *c = calloc(1, sizeof *c);
    if (!c) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_llama_state *st;
    nq_status rc = nq_llama_state_new(&st, l, ctx, ctx, e);
    if (rc) { nq_calib_free(c); return rc; }
    nq_llama_state_set_hook(st, on_act, c);
    for (size_t w = 0; w < nwin && rc == NQ_OK; w++) {
        nq_llama_state_reset(st);
        rc = nq_llama_forward(st, tokens + w * (size_t)ctx, ctx, NULL, NULL, e);
        if (rc == NQ_OK && c->st) rc = nq_fail(e, c->st, "calibration: out of memory");
        c->tokens += ctx;
    }
    nq_llama_state_free(st);
    if (rc) { nq_calib_free(c); return rc; }
    mirror(c);
    free(c->xt);
    c->xt = NULL;
    c->xt_cap = 0;
    *out = c;
    return NQ_OK;
}
