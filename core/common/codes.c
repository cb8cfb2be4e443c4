/* codes.c - the CODES part: where its fields lie and the packing of stage codes into
 * byte-aligned rows (layout in layout.h). */
#include <string.h>
#include "common/layout.h"
#include "common/util.h"

size_t nq_codes_row_bytes(int64_t nvec, const int *bits, int nstages) {
    uint64_t per = 0;
    for (int s = 0; s < nstages; s++) per += (uint64_t)bits[s];
    return (size_t)((per * (uint64_t)nvec + 7) / 8);
}

nq_codes_layout nq_codes_layout_of(int has_mean, int64_t n, size_t code_bytes) {
    nq_codes_layout L;
    L.scales = has_mean ? 2 * (uint64_t)n : 0;
    L.rows = L.scales + (uint64_t)n;
    L.size = L.rows + (uint64_t)n * code_bytes;
    L.code_bytes = code_bytes;
    return L;
}

uint16_t nq_codes_mean(const uint8_t *part, int64_t i) { return nq_get_u16(part + 2 * i); }

void nq_codes_set_mean(uint8_t *part, int64_t i, uint16_t mean_h) { nq_put_u16(part + 2 * i, mean_h); }

void nq_pack_row(const uint16_t *codes, int64_t nvec, const int *bits, int nstages, uint8_t *out) {
    memset(out, 0, nq_codes_row_bytes(nvec, bits, nstages));
    uint64_t pos = 0;
    for (int64_t v = 0; v < nvec; v++)
        for (int s = 0; s < nstages; s++) {
            uint32_t c = codes[v * nstages + s];
            for (int b = 0; b < bits[s];) { /* write up to the next byte boundary at a time */
                int room = 8 - (int)(pos & 7), take = bits[s] - b < room ? bits[s] - b : room;
                out[pos >> 3] |= (uint8_t)(((c >> b) & ((1u << take) - 1)) << (pos & 7));
                pos += (uint64_t)take;
                b += take;
            }
        }
}

void nq_unpack_row(const uint8_t *in, int64_t nvec, const int *bits, int nstages, uint16_t *codes) {
    uint64_t pos = 0;
    for (int64_t v = 0; v < nvec; v++)
        for (int s = 0; s < nstages; s++) {
            uint32_t c = 0;
            for (int b = 0; b < bits[s];) {
                int room = 8 - (int)(pos & 7), take = bits[s] - b < room ? bits[s] - b : room;
                c |= (uint32_t)((in[pos >> 3] >> (pos & 7)) & ((1u << take) - 1)) << b;
                pos += (uint64_t)take;
                b += take;
            }
            codes[v * nstages + s] = (uint16_t)c;
        }
}

void nq_vq_reconstruct(const float *const *C, const uint16_t *codes, int nstages, int d, float *u) {
    for (int j = 0; j < d; j++) u[j] = 0;
    for (int s = 0; s < nstages; s++) {
        const float *c = C[s] + (int64_t)codes[s] * d;
        for (int j = 0; j < d; j++) u[j] += c[j];
    }
}
