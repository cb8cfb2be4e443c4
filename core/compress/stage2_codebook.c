/* stage2_codebook.c - stage 2: k-means codebooks (k-means++ seeding, Lloyd iterations).
 * Deterministic: the generator of common/rng.c, sums in a fixed order, ties to the lowest
 * index. (The reconstruction from codes, which the decoder shares, is common/codes.c.) */
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "compress/stages.h"

/* k-means++: the first centre uniformly, each next one with probability proportional to
 * the squared distance to the nearest centre chosen so far. */
static void seed_plus_plus(const float *X, int64_t n, int d, int K, uint64_t *rng, float *C,
                           float *dmin) {
    int64_t first = (int64_t)(nq_rng_uniform(rng) * (double)n);
    memcpy(C, X + first * d, (size_t)d * sizeof *C);
    for (int64_t i = 0; i < n; i++) dmin[i] = nq_k_dist2(X + i * d, C, d);
    for (int k = 1; k < K; k++) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += dmin[i];
        int64_t pick = n - 1;
        if (total > 0) {
            double target = nq_rng_uniform(rng) * total, acc = 0;
            for (int64_t i = 0; i < n; i++) {
                acc += dmin[i];
                if (acc > target) { pick = i; break; }
            }
        } else {
            pick = (int64_t)(nq_rng_uniform(rng) * (double)n);
        }
        float *c = C + (int64_t)k * d;
        memcpy(c, X + pick * d, (size_t)d * sizeof *C);
        for (int64_t i = 0; i < n; i++) {
            float t = nq_k_dist2(X + i * d, c, d);
            if (t < dmin[i]) dmin[i] = t;
        }
    }
}

/* One Lloyd step: assign, then move each centre to its members' mean. An empty cluster
 * takes the point currently farthest from its centre. Returns the number of changes. */
static int64_t lloyd_step(const float *X, int64_t n, int d, int K, float *C, int32_t *assign,
                          float *dist, double *sum, int64_t *count) {
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
        int a = nq_k_nearest(X + i * d, C, K, d, &dist[i]);
        if (a != assign[i]) { assign[i] = a; changed++; }
    }
    memset(sum, 0, (size_t)K * d * sizeof *sum);
    memset(count, 0, (size_t)K * sizeof *count);
    for (int64_t i = 0; i < n; i++) {
        double *sk = sum + (int64_t)assign[i] * d;
        for (int j = 0; j < d; j++) sk[j] += X[i * d + j];
        count[assign[i]]++;
    }
    for (int k = 0; k < K; k++) {
        float *c = C + (int64_t)k * d;
        if (count[k]) {
            for (int j = 0; j < d; j++) c[j] = (float)(sum[(int64_t)k * d + j] / (double)count[k]);
            continue;
        }
        int64_t far = 0;
        for (int64_t i = 1; i < n; i++)
            if (dist[i] > dist[far]) far = i;
        memcpy(c, X + far * d, (size_t)d * sizeof *c);
        dist[far] = 0;
        changed++;
    }
    return changed;
}

nq_status nq_kmeans(const float *X, int64_t n, int d, int K, int iters, uint64_t seed, float *C,
                    nq_err *e) {
    if (n <= 0) {
        memset(C, 0, (size_t)K * d * sizeof *C);
        return NQ_OK;
    }
    if (n <= K) { /* every point is a centre; the rest repeat them (ties pick the first) */
        for (int k = 0; k < K; k++) memcpy(C + (int64_t)k * d, X + (k % n) * d, (size_t)d * sizeof *C);
        return NQ_OK;
    }
    float *dist = malloc((size_t)n * sizeof *dist);
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    double *sum = malloc((size_t)K * d * sizeof *sum);
    int64_t *count = malloc((size_t)K * sizeof *count);
    if (!dist || !assign || !sum || !count) {
        free(dist); free(assign); free(sum); free(count);
        return nq_fail(e, NQ_E_NOMEM, "k-means: out of memory (%lld vectors, K=%d)", (long long)n, K);
    }
    uint64_t rng = seed;
    seed_plus_plus(X, n, d, K, &rng, C, dist);
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < iters; it++)
        if (lloyd_step(X, n, d, K, C, assign, dist, sum, count) == 0) break;
    free(dist); free(assign); free(sum); free(count);
    return NQ_OK;
}
