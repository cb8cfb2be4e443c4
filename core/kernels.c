/* kernels.c - distance and nearest-centroid kernels (see kernels.h for the contract). */
#include "kernels.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define NQ_SIMD_WASM 1
#elif defined(__SSE2__)
#include <emmintrin.h>
#define NQ_SIMD_SSE2 1
#endif

float nq_k_dist2_ref(const float *x, const float *c, int d) {
    float lane[4] = {0, 0, 0, 0};
    for (int j = 0; j < d; j++) {
        float t = x[j] - c[j];
        lane[j & 3] += t * t;
    }
    return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

int nq_k_nearest_ref(const float *x, const float *C, int K, int d, float *dist) {
    int best = 0;
    float bd = nq_k_dist2_ref(x, C, d);
    for (int k = 1; k < K; k++) {
        float t = nq_k_dist2_ref(x, C + (int64_t)k * d, d);
        if (t < bd) { bd = t; best = k; }
    }
    if (dist) *dist = bd;
    return best;
}

#if defined(NQ_SIMD_SSE2) || defined(NQ_SIMD_WASM)
/* 4 lanes; a tail shorter than 4 is zero-padded, which adds +0.0f to its lanes: the same
 * value as the scalar order (x + 0.0f == x for every non-NaN x, and -0.0f never arises
 * from t*t). */
#if defined(NQ_SIMD_SSE2)
typedef __m128 v4;
#define V_LOAD(p) _mm_loadu_ps(p)
#define V_ZERO() _mm_setzero_ps()
#define V_SUB(a, b) _mm_sub_ps(a, b)
#define V_MUL(a, b) _mm_mul_ps(a, b)
#define V_ADD(a, b) _mm_add_ps(a, b)
static float v_hsum(v4 v) {
    float l[4];
    _mm_storeu_ps(l, v);
    return (l[0] + l[1]) + (l[2] + l[3]);
}
#else
typedef v128_t v4;
#define V_LOAD(p) wasm_v128_load(p)
#define V_ZERO() wasm_f32x4_splat(0.0f)
#define V_SUB(a, b) wasm_f32x4_sub(a, b)
#define V_MUL(a, b) wasm_f32x4_mul(a, b)
#define V_ADD(a, b) wasm_f32x4_add(a, b)
static float v_hsum(v4 v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
#endif

float nq_k_dist2(const float *x, const float *c, int d) {
    v4 acc = V_ZERO();
    int j = 0;
    for (; j + 4 <= d; j += 4) {
        v4 t = V_SUB(V_LOAD(x + j), V_LOAD(c + j));
        acc = V_ADD(acc, V_MUL(t, t));
    }
    if (j < d) {
        float xa[4] = {0, 0, 0, 0}, ca[4] = {0, 0, 0, 0};
        for (int i = 0; j + i < d; i++) { xa[i] = x[j + i]; ca[i] = c[j + i]; }
        v4 t = V_SUB(V_LOAD(xa), V_LOAD(ca));
        acc = V_ADD(acc, V_MUL(t, t));
    }
    return v_hsum(acc);
}

int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    if (d == 8) { /* the common preset shape, kept in registers */
        v4 x0 = V_LOAD(x), x1 = V_LOAD(x + 4);
        int best = 0;
        float bd = 0;
        for (int k = 0; k < K; k++) {
            const float *c = C + (int64_t)k * 8;
            v4 t0 = V_SUB(x0, V_LOAD(c)), t1 = V_SUB(x1, V_LOAD(c + 4));
            float t = v_hsum(V_ADD(V_MUL(t0, t0), V_MUL(t1, t1)));
            if (k == 0 || t < bd) { bd = t; best = k; }
        }
        if (dist) *dist = bd;
        return best;
    }
    int best = 0;
    float bd = nq_k_dist2(x, C, d);
    for (int k = 1; k < K; k++) {
        float t = nq_k_dist2(x, C + (int64_t)k * d, d);
        if (t < bd) { bd = t; best = k; }
    }
    if (dist) *dist = bd;
    return best;
}

const char *nq_k_variant(void) {
#if defined(NQ_SIMD_SSE2)
    return "sse2";
#else
    return "wasm-simd128";
#endif
}
#else
float nq_k_dist2(const float *x, const float *c, int d) { return nq_k_dist2_ref(x, c, d); }
int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    return nq_k_nearest_ref(x, C, K, d, dist);
}
const char *nq_k_variant(void) { return "scalar"; }
#endif
