/* The active SIMD kernels give bit-identical results to the scalar reference (the
 * determinism rule), for every vector length and for ties; bit packing round-trips. */
#include <string.h>
#include "kernels/kernels.h"
#include "compress/stages.h"
#include "testutil.h"

int main(void) {
    uint64_t rng = 42;
    float x[64], C[256 * 64];
    printf("kernel variant: %s\n", nq_k_variant());
    for (int d = 1; d <= 64; d++) {
        for (int trial = 0; trial < 20; trial++) {
            for (int j = 0; j < d; j++) x[j] = (float)(nq_rng_uniform(&rng) * 2 - 1);
            for (int i = 0; i < 256 * d; i++) C[i] = (float)(nq_rng_uniform(&rng) * 2 - 1);
            float a = nq_k_dist2(x, C, d), b = nq_k_dist2_ref(x, C, d);
            CHECK(memcmp(&a, &b, 4) == 0);
            float da, db;
            int K = trial % 2 ? 256 : 16;
            int ia = nq_k_nearest(x, C, K, d, &da), ib = nq_k_nearest_ref(x, C, K, d, &db);
            CHECK(ia == ib && memcmp(&da, &db, 4) == 0);
        }
    }
    /* ties: identical centroids, the lowest index wins in both */
    for (int k = 0; k < 16; k++) memcpy(C + k * 8, C, 8 * sizeof(float));
    CHECK(nq_k_nearest(x, C, 16, 8, NULL) == 0 && nq_k_nearest_ref(x, C, 16, 8, NULL) == 0);
    /* the n nearest: same indices and bits as the reference, for the AVX shapes (d 4, 8) and
     * others, K with and without a tail of eight */
    const int Ks[] = {4, 13, 16, 100, 256}, ns[] = {1, 3, 16};
    for (int d = 3; d <= 9; d++)
        for (int ki = 0; ki < 5; ki++)
            for (int ni = 0; ni < 3; ni++) {
                for (int j = 0; j < d; j++) x[j] = (float)(nq_rng_uniform(&rng) * 2 - 1);
                for (int i = 0; i < 256 * d; i++) C[i] = (float)(nq_rng_uniform(&rng) * 2 - 1);
                int K = Ks[ki], ia[NQ_K_MAXN], ib[NQ_K_MAXN];
                float fa[NQ_K_MAXN], fb[NQ_K_MAXN], dn;
                int na = nq_k_nearest_n(x, C, K, d, ns[ni], ia, fa), nb = nq_k_nearest_n_ref(x, C, K, d, ns[ni], ib, fb);
                CHECK(na == nb && na == (ns[ni] < K ? ns[ni] : K));
                CHECK(!memcmp(ia, ib, (size_t)na * sizeof *ia) && !memcmp(fa, fb, (size_t)na * sizeof *fa));
                for (int i = 1; i < na; i++) CHECK(fa[i - 1] <= fa[i]);
                CHECK(ia[0] == nq_k_nearest_ref(x, C, K, d, &dn) && fa[0] == dn);
                float all[256];
                int below = 0; /* nothing left out is nearer than the last one kept */
                for (int k = 0; k < K; k++) all[k] = nq_k_dist2_ref(x, C + k * d, d);
                for (int k = 0; k < K; k++) below += all[k] < fa[na - 1];
                CHECK(below <= na - 1);
            }
    /* ties in the n nearest: equal distances keep index order */
    for (int k = 0; k < 32; k++) memcpy(C + k * 8, C, 8 * sizeof(float));
    {
        int idx[NQ_K_MAXN];
        float dd[NQ_K_MAXN];
        CHECK(nq_k_nearest_n(x, C, 32, 8, 5, idx, dd) == 5);
        for (int i = 0; i < 5; i++) CHECK(idx[i] == i);
    }
    /* beam search over two stages: beam 1 is the greedy pass; a beam as wide as the first
     * stage is exhaustive; any beam is never worse than greedy */
    for (int trial = 0; trial < 50; trial++) {
        int d = trial % 2 ? 8 : 4, K[2] = {16, 16};
        float C0[16 * 8], C1[16 * 8], r[8];
        for (int i = 0; i < 16 * d; i++) { C0[i] = (float)(nq_rng_uniform(&rng) * 2 - 1); C1[i] = (float)(nq_rng_uniform(&rng) - 0.5); }
        for (int j = 0; j < d; j++) x[j] = (float)(nq_rng_uniform(&rng) * 2 - 1);
        const float *CC[2] = {C0, C1};
        uint16_t g[2], b1[2], b4[2], b16[2];
        g[0] = (uint16_t)nq_k_nearest_ref(x, C0, 16, d, NULL);
        for (int j = 0; j < d; j++) r[j] = x[j] - C0[g[0] * d + j];
        g[1] = (uint16_t)nq_k_nearest_ref(r, C1, 16, d, NULL);
        nq_vq_beam(CC, K, 2, d, x, b1, 1);
        nq_vq_beam(CC, K, 2, d, x, b4, 4);
        nq_vq_beam(CC, K, 2, d, x, b16, 16);
        CHECK(b1[0] == g[0] && b1[1] == g[1]);
        float best = 1e30f, e[3];
        uint16_t *got[3] = {g, b4, b16};
        for (int a = 0; a < 16; a++) {
            for (int j = 0; j < d; j++) r[j] = x[j] - C0[a * d + j];
            for (int c = 0; c < 16; c++) {
                float t = nq_k_dist2_ref(r, C1 + c * d, d);
                if (t < best) best = t;
            }
        }
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < d; j++) r[j] = x[j] - C0[got[i][0] * d + j];
            e[i] = nq_k_dist2_ref(r, C1 + got[i][1] * d, d);
        }
        CHECK(e[2] == best && e[1] <= e[0] && e[2] <= e[1]);
    }
    /* bit packing: random codes, mixed widths */
    int bits[4] = {8, 4, 1, 16};
    uint16_t codes[3 * 4 * 37], back[3 * 4 * 37];
    uint8_t row[1024];
    for (int S = 1; S <= 4; S++) {
        for (int v = 0; v < 37 * S; v++) codes[v] = (uint16_t)(nq_rng_next(&rng) & ((1u << bits[v % S]) - 1));
        nq_pack_row(codes, 37, bits, S, row);
        nq_unpack_row(row, 37, bits, S, back);
        CHECK(!memcmp(codes, back, 37 * S * sizeof *codes));
        int total = 0;
        for (int s = 0; s < S; s++) total += bits[s];
        CHECK(nq_codes_row_bytes(37, bits, S) == (size_t)((37 * total + 7) / 8));
    }
    return TU_DONE();
}
