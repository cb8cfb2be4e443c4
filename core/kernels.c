/* kernels.c - distance and nearest-centroid kernels (see kernels.h for the contract). */
#include "kernels.h"

#if defined(__GNUC__)
#define NQ_INLINE static inline __attribute__((always_inline))
#else
#define NQ_INLINE static inline
#endif

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define NQ_SIMD_WASM 1
#elif defined(__SSE2__)
#include <xmmintrin.h>
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
#define V_STORE(p, v) _mm_storeu_ps(p, v)
#define V_TRANSPOSE4(a, b, c, d) _MM_TRANSPOSE4_PS(a, b, c, d)
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
#define V_STORE(p, v) wasm_v128_store(p, v)
#define V_TRANSPOSE4(a, b, c, d) do { \
        v128_t t0_ = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), t1_ = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7); \
        v128_t t2_ = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), t3_ = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7); \
        a = wasm_i32x4_shuffle(t0_, t2_, 0, 1, 4, 5); b = wasm_i32x4_shuffle(t0_, t2_, 2, 3, 6, 7); \
        c = wasm_i32x4_shuffle(t1_, t3_, 0, 1, 4, 5); d = wasm_i32x4_shuffle(t1_, t3_, 2, 3, 6, 7); \
    } while (0)
static float v_hsum(v4 v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
#endif

/* Squared distance lanes of x to one centroid: lane l holds the canonical partial sum. */
NQ_INLINE v4 dist_lanes(const float *x, const float *c, int d) {
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
    return acc;
}

float nq_k_dist2(const float *x, const float *c, int d) { return v_hsum(dist_lanes(x, c, d)); }

/* Four centroids at once: transpose their lane vectors so one vertical
 * (r0 + r1) + (r2 + r3) gives all four distances in the canonical order. */
NQ_INLINE v4 dist4(const float *x, const float *C, int d) {
    v4 a = dist_lanes(x, C, d), b = dist_lanes(x, C + d, d);
    v4 c = dist_lanes(x, C + 2 * d, d), e = dist_lanes(x, C + 3 * d, d);
    V_TRANSPOSE4(a, b, c, e);
    return V_ADD(V_ADD(a, b), V_ADD(c, e));
}

/* The block loop, instantiated below with constant d for the preset shapes. */
#define NEAREST_BLOCKS(D)                                                         \
    for (; k + 4 <= K; k += 4) {                                                  \
        float t[4];                                                               \
        V_STORE(t, dist4(x, C + (int64_t)k * (D), (D)));                          \
        for (int i = 0; i < 4; i++)                                               \
            if ((k == 0 && i == 0) || t[i] < bd) { bd = t[i]; best = k + i; }     \
    }

int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    int best = 0, k = 0;
    float bd = 0;
    if (d == 8) { NEAREST_BLOCKS(8) }
    else if (d == 4) { NEAREST_BLOCKS(4) }
    for (; k + 4 <= K; k += 4) {
        float t[4];
        V_STORE(t, dist4(x, C + (int64_t)k * d, d));
        for (int i = 0; i < 4; i++)
            if ((k == 0 && i == 0) || t[i] < bd) { bd = t[i]; best = k + i; }
    }
    for (; k < K; k++) {
        float t = nq_k_dist2(x, C + (int64_t)k * d, d);
        if (k == 0 || t < bd) { bd = t; best = k; }
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
