/* kernels.c - distance and nearest-centroid kernels (see kernels.h for the contract). */
#include "kernels/kernels.h"

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

unsigned nq_cpu_features(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    unsigned f = 0;
    if (__builtin_cpu_supports("avx")) f |= NQ_CPU_AVX;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) f |= NQ_CPU_AVX512;
    return f;
#else
    return 0;
#endif
}

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

/* Insert (t, k) into the sorted list of the *m best of at most n; visiting k in increasing
 * order with a strict comparison keeps equal distances in index order. */
static void topn_insert(int n, int *m, int *idx, float *dist, float t, int k) {
    if (*m == n && !(t < dist[n - 1])) return;
    int i = *m < n ? (*m)++ : n - 1;
    for (; i > 0 && t < dist[i - 1]; i--) {
        dist[i] = dist[i - 1];
        idx[i] = idx[i - 1];
    }
    dist[i] = t;
    idx[i] = k;
}

static int clamp_n(int n, int K) { return n < 1 ? 1 : n > K ? K : n > NQ_K_MAXN ? NQ_K_MAXN : n; }

int nq_k_nearest_n_ref(const float *x, const float *C, int K, int d, int n, int *idx, float *dist) {
    int m = 0;
    n = clamp_n(n, K);
    for (int k = 0; k < K; k++) topn_insert(n, &m, idx, dist, nq_k_dist2_ref(x, C + (int64_t)k * d, d), k);
    return m;
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

#if defined(NQ_SIMD_SSE2) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
/* AVX: eight centroids per block for d = 8 and d = 4, same canonical sums. For d = 8 a
 * centroid's lane i plus its lane i + 4 is canonical lane i ((0 + a) + b == a + b); for
 * d = 4 the lanes are the canonical ones. Distances come out in index order. */
#include <immintrin.h>
#define AVX_FN __attribute__((target("avx")))

/* Lane-wise 4x4 transpose of a, b, c, e, then (r0 + r1) + (r2 + r3). */
AVX_FN static inline __m256 avx_reduce4(__m256 a, __m256 b, __m256 c, __m256 e) {
    __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    __m256 t2 = _mm256_unpacklo_ps(c, e), t3 = _mm256_unpackhi_ps(c, e);
    __m256 r0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), r1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 r2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), r3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    return _mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3));
}

AVX_FN static inline __m256 avx_sq(__m256 x, const float *c) {
    __m256 t = _mm256_sub_ps(x, _mm256_loadu_ps(c));
    return _mm256_mul_ps(t, t);
}

AVX_FN static __m256 dist8_avx(const float *x, const float *C, int d) {
    __m256 v[4];
    if (d == 8) {
        __m256 xv = _mm256_loadu_ps(x), u[8];
        for (int i = 0; i < 8; i++) u[i] = avx_sq(xv, C + 8 * i);
        for (int i = 0; i < 4; i++) /* lo: centroid i, hi: centroid i + 4 */
            v[i] = _mm256_add_ps(_mm256_permute2f128_ps(u[i], u[i + 4], 0x20), _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    } else { /* d == 4: each register holds two centroids */
        __m256 xv = _mm256_broadcast_ps((const __m128 *)x);
        __m256 a = avx_sq(xv, C), b = avx_sq(xv, C + 8), c = avx_sq(xv, C + 16), e = avx_sq(xv, C + 24);
        v[0] = _mm256_permute2f128_ps(a, c, 0x20); /* centroids 0 | 4 */
        v[1] = _mm256_permute2f128_ps(a, c, 0x31); /* 1 | 5 */
        v[2] = _mm256_permute2f128_ps(b, e, 0x20); /* 2 | 6 */
        v[3] = _mm256_permute2f128_ps(b, e, 0x31); /* 3 | 7 */
    }
    return avx_reduce4(v[0], v[1], v[2], v[3]);
}

AVX_FN static int nearest_n_avx(const float *x, const float *C, int K, int d, int n, int *m, int *idx, float *dist) {
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 dv = dist8_avx(x, C + (int64_t)k * d, d);
        /* Once the list is full only a distance strictly below its last one can enter
         * (topn_insert's own test), so one vector compare skips most blocks. */
        int mask = 0xff;
        if (*m == n) mask = _mm256_movemask_ps(_mm256_cmp_ps(dv, _mm256_set1_ps(dist[n - 1]), _CMP_LT_OQ));
        if (!mask) continue;
        float t[8];
        _mm256_storeu_ps(t, dv);
        for (; mask; mask &= mask - 1) {
            int i = __builtin_ctz((unsigned)mask);
            topn_insert(n, m, idx, dist, t[i], k + i);
        }
    }
    return k;
}
#define USE_AVX(d, K) (((d) == 8 || (d) == 4) && (K) >= 8 && (nq_cpu_features() & NQ_CPU_AVX))
#else
#define USE_AVX(d, K) 0
#define nearest_n_avx(x, C, K, d, n, m, idx, dist) 0
#endif


int nq_k_nearest_n(const float *x, const float *C, int K, int d, int n, int *idx, float *dist) {
    int m = 0, k = 0;
    n = clamp_n(n, K);
    if (USE_AVX(d, K)) k = nearest_n_avx(x, C, K, d, n, &m, idx, dist);
    for (; k + 4 <= K; k += 4) {
        float t[4];
        V_STORE(t, dist4(x, C + (int64_t)k * d, d));
        for (int i = 0; i < 4; i++) topn_insert(n, &m, idx, dist, t[i], k + i);
    }
    for (; k < K; k++) topn_insert(n, &m, idx, dist, nq_k_dist2(x, C + (int64_t)k * d, d), k);
    return m;
}

int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    int best;
    float bd;
    nq_k_nearest_n(x, C, K, d, 1, &best, &bd);
    if (dist) *dist = bd;
    return best;
}

const char *nq_k_variant(void) {
#if defined(NQ_SIMD_SSE2)
    return USE_AVX(8, 8) ? "sse2+avx" : "sse2";
#else
    return "wasm-simd128";
#endif
}
#else
float nq_k_dist2(const float *x, const float *c, int d) { return nq_k_dist2_ref(x, c, d); }
int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    return nq_k_nearest_ref(x, C, K, d, dist);
}
int nq_k_nearest_n(const float *x, const float *C, int K, int d, int n, int *idx, float *dist) {
    return nq_k_nearest_n_ref(x, C, K, d, n, idx, dist);
}
const char *nq_k_variant(void) { return "scalar"; }
#endif
