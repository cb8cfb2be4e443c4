/* The active SIMD kernels give bit-identical results to the scalar reference (the
 * determinism rule), for every vector length and for ties; bit packing round-trips. */
#include <string.h>
#include "kernels.h"
#include "quant.h"
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
