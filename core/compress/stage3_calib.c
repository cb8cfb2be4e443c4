/* stage3_calib.c - calibration statistics for stage 3: the second moment H = sum x x^T of the
 * inputs of every linear layer (and lm_head), gathered on the original model through the
 * forward-pass hooks (llama.c) over windows of calibration tokens.
 *
 * Each window's X (ntok x width) is added as X^T X: the upper triangle as f32 dot products
 * over the window's tokens, computed by the forward pass's matmul kernel (kernels_matmul.h:
 * 8 lanes in a fixed order, no FMA, the same bits for every SIMD variant) on the transposed
 * window in blocks of rows, each added to the f64 total; the lower triangle is mirrored at
 * the end. Windows run one after another, so the result does not depend on anything but the
 * tokens and the model. */
#include <stdlib.h>
#include <string.h>
#include "kernels/matmul.h"
#include "compress/stages.h"

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
    nq_mm_kernels k;    /* matmul kernel for the dot products (selected once) */
    float *xt;          /* scratch: width x ntok, transposed window */
    size_t xt_cap;
    float *dots;        /* scratch: ROWS x width f32 dot products of one block of rows */
    size_t dots_cap;
    nq_status st;       /* first failure inside the hook */
};

void nq_calib_free(nq_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->nsites; i++) free(c->sites[i].H);
    free(c->sites);
    free(c->tensor_site);
    free(c->xt);
    free(c->dots);
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

/* Rows of H per block: the f32 scratch holds ROWS x width dot products. */
enum { ROWS = 32 };

static int grow(float **p, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    float *np = realloc(*p, need * sizeof *np);
    if (!np) return 0;
    *p = np;
    *cap = need;
    return 1;
}

/* H += X^T X (upper triangle) for one window X (ntok x width). Block of rows [i0, i0 + rows): the
 * matmul kernel gives dot(xt row i, xt row j) for i in the block and j >= i0 in dot8 order
 * (kernels_matmul.h); the ones with j >= i are added to H in f64. */
static void accumulate(nq_calib *c, calib_site *s, const float *x, int ntok) {
    int w = s->width;
    if (!grow(&c->xt, &c->xt_cap, (size_t)w * (size_t)ntok) ||
        !grow(&c->dots, &c->dots_cap, (size_t)(w < ROWS ? w : ROWS) * (size_t)w)) {
        c->st = NQ_E_NOMEM;
        return;
    }
    for (int t0 = 0; t0 < ntok; t0 += 16) { /* 16 tokens at a time: one cache line per xt row */
        int t1 = ntok - t0 < 16 ? ntok : t0 + 16;
        for (int i = 0; i < w; i++)
            for (int t = t0; t < t1; t++) c->xt[(size_t)i * ntok + t] = x[(size_t)t * w + i];
    }
    for (int i0 = 0; i0 < w; i0 += ROWS) {
        int rows = w - i0 < ROWS ? w - i0 : ROWS, cols = w - i0;
        const float *xi = c->xt + (size_t)i0 * ntok;
        c->k.matmul(c->dots, cols, xi, ntok, xi, ntok, rows, cols, ntok);
        for (int r = 0; r < rows; r++) {
            const float *d = c->dots + (size_t)r * cols;
            double *h = s->H + (size_t)(i0 + r) * w + i0;
            for (int j = r; j < cols; j++) h[j] += d[j];
        }
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
    nq_mm_select(&c->k, NULL);
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
    free(c->dots);
    c->xt = c->dots = NULL;
    c->xt_cap = c->dots_cap = 0;
    *out = c;
    return NQ_OK;
}
