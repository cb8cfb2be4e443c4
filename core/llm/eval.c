/* eval.c - quality figures of one evaluation window: cross-entropy of each model,
 * KL(a || b), top-1 agreement and cosine similarity of final hidden states.
 *
 * A window is ctx + 1 tokens: positions 0..ctx-1 are fed, position t predicts token t+1
 * (docs/DESIGN.md, "The test model"). Softmax statistics are accumulated in double over f32 logits
 * with the core's own exp/log, in vocabulary order, so the sums are the same everywhere. */
#include <math.h>
#include <stdlib.h>
#include "llm/math.h"
#include "novaq.h"

typedef struct softmax_row {
    double lse;     /* log sum exp of the row */
    int argmax;     /* first index of the largest logit */
} softmax_row;

/* ex[v] = exp(l[v] - max) for later use; returns lse and argmax. */
static softmax_row softmax_stats(const float *l, int V, float *ex) {
    softmax_row r = {0, 0};
    float mx = l[0];
    for (int v = 1; v < V; v++)
        if (l[v] > mx) { mx = l[v]; r.argmax = v; }
    double sum = 0;
    for (int v = 0; v < V; v++) ex[v] = nq_m_expf(l[v] - mx); /* vectorizes */
    for (int v = 0; v < V; v++) sum += ex[v];
    r.lse = (double)mx + nq_m_log(sum);
    return r;
}

static double cosine(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0.0;
}

/* Add position t's figures to sums. */
static void score_position(const float *la, const float *lb, const float *ha, const float *hb, int V, int d,
                           int target, float *exa, float *exb, nq_eval_sums *sums) {
    softmax_row ra = softmax_stats(la, V, exa);
    sums->nll_a += ra.lse - la[target];
    sums->ntok++;
    if (!lb) return;
    softmax_row rb = softmax_stats(lb, V, exb);
    sums->nll_b += rb.lse - lb[target];
    double kl = 0, za = 0, shift = rb.lse - ra.lse;
    for (int v = 0; v < V; v++) za += exa[v];
    for (int v = 0; v < V; v++) /* p_a(v) * (log p_a(v) - log p_b(v)) */
        kl += (exa[v] / za) * (((double)la[v] - (double)lb[v]) + shift);
    sums->kl += kl;
    sums->agree += ra.argmax == rb.argmax;
    sums->cos += cosine(ha, hb, d);
}

/* Run one model over the window's first ctx tokens (fresh state). */
static nq_status run(nq_llama_state *s, const int32_t *tokens, int ctx, float *logits, float *hidden, nq_err *e) {
    nq_llama_state_reset(s);
    return nq_llama_forward(s, tokens, ctx, logits, hidden, e);
}

nq_status nq_llama_eval_window(nq_llama_state *a, nq_llama_state *b, const int32_t *tokens, int ctx,
                               nq_eval_sums *sums, nq_err *e) {
    const nq_llama_config *ca = nq_llama_get_config(nq_llama_state_model(a));
    int V = ca->vocab, d = ca->dim;
    if (ctx < 1) return nq_fail(e, NQ_E_ARG, "eval: window of %d tokens", ctx);
    if (b) {
        const nq_llama_config *cb = nq_llama_get_config(nq_llama_state_model(b));
        if (cb->vocab != V || cb->dim != d)
            return nq_fail(e, NQ_E_ARG, "eval: models differ in vocabulary (%d vs %d) or width (%d vs %d)",
                           V, cb->vocab, d, cb->dim);
    }
    for (int t = 1; t <= ctx; t++) /* the inputs are checked by nq_llama_forward */
        if (tokens[t] < 0 || tokens[t] >= V)
            return nq_fail(e, NQ_E_ARG, "eval: target token id %d at index %d is outside the vocabulary "
                           "(0..%d)", (int)tokens[t], t, V - 1);
    size_t nl = (size_t)ctx * V, nh = (size_t)ctx * d;
    float *la = malloc(nl * sizeof *la), *lb = b ? malloc(nl * sizeof *lb) : NULL;
    float *ha = b ? malloc(nh * sizeof *ha) : NULL, *hb = b ? malloc(nh * sizeof *hb) : NULL;
    float *ex = malloc(2 * (size_t)V * sizeof *ex);
    nq_status st = NQ_OK;
    if (!la || !ex || (b && (!lb || !ha || !hb))) st = nq_fail(e, NQ_E_NOMEM, "eval: out of memory");
    if (!st) st = run(a, tokens, ctx, la, ha, e);
    if (!st && b) st = run(b, tokens, ctx, lb, hb, e);
    for (int t = 0; t < ctx && !st; t++)
        score_position(la + (size_t)t * V, b ? lb + (size_t)t * V : NULL, b ? ha + (size_t)t * d : NULL,
                       b ? hb + (size_t)t * d : NULL, V, d, tokens[t + 1], ex, ex + V, sums);
    free(la); free(lb); free(ha); free(hb); free(ex);
    return st;
}
