/* driver.c - the compression driver: a model through the plan (shared codebooks), the
 * encoder and the container writer, tensor by tensor in model order. */
#include "compress/stages.h"
#include "io/model.h"

nq_status nq_compress(const nq_model *m, const nq_settings *s, const nq_source_file *src,
                      int nsrc, const nq_writer *w, nq_progress_fn progress, void *pctx,
                      nq_err *e) {
    nq_container *c;
    nq_plan *plan; /* the shared codebook set, trained once for all tensors */
    nq_status st = nq_plan_build(&plan, m, s, NULL, e);
    if (st) return st;
    st = nq_container_begin(&c, w, s, nq_model_format(m), src, nsrc, nq_model_metadata_json(m), e);
    if (st) { nq_plan_free(plan); return st; }
    uint64_t total = 0, done = 0;
    int n = nq_model_tensor_count(m);
    for (int t = 0; t < n; t++) total += (uint64_t)nq_model_tensor(m, t)->rows * nq_model_tensor(m, t)->cols;
    for (int t = 0; t < n && st == NQ_OK; t++) {
        if (progress && progress(pctx, t, n, done, total)) {
            st = nq_fail(e, NQ_E_CANCELLED, "cancelled before tensor %d of %d", t + 1, n);
            break;
        }
        nq_encoded *enc;
        if ((st = nq_encode_tensor_plan(m, t, s, plan, &enc, e))) break;
        st = nq_container_add(c, enc, e);
        done += enc->weights;
        nq_encoded_free(enc);
    }
    nq_plan_free(plan);
    if (st) { nq_container_abort(c); return st; }
    if (progress) progress(pctx, n, n, total, total);
    return nq_container_finish(c, e);
}
