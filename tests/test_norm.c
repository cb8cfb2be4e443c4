/* Stage 1's stored form (common/norm.c, common/rotate.c): the log-scale row codes are exact
 * powers of two at multiples of 16, monotone and nearest in ratio; the incoherence rotation
 * is orthogonal and its inverse undoes it. */
#include <math.h>
#include "common/layout.h"
#include "testutil.h"

#define COLS 96 /* rotation block 32 */

int main(void) {
    /* scale codes: exact powers of two at multiples of 16, monotone, nearest in ratio */
    float tab[256];
    nq_row_scale_table(3.0f, tab);
    CHECK(tab[NQ_SCALE_TOP] == 3.0f && tab[NQ_SCALE_TOP - 16] == 1.5f && tab[NQ_SCALE_TOP + 16] == 6.0f);
    for (int q = 1; q < 256; q++) CHECK(tab[q] > tab[q - 1]);
    CHECK(nq_row_scale_code(tab, 3.0) == NQ_SCALE_TOP && nq_row_scale_code(tab, 3.0 * 1.02) == NQ_SCALE_TOP);
    CHECK(nq_row_scale_code(tab, 3.0 * 1.03) == NQ_SCALE_TOP + 1 && nq_row_scale_code(tab, 0) == 0);
    CHECK(nq_row_scale_code(tab, 1e30) == 255);
    /* rotation: orthogonal (norm kept), inverse undoes it */
    nq_rot rot;
    CHECK(nq_rot_init(&rot, COLS, 42, NULL) == NQ_OK && rot.block == 32);
    float x[COLS], y[COLS];
    double n0 = 0, n1 = 0, err = 0;
    for (int j = 0; j < COLS; j++) { x[j] = y[j] = (float)(j % 7) - 3.0f + 0.25f * (float)(j % 3); n0 += (double)x[j] * x[j]; }
    nq_rot_forward(&rot, y);
    for (int j = 0; j < COLS; j++) n1 += (double)y[j] * y[j];
    nq_rot_inverse(&rot, y);
    for (int j = 0; j < COLS; j++) err += fabs((double)y[j] - x[j]);
    CHECK(fabs(n1 - n0) < 1e-5 * n0 && err < 1e-4);
    nq_rot_free(&rot);
    return TU_DONE();
}
