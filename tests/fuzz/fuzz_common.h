/* fuzz_common.h - what every reader's fuzz target does with a model that opened: decode
 * every float tensor, in row blocks of at most 64 Ki floats (the readers' contract: a tensor's
 * rows come out in any block size; memory stays bounded by the block, not the claimed size). */
#ifndef NOVAQ_FUZZ_COMMON_H
#define NOVAQ_FUZZ_COMMON_H
#include <stdlib.h>
#include "novaq.h"

static void fuzz_read_all(const nq_model *m) {
    enum { BLOCK = 1 << 16 };
    float *buf = malloc(BLOCK * sizeof *buf);
    for (int t = 0; buf && t < nq_model_tensor_count(m); t++) {
        const nq_tensor_info *ti = nq_model_tensor(m, t);
        if (!nq_dtype_is_float(ti->dtype) || ti->cols <= 0 || ti->cols > BLOCK) continue;
        int64_t step = BLOCK / ti->cols;
        for (int64_t r = 0; r < ti->rows; r += step) {
            nq_err e = {0};
            int64_t n = ti->rows - r < step ? ti->rows - r : step;
            if (nq_model_read_rows(m, t, r, n, buf, &e) != NQ_OK) break;
        }
    }
    free(buf);
}

static void fuzz_no_problem(void *ctx, const char *where, const char *what) {
    (void)ctx, (void)where, (void)what;
}

/* nq_validate the .novaq in f; for what validates, open it and decode every tensor. */
static void fuzz_validate_and_decode(const uint8_t *f, size_t size) {
    nq_mem_source src = {f, size};
    nq_reader r = nq_reader_mem(&src, "fuzz.novaq");
    nq_err e = {0};
    int nproblems = 0;
    if (nq_validate(&r, fuzz_no_problem, NULL, &nproblems, &e) != NQ_OK || nproblems) return;
    nq_model *m = NULL;
    if (nq_novaq_open(&m, &r, &e) == NQ_OK) {
        fuzz_read_all(m);
        nq_model_free(m);
    }
}
#endif
