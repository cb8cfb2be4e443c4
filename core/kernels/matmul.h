/* matmul.h - internal: dot products and matrix products of the forward pass
 * (llama.c), scalar reference + SIMD variants.
 *
 * Determinism contract: every variant computes a dot product of length n in one canonical
 * order: element j goes into lane (j % 8) of eight partial sums, each lane accumulated in
 * increasing j as lane += x[j] * w[j] (a rounded product, then a rounded sum: no FMA), and
 * the result is ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). An 8-wide loop (AVX,
 * or two 4-wide SSE2 / wasm SIMD128 registers) does exactly this, so every variant gives
 * bit-identical results on every target; tests compare each variant with the reference.
 */
#ifndef NQ_KERNELS_MATMUL_H
#define NQ_KERNELS_MATMUL_H

/* y[t*ldy + o] = dot(x + t*ldx, w + o*ldw, n) for t < T, o < O. */
typedef void (*nq_matmul_fn)(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                             int T, int O, int n);
typedef float (*nq_dot_fn)(const float *x, const float *w, int n);

typedef struct nq_mm_kernels {
    const char *name; /* "scalar", "sse2", "avx", "avx512", "wasm-simd128" */
    nq_dot_fn dot;
    nq_matmul_fn matmul;
} nq_mm_kernels;

/* The fastest variant this build and CPU support (want == NULL), or the one named want
 * (returns 0 if that one is not available here). */
int nq_mm_select(nq_mm_kernels *k, const char *want);
/* Names of the variants available here, NULL-terminated, reference first. */
const char *const *nq_mm_variants(void);

/* NQ_VEC_CLONES on an elementwise loop (softmax, weighted sums): GCC builds an AVX-512 and an
 * AVX2 clone beside the baseline and picks one at load time (GNU ifunc, x86-64 Linux). Each
 * element still goes through the same IEEE operations in the same order and -ffp-contract=off
 * keeps multiplies and adds apart in every clone, so the clones give the same bits; they only
 * run more elements per instruction. Off under the sanitizers and on other targets. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define NQ_VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NQ_VEC_CLONES
#endif

float nq_mm_dot_ref(const float *x, const float *w, int n);
void nq_mm_matmul_ref(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int T,
                      int O, int n);
#endif
