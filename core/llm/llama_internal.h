/* llama_internal.h - internal: the loaded LLaMA model and the forward-pass pieces that the
 * training pass (llama_train.c) shares with inference (llama.c), so both compute the same
 * bits in the same order. */
#ifndef NQ_LLAMA_INTERNAL_H
#define NQ_LLAMA_INTERNAL_H
#include "kernels/matmul.h"
#include "novaq.h"

enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_LINEARS };

typedef struct llama_layer {
    float *attn_norm, *mlp_norm;
    float *w[W_LINEARS];
    int tensor[W_LINEARS]; /* nq_model indices, for hooks */
    int attn_norm_tensor, mlp_norm_tensor;
} llama_layer;

struct nq_llama {
    nq_llama_config c;
    nq_mm_kernels k;
    float *embed, *final_norm, *lm_head; /* lm_head == embed when tied */
    int lm_head_tensor, embed_tensor, final_norm_tensor;
    llama_layer *layers;
    float *inv_freq; /* head_dim / 2 rotary frequencies, f32 as PyTorch computes them */
};

struct nq_llama_state {
    const nq_llama *l;
    int max_ctx, max_batch, pos;
    float *kc, *vc;          /* [layer][max_ctx][kv_dim] */
    float *cosv, *sinv;      /* [max_ctx][head_dim / 2] */
    float *x, *h, *q, *att;  /* [max_batch][dim or q_dim] */
    float *g, *u;            /* [max_batch][hidden] */
    float *scores;           /* [max_batch][max_ctx] */
    nq_llama_hook_fn hook;
    void *hook_ctx;
};

/* cos/sin of pos * inv_freq[i], i < head_dim / 2, angle rounded to f32 first (as torch). */
void nq_llama_rope_row(const nq_llama *l, int pos, float *cs, float *sn);
/* y[t] = w * (x[t] * rsqrt(mean(x[t]^2) + eps)), t < T rows of dim. */
void nq_llama_rmsnorm(const nq_llama *l, float *y, const float *x, const float *w, int T);
/* p = softmax(scale * p) in place over n entries. */
void nq_llama_softmax(float *p, int n, float scale);
/* o[i] = sum over j < n (in order) of p[j] * v[j*ld + i], i < hd. */
void nq_llama_weighted_sum(float *o, const float *p, const float *v, int ld, int n, int hd);

/* ---- training pass (llama_train.c): a window of T tokens from position 0 with every
 * activation kept, and the gradients of the distillation loss (see llama_train.c). */
typedef struct nq_train nq_train;
typedef struct nq_llama_grads {
    llama_layer *layers;                  /* norms and linears, the model's shapes */
    float *final_norm, *lm_head, *embed;  /* lm_head / embed NULL unless asked for */
} nq_llama_grads;
typedef struct nq_train_loss {
    double kl;   /* mean over positions of KL(teacher || student), nats */
    double cos;  /* mean over blocks and positions of 1 - cos(h_teacher, h_student) */
} nq_train_loss;
nq_status nq_train_new(nq_train **out, const nq_llama *l, int T, int want_lm_head, int want_embed, nq_err *e);
void nq_train_free(nq_train *t);
nq_llama_grads *nq_train_grads(nq_train *t);
void nq_train_zero_grads(nq_train *t);
/* Forward T tokens through the model's current weights and score them against the
 * teacher's logits (T x vocab) and block outputs (n_layers x T x dim); with backward,
 * add the gradients of kl + lambda * cos to the grads. */
nq_status nq_train_step(nq_train *t, const int32_t *tokens, const float *teacher_logits,
                        const float *teacher_hidden, double lambda, int backward, nq_train_loss *loss, nq_err *e);
/* The last step's logits (T x vocab) and block b's output (T x dim). */
const float *nq_train_logits(const nq_train *t);
const float *nq_train_hidden(const nq_train *t, int block);
/* The teacher's side of a step: logits (T x vocab) and block outputs (n_layers x T x dim)
 * of tokens[0..T) from position 0, by the inference pass. */
nq_status nq_train_teacher(const nq_llama *l, const int32_t *tokens, int T, float *logits, float *hidden, nq_err *e);
#endif
