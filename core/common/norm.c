/* norm.c - stage 1's stored form, shared by the encoder and the decoder: the row scale
 * codes, the inverse transform u -> w, and the NORM part (layout in common/layout.h). The
 * fitting (what to store) is compress/stage1_normalize.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/layout.h"
#include "common/util.h"

/* 2^(k/16) for k = 0..15 by repeated products of the exact fourth square root of 2. */
static double octave_fraction(int k) {
    double r1 = sqrt(sqrt(sqrt(sqrt(2.0)))), r = 1.0;
    for (int i = 0; i < k; i++) r *= r1;
    return r;
}

float nq_row_scale(float g, uint8_t q) {
    int k = (int)q - NQ_SCALE_TOP, oct = k >= 0 ? k / 16 : -((-k + 15) / 16);
    return (float)((double)g * ldexp(octave_fraction(k - 16 * oct), oct));
}

void nq_row_scale_table(float g, float tab[256]) {
    for (int q = 0; q < 256; q++) tab[q] = nq_row_scale(g, (uint8_t)q);
}

uint8_t nq_row_scale_code(const float tab[256], double s) {
    int lo = 0, hi = 255;
    if (!(s > tab[0])) return 0;
    if (s >= tab[255]) return 255;
    while (hi - lo > 1) { /* tab[lo] < s <= tab[hi] */
        int mid = (lo + hi) / 2;
        if (tab[mid] < s) lo = mid; else hi = mid;
    }
    return (uint8_t)(s * s > (double)tab[lo] * tab[hi] ? hi : lo); /* geometric midpoint */
}

float nq_norm_row_mean(const nq_norm *nm, int64_t row) {
    return nm->has_mean ? nm->g * nq_f16_to_f32(nm->mean_h[row]) : 0.0f;
}

void nq_norm_inverse(float mean, float scale, const float *colfac, const nq_rot *rot, int64_t cols, const float *u,
                     float *w) {
    if (!rot || !rot->block) {
        for (int64_t j = 0; j < cols; j++) w[j] = mean + scale * (colfac[j] * u[j]);
        return;
    }
    for (int64_t j = 0; j < cols; j++) w[j] = scale * (colfac[j] * u[j]);
    nq_rot_inverse(rot, w);
    for (int64_t j = 0; j < cols; j++) w[j] = mean + w[j];
}

void nq_norm_free(nq_norm *nm) {
    free(nm->mean_h);
    free(nm->scale_q);
    free(nm->out_col);
    free(nm->out_fac_h);
    free(nm->colfac);
    nq_rot_free(&nm->rot);
    memset(nm, 0, sizeof *nm);
}

size_t nq_norm_part_size(const nq_norm *nm) { return 8 + (size_t)nm->nout * 6; }

void nq_norm_part_write(const nq_norm *nm, uint8_t *out) {
    uint32_t gb;
    memcpy(&gb, &nm->g, 4);
    nq_put_u32(out, gb);
    nq_put_u32(out + 4, (uint32_t)nm->nout);
    uint8_t *p = out + 8;
    for (int i = 0; i < nm->nout; i++, p += 4) nq_put_u32(p, nm->out_col[i]);
    for (int i = 0; i < nm->nout; i++, p += 2) nq_put_u16(p, nm->out_fac_h[i]);
}

nq_status nq_norm_part_read(const uint8_t *p, size_t n, int64_t cols, nq_norm *nm, const char *where,
                            nq_err *e) {
    memset(nm, 0, sizeof *nm);
    if (n < 8) return nq_fail(e, NQ_E_FORMAT, "%s: normalization part of %zu bytes is too short", where, n);
    uint32_t gb = nq_get_u32(p), cnt = nq_get_u32(p + 4);
    memcpy(&nm->g, &gb, 4);
    if (!(nm->g > 0 && nm->g < 3.4e38f))
        return nq_fail(e, NQ_E_FORMAT, "%s: normalization base %g is not a positive finite number", where, nm->g);
    if (cnt > (uint64_t)cols || n != 8 + (size_t)cnt * 6)
        return nq_fail(e, NQ_E_FORMAT, "%s: normalization part declares %u outlier columns but is %zu bytes",
                       where, cnt, n);
    nm->cols = cols;
    nm->nout = (int)cnt;
    nq_row_scale_table(nm->g, nm->scale_tab);
    nm->colfac = malloc((size_t)(cols ? cols : 1) * sizeof *nm->colfac);
    nm->out_col = malloc((cnt ? cnt : 1) * sizeof *nm->out_col);
    nm->out_fac_h = malloc((cnt ? cnt : 1) * sizeof *nm->out_fac_h);
    if (!nm->colfac || !nm->out_col || !nm->out_fac_h) { nq_norm_free(nm); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    for (int64_t j = 0; j < cols; j++) nm->colfac[j] = 1.0f;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t c = nq_get_u32(p + 8 + 4 * i);
        uint16_t f = nq_get_u16(p + 8 + 4 * cnt + 2 * i);
        float fv = nq_f16_to_f32(f);
        if (c >= (uint64_t)cols || !(fv >= 1.0f && fv < 65520.0f)) {
            nq_norm_free(nm);
            return nq_fail(e, NQ_E_FORMAT, "%s: outlier entry %u (column %u, factor %g) is invalid", where, i, c, fv);
        }
        nm->out_col[i] = c;
        nm->out_fac_h[i] = f;
        nm->colfac[c] = fv;
    }
    return NQ_OK;
}
