/* layout.h - internal: the stored form of the stages, what both the encoder (compress/) and
 * the decoder (decompress/) need so both use the same reconstruction arithmetic, bit for
 * bit: stage 1's transform and NORM part (norm.c, rotate.c), the CODES part's row layout and
 * the sum of stage centroids (codes.c), and the deterministic generator (rng.c). */
#ifndef NQ_LAYOUT_H
#define NQ_LAYOUT_H
#include "novaq_internal.h"

/* ---- stage 1: distribution normalization (common/norm.c; fitting in compress/stage1_normalize.c)
 * w[i][j] = mean_i + scale_i * (colfac_j * u[i][j])      (f32 arithmetic, this order)
 *   (with a rotation: w_i = mean_i + R^T (scale_i * colfac * u_i), see rotate.c)
 *   mean_i  = g * f16(mean'_i) when the tensor stores row means, else 0
 *   scale_i = nq_row_scale(g, q_i): a log-scale code, g * 2^((q_i - 239) / 16)
 *   colfac_j = f16 factor >= 1 for the outlier input channels, 1 elsewhere.
 * Row means are stored only where they carry energy (NQ_ROW_MEAN_SHARE of the tensor's);
 * per-row values travel with the codes of their rows; g and the outliers form the
 * tensor's NORM part: f32 g | u32 n | u32 col[n] | u16 f16 factor[n]  (little-endian). */
/* ---- incoherence rotation (common/rotate.c): t' = R t per row, R = (1/sqrt(b)) H_b D blockwise */
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

void nq_norm_free(nq_norm *nm);
/* g * 2^((q - NQ_SCALE_TOP) / 16), computed with exact operations only (IEEE sqrt, products,
 * ldexp), so every target gets the same float. */
float nq_row_scale(float g, uint8_t q);
void nq_row_scale_table(float g, float tab[256]);
/* The code whose scale is nearest to s in ratio (ties to the lower code). */
uint8_t nq_row_scale_code(const float tab[256], double s);
float nq_norm_row_mean(const nq_norm *nm, int64_t row);
/* u -> w for one row given its mean and scale (as decoded); rot may be NULL or block 0. */
void nq_norm_inverse(float mean, float scale, const float *colfac, const nq_rot *rot, int64_t cols, const float *u,
                     float *w);
size_t nq_norm_part_size(const nq_norm *nm);
void nq_norm_part_write(const nq_norm *nm, uint8_t *out);
/* Parse a NORM part; fills g, scale_tab, nout, out_col, out_fac_h and colfac (cols entries). */
nq_status nq_norm_part_read(const uint8_t *p, size_t n, int64_t cols, nq_norm *nm, const char *where,
                            nq_err *e);
/* ---- codes layout (common/codes.c)
 * A CODES part for rows [a, b): [f16 mean'[n]] | u8 scale code[n] | n rows of packed codes.
 * Each row is ceil(nvec * sum(log2 K_s) / 8) bytes, starts byte-aligned, and holds for
 * each vector in order its stage codes s = 0..S-1, each log2 K_s bits, LSB first. */
size_t nq_codes_row_bytes(int64_t nvec, const int *bits, int nstages);
/* Where the fields of a CODES part of n rows lie; the encoder, the end-to-end step and the
 * reader all address a part through this. Offsets and size are 64-bit so that a part's
 * declared size can be checked before it is loaded, on 32-bit targets too. */
typedef struct nq_codes_layout {
    uint64_t scales;     /* u8 scale code[n]: after the means when the tensor has them */
    uint64_t rows;       /* row 0's packed codes; row i at rows + i * code_bytes */
    uint64_t size;       /* the whole part */
    size_t code_bytes;   /* one row's packed codes (nq_codes_row_bytes) */
} nq_codes_layout;
nq_codes_layout nq_codes_layout_of(int has_mean, int64_t n, size_t code_bytes);
static inline size_t nq_codes_row_at(const nq_codes_layout *L, int64_t i) {
    return (size_t)L->rows + (size_t)i * L->code_bytes;
}
/* Row i's mean' (f16 bits, relative to g); only in parts of tensors with row means. */
uint16_t nq_codes_mean(const uint8_t *part, int64_t i);
void nq_codes_set_mean(uint8_t *part, int64_t i, uint16_t mean_h);
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
#endif
