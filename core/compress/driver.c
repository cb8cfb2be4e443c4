/* driver.c - the compression driver: the one place that decides how a model is compressed
 * (the effective settings, when stage 3 runs, the order plan -> encode -> mixed precision ->
 * end to end -> container in model order, how far encodes run ahead of the writer) and
 * drives the plan, the encoder, stage 3 and the container writer.
 *
 * nq_job holds that policy as explicit steps, so that callers which schedule the encodes
 * themselves (the page's Web Workers) follow it; nq_compress_ex drives the same steps through
 * a caller-supplied parallel-for (the CLI's threads) or serially; nq_compress is nq_compress_ex
 * with nothing but a progress callback. The bytes never depend on the schedule: every encode
 * is deterministic and the encodes are consumed in model order. */
#include <stdlib.h>
#include <string.h>
#include "compress/stages.h"
#include "io/model.h"

struct nq_job {
    const nq_model *m;
    nq_settings s;            /* effective settings: every encode and the container use them */
    nq_calibration cal;       /* borrowed pointers; all zero without calibration */
    int holds_all;            /* stage 3 runs: nothing is written before it */
    int stage3_done;
    nq_plan *plan;
    int n;
    nq_encoded **enc;         /* accepted and not yet written, by tensor */
    int accepted, written;
    nq_container *c;
    nq_writer inner;          /* the caller's writer, behind the counting one below */
    nq_compress_report rep;
};

/* The stage-3 policy. Mixed precision re-codes tensors with the model-wide set and measures
 * them against the teacher, so it needs both; the end-to-end step refines that same set, so
 * without it (share_codebooks off, scope_rows) it is skipped and the caller is told. */
static void decide(nq_job *j, const nq_settings *s, const nq_calibration *cal) {
    nq_settings eff;
    j->rep.mixed = cal && cal->teacher && s->refine && s->share_codebooks && !s->scope_rows &&
                   nq_settings_mixed(s, &eff);
    j->s = j->rep.mixed ? eff : *s;
    int e2e = cal && cal->teacher && j->s.refine && j->s.e2e_steps > 0;
    if (e2e && (!j->s.share_codebooks || j->s.scope_rows)) {
        j->rep.e2e_skipped = 1;
        e2e = 0;
    }
    j->rep.e2e = e2e;
    j->rep.settings = j->s;
    j->holds_all = j->rep.mixed || e2e;
}

nq_status nq_job_begin(nq_job **out, const nq_model *m, const nq_settings *s,
                       const nq_calibration *cal, nq_err *e) {
    *out = NULL;
    nq_job *j = calloc(1, sizeof *j);
    int n = nq_model_tensor_count(m);
    if (j) j->enc = calloc((size_t)n + 1, sizeof *j->enc);
    if (!j || !j->enc) {
        free(j);
        return nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    j->m = m;
    j->n = n;
    if (cal) j->cal = *cal;
    decide(j, s, cal);
    for (int t = 0; t < n; t++) j->rep.weights += (uint64_t)nq_model_tensor(m, t)->rows * nq_model_tensor(m, t)->cols;
    nq_status st = nq_plan_build(&j->plan, m, &j->s, cal ? cal->stats : NULL, e);
    if (st) { nq_job_free(j); return st; }
    *out = j;
    return NQ_OK;
}

/* Forwards to the caller's writer and counts the bytes for the report. */
static int counted_write(void *ctx, const void *src, size_t len) {
    nq_job *j = ctx;
    j->rep.bytes += len;
    return j->inner.write(j->inner.ctx, src, len);
}

nq_status nq_job_output(nq_job *j, const nq_writer *w, const nq_source_file *src, int nsrc,
                        nq_err *e) {
    if (j->c) return nq_fail(e, NQ_E_ARG, "the job's container is already started");
    j->inner = *w;
    nq_writer cw = {j, counted_write};
    return nq_container_begin(&j->c, &cw, &j->s, nq_model_format(j->m), src, nsrc,
                              nq_model_metadata_json(j->m), e);
}

int nq_job_tensor_count(const nq_job *j) { return j->n; }
const nq_settings *nq_job_settings(const nq_job *j) { return &j->s; }
const nq_plan *nq_job_plan(const nq_job *j) { return j->plan; }
int nq_job_holds_all(const nq_job *j) { return j->holds_all; }
const nq_compress_report *nq_job_report(const nq_job *j) { return &j->rep; }

int nq_job_ahead(const nq_job *j, int width) {
    if (j->holds_all) return j->n > 0 ? j->n : 1;
    return 2 * (width > 1 ? width : 1);
}

nq_status nq_job_encode(const nq_job *j, int t, nq_encoded **out, nq_err *e) {
    *out = NULL;
    if (t < 0 || t >= j->n) return nq_fail(e, NQ_E_ARG, "tensor %d: out of range (%d tensors)", t, j->n);
    return nq_encode_tensor_plan(j->m, t, &j->s, j->plan, out, e);
}

nq_status nq_job_accept(nq_job *j, int t, nq_encoded *enc, nq_err *e) {
    if (t < 0 || t >= j->n || j->enc[t] || t < j->written || !enc) {
        nq_encoded_free(enc);
        return nq_fail(e, NQ_E_ARG, "tensor %d: out of range, missing or already accepted", t);
    }
    j->enc[t] = enc;
    j->accepted++;
    return NQ_OK;
}

nq_status nq_job_stage3(nq_job *j, nq_step_fn step, void *sctx, nq_err *e) {
    if (!j->holds_all || j->stage3_done) return NQ_OK;
    if (j->accepted < j->n)
        return nq_fail(e, NQ_E_ARG, "stage 3 needs every tensor encoded: %d of %d accepted", j->accepted, j->n);
    const nq_calibration *c = &j->cal;
    nq_status st = NQ_OK;
    if (step) step(sctx, NQ_STEP_STAGE3, &j->rep);
    if (j->rep.mixed) {
        st = nq_mixed_allocate(j->enc, j->m, &j->s, j->plan, c->teacher, c->ids, c->nids, c->ctx, &j->rep.mix, e);
        if (st) return st;
        if (step) step(sctx, NQ_STEP_MIXED, &j->rep);
    }
    if (j->rep.e2e) {
        st = nq_distill(j->enc, j->m, &j->s, c->teacher, c->ids, c->nids, c->ctx, &j->rep.distill, e);
        if (st) return st;
        if (step) step(sctx, NQ_STEP_E2E, &j->rep);
    }
    j->stage3_done = 1;
    return NQ_OK;
}

nq_status nq_job_write(nq_job *j, int *written, nq_err *e) {
    nq_status st = NQ_OK;
    if (!j->c) st = nq_fail(e, NQ_E_ARG, "the job's container is not started (nq_job_output)");
    while (st == NQ_OK && (!j->holds_all || j->stage3_done) && j->written < j->n && j->enc[j->written]) {
        int t = j->written;
        st = nq_container_add(j->c, j->enc[t], e);
        nq_encoded_free(j->enc[t]);
        j->enc[t] = NULL;
        if (st == NQ_OK) j->written++;
    }
    if (written) *written = j->written;
    return st;
}

nq_status nq_job_finish(nq_job *j, nq_err *e) {
    if (!j->c) return nq_fail(e, NQ_E_ARG, "the job's container is not started (nq_job_output)");
    if (j->written < j->n)
        return nq_fail(e, NQ_E_ARG, "%d of %d tensors written: the container cannot be finished", j->written, j->n);
    nq_container *c = j->c;
    j->c = NULL; /* nq_container_finish frees it whatever the outcome */
    return nq_container_finish(c, e);
}

void nq_job_free(nq_job *j) {
    if (!j) return;
    nq_container_abort(j->c);
    for (int t = 0; t < j->n; t++) nq_encoded_free(j->enc[t]);
    free(j->enc);
    nq_plan_free(j->plan);
    free(j);
}

/* ------------------------------------------------------ nq_compress_ex */

/* One batch of encodes for a parallel-for: task i encodes tensor t0 + i into its own slots,
 * so tasks share nothing but the read-only job. */
typedef struct batch {
    const nq_job *j;
    int t0;
    nq_encoded **enc;
    nq_status *st;
    nq_err *err;
} batch;

static void encode_task(void *arg, int i) {
    batch *b = arg;
    b->st[i] = nq_job_encode(b->j, b->t0 + i, &b->enc[i], &b->err[i]);
}

/* Encode tensors [t0, t0 + k) through exec and accept them in order. The first failure in
 * index order is the one reported, whatever the executor; every encode is consumed. */
static nq_status encode_batch(nq_job *j, int t0, int k, const nq_executor *exec, batch *b,
                              uint64_t *done, nq_err *e) {
    b->t0 = t0;
    memset(b->enc, 0, (size_t)k * sizeof *b->enc);
    memset(b->st, 0, (size_t)k * sizeof *b->st);
    if (exec && exec->parallel_for) exec->parallel_for(exec->ctx, k, encode_task, b);
    else for (int i = 0; i < k; i++) encode_task(b, i);
    nq_status st = NQ_OK;
    for (int i = 0; i < k; i++) {
        if (st == NQ_OK && b->st[i]) {
            st = b->st[i];
            if (e) *e = b->err[i];
        }
        if (st) { nq_encoded_free(b->enc[i]); continue; }
        *done += b->enc[i]->weights;
        st = nq_job_accept(j, t0 + i, b->enc[i], e);
    }
    return st;
}

static nq_status run_encodes(nq_job *j, const nq_executor *exec, const nq_compress_hooks *h, nq_err *e) {
    int n = j->n, width = exec && exec->parallel_for && exec->width > 1 ? exec->width : 1;
    /* A blocking parallel-for overlaps nothing with the writer, so batches larger than a
     * few per worker would only cost memory; serially, one tensor at a time. */
    int k = width > 1 ? nq_job_ahead(j, width) : 1;
    if (k > n) k = n > 0 ? n : 1;
    batch b = {j, 0, calloc((size_t)k, sizeof *b.enc), calloc((size_t)k, sizeof *b.st), calloc((size_t)k, sizeof *b.err)};
    nq_status st = b.enc && b.st && b.err ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    uint64_t done = 0;
    for (int t0 = 0; t0 < n && st == NQ_OK; t0 += k) {
        int kk = n - t0 < k ? n - t0 : k;
        for (int t = t0; t < t0 + kk && st == NQ_OK; t++)
            if (h && h->progress && h->progress(h->ctx, t, n, done, j->rep.weights))
                st = nq_fail(e, NQ_E_CANCELLED, "cancelled before tensor %d of %d", t + 1, n);
        if (st == NQ_OK) st = encode_batch(j, t0, kk, exec, &b, &done, e);
        if (st == NQ_OK) st = nq_job_write(j, NULL, e);
    }
    free(b.enc);
    free(b.st);
    free(b.err);
    return st;
}

nq_status nq_compress_ex(const nq_model *m, const nq_settings *s, const nq_calibration *cal,
                         const nq_source_file *src, int nsrc, const nq_writer *w,
                         const nq_executor *exec, const nq_compress_hooks *hooks,
                         nq_compress_report *report, nq_err *e) {
    nq_job *j;
    nq_step_fn step = hooks ? hooks->step : NULL;
    void *hctx = hooks ? hooks->ctx : NULL;
    nq_status st = nq_job_begin(&j, m, s, cal, e);
    if (st) return st;
    st = nq_job_output(j, w, src, nsrc, e);
    if (st == NQ_OK && j->rep.e2e_skipped && step) step(hctx, NQ_STEP_E2E_SKIPPED, &j->rep);
    if (st == NQ_OK) st = run_encodes(j, exec, hooks, e);
    if (st == NQ_OK) st = nq_job_stage3(j, step, hctx, e);
    if (st == NQ_OK) st = nq_job_write(j, NULL, e);
    if (st == NQ_OK && hooks && hooks->progress) hooks->progress(hooks->ctx, j->n, j->n, j->rep.weights, j->rep.weights);
    if (st == NQ_OK) st = nq_job_finish(j, e);
    if (report) *report = j->rep;
    nq_job_free(j);
    return st;
}

nq_status nq_compress(const nq_model *m, const nq_settings *s, const nq_source_file *src,
                      int nsrc, const nq_writer *w, nq_progress_fn progress, void *pctx,
                      nq_err *e) {
    nq_compress_hooks h = {progress, NULL, pctx};
    return nq_compress_ex(m, s, NULL, src, nsrc, w, NULL, &h, NULL, e);
}
