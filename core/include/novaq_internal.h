/* novaq_internal.h - the building blocks under the compression driver: tensor selection and
 * encoding, the plan, the container writer, stage 3's steps. For the project's own front ends
 * (the wasm module's worker pool) and tests; not a stable API: embedders use novaq.h, whose
 * driver (nq_compress_ex, nq_job) runs these in the one supported order. */
#ifndef NOVAQ_INTERNAL_H
#define NOVAQ_INTERNAL_H
#include "novaq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- encoding */

/* Should tensor t be vector-quantized under s (2-D+ float, not excluded)? */
int nq_should_quantize(const nq_model *m, int t, const nq_settings *s);
/* Encode tensor t of m. Deterministic: depends only on the tensor's bytes, name and s. */
nq_status nq_encode_tensor(const nq_model *m, int t, const nq_settings *s, nq_encoded **out,
                           nq_err *e);

/* ------------------------------------------------------------ the plan */

/* What every tensor encode shares: the model-wide codebook set (when s->share_codebooks)
 * and the calibration statistics (borrowed; may be NULL). Built once, read-only after:
 * any number of threads may encode with one plan. */
nq_status nq_plan_build(nq_plan **out, const nq_model *m, const nq_settings *s,
                        const nq_calib *calib, nq_err *e);
void nq_plan_free(nq_plan *p);
/* nq_encode_tensor with a plan. nq_encode_tensor(m, t, s, ...) equals this with a plan
 * built from (m, s, NULL) for that one call: same bytes, but it trains the shared codebook
 * again on every call, so callers encoding many tensors should build the plan once. */
nq_status nq_encode_tensor_plan(const nq_model *m, int t, const nq_settings *s,
                                const nq_plan *p, nq_encoded **out, nq_err *e);

/* H for model tensor t (cols x cols, row-major) and its column count, or NULL. */
const double *nq_calib_hessian(const nq_calib *c, int t, int64_t *cols);


/* ------------------------------------------------------- container writer */

typedef struct nq_container nq_container;

/* Start a .novaq stream. Tensors must then be added in model order. */
nq_status nq_container_begin(nq_container **out, const nq_writer *w, const nq_settings *s,
                             const char *source_format, const nq_source_file *src, int nsrc,
                             const char *source_metadata_json, nq_err *e);
nq_status nq_container_add(nq_container *c, const nq_encoded *enc, nq_err *e);
/* Close the last shard, write manifest and footer. Frees c whatever the outcome. */
nq_status nq_container_finish(nq_container *c, nq_err *e);
void nq_container_abort(nq_container *c);

/* ----------------------------------------------------------------- stage 3 */

/* End to end: see nq_distill_report in novaq.h for what it does and reports. */
nq_status nq_distill(nq_encoded **enc, const nq_model *m, const nq_settings *s, const nq_llama *teacher,
                     const int32_t *tokens, size_t ntok, int ctx, nq_distill_report *rep, nq_err *e);
/* score[t] (one per model tensor, 0 for all but the refined vq tensors) = mean over the first
 * nwin windows of ctx tokens of g_t . (W_decoded - W_original)_t, g_t the gradient of the
 * end-to-end loss at the model the encodes decode to: about tensor t's share of twice that
 * loss (see core/compress/stage3_mixed.c). */
nq_status nq_distill_sensitivity(nq_encoded **enc, const nq_model *m, const nq_settings *s, const nq_llama *teacher,
                                 const int32_t *tokens, size_t ntok, int ctx, int nwin, double *score, nq_err *e);

/* Mixed precision: see nq_mixed_report in novaq.h. */
nq_status nq_mixed_allocate(nq_encoded **enc, const nq_model *m, const nq_settings *s, nq_plan *plan,
                            const nq_llama *teacher, const int32_t *tokens, size_t ntok, int ctx,
                            nq_mixed_report *rep, nq_err *e);

#ifdef __cplusplus
}
#endif
#endif
