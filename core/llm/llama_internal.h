/* llama_internal.h - internal: the loaded LLaMA model and the one transformer block that
 * both the inference pass (llama.c) and the training pass (train.c) run, so both compute
 * the same bits in the same order: the block's arithmetic is written once (nq_llama_block),
 * and the two passes differ only in where they put its activations. */
#ifndef NQ_LLAMA_INTERNAL_H
#define NQ_LLAMA_INTERNAL_H
#include "kernels/matmul.h"
#include "novaq_internal.h"

enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_LINEARS };

typedef struct llama_layer {
    float *attn_norm, *mlp_norm;
    float *w[W_LINEARS];
    int tensor[W_LINEARS]; /* nq_model indices, for hooks */
    int attn_norm_tensor, mlp_norm_tensor;
} llama_layer;

/* What a block computes, besides its weights: read by the block's arithmetic in llama.c
 * (and by train.c's backward half, which must use the same constants). Today this is LLaMA's block only: pre-RMSNorm, no biases, separate q/k/v projections,
 * rotate-half RoPE, causal grouped-query attention over every earlier position, SwiGLU MLP.
 * The other families (issue 19) become fields here, read by the same block: biases as
 * optional weights beside w[] in llama_layer, GeGLU as another nq_mlp_act, a sliding window
 * as the attention span, a fused qkv split by the loader. */
typedef enum { NQ_MLP_SWIGLU } nq_mlp_act; /* down(act(gate x) * up x) */
typedef struct nq_block_desc {
    int dim, hidden, n_heads, n_kv_heads, head_dim;
    int q_dim, kv_dim;  /* n_heads * head_dim, n_kv_heads * head_dim */
    float norm_eps;     /* RMSNorm epsilon, rounded to f32 as torch adds it */
    float attn_scale;   /* head_dim^-0.5, rounded to f32 once */
    nq_mlp_act act;
} nq_block_desc;

struct nq_llama {
    nq_llama_config c;
    nq_block_desc blk; /* from c, at load */
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
/* y (T x O, row stride O) = x (T x n, row stride n) W^T for W (O x n): every linear layer. */
void nq_llama_linear(const nq_llama *l, float *y, const float *x, const float *W, int T, int O, int n);
/* p = softmax(scale * p) in place over n entries. */
void nq_llama_softmax(float *p, int n, float scale);
/* o[i] = sum over j < n (in order) of p[j] * v[j*ld + i], i < hd. */
void nq_llama_weighted_sum(float *o, const float *p, const float *v, int ld, int n, int hd);

/* Where one block reads and writes the activations of T rows at positions pos0 .. pos0+T-1.
 * The inference pass points the fields at scratch that every block reuses (and k, v into
 * its KV cache); the training pass at block b's slices of the arrays it keeps for the
 * backward pass. The fields marked "may be" may alias as said: the block only overwrites
 * a buffer once what it held is no longer read, so the bits are the same either way. */
typedef struct nq_block_acts {
    int T, pos0;
    const float *cosv, *sinv; /* RoPE tables from position 0: [pos][head_dim / 2] */
    float *x;                 /* [T][dim] stream entering the block */
    float *xm, *xo;           /* [T][dim] stream after the attention half, after the block; may be x */
    float *h1, *h2;           /* [T][dim] the RMSNorm outputs feeding attention and the MLP */
    float *q, *att;           /* [T][q_dim] queries after RoPE; attention output (o_proj input) */
    float *k, *v;             /* [pos0 + T][kv_dim] from position 0: keys after RoPE, values;
                               * rows pos0.. are written, rows 0..pos0+T-1 are attended to */
    float *probs;             /* attention probabilities of head h: [T][ld_probs] at probs +
                               * h * probs_head (0: one buffer for every head); row t holds
                               * pos0 + t + 1 probabilities, then zeros up to pos0 + T */
    int ld_probs;
    size_t probs_head;
    float *gate, *up, *mlp;   /* [T][hidden] gate before the activation, up, act(gate) * up;
                               * mlp may be gate */
    float *proj;              /* [T][dim] o_proj and down_proj outputs before the residual
                               * add; may be h1 and h2 */
} nq_block_acts;

/* Called at each site of a block (NQ_SITE_ATTN_IN .. NQ_SITE_BLOCK_OUT) with the T rows
 * of width floats that the site's linears read (the stream, for BLOCK_OUT). */
typedef void (*nq_block_watch)(void *ctx, int layer, nq_llama_site site, const float *x, int T, int width);

/* Block `layer` of l over one window: x -> xm -> xo (LLaMA: xm = x + attn(norm(x)),
 * xo = xm + mlp(norm(xm))), every intermediate left where a says. watch may be NULL. */
void nq_llama_block(const nq_llama *l, int layer, const nq_block_acts *a, nq_block_watch watch, void *ctx);

/* ---- training pass (train.c): a window of T tokens from position 0 through
 * nq_llama_block with every activation kept, and the gradients of the distillation loss
 * (see train.c). */
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
