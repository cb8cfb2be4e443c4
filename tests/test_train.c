/* The training pass of stage 3's end-to-end refinement (core/llm/train.c) on the shared
 * tiny model:
 *  - its forward half gives the inference pass's logits and block outputs bit for bit;
 *  - against itself as teacher the loss is exactly zero (KL) and ~zero (cosine);
 *  - its gradients match central finite differences of the loss on a perturbed student,
 *    for every kind of weight (q, k, v, o, gate, up, down, both norms, the final norm,
 *    lm_head, the embedding), at the coordinate of largest gradient of each tensor;
 *  - it prints a SHA-256 of every gradient, which scripts/test-wasm-llama.sh compares between
 *    the native and the WebAssembly build (the same bits on both targets). */
#include <math.h>
#include <string.h>
#include "llm/llama_internal.h"
#include "llama_testutil.h"

enum { T = 24 };

static double loss_of(nq_train *tr, const int32_t *tok, const float *tl, const float *th, double lambda) {
    nq_train_loss L = {0, 0};
    CHECK(nq_train_step(tr, tok, tl, th, lambda, 0, &L, NULL) == NQ_OK);
    return L.kl + lambda * L.cos;
}

/* Check d loss / d w[i] at the tensor's largest-gradient coordinate. */
static void check_grad(const char *what, nq_train *tr, float *w, const float *g, size_t n, const int32_t *tok,
                       const float *tl, const float *th, double lambda) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (fabsf(g[i]) > fabsf(g[best])) best = i;
    double gi = g[best];
    if (!(fabs(gi) > 1e-6)) { fprintf(stderr, "%s: gradient is zero everywhere\n", what); CHECK(0); return; }
    float w0 = w[best];
    double h = 2e-3 / fabs(gi); /* a loss change of about 2e-3 */
    if (h > 0.05 * (fabsf(w0) + 0.02)) h = 0.05 * (fabsf(w0) + 0.02);
    w[best] = (float)(w0 + h);
    double lp = loss_of(tr, tok, tl, th, lambda);
    w[best] = (float)(w0 - h);
    double lm = loss_of(tr, tok, tl, th, lambda);
    w[best] = w0;
    double hp = (double)(float)(w0 + h) - w0, hm = w0 - (double)(float)(w0 - h);
    double fd = (lp - lm) / (hp + hm);
    int ok = fabs(fd - gi) <= 0.03 * fabs(gi) + 1e-5;
    printf("%-24s grad %+.6e  finite difference %+.6e  %s\n", what, gi, fd, ok ? "ok" : "MISMATCH");
    CHECK(ok);
}

static void perturb(float *w, size_t n, uint64_t *seed, float amount) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        float r = (float)((*seed >> 40) & 0xffff) / 65536.0f - 0.5f;
        w[i] *= 1.0f + amount * r;
    }
}

int main(void) {
    tiny_model tm, st;
    if (!tiny_open(&tm) || !tiny_open(&st)) return 1;
    const nq_llama_config *c = &tm.cfg;
    int V = c->vocab, d = c->dim, nl = c->n_layers;
    const int32_t *tok = tm.tokens + 1000;
    float *tl = malloc((size_t)T * V * sizeof *tl), *th = malloc((size_t)nl * T * d * sizeof *th);
    CHECK_OK(nq_train_teacher(tm.llama, tok, T, tl, th, &e_));

    /* 1. forward half == inference, bit for bit; self-distillation loss is zero */
    nq_train *tr = NULL;
    CHECK_OK(nq_train_new(&tr, st.llama, T, 1, 1, &e_));
    if (!tr) return 1;
    nq_train_loss L;
    CHECK_OK(nq_train_step(tr, tok, tl, th, 1.0, 0, &L, &e_));
    CHECK(!memcmp(nq_train_logits(tr), tl, (size_t)T * V * sizeof *tl));
    for (int b = 0; b < nl; b++) CHECK(!memcmp(nq_train_hidden(tr, b), th + (size_t)b * T * d, (size_t)T * d * sizeof *th));
    CHECK(L.kl == 0.0);
    CHECK(L.cos < 1e-6);
    printf("self: kl %.3g, 1 - cos %.3g\n", L.kl, L.cos);

    /* 2. gradients of a perturbed student against finite differences */
    uint64_t seed = 42;
    llama_layer *S = st.llama->layers;
    int rows, cols;
    for (int b = 0; b < nl; b++) {
        for (int w = 0; w < W_LINEARS; w++) {
            rows = w == W_O || w == W_DOWN ? d : (w == W_GATE || w == W_UP ? c->hidden : c->n_heads * c->head_dim);
            cols = w == W_O ? c->n_heads * c->head_dim : (w == W_DOWN ? c->hidden : d);
            perturb(S[b].w[w], (size_t)rows * cols, &seed, 0.6f);
        }
        perturb(S[b].attn_norm, (size_t)d, &seed, 0.3f);
    }
    const double lambda = 0.5;
    nq_train_zero_grads(tr);
    CHECK_OK(nq_train_step(tr, tok, tl, th, lambda, 1, &L, &e_));
    printf("perturbed: kl %.4f, 1 - cos %.4f\n", L.kl, L.cos);
    CHECK(L.kl > 1e-3 && L.cos > 1e-4);
    nq_llama_grads *G = nq_train_grads(tr);
    nq_sha256_ctx h;
    nq_sha256_init(&h);
    for (int b = 0; b < nl; b++) {
        nq_sha256_update(&h, G->layers[b].attn_norm, (size_t)d * sizeof(float));
        nq_sha256_update(&h, G->layers[b].mlp_norm, (size_t)d * sizeof(float));
        for (int w = 0; w < W_LINEARS; w++) {
            rows = w == W_O || w == W_DOWN ? d : (w == W_GATE || w == W_UP ? c->hidden : c->n_heads * c->head_dim);
            cols = w == W_O ? c->n_heads * c->head_dim : (w == W_DOWN ? c->hidden : d);
            nq_sha256_update(&h, G->layers[b].w[w], (size_t)rows * cols * sizeof(float));
        }
    }
    nq_sha256_update(&h, G->final_norm, (size_t)d * sizeof(float));
    nq_sha256_update(&h, G->lm_head, (size_t)V * d * sizeof(float));
    nq_sha256_update(&h, G->embed, (size_t)V * d * sizeof(float));
    uint8_t dig[32];
    char hex[65];
    nq_sha256_final(&h, dig);
    nq_hex(dig, 32, hex);
    printf("gradients: sha256 %s (the same on every target)\n", hex);
    static const char *names[W_LINEARS] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    int checks[][2] = {{0, W_Q}, {0, W_K}, {1, W_V}, {2, W_O}, {3, W_GATE}, {4, W_UP}, {5, W_DOWN}, {0, W_V}};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int b = checks[i][0], w = checks[i][1];
        rows = w == W_O || w == W_DOWN ? d : (w == W_GATE || w == W_UP ? c->hidden : c->n_heads * c->head_dim);
        cols = w == W_O ? c->n_heads * c->head_dim : (w == W_DOWN ? c->hidden : d);
        char what[64];
        snprintf(what, sizeof what, "layer %d %s", b, names[w]);
        check_grad(what, tr, S[b].w[w], G->layers[b].w[w], (size_t)rows * cols, tok, tl, th, lambda);
    }
    check_grad("layer 1 input_layernorm", tr, S[1].attn_norm, G->layers[1].attn_norm, (size_t)d, tok, tl, th, lambda);
    check_grad("layer 4 post_attn_norm", tr, S[4].mlp_norm, G->layers[4].mlp_norm, (size_t)d, tok, tl, th, lambda);
    check_grad("final norm", tr, st.llama->final_norm, G->final_norm, (size_t)d, tok, tl, th, lambda);
    check_grad("lm_head", tr, st.llama->lm_head, G->lm_head, (size_t)V * d, tok, tl, th, lambda);
    check_grad("embed_tokens", tr, st.llama->embed, G->embed, (size_t)V * d, tok, tl, th, lambda);

    /* 3. bad token ids are refused, naming the index */
    int32_t bad[T];
    memcpy(bad, tok, sizeof bad);
    bad[5] = V;
    nq_err e = {0};
    CHECK(nq_train_step(tr, bad, tl, th, lambda, 0, &L, &e) == NQ_E_ARG && strstr(e.msg, "index 5"));

    nq_train_free(tr);
    free(tl);
    free(th);
    tiny_close(&st);
    tiny_close(&tm);
    return TU_DONE();
}
