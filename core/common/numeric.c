/* numeric.c - half-precision conversions and a deterministic log10.
 * Everything here uses integer operations and IEEE + - * / only, so results are the same
 * bits on glibc, Emscripten's libc and wasi-libc. */
#include <string.h>
#include "novaq.h"
#include "common/util.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float nq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t nq_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff) return sign | 0x7c00 | (man ? 0x200 : 0); /* inf / quiet NaN */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign; /* rounds to zero */
        man |= 0x800000;
        int shift = 14 - e; /* 14..24 */
        uint32_t half = 1u << (shift - 1), rem = man & ((1u << shift) - 1);
        uint32_t r = man >> shift;
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r; /* may carry into the smallest normal: correct */
    }
    uint32_t r = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* carry may reach inf: correct */
    return sign | (uint16_t)r;
}

float nq_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t nq_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double nq_log10(double x) {
    if (!(x > 0)) return x == 0 ? -1.0 / 0.0 : 0.0 / 0.0;
    if (x > 1.7976931348623157e308) return x;
    uint64_t u;
    memcpy(&u, &x, 8);
    int e = (int)((u >> 52) & 0x7ff);
    if (e == 0) { /* subnormal: scale into the normal range first */
        x *= 18014398509481984.0; /* 2^54 */
        memcpy(&u, &x, 8);
        e = (int)((u >> 52) & 0x7ff) - 54;
    }
    e -= 1023;
    u = (u & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* mantissa in [1, 2) */
    double m;
    memcpy(&m, &u, 8);
    if (m > 1.4142135623730951) { m *= 0.5; e++; }
    /* ln(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: 14 odd terms reach 1e-22. */
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int k = 1; k <= 27; k += 2) { sum += term / k; term *= s2; }
    double ln = 2.0 * sum + e * 0.69314718055994530942;
    return ln / 2.30258509299404568402;
}

double nq_sqnr_db(double sse, double signal) {
    double rel = signal > 0 ? sse / signal : 0;
    return rel > 0 ? -10.0 * nq_log10(rel) : 999.0;
}
