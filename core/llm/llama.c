/* llama.c - the LLaMA-family forward pass (Hugging Face LlamaForCausalLM semantics).
 *
 * Weights are f32, loaded tensor by tensor from any nq_model and checked against the
 * config. One transformer block (nq_llama_block) is the arithmetic of both the inference
 * pass below and the training pass (train.c); they differ only in where its activations
 * go. A state holds the KV cache of one sequence; nq_llama_forward appends tokens.
 * All arithmetic is f32 in a fixed order (kernels/matmul.h) with the core's own exp and
 * sin/cos, so a forward pass gives the same bits on every target and thread count.
 * Where an operation has a choice of order it follows PyTorch's: RMSNorm as
 * w * (x * rsqrt(mean(x^2) + eps)), rotary frequencies computed in f32 as
 * 1 / theta^(2i/d) and angle = pos * inv_freq, scores = (q . k) * d^-0.5, softmax in f32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/matmul.h"
#include "llm/math.h"
#include "llm/llama_internal.h"

static const char *const linear_names[W_LINEARS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

/* --------------------------------------------------------------- loading */

/* Find a float tensor of exactly the given shape (ndim 1 or 2) and read it as f32. */
static nq_status load_tensor(const nq_model *m, const char *name, int64_t rows, int64_t cols, float **out,
                             int *index, nq_err *e) {
    int t = nq_model_find(m, name);
    if (t < 0) return nq_fail(e, NQ_E_FORMAT, "model: tensor '%s' is missing", name);
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    int want_ndim = rows ? 2 : 1;
    int ok = ti->ndim == want_ndim && (rows ? ti->shape[0] == rows && ti->shape[1] == cols : ti->shape[0] == cols);
    if (!ok) {
        char got[96] = "", *p = got;
        for (int i = 0; i < ti->ndim && p < got + sizeof got - 24; i++)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", i ? ", " : "", (long long)ti->shape[i]);
        if (rows)
            return nq_fail(e, NQ_E_FORMAT, "model: tensor '%s' has shape [%s], config needs [%lld, %lld]",
                           name, got, (long long)rows, (long long)cols);
        return nq_fail(e, NQ_E_FORMAT, "model: tensor '%s' has shape [%s], config needs [%lld]", name, got,
                       (long long)cols);
    }
    if (!nq_dtype_is_float(ti->dtype))
        return nq_fail(e, NQ_E_UNSUPPORTED, "model: tensor '%s' has dtype %s, not a float type", name,
                       ti->dtype_name);
    int64_t nrows = rows ? rows : 1;
    float *buf = malloc((size_t)(nrows * cols) * sizeof *buf);
    if (!buf) return nq_fail(e, NQ_E_NOMEM, "model: out of memory for tensor '%s'", name);
    /* Blocks of about 4M elements bound the reader's scratch; fewer, larger calls let a
     * .novaq decode each stored part (and load its codebooks) about once. */
    int64_t block = cols >= (1 << 22) ? 1 : ((int64_t)1 << 22) / cols;
    for (int64_t r = 0; r < nrows; r += block) {
        int64_t nr = nrows - r < block ? nrows - r : block;
        nq_status st = nq_model_read_rows(m, t, r, nr, buf + r * cols, e);
        if (st) { free(buf); return st; }
    }
    *out = buf;
    if (index) *index = t;
    return NQ_OK;
}

static nq_status load_layer(nq_llama *l, const nq_model *m, int i, nq_err *e) {
    const nq_llama_config *c = &l->c;
    llama_layer *L = &l->layers[i];
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t shape[W_LINEARS][2] = {{qd, c->dim}, {kvd, c->dim}, {kvd, c->dim}, {c->dim, qd},
                                   {c->hidden, c->dim}, {c->hidden, c->dim}, {c->dim, c->hidden}};
    char name[160];
    nq_status st;
    snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", i);
    if ((st = load_tensor(m, name, 0, c->dim, &L->attn_norm, &L->attn_norm_tensor, e))) return st;
    snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", i);
    if ((st = load_tensor(m, name, 0, c->dim, &L->mlp_norm, &L->mlp_norm_tensor, e))) return st;
    for (int w = 0; w < W_LINEARS; w++) {
        snprintf(name, sizeof name, "model.layers.%d.%s.weight", i, linear_names[w]);
        if ((st = load_tensor(m, name, shape[w][0], shape[w][1], &L->w[w], &L->tensor[w], e))) return st;
    }
    return NQ_OK;
}

/* inv_freq[i] = 1 / theta^(2i / d), each step rounded to f32 as torch does it. */
static void rope_frequencies(nq_llama *l) {
    int half = l->c.head_dim / 2;
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)l->c.head_dim;
        float p = (float)nq_m_exp((double)expo * nq_m_log(l->c.rope_theta));
        l->inv_freq[i] = 1.0f / p;
    }
}

static nq_status check_config(const nq_llama_config *c, nq_err *e) {
    if (c->vocab < 1 || c->dim < 1 || c->hidden < 1 || c->n_layers < 1 || c->n_heads < 1 ||
        c->n_kv_heads < 1 || c->head_dim < 2 || c->head_dim % 2 || c->n_heads % c->n_kv_heads ||
        c->max_pos < 1 || !(c->norm_eps > 0) || !(c->rope_theta > 1))
        return nq_fail(e, NQ_E_ARG, "llama: inconsistent config (sizes must be positive, head_dim even, "
                       "num_attention_heads a multiple of num_key_value_heads)");
    return NQ_OK;
}

/* The block description of a (checked) config: LLaMA's block with its shapes. */
static nq_block_desc block_desc(const nq_llama_config *c) {
    nq_block_desc b = {c->dim, c->hidden, c->n_heads, c->n_kv_heads, c->head_dim,
                       c->n_heads * c->head_dim, c->n_kv_heads * c->head_dim,
                       (float)c->norm_eps, (float)(1.0 / sqrt((double)c->head_dim)), NQ_MLP_SWIGLU};
    return b;
}

static nq_status load_all(nq_llama *l, const nq_model *m, nq_err *e) {
    const nq_llama_config *c = &l->c;
    nq_status st;
    l->layers = calloc((size_t)c->n_layers, sizeof *l->layers);
    l->inv_freq = malloc((size_t)(c->head_dim / 2) * sizeof *l->inv_freq);
    if (!l->layers || !l->inv_freq) return nq_fail(e, NQ_E_NOMEM, "llama: out of memory");
    rope_frequencies(l);
    if ((st = load_tensor(m, "model.embed_tokens.weight", c->vocab, c->dim, &l->embed, &l->embed_tensor, e))) return st;
    for (int i = 0; i < c->n_layers; i++)
        if ((st = load_layer(l, m, i, e))) return st;
    if ((st = load_tensor(m, "model.norm.weight", 0, c->dim, &l->final_norm, &l->final_norm_tensor, e))) return st;
    int has_head = nq_model_find(m, "lm_head.weight") >= 0;
    if (c->tied && !has_head) {
        l->lm_head = l->embed;
        l->lm_head_tensor = nq_model_find(m, "model.embed_tokens.weight");
        return NQ_OK;
    }
    return load_tensor(m, "lm_head.weight", c->vocab, c->dim, &l->lm_head, &l->lm_head_tensor, e);
}

nq_status nq_llama_load(nq_llama **out, const nq_model *m, const nq_llama_config *c, nq_err *e) {
    *out = NULL;
    nq_status st = check_config(c, e);
    if (st) return st;
    nq_llama *l = calloc(1, sizeof *l);
    if (!l) return nq_fail(e, NQ_E_NOMEM, "llama: out of memory");
    l->c = *c;
    l->blk = block_desc(c);
    nq_mm_select(&l->k, NULL);
    if ((st = load_all(l, m, e))) { nq_llama_free(l); return st; }
    *out = l;
    return NQ_OK;
}

void nq_llama_free(nq_llama *l) {
    if (!l) return;
    if (l->layers)
        for (int i = 0; i < l->c.n_layers; i++) {
            free(l->layers[i].attn_norm);
            free(l->layers[i].mlp_norm);
            for (int w = 0; w < W_LINEARS; w++) free(l->layers[i].w[w]);
        }
    if (l->lm_head != l->embed) free(l->lm_head);
    free(l->embed);
    free(l->final_norm);
    free(l->layers);
    free(l->inv_freq);
    free(l);
}

const nq_llama_config *nq_llama_get_config(const nq_llama *l) { return &l->c; }
const char *nq_llama_kernel_name(const nq_llama *l) { return l->k.name; }

nq_status nq_llama_set_kernel(nq_llama *l, const char *name, nq_err *e) {
    nq_mm_kernels k;
    if (!name || !nq_mm_select(&k, name)) {
        char list[128] = "";
        for (const char *const *v = nq_mm_variants(); *v; v++)
            if (nq_mm_select(&k, *v)) snprintf(list + strlen(list), sizeof list - strlen(list), " %s", *v);
        return nq_fail(e, NQ_E_UNSUPPORTED, "llama: kernel '%s' is not available here (available:%s)",
                       name ? name : "(null)", list);
    }
    l->k = k;
    return NQ_OK;
}

/* ----------------------------------------------------------------- state */

void nq_llama_state_free(nq_llama_state *s) {
    if (!s) return;
    float *bufs[] = {s->kc, s->vc, s->cosv, s->sinv, s->x, s->h, s->q, s->att, s->g, s->u, s->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s);
}

static float *alloc_f(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

void nq_llama_rope_row(const nq_llama *l, int pos, float *cs, float *sn) {
    for (int i = 0; i < l->c.head_dim / 2; i++) {
        float ang = (float)pos * l->inv_freq[i];
        double s, c;
        nq_m_sincos((double)ang, &s, &c);
        cs[i] = (float)c;
        sn[i] = (float)s;
    }
}

static void rope_tables(nq_llama_state *s) {
    size_t half = (size_t)s->l->c.head_dim / 2;
    for (int p = 0; p < s->max_ctx; p++) nq_llama_rope_row(s->l, p, s->cosv + p * half, s->sinv + p * half);
}

nq_status nq_llama_state_new(nq_llama_state **out, const nq_llama *l, int max_ctx, int max_batch, nq_err *e) {
    *out = NULL;
    const nq_llama_config *c = &l->c;
    if (max_ctx < 1 || max_batch < 1)
        return nq_fail(e, NQ_E_ARG, "llama: context (%d) and batch (%d) must be at least 1", max_ctx, max_batch);
    if (max_ctx > c->max_pos)
        return nq_fail(e, NQ_E_LIMIT, "llama: context of %d tokens is longer than the model allows "
                       "(max_position_embeddings %d)", max_ctx, c->max_pos);
    if (c->sliding_window && max_ctx > c->sliding_window)
        return nq_fail(e, NQ_E_UNSUPPORTED, "llama: context of %d tokens exceeds sliding_window %d "
                       "(sliding-window attention is not implemented)", max_ctx, c->sliding_window);
    if (max_batch > max_ctx) max_batch = max_ctx;
    nq_llama_state *s = calloc(1, sizeof *s);
    if (!s) return nq_fail(e, NQ_E_NOMEM, "llama: out of memory");
    s->l = l;
    s->max_ctx = max_ctx;
    s->max_batch = max_batch;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, qd = (size_t)c->n_heads * c->head_dim;
    size_t wide = qd > (size_t)c->dim ? qd : (size_t)c->dim, b = (size_t)max_batch;
    s->kc = alloc_f((size_t)c->n_layers * max_ctx * kvd);
    s->vc = alloc_f((size_t)c->n_layers * max_ctx * kvd);
    s->cosv = alloc_f((size_t)max_ctx * (c->head_dim / 2));
    s->sinv = alloc_f((size_t)max_ctx * (c->head_dim / 2));
    s->x = alloc_f(b * c->dim);
    s->h = alloc_f(b * wide);
    s->q = alloc_f(b * qd);
    s->att = alloc_f(b * qd);
    s->g = alloc_f(b * c->hidden);
    s->u = alloc_f(b * c->hidden);
    s->scores = alloc_f(b * max_ctx);
    if (!s->kc || !s->vc || !s->cosv || !s->sinv || !s->x || !s->h || !s->q || !s->att || !s->g || !s->u ||
        !s->scores) {
        nq_llama_state_free(s);
        return nq_fail(e, NQ_E_NOMEM, "llama: out of memory for a %d-token state", max_ctx);
    }
    rope_tables(s);
    *out = s;
    return NQ_OK;
}

void nq_llama_state_reset(nq_llama_state *s) { s->pos = 0; }
int nq_llama_state_pos(const nq_llama_state *s) { return s->pos; }
const nq_llama *nq_llama_state_model(const nq_llama_state *s) { return s->l; }
void nq_llama_state_set_hook(nq_llama_state *s, nq_llama_hook_fn fn, void *ctx) {
    s->hook = fn;
    s->hook_ctx = ctx;
}

/* ------------------------------------------------------------- the block
 * One transformer block, the arithmetic of both passes (inference below, training in
 * train.c); the passes differ only in the nq_block_acts they hand it. */

/* y[t] = w * (x[t] * rsqrt(mean(x[t]^2) + eps)) */
void nq_llama_rmsnorm(const nq_llama *l, float *y, const float *x, const float *w, int T) {
    int d = l->blk.dim;
    float eps = l->blk.norm_eps;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * d;
        float var = l->k.dot(xr, xr, d) / (float)d;
        float r = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < d; i++) y[(size_t)t * d + i] = w[i] * (xr[i] * r);
    }
}

void nq_llama_linear(const nq_llama *l, float *y, const float *x, const float *W, int T, int O, int n) {
    l->k.matmul(y, O, x, n, W, n, T, O, n);
}

/* Rotate-half RoPE on nh heads of each row (row stride ld) at positions pos0 + t. */
static void rope(const nq_llama *l, const nq_block_acts *a, float *v, int ld, int nh) {
    int hd = l->blk.head_dim, half = hd / 2;
    for (int t = 0; t < a->T; t++) {
        const float *cs = a->cosv + (size_t)(a->pos0 + t) * half, *sn = a->sinv + (size_t)(a->pos0 + t) * half;
        for (int h = 0; h < nh; h++) {
            float *r = v + (size_t)t * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float x0 = r[i], x1 = r[i + half];
                r[i] = x0 * cs[i] - x1 * sn[i];
                r[i + half] = x1 * cs[i] + x0 * sn[i];
            }
        }
    }
}

/* p[j] = softmax(scale * p)[j] in place. Separate loops so the exp loop vectorizes; the
 * max and the sum run in index order. */
NQ_VEC_CLONES void nq_llama_softmax(float *p, int n, float scale) {
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < n; j++) p[j] *= scale;
    for (int j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
    for (int j = 0; j < n; j++) p[j] = nq_m_expf(p[j] - mx);
    for (int j = 0; j < n; j++) sum += p[j];
    for (int j = 0; j < n; j++) p[j] /= sum;
}

/* o[i] = sum over j (in order) of p[j] * v[j*ld + i], i < hd. Blocks of 8 outputs stay in
 * registers across j; each output's sum order is the same either way. */
NQ_VEC_CLONES void nq_llama_weighted_sum(float *o, const float *p, const float *v, int ld, int n, int hd) {
    int i0 = 0;
    for (; i0 + 8 <= hd; i0 += 8) {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int j = 0; j < n; j++) {
            const float *vr = v + (size_t)j * ld + i0;
            for (int i = 0; i < 8; i++) acc[i] += p[j] * vr[i];
        }
        memcpy(o + i0, acc, sizeof acc);
    }
    for (int i = i0; i < hd; i++) {
        float acc = 0.0f;
        for (int j = 0; j < n; j++) acc += p[j] * v[(size_t)j * ld + i];
        o[i] = acc;
    }
}

/* Causal attention of the T new rows over keys 0 .. pos0+T-1. Scores of a head come from
 * one matmul over all T rows and pos0+T keys: the masked corner is computed, then zeroed
 * after the softmax (each score is the same dot product whatever the batch). Query head h
 * reads KV head h / (n_heads / n_kv_heads). */
static void attention(const nq_llama *l, const nq_block_acts *a) {
    const nq_block_desc *B = &l->blk;
    int hd = B->head_dim, qd = B->q_dim, kvd = B->kv_dim, rep = B->n_heads / B->n_kv_heads, ns = a->pos0 + a->T;
    for (int h = 0; h < B->n_heads; h++) {
        float *P = a->probs + (size_t)h * a->probs_head;
        size_t kvo = (size_t)(h / rep) * hd;
        l->k.matmul(P, a->ld_probs, a->q + (size_t)h * hd, qd, a->k + kvo, kvd, a->T, ns, hd);
        for (int t = 0; t < a->T; t++) {
            float *row = P + (size_t)t * a->ld_probs;
            int n = a->pos0 + t + 1;
            nq_llama_softmax(row, n, B->attn_scale);
            for (int j = n; j < ns; j++) row[j] = 0.0f;
            nq_llama_weighted_sum(a->att + (size_t)t * qd + (size_t)h * hd, row, a->v + kvo, kvd, n, hd);
        }
    }
}

/* out = in + delta; out may be in. */
static void residual(float *out, const float *in, const float *delta, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] + delta[i];
}

/* m = act(g) * u; m may be g. */
static void gated_act(nq_mlp_act act, float *m, const float *g, const float *u, size_t n) {
    switch (act) {
    case NQ_MLP_SWIGLU:
        for (size_t i = 0; i < n; i++) m[i] = g[i] * (1.0f / (1.0f + nq_m_expf(-g[i]))) * u[i];
        break;
    }
}

void nq_llama_block(const nq_llama *l, int layer, const nq_block_acts *a, nq_block_watch watch, void *ctx) {
    const nq_block_desc *B = &l->blk;
    const llama_layer *W = &l->layers[layer];
    int T = a->T, d = B->dim, qd = B->q_dim, kvd = B->kv_dim, hid = B->hidden;
    float *k = a->k + (size_t)a->pos0 * kvd, *v = a->v + (size_t)a->pos0 * kvd;

    nq_llama_rmsnorm(l, a->h1, a->x, W->attn_norm, T);
    if (watch) watch(ctx, layer, NQ_SITE_ATTN_IN, a->h1, T, d);
    nq_llama_linear(l, a->q, a->h1, W->w[W_Q], T, qd, d);
    nq_llama_linear(l, k, a->h1, W->w[W_K], T, kvd, d);
    nq_llama_linear(l, v, a->h1, W->w[W_V], T, kvd, d);
    rope(l, a, a->q, qd, B->n_heads);
    rope(l, a, k, kvd, B->n_kv_heads);
    attention(l, a);
    if (watch) watch(ctx, layer, NQ_SITE_O_IN, a->att, T, qd);
    nq_llama_linear(l, a->proj, a->att, W->w[W_O], T, d, qd);
    residual(a->xm, a->x, a->proj, (size_t)T * d);

    nq_llama_rmsnorm(l, a->h2, a->xm, W->mlp_norm, T);
    if (watch) watch(ctx, layer, NQ_SITE_MLP_IN, a->h2, T, d);
    nq_llama_linear(l, a->gate, a->h2, W->w[W_GATE], T, hid, d);
    nq_llama_linear(l, a->up, a->h2, W->w[W_UP], T, hid, d);
    gated_act(B->act, a->mlp, a->gate, a->up, (size_t)T * hid);
    if (watch) watch(ctx, layer, NQ_SITE_DOWN_IN, a->mlp, T, hid);
    nq_llama_linear(l, a->proj, a->mlp, W->w[W_DOWN], T, d, hid);
    residual(a->xo, a->xm, a->proj, (size_t)T * d);
    if (watch) watch(ctx, layer, NQ_SITE_BLOCK_OUT, a->xo, T, d);
}

/* ------------------------------------------------------------- inference */

/* The block watcher of a state: hands each site to the state's hook with the tensors that
 * read it. */
static void hook(void *ctx, int layer, nq_llama_site site, const float *x, int T, int width) {
    nq_llama_state *s = ctx;
    if (!s->hook) return;
    nq_llama_act a = {layer, site, x, T, width, s->pos, {-1, -1, -1}, 0};
    const llama_layer *L = layer < s->l->c.n_layers ? &s->l->layers[layer] : NULL;
    static const int uses[NQ_SITE_COUNT][4] = {{3, W_Q, W_K, W_V}, {1, W_O}, {2, W_GATE, W_UP}, {1, W_DOWN}, {0}, {0}};
    if (site == NQ_SITE_FINAL) {
        a.tensors[0] = s->l->lm_head_tensor;
        a.ntensors = 1;
    } else if (L) {
        a.ntensors = uses[site][0];
        for (int i = 0; i < a.ntensors; i++) a.tensors[i] = L->tensor[uses[site][1 + i]];
    }
    s->hook(s->hook_ctx, &a);
}

/* T tokens at positions pos .. pos+T-1, T <= max_batch: every block updates the stream
 * s->x in place, reuses one set of scratch buffers, and appends its keys and values to the
 * cache. */
static void forward_chunk(nq_llama_state *s, const int32_t *tokens, int T, float *logits, float *hidden) {
    const nq_llama *l = s->l;
    int d = l->c.dim;
    size_t kvd = (size_t)l->blk.kv_dim;
    for (int t = 0; t < T; t++)
        memcpy(s->x + (size_t)t * d, l->embed + (size_t)tokens[t] * d, (size_t)d * sizeof(float));
    nq_block_acts a = {.T = T, .pos0 = s->pos, .cosv = s->cosv, .sinv = s->sinv,
                       .x = s->x, .xm = s->x, .xo = s->x, .h1 = s->h, .h2 = s->h, .q = s->q, .att = s->att,
                       .probs = s->scores, .ld_probs = s->max_ctx, .probs_head = 0,
                       .gate = s->g, .up = s->u, .mlp = s->g, .proj = s->h};
    for (int i = 0; i < l->c.n_layers; i++) {
        a.k = s->kc + (size_t)i * s->max_ctx * kvd;
        a.v = s->vc + (size_t)i * s->max_ctx * kvd;
        nq_llama_block(l, i, &a, hook, s);
    }
    nq_llama_rmsnorm(l, s->h, s->x, l->final_norm, T);
    hook(s, l->c.n_layers, NQ_SITE_FINAL, s->h, T, d);
    if (hidden) memcpy(hidden, s->h, (size_t)T * d * sizeof(float));
    if (logits) nq_llama_linear(l, logits, s->h, l->lm_head, T, l->c.vocab, d);
    s->pos += T;
}

nq_status nq_llama_forward(nq_llama_state *s, const int32_t *tokens, int n, float *logits, float *hidden,
                           nq_err *e) {
    const nq_llama_config *c = &s->l->c;
    if (n < 0 || (n > 0 && !tokens)) return nq_fail(e, NQ_E_ARG, "llama: bad token count %d", n);
    if ((int64_t)s->pos + n > s->max_ctx)
        return nq_fail(e, NQ_E_LIMIT, "llama: %d tokens at position %d exceed the state's context of %d "
                       "(model allows %d)", n, s->pos, s->max_ctx, c->max_pos);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return nq_fail(e, NQ_E_ARG, "llama: token id %d at index %d is outside the vocabulary (0..%d)",
                           (int)tokens[i], i, c->vocab - 1);
    for (int i = 0; i < n; i += s->max_batch) {
        int T = n - i < s->max_batch ? n - i : s->max_batch;
        forward_chunk(s, tokens + i, T, logits ? logits + (size_t)i * c->vocab : NULL,
                      hidden ? hidden + (size_t)i * c->dim : NULL);
    }
    return NQ_OK;
}
