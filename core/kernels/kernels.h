/* kernels.h - internal: the inner loops of stage 2, scalar reference + SIMD variants.
 *
 * Determinism contract: every variant computes a squared distance in one canonical order:
 * element j goes into lane (j % 4) of four partial sums, each lane accumulated in
 * increasing j, and the result is (lane0 + lane1) + (lane2 + lane3). A 4-wide SIMD loop
 * does exactly this, so scalar, SSE2 and wasm SIMD128 give bit-identical distances and
 * hence identical codes. Ties choose the lowest index. */
#ifndef NQ_KERNELS_H
#define NQ_KERNELS_H
#include <stdint.h>

float nq_k_dist2(const float *x, const float *c, int d);
/* Index of the nearest of K centroids (K x d row-major); *dist gets its distance. */
int nq_k_nearest(const float *x, const float *C, int K, int d, float *dist);
/* The n (1..NQ_K_MAXN, at most K) nearest centroids in increasing (distance, index) order:
 * idx[0..n) and dist[0..n). Returns n. */
#define NQ_K_MAXN 16
int nq_k_nearest_n(const float *x, const float *C, int K, int d, int n, int *idx, float *dist);
/* Scalar reference versions (always compiled; tests compare the active kernel to them). */
float nq_k_dist2_ref(const float *x, const float *c, int d);
int nq_k_nearest_ref(const float *x, const float *C, int K, int d, float *dist);
int nq_k_nearest_n_ref(const float *x, const float *C, int K, int d, int n, int *idx, float *dist);
const char *nq_k_variant(void);
/* The x86 features the AVX variants here and in matmul.c need, as the running CPU reports
 * them (a mask of NQ_CPU_*); 0 on other targets and compilers. The one CPU probe of the core. */
#define NQ_CPU_AVX 1u
#define NQ_CPU_AVX512 2u /* avx512f and avx512dq */
unsigned nq_cpu_features(void);
#endif
