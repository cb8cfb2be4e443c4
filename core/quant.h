/* quant.h - internal interfaces of the quantization stages and their binary layouts,
 * shared by the encoder (encode.c) and the decoder (novaq_read.c) so both use the same
 * reconstruction arithmetic, bit for bit. */
#ifndef NQ_QUANT_H
#define NQ_QUANT_H
#include "novaq.h"

/* ---- stage 1: distribution normalization (normalize.c)
 * w[i][j] = mean_i + scale_i * (colfac_j * u[i][j])      (f32 arithmetic, this order)
 *   (with a rotation: w_i = mean_i + R^T (scale_i * colfac * u_i), see rotate.c)
 *   mean_i  = g * f16(mean'_i) when the tensor stores row means, else 0
 *   scale_i = nq_row_scale(g, q_i): a log-scale code, g * 2^((q_i - 239) / 16)
 *   colfac_j = f16 factor >= 1 for the outlier input channels, 1 elsewhere.
 * Row means are stored only where they carry energy (NQ_ROW_MEAN_SHARE of the tensor's);
 * per-row values travel with the codes of their rows; g and the outliers form the
 * tensor's NORM part: f32 g | u32 n | u32 col[n] | u16 f16 factor[n]  (little-endian). */
/* ---- incoherence rotation (rotate.c): t' = R t per row, R = (1/sqrt(b)) H_b D blockwise */
#define NQ_ROT_MAX_BLOCK 4096
typedef struct nq_rot {
    int64_t cols, block;        /* block 0: no rotation */
    uint64_t seed;
    float scale;                /* 1/sqrt(block) */
    float *sign;                /* +-1 per column */
} nq_rot;
int64_t nq_rot_block(int64_t cols);
nq_status nq_rot_init(nq_rot *r, int64_t cols, uint64_t seed, nq_err *e);
void nq_rot_free(nq_rot *r);
void nq_rot_forward(const nq_rot *r, float *x);  /* x = R x */
void nq_rot_inverse(const nq_rot *r, float *x);  /* x = R^T x */
void nq_rot_hessian(const nq_rot *r, double *H); /* H = R H R^T */
/* The seed of a tensor's rotation signs. */
uint64_t nq_rot_seed(const char *name, uint64_t seed);

#define NQ_SCALE_TOP 239        /* code of scale == g; 16 codes (one octave) above it */
#define NQ_ROW_MEAN_SHARE 0.05  /* keep row means if they hold > 5% of the squared weights */
typedef struct nq_norm {
    int64_t rows, cols;
    float g;
    int has_mean;
    uint16_t *mean_h;           /* per row, f16 relative to g (0 when !has_mean) */
    uint8_t *scale_q;           /* per row, log-scale code */
    float scale_tab[256];       /* nq_row_scale(g, q) for every q */
    int nout;
    uint32_t *out_col;
    uint16_t *out_fac_h;
    float *colfac;              /* dense, cols entries */
    nq_rot rot;                 /* applied after mean removal, before scaling (block 0: none) */
} nq_norm;

/* rotate: apply the incoherence rotation seeded by rot_seed (then u lives in rotated
 * coordinates: w = mean + R^T (scale * colfac * u)). */
nq_status nq_norm_fit(const nq_model *m, int t, double outlier_fraction, int rotate, uint64_t rot_seed, nq_norm *nm,
                      nq_err *e);
void nq_norm_free(nq_norm *nm);
/* g * 2^((q - NQ_SCALE_TOP) / 16), computed with exact operations only (IEEE sqrt, products,
 * ldexp), so every target gets the same float. */
float nq_row_scale(float g, uint8_t q);
void nq_row_scale_table(float g, float tab[256]);
/* The code whose scale is nearest to s in ratio (ties to the lower code). */
uint8_t nq_row_scale_code(const float tab[256], double s);
float nq_norm_row_mean(const nq_norm *nm, int64_t row);
/* w -> u for one row, using the stored (rounded) values. */
void nq_norm_forward(const nq_norm *nm, int64_t row, const float *w, float *u);
/* u -> w for one row given its mean and scale (as decoded); rot may be NULL or block 0. */
void nq_norm_inverse(float mean, float scale, const float *colfac, const nq_rot *rot, int64_t cols, const float *u,
                     float *w);
size_t nq_norm_part_size(const nq_norm *nm);
void nq_norm_part_write(const nq_norm *nm, uint8_t *out);
/* Parse a NORM part; fills g, scale_tab, nout, out_col, out_fac_h and colfac (cols entries). */
nq_status nq_norm_part_read(const uint8_t *p, size_t n, int64_t cols, nq_norm *nm, const char *where,
                            nq_err *e);
/* Bytes of per-row data in a CODES part of n rows: [f16 mean'[n]] | u8 scale code[n]. */
static inline size_t nq_row_data_bytes(int has_mean, int64_t n) { return (size_t)n * (has_mean ? 3 : 1); }

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

/* ---- codes layout (bitpack.c)
 * A CODES part for rows [a, b): [f16 mean'[n]] | u8 scale code[n] | n rows of packed codes.
 * Each row is ceil(nvec * sum(log2 K_s) / 8) bytes, starts byte-aligned, and holds for
 * each vector in order its stage codes s = 0..S-1, each log2 K_s bits, LSB first. */
size_t nq_codes_row_bytes(int64_t nvec, const int *bits, int nstages);
void nq_pack_row(const uint16_t *codes /* nvec x S */, int64_t nvec, const int *bits, int nstages,
                 uint8_t *out);
void nq_unpack_row(const uint8_t *in, int64_t nvec, const int *bits, int nstages,
                   uint16_t *codes);

/* Sum of stage centroids for one vector: u = C_0[c_0] + C_1[c_1] + ... in stage order. */
void nq_vq_reconstruct(const float *const *C, const uint16_t *codes, int nstages, int d, float *u);

/* Deterministic PRNG (splitmix64). */
uint64_t nq_rng_next(uint64_t *state);
double nq_rng_uniform(uint64_t *state); /* [0, 1) with 53 bits */
uint64_t nq_hash_str(const char *s, uint64_t h);
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
