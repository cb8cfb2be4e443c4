/* rotate.c - stage 1 incoherence rotation: each row t (length cols) becomes t' = R t with
 * R = (1/sqrt(b)) H_b D applied to consecutive blocks of b columns, where D holds random
 * signs (from a seed stored in the manifest) and H_b is the Walsh-Hadamard matrix of the
 * largest power of two b dividing cols (at most NQ_ROT_MAX_BLOCK). R is orthogonal, so
 * norms and the output error e^T H e (with H' = R H R^T) are unchanged, while the rotated
 * rows look Gaussian: no outlier columns, and one shared codebook fits every tensor.
 * Butterflies run in a fixed order; 1/sqrt(b) uses IEEE sqrt: the same bytes everywhere. */
#include <math.h>
#include <stdlib.h>
#include "common/layout.h"

uint64_t nq_rot_seed(const char *name, uint64_t seed) {
    return nq_hash_str(name, 0x9e3779b97f4a7c15ull ^ seed);
}

int64_t nq_rot_block(int64_t cols) {
    int64_t b = 1;
    while (b < NQ_ROT_MAX_BLOCK && cols % (2 * b) == 0) b *= 2;
    return b;
}

nq_status nq_rot_init(nq_rot *r, int64_t cols, uint64_t seed, nq_err *e) {
    r->cols = cols;
    r->block = nq_rot_block(cols);
    r->seed = seed;
    r->scale = (float)(1.0 / sqrt((double)r->block));
    r->sign = malloc((size_t)(cols ? cols : 1) * sizeof *r->sign);
    if (!r->sign) return nq_fail(e, NQ_E_NOMEM, "out of memory (rotation of %lld columns)", (long long)cols);
    uint64_t st = seed, bits = 0;
    for (int64_t j = 0; j < cols; j++) {
        if ((j & 63) == 0) bits = nq_rng_next(&st);
        r->sign[j] = (bits >> (j & 63)) & 1 ? -1.0f : 1.0f;
    }
    return NQ_OK;
}

void nq_rot_free(nq_rot *r) {
    free(r->sign);
    r->sign = NULL;
    r->block = 0;
}

static void fwht(float *x, int64_t n) {
    for (int64_t h = 1; h < n; h *= 2)
        for (int64_t i = 0; i < n; i += 2 * h)
            for (int64_t j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

static void fwht_d(double *x, int64_t n, int64_t stride) {
    for (int64_t h = 1; h < n; h *= 2)
        for (int64_t i = 0; i < n; i += 2 * h)
            for (int64_t j = i; j < i + h; j++) {
                double a = x[j * stride], b = x[(j + h) * stride];
                x[j * stride] = a + b;
                x[(j + h) * stride] = a - b;
            }
}

void nq_rot_forward(const nq_rot *r, float *x) {
    for (int64_t j = 0; j < r->cols; j++) x[j] *= r->sign[j];
    for (int64_t b = 0; b < r->cols; b += r->block) fwht(x + b, r->block);
    for (int64_t j = 0; j < r->cols; j++) x[j] *= r->scale;
}

void nq_rot_inverse(const nq_rot *r, float *x) {
    for (int64_t b = 0; b < r->cols; b += r->block) fwht(x + b, r->block);
    for (int64_t j = 0; j < r->cols; j++) x[j] = (x[j] * r->scale) * r->sign[j];
}

/* H' = R H R^T in place (cols x cols, f64): rows then columns. */
void nq_rot_hessian(const nq_rot *r, double *H) {
    int64_t n = r->cols;
    double s = 1.0 / sqrt((double)r->block);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) H[i * n + j] *= (double)r->sign[i] * r->sign[j];
    for (int64_t i = 0; i < n; i++)
        for (int64_t b = 0; b < n; b += r->block) fwht_d(H + i * n + b, r->block, 1);
    for (int64_t j = 0; j < n; j++)
        for (int64_t b = 0; b < n; b += r->block) fwht_d(H + b * n + j, r->block, n);
    for (int64_t i = 0; i < n * n; i++) H[i] *= s * s;
}
