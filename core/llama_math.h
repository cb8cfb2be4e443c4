/* llama_math.h - internal: the elementary functions of the forward pass, own
 * implementations built from IEEE + - * / only, so every libc and target gives the same
 * bits (DESIGN.md: libm's expf/logf/sinf differ between glibc, Emscripten and wasi-libc). */
#ifndef NQ_LLAMA_MATH_H
#define NQ_LLAMA_MATH_H

double nq_m_exp(double x);             /* relative error < 2e-16 */
double nq_m_log(double x);             /* x > 0; relative error < 2e-16 */
void nq_m_sincos(double x, double *s, double *c); /* |x| < 1e9; absolute error < 1e-15 |x| ulp-ish */
#include <stdint.h>
#include <string.h>

/* float exp, relative error < 3e-7; 0 below -104, inf above 88.8. Inline: it runs once per
 * attention score, MLP unit and logit. */
static inline float nq_m_expf(float x) {
    if (x != x) return x;
    if (x > 88.72f) return 1.0f / 0.0f;
    if (x < -103.9f) return 0.0f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
    float fn = x * 1.44269504f;
    int n = (int)(fn < 0 ? fn - 0.5f : fn + 0.5f);
    float r = (x - (float)n * ln2_hi) - (float)n * ln2_lo; /* |r| <= 0.347 */
    /* Taylor to r^7/7!: truncation < 3e-8 relative on |r| <= 0.347. */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    if (n < -126) { /* subnormal result: scale in two steps */
        uint32_t b1 = (uint32_t)(n + 60 + 127) << 23, b2 = (uint32_t)(127 - 60) << 23;
        float s1, s2;
        memcpy(&s1, &b1, 4);
        memcpy(&s2, &b2, 4);
        return p * s1 * s2;
    }
    if (n > 127) return p * 1.7014118e38f * 2.0f; /* 2^127 * 2: may round to inf */
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float sc;
    memcpy(&sc, &bits, 4);
    return p * sc;
}

#endif
