/* stage2_additive.c - stage 2, joint view of the multi-stage codebooks: the reconstruction is
 * the sum C_0[c_0] + ... + C_{S-1}[c_{S-1}], so after the greedy residual pass each stage's
 * code can be re-chosen with the others fixed (iterated conditional modes: the error never
 * grows), and each stage's centroids re-fit as the mean of what the other stages leave
 * (least squares for fixed codes). Deterministic: sums in f64 in vector order, ties to the
 * lowest index, stages visited in order. */
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "compress/stages.h"

void nq_vq_icm(const float *const *C, const int *K, int nstages, int d, const float *x, uint16_t *codes,
               int rounds) {
    float t[64];
    for (int r = 0; r < rounds && nstages > 1; r++)
        for (int s = 0; s < nstages; s++) {
            memcpy(t, x, (size_t)d * sizeof *t);
            for (int o = 0; o < nstages; o++) {
                if (o == s) continue;
                const float *c = C[o] + (int64_t)codes[o] * d;
                for (int j = 0; j < d; j++) t[j] -= c[j];
            }
            codes[s] = (uint16_t)nq_k_nearest(t, C[s], K[s], d, NULL);
        }
}

/* Beam search over the stages: after stage s the `beam` partial sums with the smallest
 * residuals survive (all candidates of a survivor come from its own `beam` nearest, so the
 * kept set is exactly the best `beam` of all extensions); ties keep the survivor order, then
 * the centroid order. beam 1 is the greedy residual pass. */
void nq_vq_beam(const float *const *C, const int *K, int nstages, int d, const float *x, uint16_t *codes, int beam) {
    if (beam > NQ_K_MAXN) beam = NQ_K_MAXN;
    if (beam < 1) beam = 1;
    float res[NQ_K_MAXN][64], next[NQ_K_MAXN][64], best[NQ_K_MAXN];
    uint16_t path[NQ_K_MAXN][NQ_MAX_STAGES], npath[NQ_K_MAXN][NQ_MAX_STAGES];
    int from[NQ_K_MAXN], code[NQ_K_MAXN], nb = 1;
    memcpy(res[0], x, (size_t)d * sizeof *x);
    for (int s = 0; s < nstages; s++) {
        int m = 0, want = s + 1 < nstages ? beam : 1;
        for (int b = 0; b < nb; b++) {
            int idx[NQ_K_MAXN];
            float dist[NQ_K_MAXN];
            int n = nq_k_nearest_n(res[b], C[s], K[s], d, want, idx, dist);
            for (int i = 0; i < n; i++) {
                if (m == want && !(dist[i] < best[want - 1])) break; /* the rest of b's are no better */
                int j = m < want ? m++ : want - 1;
                for (; j > 0 && dist[i] < best[j - 1]; j--) {
                    best[j] = best[j - 1];
                    from[j] = from[j - 1];
                    code[j] = code[j - 1];
                }
                best[j] = dist[i];
                from[j] = b;
                code[j] = idx[i];
            }
        }
        for (int j = 0; j < m; j++) {
            const float *c = C[s] + (int64_t)code[j] * d;
            for (int t = 0; t < d; t++) next[j][t] = res[from[j]][t] - c[t];
            memcpy(npath[j], path[from[j]], (size_t)s * sizeof **path);
            npath[j][s] = (uint16_t)code[j];
        }
        memcpy(res, next, (size_t)m * sizeof res[0]);
        memcpy(path, npath, (size_t)m * sizeof path[0]);
        nb = m;
    }
    memcpy(codes, path[0], (size_t)nstages * sizeof *codes);
}

/* One round: re-assign every vector by ICM, then re-fit each stage in turn. */
static void joint_round(const float *X, int64_t n, int d, float **C, const int *K, int S, uint16_t *codes,
                        double *sum, int64_t *count) {
    for (int64_t i = 0; i < n; i++) nq_vq_icm((const float *const *)C, K, S, d, X + i * d, codes + i * S, 1);
    for (int s = 0; s < S; s++) {
        memset(sum, 0, (size_t)K[s] * d * sizeof *sum);
        memset(count, 0, (size_t)K[s] * sizeof *count);
        for (int64_t i = 0; i < n; i++) {
            int k = codes[i * S + s];
            double *sk = sum + (int64_t)k * d;
            for (int j = 0; j < d; j++) {
                float t = X[i * d + j];
                for (int o = 0; o < S; o++)
                    if (o != s) t -= C[o][(int64_t)codes[i * S + o] * d + j];
                sk[j] += t;
            }
            count[k]++;
        }
        for (int k = 0; k < K[s]; k++) /* empty entries keep their centroid */
            if (count[k])
                for (int j = 0; j < d; j++) C[s][(int64_t)k * d + j] = (float)(sum[(int64_t)k * d + j] / (double)count[k]);
    }
}

nq_status nq_vq_joint_refine(const float *X, int64_t n, int d, float **C, const int *K, int S, int rounds,
                             nq_err *e) {
    if (S < 2 || rounds < 1 || n < 1) return NQ_OK;
    int kmax = 0;
    for (int s = 0; s < S; s++) kmax = K[s] > kmax ? K[s] : kmax;
    uint16_t *codes = malloc((size_t)n * S * sizeof *codes);
    double *sum = malloc((size_t)kmax * d * sizeof *sum);
    int64_t *count = malloc((size_t)kmax * sizeof *count);
    if (!codes || !sum || !count) {
        free(codes); free(sum); free(count);
        return nq_fail(e, NQ_E_NOMEM, "joint codebook refinement: out of memory (%lld vectors)", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) { /* greedy residual start */
        float r[64];
        memcpy(r, X + i * d, (size_t)d * sizeof *r);
        for (int s = 0; s < S; s++) {
            int c = nq_k_nearest(r, C[s], K[s], d, NULL);
            codes[i * S + s] = (uint16_t)c;
            for (int j = 0; j < d; j++) r[j] -= C[s][(int64_t)c * d + j];
        }
    }
    for (int r = 0; r < rounds; r++) joint_round(X, n, d, C, K, S, codes, sum, count);
    free(codes); free(sum); free(count);
    return NQ_OK;
}
