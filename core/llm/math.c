/* math.c - exp, log, sin/cos from + - * / and bit manipulation only (see
 * llama_math.h). Range reduction by ln 2 or pi/2 in two or three parts (Cody-Waite), then
 * a polynomial on the reduced argument. */
#include <stdint.h>
#include <string.h>
#include "llm/math.h"

static double pow2i(int n) { /* 2^n for -1022 <= n <= 1023 */
    uint64_t bits = (uint64_t)(n + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static double round_half_away(double x) { /* |x| < 2^52 */
    double r = (double)(int64_t)(x < 0 ? x - 0.5 : x + 0.5);
    return r;
}

double nq_m_exp(double x) {
    if (x != x) return x;
    if (x > 709.78) return 1.0 / 0.0;
    if (x < -745.2) return 0.0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double n = round_half_away(x * 1.44269504088896338700);
    double r = (x - n * ln2_hi) - n * ln2_lo; /* |r| <= 0.347 */
    /* Taylor series to r^13/13!: truncation < 5e-18 on |r| <= 0.347. */
    double p = 1.0 / 6227020800.0;
    static const double inv_fact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                      1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                                      1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    for (int i = 0; i < 13; i++) p = p * r + inv_fact[i];
    int ni = (int)n;
    if (ni < -1020) return p * pow2i(ni + 60) * pow2i(-60); /* subnormal results */
    if (ni > 1023) return p * pow2i(ni - 1) * 2.0;
    return p * pow2i(ni);
}

double nq_m_log(double x) {
    if (x != x || x < 0) return 0.0 / 0.0;
    if (x == 0) return -1.0 / 0.0;
    if (x == 1.0 / 0.0) return x;
    uint64_t bits;
    int k = 0;
    if (x < 2.2250738585072014e-308) { x *= 18014398509481984.0; k = -54; } /* subnormal: * 2^54 */
    memcpy(&bits, &x, sizeof bits);
    k += (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) { m *= 0.5; k++; } /* m in [sqrt(1/2), sqrt(2)] */
    /* log m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: odd series to s^23. */
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, p = 1.0 / 23.0;
    for (int i = 21; i >= 1; i -= 2) p = p * s2 + 1.0 / (double)i;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return (double)k * ln2_hi + (2.0 * s * p + (double)k * ln2_lo);
}

void nq_m_sincos(double x, double *s, double *c) {
    /* x = n pi/2 + r, pi/2 in three parts (33 + 33 + 53 bits) */
    const double p1 = 1.57079632673412561417e+00, p2 = 6.07710050650619224932e-11,
                 p3 = 2.02226624879595063154e-21;
    double n = round_half_away(x * 0.63661977236758134308);
    double r = ((x - n * p1) - n * p2) - n * p3; /* |r| <= pi/4 (+ tiny) */
    double r2 = r * r, ps = 0.0, pc = 0.0;
    /* sin r = r (1 - r^2/3! + ... ), cos r = 1 - r^2/2! + ... : Taylor to r^19 / r^20. */
    for (int i = 19; i >= 3; i -= 2) { /* nested form: 1 - r^2/(3*2) (1 - r^2/(5*4) (...)) */
        ps = 1.0 - ps * r2 / ((double)(i) * (double)(i - 1));
    }
    for (int i = 20; i >= 2; i -= 2) pc = 1.0 - pc * r2 / ((double)i * (double)(i - 1));
    double sr = r * ps, cr = pc;
    int64_t q = (int64_t)n & 3;
    if (q < 0) q += 4;
    switch (q) {
    case 0: *s = sr; *c = cr; break;
    case 1: *s = cr; *c = -sr; break;
    case 2: *s = -sr; *c = -cr; break;
    default: *s = -cr; *c = sr; break;
    }
}

