/* matmul.c - dot and matmul kernels of the forward pass (contract in
 * kernels/matmul.h: eight lanes, fixed order, no FMA, bit-identical across variants).
 *
 * Every variant computes tiles of 2 (AVX-512: 4) rows of x by 4 rows of w; a shared driver
 * walks the output in blocks of w rows that stay in cache. An edge tile with fewer rows
 * repeats its last row and stores only the real outputs, so each output is computed the
 * same way wherever it falls. */
#include <string.h>
#include "kernels/kernels.h"
#include "kernels/matmul.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define NQ_MM_WASM 1
#elif defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__))
#include <emmintrin.h>
#define NQ_MM_SSE2 1
#if defined(__GNUC__) /* gcc and clang: target attributes + runtime CPU check */
#include <immintrin.h>
#define NQ_MM_AVX 1
#endif
#endif

#define TX 2    /* rows of x per tile */
#define TXMAX 4 /* rows of x per tile of the widest variant (AVX-512) */
#define TW 4    /* rows of w per tile */

typedef void (*tile_fn)(float *y, int ldy, const float *const *xr, const float *const *wr, int nx,
                        int nw, int n);

static float reduce8(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* Lanes of elements [n8, n): element j adds into lane j - n8 (= j % 8). */
static void tail8(float l[8], const float *x, const float *w, int n8, int n) {
    for (int j = n8; j < n; j++) l[j - n8] += x[j] * w[j];
}

static void store_tile(float *y, int ldy, float l[TXMAX][TW][8], const float *const *xr,
                       const float *const *wr, int nx, int nw, int n) {
    int n8 = n & ~7;
    for (int a = 0; a < nx; a++)
        for (int b = 0; b < nw; b++) {
            tail8(l[a][b], xr[a], wr[b], n8, n);
            y[a * ldy + b] = reduce8(l[a][b]);
        }
}

/* ------------------------------------------------------------ scalar */

float nq_mm_dot_ref(const float *x, const float *w, int n) {
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < n; j++) l[j & 7] += x[j] * w[j];
    return reduce8(l);
}

static void tile_ref(float *y, int ldy, const float *const *xr, const float *const *wr, int nx,
                     int nw, int n) {
    for (int a = 0; a < nx; a++)
        for (int b = 0; b < nw; b++) y[a * ldy + b] = nq_mm_dot_ref(xr[a], wr[b], n);
}

/* Output blocks of 64 w rows (64 x n floats stay in L1/L2 while every x row passes). */
static void drive(tile_fn tile, int tx, float *y, int ldy, const float *x, int ldx, const float *w,
                  int ldw, int T, int O, int n) {
    enum { OB = 64 };
    for (int o0 = 0; o0 < O; o0 += OB) {
        int o1 = O < o0 + OB ? O : o0 + OB;
        for (int t = 0; t < T; t += tx) {
            int nx = T - t < tx ? T - t : tx;
            const float *xr[TXMAX];
            for (int a = 0; a < tx; a++) xr[a] = x + (long)(t + (a < nx ? a : nx - 1)) * ldx;
            for (int o = o0; o < o1; o += TW) {
                int nw = o1 - o < TW ? o1 - o : TW;
                const float *wr[TW];
                for (int b = 0; b < TW; b++) wr[b] = w + (long)(o + (b < nw ? b : nw - 1)) * ldw;
                tile(y + (long)t * ldy + o, ldy, xr, wr, nx, nw, n);
            }
        }
    }
}

void nq_mm_matmul_ref(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int T,
                      int O, int n) {
    drive(tile_ref, TX, y, ldy, x, ldx, w, ldw, T, O, n);
}

/* ------------------------------------------ 2 x 4-wide (SSE2, wasm SIMD128) */

#if defined(NQ_MM_SSE2) || defined(NQ_MM_WASM)
#if defined(NQ_MM_SSE2)
typedef __m128 v4;
#define V_LOAD(p) _mm_loadu_ps(p)
#define V_ZERO() _mm_setzero_ps()
#define V_MUL(a, b) _mm_mul_ps(a, b)
#define V_ADD(a, b) _mm_add_ps(a, b)
#define V_STORE(p, v) _mm_storeu_ps(p, v)
#define V4_NAME "sse2"
#else
typedef v128_t v4;
#define V_LOAD(p) wasm_v128_load(p)
#define V_ZERO() wasm_f32x4_splat(0.0f)
#define V_MUL(a, b) wasm_f32x4_mul(a, b)
#define V_ADD(a, b) wasm_f32x4_add(a, b)
#define V_STORE(p, v) wasm_v128_store(p, v)
#define V4_NAME "wasm-simd128"
#endif

/* Lane b of the result = (v_b[0] + v_b[1]) + (v_b[2] + v_b[3]): a 4x4 transpose, then adds. */
static v4 reduce4x4(v4 v0, v4 v1, v4 v2, v4 v3) {
#if defined(NQ_MM_SSE2)
    __m128 t0 = _mm_unpacklo_ps(v0, v1), t1 = _mm_unpackhi_ps(v0, v1); /* 00 10 01 11 | 02 12 03 13 */
    __m128 t2 = _mm_unpacklo_ps(v2, v3), t3 = _mm_unpackhi_ps(v2, v3); /* 20 30 21 31 | 22 32 23 33 */
    __m128 c0 = _mm_movelh_ps(t0, t2), c1 = _mm_movehl_ps(t2, t0);     /* lane 0s | lane 1s */
    __m128 c2 = _mm_movelh_ps(t1, t3), c3 = _mm_movehl_ps(t3, t1);     /* lane 2s | lane 3s */
#else
    v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
    v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
    v128_t c0 = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5), c1 = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    v128_t c2 = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5), c3 = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
#endif
    return V_ADD(V_ADD(c0, c1), V_ADD(c2, c3));
}

static float dot_v4(const float *x, const float *w, int n) {
    v4 lo = V_ZERO(), hi = V_ZERO();
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8) {
        lo = V_ADD(lo, V_MUL(V_LOAD(x + j), V_LOAD(w + j)));
        hi = V_ADD(hi, V_MUL(V_LOAD(x + j + 4), V_LOAD(w + j + 4)));
    }
    float l[8];
    V_STORE(l, lo);
    V_STORE(l + 4, hi);
    tail8(l, x, w, n8, n);
    return reduce8(l);
}

/* rows (1 or 2, a constant after inlining) rows of x against 4 rows of w. */
static inline void tile_v4_rows(float *y, int ldy, const float *const *xr, const float *const *wr, int rows,
                                int nw, int n) {
    v4 acc[TX][TW][2];
    for (int a = 0; a < TX; a++)
        for (int b = 0; b < TW; b++) acc[a][b][0] = acc[a][b][1] = V_ZERO();
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8) {
        for (int a = 0; a < rows; a++) {
            v4 xl = V_LOAD(xr[a] + j), xh = V_LOAD(xr[a] + j + 4);
            for (int b = 0; b < TW; b++) {
                acc[a][b][0] = V_ADD(acc[a][b][0], V_MUL(xl, V_LOAD(wr[b] + j)));
                acc[a][b][1] = V_ADD(acc[a][b][1], V_MUL(xh, V_LOAD(wr[b] + j + 4)));
            }
        }
    }
    if (n == n8 && nw == TW) { /* no tail: reduce four outputs at once, same order */
        for (int a = 0; a < rows; a++) {
            v4 lo = reduce4x4(acc[a][0][0], acc[a][1][0], acc[a][2][0], acc[a][3][0]);
            v4 hi = reduce4x4(acc[a][0][1], acc[a][1][1], acc[a][2][1], acc[a][3][1]);
            V_STORE(y + a * ldy, V_ADD(lo, hi));
        }
        return;
    }
    float l[TXMAX][TW][8];
    for (int a = 0; a < rows; a++)
        for (int b = 0; b < TW; b++) {
            V_STORE(l[a][b], acc[a][b][0]);
            V_STORE(l[a][b] + 4, acc[a][b][1]);
        }
    store_tile(y, ldy, l, xr, wr, rows, nw, n);
}

static void tile_v4(float *y, int ldy, const float *const *xr, const float *const *wr, int nx, int nw,
                    int n) {
    if (nx == 1) tile_v4_rows(y, ldy, xr, wr, 1, nw, n); /* token-by-token decoding */
    else tile_v4_rows(y, ldy, xr, wr, 2, nw, n);
}

static void matmul_v4(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int T,
                      int O, int n) {
    drive(tile_v4, TX, y, ldy, x, ldx, w, ldw, T, O, n);
}
#endif

/* ------------------------------------------------- 8-wide (x86 AVX) */

#if defined(NQ_MM_AVX)
#define AVX_FN __attribute__((target("avx")))

AVX_FN static float dot_avx(const float *x, const float *w, int n) {
    __m256 acc = _mm256_setzero_ps();
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(w + j)));
    float l[8];
    _mm256_storeu_ps(l, acc);
    tail8(l, x, w, n8, n);
    return reduce8(l);
}

/* One row of x (token-by-token decoding): half the work of the two-row tile. */
AVX_FN static void tile_avx_1(float *y, const float *const *xr, const float *const *wr, int nw, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *x0 = xr[0], *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8) {
        __m256 v0 = _mm256_loadu_ps(x0 + j);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(v0, _mm256_loadu_ps(w0 + j)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(v0, _mm256_loadu_ps(w1 + j)));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(v0, _mm256_loadu_ps(w2 + j)));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(v0, _mm256_loadu_ps(w3 + j)));
    }
    if (n == n8 && nw == TW) {
        __m256 r0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        _mm_storeu_ps(y, _mm_add_ps(_mm256_castps256_ps128(r0), _mm256_extractf128_ps(r0, 1)));
        return;
    }
    float l[TXMAX][TW][8];
    _mm256_storeu_ps(l[0][0], a0); _mm256_storeu_ps(l[0][1], a1);
    _mm256_storeu_ps(l[0][2], a2); _mm256_storeu_ps(l[0][3], a3);
    store_tile(y, 0, l, xr, wr, 1, nw, n);
}

AVX_FN static void tile_avx(float *y, int ldy, const float *const *xr, const float *const *wr, int nx,
                            int nw, int n) {
    if (nx == 1) {
        tile_avx_1(y, xr, wr, nw, n);
        return;
    }
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    const float *x0 = xr[0], *x1 = xr[1], *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8) {
        __m256 v0 = _mm256_loadu_ps(x0 + j), v1 = _mm256_loadu_ps(x1 + j), c;
        c = _mm256_loadu_ps(w0 + j);
        a00 = _mm256_add_ps(a00, _mm256_mul_ps(v0, c));
        a10 = _mm256_add_ps(a10, _mm256_mul_ps(v1, c));
        c = _mm256_loadu_ps(w1 + j);
        a01 = _mm256_add_ps(a01, _mm256_mul_ps(v0, c));
        a11 = _mm256_add_ps(a11, _mm256_mul_ps(v1, c));
        c = _mm256_loadu_ps(w2 + j);
        a02 = _mm256_add_ps(a02, _mm256_mul_ps(v0, c));
        a12 = _mm256_add_ps(a12, _mm256_mul_ps(v1, c));
        c = _mm256_loadu_ps(w3 + j);
        a03 = _mm256_add_ps(a03, _mm256_mul_ps(v0, c));
        a13 = _mm256_add_ps(a13, _mm256_mul_ps(v1, c));
    }
    if (n == n8 && nw == TW) { /* no tail: hadd twice + halves = ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) */
        __m256 r0 = _mm256_hadd_ps(_mm256_hadd_ps(a00, a01), _mm256_hadd_ps(a02, a03));
        _mm_storeu_ps(y, _mm_add_ps(_mm256_castps256_ps128(r0), _mm256_extractf128_ps(r0, 1)));
        if (nx > 1) {
            __m256 r1 = _mm256_hadd_ps(_mm256_hadd_ps(a10, a11), _mm256_hadd_ps(a12, a13));
            _mm_storeu_ps(y + ldy, _mm_add_ps(_mm256_castps256_ps128(r1), _mm256_extractf128_ps(r1, 1)));
        }
        return;
    }
    float l[TXMAX][TW][8];
    _mm256_storeu_ps(l[0][0], a00); _mm256_storeu_ps(l[0][1], a01);
    _mm256_storeu_ps(l[0][2], a02); _mm256_storeu_ps(l[0][3], a03);
    _mm256_storeu_ps(l[1][0], a10); _mm256_storeu_ps(l[1][1], a11);
    _mm256_storeu_ps(l[1][2], a12); _mm256_storeu_ps(l[1][3], a13);
    store_tile(y, ldy, l, xr, wr, nx, nw, n);
}

static void matmul_avx(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int T,
                       int O, int n) {
    drive(tile_avx, TX, y, ldy, x, ldx, w, ldw, T, O, n);
}

/* AVX-512 without FMA: a 512-bit register holds the eight lanes of two dot products (rows
 * 2p and 2p + 1 of x against one row of w, broadcast to both halves), so every lane sees the
 * same products and sums in the same order as the 8-wide variant and the halves reduce with
 * its hadd sequence. Tiles of 4 rows of x by 4 rows of w: 8 accumulators, 16 vector
 * operations per 8 columns against 16 of the AVX tile for half the outputs. */
#define AVX512_FN __attribute__((target("avx,avx512f,avx512dq")))

AVX512_FN static inline __m512 load_pair(const float *a, const float *b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm256_loadu_ps(b), 1);
}

/* y[0..3] = reduce8 of the 8 lanes of a0..a3 (see tile_avx). */
AVX512_FN static inline void store4(float *y, __m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 r = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    _mm_storeu_ps(y, _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1)));
}

AVX512_FN static void tile_avx512(float *y, int ldy, const float *const *xr, const float *const *wr, int nx,
                                  int nw, int n) {
    if (nx <= TX) { /* last rows of a matrix, token-by-token decoding */
        tile_avx(y, ldy, xr, wr, nx, nw, n);
        return;
    }
    __m512 a[2][TW];
    for (int p = 0; p < 2; p++)
        for (int b = 0; b < TW; b++) a[p][b] = _mm512_setzero_ps();
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8) {
        __m512 p0 = load_pair(xr[0] + j, xr[1] + j), p1 = load_pair(xr[2] + j, xr[3] + j);
        for (int b = 0; b < TW; b++) {
            __m512 c = _mm512_broadcast_f32x8(_mm256_loadu_ps(wr[b] + j));
            a[0][b] = _mm512_add_ps(a[0][b], _mm512_mul_ps(p0, c));
            a[1][b] = _mm512_add_ps(a[1][b], _mm512_mul_ps(p1, c));
        }
    }
    __m256 h[TXMAX][TW];
    for (int p = 0; p < 2; p++)
        for (int b = 0; b < TW; b++) {
            h[2 * p][b] = _mm512_castps512_ps256(a[p][b]);
            h[2 * p + 1][b] = _mm512_extractf32x8_ps(a[p][b], 1);
        }
    if (n == n8 && nw == TW) {
        for (int r = 0; r < nx; r++) store4(y + r * ldy, h[r][0], h[r][1], h[r][2], h[r][3]);
        return;
    }
    float l[TXMAX][TW][8];
    for (int r = 0; r < TXMAX; r++)
        for (int b = 0; b < TW; b++) _mm256_storeu_ps(l[r][b], h[r][b]);
    store_tile(y, ldy, l, xr, wr, nx, nw, n);
}

static void matmul_avx512(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int T,
                          int O, int n) {
    drive(tile_avx512, TXMAX, y, ldy, x, ldx, w, ldw, T, O, n);
}
#endif

/* ---------------------------------------------------------- selection */

const char *const *nq_mm_variants(void) {
    static const char *const names[] = {
        "scalar",
#if defined(NQ_MM_SSE2) || defined(NQ_MM_WASM)
        V4_NAME,
#endif
#if defined(NQ_MM_AVX)
        "avx", "avx512",
#endif
        NULL};
    return names;
}

int nq_mm_select(nq_mm_kernels *k, const char *want) {
    nq_mm_kernels ref = {"scalar", nq_mm_dot_ref, nq_mm_matmul_ref};
    *k = ref;
    if (want && !strcmp(want, "scalar")) return 1;
#if defined(NQ_MM_AVX)
    if ((!want || !strcmp(want, "avx512")) && (nq_cpu_features() & NQ_CPU_AVX512)) {
        nq_mm_kernels v = {"avx512", dot_avx, matmul_avx512};
        *k = v;
        return 1;
    }
    if ((!want || !strcmp(want, "avx")) && (nq_cpu_features() & NQ_CPU_AVX)) {
        nq_mm_kernels v = {"avx", dot_avx, matmul_avx};
        *k = v;
        return 1;
    }
#endif
#if defined(NQ_MM_SSE2) || defined(NQ_MM_WASM)
    if (!want || !strcmp(want, V4_NAME)) {
        nq_mm_kernels v = {V4_NAME, dot_v4, matmul_v4};
        *k = v;
        return 1;
    }
#endif
    return want == NULL;
}
