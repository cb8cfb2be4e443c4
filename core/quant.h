/* quant.h - internal interfaces of the quantization stages and their binary layouts,
 * shared by the encoder (encode.c) and the decoder (novaq_read.c) so both use the same
 * reconstruction arithmetic, bit for bit. */
#ifndef NQ_QUANT_H
#define NQ_QUANT_H
#include "novaq.h"

/* ---- stage 1: distribution normalization (normalize.c)
 * w[i][j] = mean_i + scale_i * colfac_j * u[i][j], where
 *   mean_i  = g * f16(mean'_i), scale_i = g * f16(scale'_i)  (g: per-tensor f32 base)
 *   colfac_j = f16 factor >= 1 for the outlier input channels, 1 elsewhere.
 * Per-row values travel with the codes of their rows; g and the outliers form the tensor's
 * NORM part: f32 g | u32 n | u32 col[n] | u16 f16 factor[n]  (little-endian). */
typedef struct nq_norm {
    int64_t rows, cols;
    float g;
    uint16_t *mean_h, *scale_h; /* per row, f16 relative to g */
    int nout;
    uint32_t *out_col;
    uint16_t *out_fac_h;
    float *colfac;              /* dense, cols entries */
} nq_norm;

nq_status nq_norm_fit(const nq_model *m, int t, double outlier_fraction, nq_norm *nm, nq_err *e);
void nq_norm_free(nq_norm *nm);
/* Row statistics of one row, rounded as stored (used by fit and by the encoder). */
void nq_norm_row_stats(const float *w, int64_t cols, float g, uint16_t *mean_h, uint16_t *scale_h);
/* w -> u for one row, using the stored (rounded) values. */
void nq_norm_forward(const nq_norm *nm, int64_t row, const float *w, float *u);
/* u -> w for one row given its stored f16 mean/scale. */
void nq_norm_inverse(float g, uint16_t mean_h, uint16_t scale_h, const float *colfac,
                     int64_t cols, const float *u, float *w);
size_t nq_norm_part_size(const nq_norm *nm);
void nq_norm_part_write(const nq_norm *nm, uint8_t *out);
/* Parse a NORM part; fills g, nout, out_col, out_fac_h and colfac (cols entries). */
nq_status nq_norm_part_read(const uint8_t *p, size_t n, int64_t cols, nq_norm *nm, const char *where,
                            nq_err *e);

/* ---- stage 2: multi-stage vector codebooks (codebook.c) */
/* k-means with k-means++ seeding and Lloyd iterations over n vectors of length d.
 * Deterministic for a given seed. C receives K x d centroids. */
nq_status nq_kmeans(const float *X, int64_t n, int d, int K, int iters, uint64_t seed, float *C,
                    nq_err *e);

/* ---- codes layout (bitpack.c)
 * A CODES part for rows [a, b): f16 mean'[n] | f16 scale'[n] | n rows of packed codes.
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
#endif
