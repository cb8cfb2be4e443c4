/* math.h - internal: the elementary functions of the forward pass, own
 * implementations built from IEEE + - * / only, so every libc and target gives the same
 * bits (docs/DESIGN.md: libm's expf/logf/sinf differ between glibc, Emscripten and wasi-libc). */
#ifndef NQ_LLAMA_MATH_H
#define NQ_LLAMA_MATH_H

double nq_m_exp(double x);             /* relative error < 2e-16 */
double nq_m_log(double x);             /* x > 0; relative error < 2e-16 */
void nq_m_sincos(double x, double *s, double *c); /* |x| < 1e9; absolute error < 1e-15 |x| ulp-ish */
#include <stdint.h>
#include <string.h>

/* float exp: relative error < 3e-7 on [-87.3, 88.3]; saturates outside (exp(-87.3) ~ 1.2e-38
 * below, exp(88.3) ~ 2.2e38 above); NaN stays NaN. Branch-free and inline so that loops
 * over arrays (softmax, SiLU) vectorize; the result is the same bits whether they do or not,
 * as every step is a single IEEE operation. */
static inline float nq_m_expf(float x) {
    x = x > 88.3f ? 88.3f : x;
    x = x < -87.3f ? -87.3f : x;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
    float shifted = x * 1.44269504f + 12582912.0f; /* 1.5 * 2^23: rounds to an integer (ties even) */
    float n = shifted - 12582912.0f;
    int32_t ni;
    memcpy(&ni, &shifted, sizeof ni);
    ni -= 0x4B400000; /* the integer n, from the mantissa */
    float r = (x - n * ln2_hi) - n * ln2_lo; /* |r| <= 0.347 */
    /* Taylor to r^7/7!: truncation < 3e-8 relative on |r| <= 0.347. */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)(ni + 127) << 23; /* 2^n, n in [-126, 127] */
    float sc;
    memcpy(&sc, &bits, sizeof sc);
    return p * sc;
}

#endif
