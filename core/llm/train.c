/* train.c - one window of T tokens through the LLaMA forward pass with every
 * activation kept, and the backward pass of the distillation loss of stage 3 (distill.c):
 *
 *   loss = mean over positions t of KL(p_teacher(t) || p_student(t))
 *        + lambda * mean over blocks b and positions t of (1 - cos(h_teacher(b,t), h_student(b,t)))
 *
 * where h(b,t) is the residual stream after block b. The forward half is the inference
 * pass's own block (nq_llama_block) pointed at per-layer arrays that keep every activation,
 * so with equal weights it gives the inference pass's bits (tests/test_train.c checks it).
 * The backward half is the textbook chain rule in f32 for RMSNorm, RoPE attention (causal,
 * grouped KV heads), SwiGLU and the linears; every matrix product runs through the same
 * deterministic kernels (transposed operands are materialized), so gradients are the same
 * bits on every target. Gradients are added into the caller-visible nq_llama_grads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "llm/llama_internal.h"
#include "llm/math.h"

struct nq_train {
    const nq_llama *l;
    int T;
    /* kept activations, per layer (index b) */
    float *x;              /* [L+1][T][d]: stream entering block b; x[L] leaves the last */
    float *xm;             /* [L][T][d]: stream after the attention half */
    float *h1, *h2;        /* [L][T][d]: the two RMSNorm outputs */
    float *q, *k, *v, *a;  /* [L][T][qd | kvd]: q, k after RoPE; a = attention output */
    float *P;              /* [L][H][T][T]: attention probabilities, zero above the diagonal */
    float *g, *u, *m;      /* [L][T][hidden]: gate before SiLU, up, silu(g) * u */
    float *hf, *logits;    /* [T][d], [T][V] */
    float *cosv, *sinv;    /* [T][hd/2] */
    /* backward scratch */
    float *dx, *dxm, *dh, *tmp, *dq, *dk, *dv, *da, *dg, *du, *dm, *dlog, *dP, *trA, *trB, *wt;
    nq_llama_grads gr;
};

static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

void nq_train_free(nq_train *t) {
    if (!t) return;
    float *bufs[] = {t->x, t->xm, t->h1, t->h2, t->q, t->k, t->v, t->a, t->P, t->g, t->u, t->m, t->hf,
                     t->logits, t->cosv, t->sinv, t->dx, t->dxm, t->dh, t->tmp, t->dq, t->dk, t->dv, t->da,
                     t->dg, t->du, t->dm, t->dlog, t->dP, t->trA, t->trB, t->wt,
                     t->gr.final_norm, t->gr.lm_head, t->gr.embed};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (t->gr.layers)
        for (int b = 0; b < t->l->c.n_layers; b++) {
            free(t->gr.layers[b].attn_norm);
            free(t->gr.layers[b].mlp_norm);
            for (int w = 0; w < W_LINEARS; w++) free(t->gr.layers[b].w[w]);
        }
    free(t->gr.layers);
    free(t);
}

/* Rows and columns of linear w of a block. */
static void linear_shape(const nq_llama_config *c, int w, int *rows, int *cols) {
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    static const int kind[W_LINEARS] = {0, 1, 1, 2, 3, 3, 4};
    int r[5] = {qd, kvd, c->dim, c->hidden, c->dim}, k[5] = {c->dim, c->dim, qd, c->dim, c->hidden};
    *rows = r[kind[w]];
    *cols = k[kind[w]];
}

static int alloc_grads(nq_train *t, int want_lm_head, int want_embed) {
    const nq_llama_config *c = &t->l->c;
    t->gr.layers = calloc((size_t)c->n_layers, sizeof *t->gr.layers);
    if (!t->gr.layers) return 0;
    for (int b = 0; b < c->n_layers; b++) {
        llama_layer *G = &t->gr.layers[b];
        if (!(G->attn_norm = falloc((size_t)c->dim)) || !(G->mlp_norm = falloc((size_t)c->dim))) return 0;
        for (int w = 0; w < W_LINEARS; w++) {
            int r, k;
            linear_shape(c, w, &r, &k);
            if (!(G->w[w] = falloc((size_t)r * k))) return 0;
        }
    }
    size_t vd = (size_t)c->vocab * c->dim;
    if (!(t->gr.final_norm = falloc((size_t)c->dim))) return 0;
    if (want_lm_head && !(t->gr.lm_head = falloc(vd))) return 0;
    if (want_embed && !(t->gr.embed = falloc(vd))) return 0;
    return 1;
}

nq_status nq_train_new(nq_train **out, const nq_llama *l, int T, int want_lm_head, int want_embed, nq_err *e) {
    *out = NULL;
    const nq_llama_config *c = &l->c;
    if (T < 1 || T > c->max_pos) return nq_fail(e, NQ_E_ARG, "train: window of %d tokens (model allows 1..%d)", T, c->max_pos);
    nq_train *t = calloc(1, sizeof *t);
    if (!t) return nq_fail(e, NQ_E_NOMEM, "train: out of memory");
    t->l = l;
    t->T = T;
    size_t L = (size_t)c->n_layers, d = (size_t)c->dim, H = (size_t)c->n_heads, hid = (size_t)c->hidden;
    size_t qd = H * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim, V = (size_t)c->vocab, n = (size_t)T;
    size_t wide = qd > d ? qd : d, big = hid > wide ? hid : wide, most = V > big ? V : big;
    t->x = falloc((L + 1) * n * d);
    t->xm = falloc(L * n * d);
    t->h1 = falloc(L * n * d);
    t->h2 = falloc(L * n * d);
    t->q = falloc(L * n * qd);
    t->k = falloc(L * n * kvd);
    t->v = falloc(L * n * kvd);
    t->a = falloc(L * n * qd);
    t->P = falloc(L * H * n * n);
    t->g = falloc(L * n * hid);
    t->u = falloc(L * n * hid);
    t->m = falloc(L * n * hid);
    t->hf = falloc(n * d);
    t->logits = falloc(n * V);
    t->cosv = falloc(n * (c->head_dim / 2));
    t->sinv = falloc(n * (c->head_dim / 2));
    t->dx = falloc(n * d);
    t->dxm = falloc(n * d);
    t->dh = falloc(n * d);
    t->tmp = falloc(n * big);
    t->dq = falloc(n * qd);
    t->dk = falloc(n * kvd);
    t->dv = falloc(n * kvd);
    t->da = falloc(n * qd);
    t->dg = falloc(n * hid);
    t->du = falloc(n * hid);
    t->dm = falloc(n * hid);
    t->dlog = falloc(n * V);
    t->dP = falloc(n * n);
    t->trA = falloc(most * n > n * n ? most * n : n * n);
    t->trB = falloc(most * n > n * n ? most * n : n * n);
    t->wt = falloc(V * d > hid * d ? V * d : hid * (wide > d ? wide : d));
    int ok = t->x && t->xm && t->h1 && t->h2 && t->q && t->k && t->v && t->a && t->P && t->g && t->u && t->m &&
             t->hf && t->logits && t->cosv && t->sinv && t->dx && t->dxm && t->dh && t->tmp && t->dq && t->dk &&
             t->dv && t->da && t->dg && t->du && t->dm && t->dlog && t->dP && t->trA && t->trB && t->wt &&
             alloc_grads(t, want_lm_head, want_embed);
    if (!ok) {
        nq_train_free(t);
        return nq_fail(e, NQ_E_NOMEM, "train: out of memory for a %d-token window", T);
    }
    for (int p = 0; p < T; p++)
        nq_llama_rope_row(l, p, t->cosv + (size_t)p * (c->head_dim / 2), t->sinv + (size_t)p * (c->head_dim / 2));
    *out = t;
    return NQ_OK;
}

nq_llama_grads *nq_train_grads(nq_train *t) { return &t->gr; }

void nq_train_zero_grads(nq_train *t) {
    const nq_llama_config *c = &t->l->c;
    size_t d = (size_t)c->dim, vd = (size_t)c->vocab * d;
    for (int b = 0; b < c->n_layers; b++) {
        llama_layer *G = &t->gr.layers[b];
        memset(G->attn_norm, 0, d * sizeof(float));
        memset(G->mlp_norm, 0, d * sizeof(float));
        for (int w = 0; w < W_LINEARS; w++) {
            int r, k;
            linear_shape(c, w, &r, &k);
            memset(G->w[w], 0, (size_t)r * k * sizeof(float));
        }
    }
    memset(t->gr.final_norm, 0, d * sizeof(float));
    if (t->gr.lm_head) memset(t->gr.lm_head, 0, vd * sizeof(float));
    if (t->gr.embed) memset(t->gr.embed, 0, vd * sizeof(float));
}

const float *nq_train_logits(const nq_train *t) { return t->logits; }
const float *nq_train_hidden(const nq_train *t, int block) {
    return t->x + (size_t)(block + 1) * t->T * t->l->c.dim;
}

/* ------------------------------------------------------------------ helpers */

/* dst (cols x rows) = src^T (src: rows x cols, row stride lds), in 16 x 16 tiles so both
 * sides stay in cache. */
static void transpose(float *dst, const float *src, int rows, int cols, int lds) {
    for (int r0 = 0; r0 < rows; r0 += 16)
        for (int c0 = 0; c0 < cols; c0 += 16) {
            int r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++) dst[(size_t)c * rows + r] = src[(size_t)r * lds + c];
        }
}

/* dx (T x n) = dy (T x O) W for W (O x n), through W^T materialized in t->wt. */
static void mm_back(nq_train *t, float *dx, const float *dy, const float *W, int T, int O, int n) {
    transpose(t->wt, W, O, n, n);
    t->l->k.matmul(dx, n, dy, O, t->wt, O, T, n, O);
}

/* G (O x n) += dy^T x for dy (T x O), x (T x n). */
static void mm_grad(nq_train *t, float *G, const float *dy, const float *x, int T, int O, int n) {
    transpose(t->trA, dy, T, O, O);
    transpose(t->trB, x, T, n, n);
    float *tmp = t->wt; /* O x n fits: wt holds the largest weight */
    t->l->k.matmul(tmp, n, t->trA, T, t->trB, T, O, n, T);
    for (size_t i = 0; i < (size_t)O * n; i++) G[i] += tmp[i];
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* The transpose of the block's RoPE (a rotation by -angle) on nh heads of each row (stride
 * ld) at positions 0..T-1: carries gradients back through it. */
static void rope_back(const nq_train *t, float *v, int ld, int nh) {
    int hd = t->l->c.head_dim, half = hd / 2;
    for (int p = 0; p < t->T; p++) {
        const float *cs = t->cosv + (size_t)p * half, *sn = t->sinv + (size_t)p * half;
        for (int h = 0; h < nh; h++) {
            float *r = v + (size_t)p * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float a = r[i], b = r[i + half];
                r[i] = a * cs[i] + b * sn[i];
                r[i + half] = b * cs[i] - a * sn[i];
            }
        }
    }
}

/* ------------------------------------------------------------------ forward */

/* Block b's activations: its slices of the kept arrays, written by the forward half and
 * read by the backward half (the probabilities of every head kept, zero above the
 * diagonal, for attention_back). */
static nq_block_acts kept(const nq_train *t, int b) {
    const nq_block_desc *B = &t->l->blk;
    size_t o = (size_t)b * t->T, d = (size_t)B->dim, qd = (size_t)B->q_dim, kvd = (size_t)B->kv_dim;
    size_t hid = (size_t)B->hidden, n = (size_t)t->T;
    nq_block_acts a = {.T = t->T, .pos0 = 0, .cosv = t->cosv, .sinv = t->sinv,
                       .x = t->x + o * d, .xm = t->xm + o * d, .xo = t->x + (o + n) * d,
                       .h1 = t->h1 + o * d, .h2 = t->h2 + o * d, .q = t->q + o * qd, .att = t->a + o * qd,
                       .k = t->k + o * kvd, .v = t->v + o * kvd,
                       .probs = t->P + (size_t)b * B->n_heads * n * n, .ld_probs = t->T, .probs_head = n * n,
                       .gate = t->g + o * hid, .up = t->u + o * hid, .mlp = t->m + o * hid, .proj = t->tmp};
    return a;
}

static void forward(nq_train *t, const int32_t *tokens) {
    const nq_llama *l = t->l;
    int d = l->c.dim, T = t->T;
    for (int p = 0; p < T; p++) memcpy(t->x + (size_t)p * d, l->embed + (size_t)tokens[p] * d, (size_t)d * sizeof(float));
    for (int b = 0; b < l->c.n_layers; b++) {
        nq_block_acts a = kept(t, b);
        nq_llama_block(l, b, &a, NULL, NULL);
    }
    nq_llama_rmsnorm(l, t->hf, t->x + (size_t)l->c.n_layers * T * d, l->final_norm, T);
    nq_llama_linear(l, t->logits, t->hf, l->lm_head, T, l->c.vocab, d);
}

/* ------------------------------------------------------------------ loss */

/* ex = exp(z - max) (f32, the core's own exp), *sum their double sum; returns log sum exp. */
NQ_VEC_CLONES static double exp_row(const float *z, int V, float *ex, double *sum) {
    float mx = z[0];
    for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    double s = 0;
    for (int v = 0; v < V; v++) ex[v] = nq_m_expf(z[v] - mx);
    for (int v = 0; v < V; v++) s += ex[v];
    *sum = s;
    return (double)mx + nq_m_log(s);
}

/* KL(teacher || student) per position, averaged; dlog = its gradient wrt the student logits
 * (p_student - p_teacher, over T). The probabilities are exp(z - max) / sum; the log terms
 * come from the logits themselves, so equal logits give exactly zero. */
static double kl_loss(nq_train *t, const float *tl) {
    int T = t->T, V = t->l->c.vocab;
    float *es = t->trA, *et = t->trB; /* V floats each: free during the loss */
    double total = 0;
    for (int p = 0; p < T; p++) {
        const float *zs = t->logits + (size_t)p * V, *zt = tl + (size_t)p * V;
        float *dz = t->dlog + (size_t)p * V;
        double ss, st, ls = exp_row(zs, V, es, &ss), lt = exp_row(zt, V, et, &st), kl = 0;
        for (int v = 0; v < V; v++) {
            double pt = et[v] / st, ps = es[v] / ss;
            kl += pt * (((double)zt[v] - lt) - ((double)zs[v] - ls));
            dz[v] = (float)((ps - pt) / T);
        }
        total += kl;
    }
    return total / T;
}

/* Adds w * d(1 - cos(a, b))/da to da for every row; returns the sum of (1 - cos). */
static double cos_loss(const float *a, const float *b, int T, int d, double w, float *da) {
    double total = 0;
    for (int p = 0; p < T; p++) {
        const float *x = a + (size_t)p * d, *y = b + (size_t)p * d;
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < d; i++) { xy += (double)x[i] * y[i]; xx += (double)x[i] * x[i]; yy += (double)y[i] * y[i]; }
        if (!(xx > 0 && yy > 0)) continue;
        double nx = sqrt(xx), ny = sqrt(yy), cs = xy / (nx * ny);
        total += 1.0 - cs;
        if (!da) continue;
        for (int i = 0; i < d; i++) da[(size_t)p * d + i] -= (float)(w * (y[i] / (nx * ny) - cs * x[i] / xx));
    }
    return total;
}

/* ------------------------------------------------------------------ backward */

/* Through y = w * (x * r), r = 1/sqrt(mean(x^2) + eps): dx += ..., dw += ... */
static void rmsnorm_back(const nq_train *t, const float *x, const float *w, const float *dy, float *dx, float *dw) {
    const nq_llama *l = t->l;
    int d = l->c.dim;
    float eps = (float)l->c.norm_eps;
    for (int p = 0; p < t->T; p++) {
        const float *xr = x + (size_t)p * d, *gy = dy + (size_t)p * d;
        float r = 1.0f / sqrtf(l->k.dot(xr, xr, d) / (float)d + eps);
        double s = 0;
        for (int i = 0; i < d; i++) {
            s += (double)w[i] * gy[i] * xr[i];
            dw[i] += gy[i] * (xr[i] * r);
        }
        float k = (float)(s * r * r * r / d);
        for (int i = 0; i < d; i++) dx[(size_t)p * d + i] += r * (w[i] * gy[i]) - k * xr[i];
    }
}

/* From da (T x qd) to dq, dk, dv (dk, dv summed over the heads sharing a KV head). */
static void attention_back(nq_train *t, const nq_block_acts *A) {
    const nq_llama_config *c = &t->l->c;
    int T = t->T, hd = c->head_dim, rep = c->n_heads / c->n_kv_heads;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, n = (size_t)T;
    const float *q = A->q, *k = A->k, *v = A->v;
    float scale = t->l->blk.attn_scale, *dS = t->dP;
    memset(t->dk, 0, n * kvd * sizeof(float));
    memset(t->dv, 0, n * kvd * sizeof(float));
    for (int h = 0; h < c->n_heads; h++) {
        const float *P = A->probs + (size_t)h * A->probs_head;
        size_t kvo = (size_t)(h / rep) * hd, qo = (size_t)h * hd;
        /* dP = da_h v^T (T x T) */
        t->l->k.matmul(dS, T, t->da + qo, (int)qd, v + kvo, (int)kvd, T, T, hd);
        /* dv += P^T da_h: rows of P^T against columns of da_h */
        transpose(t->trA, P, T, T, T);
        transpose(t->trB, t->da + qo, T, hd, (int)qd);
        t->l->k.matmul(t->tmp, hd, t->trA, T, t->trB, T, T, hd, T);
        for (int j = 0; j < T; j++)
            for (int i = 0; i < hd; i++) t->dv[(size_t)j * kvd + kvo + i] += t->tmp[(size_t)j * hd + i];
        /* dS = scale * P * (dP - sum_j P dP), zero above the diagonal */
        for (int p = 0; p < T; p++) {
            const float *pr = P + (size_t)p * T;
            float *sr = dS + (size_t)p * T;
            double dot = 0;
            for (int j = 0; j <= p; j++) dot += (double)pr[j] * sr[j];
            for (int j = 0; j <= p; j++) sr[j] = scale * (pr[j] * (sr[j] - (float)dot));
            for (int j = p + 1; j < T; j++) sr[j] = 0.0f;
        }
        /* dq_h = dS k; dk += dS^T q_h */
        transpose(t->trB, k + kvo, T, hd, (int)kvd);
        t->l->k.matmul(t->tmp, hd, dS, T, t->trB, T, T, hd, T);
        for (int p = 0; p < T; p++) memcpy(t->dq + (size_t)p * qd + qo, t->tmp + (size_t)p * hd, (size_t)hd * sizeof(float));
        transpose(t->trA, dS, T, T, T);
        transpose(t->trB, q + qo, T, hd, (int)qd);
        t->l->k.matmul(t->tmp, hd, t->trA, T, t->trB, T, T, hd, T);
        for (int j = 0; j < T; j++)
            for (int i = 0; i < hd; i++) t->dk[(size_t)j * kvd + kvo + i] += t->tmp[(size_t)j * hd + i];
    }
}

/* dx holds d loss / d (stream leaving block b); on return, d loss / d (stream entering b). */
static void block_back(nq_train *t, int b) {
    const nq_llama *l = t->l;
    const nq_llama_config *c = &l->c;
    const llama_layer *L = &l->layers[b];
    llama_layer *G = &t->gr.layers[b];
    int T = t->T, d = c->dim, hid = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    size_t nd = (size_t)T * d, nh = (size_t)T * hid;
    nq_block_acts A = kept(t, b);
    const float *x = A.x, *xm = A.xm, *h1 = A.h1, *h2 = A.h2, *a = A.att, *g = A.gate, *u = A.up, *m = A.mlp;
    /* MLP half: x_out = xm + m Wd^T */
    memcpy(t->dxm, t->dx, nd * sizeof(float));
    mm_grad(t, G->w[W_DOWN], t->dx, m, T, d, hid);
    mm_back(t, t->dm, t->dx, L->w[W_DOWN], T, d, hid);
    for (size_t i = 0; i < nh; i++) {
        float sg = 1.0f / (1.0f + nq_m_expf(-g[i]));
        t->du[i] = t->dm[i] * (g[i] * sg);
        t->dg[i] = t->dm[i] * u[i] * (sg * (1.0f + g[i] * (1.0f - sg)));
    }
    mm_grad(t, G->w[W_GATE], t->dg, h2, T, hid, d);
    mm_grad(t, G->w[W_UP], t->du, h2, T, hid, d);
    mm_back(t, t->dh, t->dg, L->w[W_GATE], T, hid, d);
    mm_back(t, t->tmp, t->du, L->w[W_UP], T, hid, d);
    add_into(t->dh, t->tmp, nd);
    rmsnorm_back(t, xm, L->mlp_norm, t->dh, t->dxm, G->mlp_norm);
    /* attention half: xm = x + a Wo^T */
    memcpy(t->dx, t->dxm, nd * sizeof(float));
    mm_grad(t, G->w[W_O], t->dxm, a, T, d, qd);
    mm_back(t, t->da, t->dxm, L->w[W_O], T, d, qd);
    attention_back(t, &A);
    rope_back(t, t->dq, qd, c->n_heads);
    rope_back(t, t->dk, kvd, c->n_kv_heads);
    mm_grad(t, G->w[W_Q], t->dq, h1, T, qd, d);
    mm_grad(t, G->w[W_K], t->dk, h1, T, kvd, d);
    mm_grad(t, G->w[W_V], t->dv, h1, T, kvd, d);
    mm_back(t, t->dh, t->dq, L->w[W_Q], T, qd, d);
    mm_back(t, t->tmp, t->dk, L->w[W_K], T, kvd, d);
    add_into(t->dh, t->tmp, nd);
    mm_back(t, t->tmp, t->dv, L->w[W_V], T, kvd, d);
    add_into(t->dh, t->tmp, nd);
    rmsnorm_back(t, x, L->attn_norm, t->dh, t->dx, G->attn_norm);
}

nq_status nq_train_step(nq_train *t, const int32_t *tokens, const float *teacher_logits,
                        const float *teacher_hidden, double lambda, int backward, nq_train_loss *loss, nq_err *e) {
    const nq_llama *l = t->l;
    const nq_llama_config *c = &l->c;
    int T = t->T, d = c->dim, V = c->vocab, nl = c->n_layers;
    for (int p = 0; p < T; p++)
        if (tokens[p] < 0 || tokens[p] >= V)
            return nq_fail(e, NQ_E_ARG, "train: token id %d at index %d is outside the vocabulary (0..%d)",
                           (int)tokens[p], p, V - 1);
    forward(t, tokens);
    loss->kl = kl_loss(t, teacher_logits);
    double wcos = lambda / ((double)nl * T), cs = 0;
    if (!backward) {
        for (int b = 0; b < nl; b++)
            cs += cos_loss(nq_train_hidden(t, b), teacher_hidden + (size_t)b * T * d, T, d, 0, NULL);
        loss->cos = cs / ((double)nl * T);
        return NQ_OK;
    }
    size_t nd = (size_t)T * d;
    const float *xl = t->x + (size_t)nl * nd;
    if (t->gr.lm_head) mm_grad(t, t->gr.lm_head, t->dlog, t->hf, T, V, d);
    mm_back(t, t->dh, t->dlog, l->lm_head, T, V, d);
    memset(t->dx, 0, nd * sizeof(float));
    rmsnorm_back(t, xl, l->final_norm, t->dh, t->dx, t->gr.final_norm);
    for (int b = nl - 1; b >= 0; b--) {
        cs += cos_loss(nq_train_hidden(t, b), teacher_hidden + (size_t)b * nd, T, d, wcos, t->dx);
        block_back(t, b);
    }
    if (t->gr.embed)
        for (int p = 0; p < T; p++) add_into(t->gr.embed + (size_t)tokens[p] * d, t->dx + (size_t)p * d, (size_t)d);
    loss->cos = cs / ((double)nl * T);
    return NQ_OK;
}

/* ------------------------------------------------------------------ teacher */

typedef struct hidden_sink { float *hidden; int T, d; } hidden_sink;

static void keep_block_out(void *ctx, const nq_llama_act *a) {
    hidden_sink *h = ctx;
    if (a->site != NQ_SITE_BLOCK_OUT) return;
    memcpy(h->hidden + ((size_t)a->layer * h->T + a->pos0) * h->d, a->x, (size_t)a->ntok * h->d * sizeof(float));
}

nq_status nq_train_teacher(const nq_llama *l, const int32_t *tokens, int T, float *logits, float *hidden, nq_err *e) {
    nq_llama_state *s;
    nq_status st = nq_llama_state_new(&s, l, T, T, e);
    if (st) return st;
    hidden_sink h = {hidden, T, l->c.dim};
    nq_llama_state_set_hook(s, keep_block_out, &h);
    st = nq_llama_forward(s, tokens, T, logits, NULL, e);
    nq_llama_state_free(s);
    return st;
}
