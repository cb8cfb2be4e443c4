/* stages.h - internal: the encoder's stages (stage 1 fitting, stage 2 codebooks and plan,
 * stage 3 refinement) and parts in memory. The stored form they produce, which the decoder
 * shares, is common/layout.h. */
#ifndef NQ_STAGES_H
#define NQ_STAGES_H
#include "common/layout.h"

/* ---- which tensors are quantized (settings.c): why tensor t is stored raw, or NULL if it
 * is vector-quantized (nq_should_quantize is its public yes/no). */
const char *nq_raw_reason(const nq_model *m, int t, const nq_settings *s);

/* ---- stage 1: fitting the normalization (compress/stage1_normalize.c) */
/* rotate: apply the incoherence rotation seeded by rot_seed (then u lives in rotated
 * coordinates: w = mean + R^T (scale * colfac * u)). */
nq_status nq_norm_fit(const nq_model *m, int t, double outlier_fraction, int rotate, uint64_t rot_seed, nq_norm *nm,
                      nq_err *e);
/* w -> u for one row, using the stored (rounded) values. */
void nq_norm_forward(const nq_norm *nm, int64_t row, const float *w, float *u);

/* ---- stage 2: multi-stage vector codebooks (codebook.c) */
/* k-means with k-means++ seeding and Lloyd iterations over n vectors of length d.
 * Deterministic for a given seed. C receives K x d centroids. */
nq_status nq_kmeans(const float *X, int64_t n, int d, int K, int iters, uint64_t seed, float *C,
                    nq_err *e);

/* ---- stage 2, joint view of the stages (additive.c) */
#define NQ_JOINT_TRAIN_ROUNDS 4  /* joint refits after the greedy residual k-means */
#define NQ_ICM_ROUNDS 2          /* code re-choice rounds per vector when encoding greedily (beam 1);
                                    after a beam search they gained nothing measurable */
/* Codes of x by beam search over the stages (beam 1 = greedy residual; at most NQ_K_MAXN). */
void nq_vq_beam(const float *const *C, const int *K, int nstages, int d, const float *x, uint16_t *codes, int beam);
/* Re-choose each stage's code with the others fixed, `rounds` times (error never grows). */
void nq_vq_icm(const float *const *C, const int *K, int nstages, int d, const float *x, uint16_t *codes,
               int rounds);
/* Starting from residual-trained C, alternate ICM assignment of X (n x d) and per-stage
 * least-squares centroid refits, `rounds` times. C is updated in place (f32). */
nq_status nq_vq_joint_refine(const float *X, int64_t n, int d, float **C, const int *K, int S, int rounds,
                             nq_err *e);

/* ---- model-wide codebooks and calibration for the encoder (plan.c) */
struct nq_plan {
    int shared;                   /* C[] is the model-wide codebook set */
    int d, nstages, K[NQ_MAX_STAGES];
    float *C[NQ_MAX_STAGES];      /* f16-rounded centroids, K x d each */
    uint8_t *raw[NQ_MAX_STAGES];  /* the same as stored: K x d little-endian f16 */
    int64_t trained_vectors;
    const nq_calib *calib;        /* borrowed, may be NULL */
    int *stages;                  /* per model tensor: stages of the set it uses (0: default) */
    int ntensors;
};
/* Stages of the model-wide set tensor t uses: its entry in p->stages if set, else
 * s->base_stages (mixed precision) or all of them. */
int nq_plan_stages(const nq_plan *p, const nq_settings *s, int t);
/* Seed of codebook stage `stage` of group `group` (name "" and group 0 for the shared set). */
uint64_t nq_stage_seed(const char *name, uint64_t seed, int64_t group, int stage);
/* Train stage codebooks on X (n x d, consumed: left holding the last residuals); C[s] gets
 * K_s x d f16-rounded centroids and raw[s] (if non-NULL) their f16 bytes. */
nq_status nq_train_stages(float *X, int64_t n, const nq_settings *s, const char *name, int64_t group,
                          float **C, uint8_t **raw, nq_err *e);

/* ---- parts in memory (encode.c)
 * Store raw (ownership taken) in p, zstd-compressed at level when that is smaller; sets
 * data, size, codec and raw_size. Load gives a malloc'd copy of a part's raw bytes. */
nq_status nq_part_store(nq_part *p, uint8_t *raw, size_t n, int level, nq_err *e);
nq_status nq_part_load(const nq_part *p, uint8_t **out, nq_err *e);

/* ---- stage 3: output-aware refinement of one tensor (refine.c)
 * With H the second moment of the layer's calibration inputs, the layer's output error for
 * a row is e^T H e (e = w - w_hat). In the normalized space u = (w - mean) / (scale colfac)
 * the same holds with H_u = F H F per row (times scale^2), so a row's codes are chosen
 * GPTQ-style: vectors left to right, each chosen by the Mahalanobis distance of the block's
 * inverse-Hessian Cholesky factor, and its error fed forward to the columns not yet coded. */
typedef struct nq_refiner nq_refiner;
/* H: cols x cols (f64, row-major). NQ_E_UNSUPPORTED if it cannot be factored even with
 * growing damping (the caller then falls back to weight-space refinement). */
nq_status nq_refiner_new(nq_refiner **out, const double *H, int64_t cols, const float *colfac, int d,
                         double damp, int act_order, const char *name, nq_err *e);
void nq_refiner_free(nq_refiner *r);
/* Precompute the codebooks in every block's whitened coordinates. */
nq_status nq_refiner_set_codebooks(nq_refiner *r, const float *const *C, const int *K, int nstages,
                                   int icm_rounds, int beam, nq_err *e);
/* Codes (nvec x S) and reconstruction uhat (nvec*d) of one normalized row u (cols).
 * Uses the refiner's scratch: one thread per refiner. */
void nq_refine_row(nq_refiner *r, const float *u, uint16_t *codes, float *uhat);
/* y = H x for the undamped H (f64 accumulation, fixed order). */
void nq_refiner_hmul(const nq_refiner *r, const float *x, double *y);

#endif
