/* stage3_mixed.c - stage 3, mixed precision: with a model-wide set of more stages than every tensor
 * uses (settings base_stages < nstages, from nq_settings_mixed), each tensor is first coded
 * with the base stages; then the tensors whose quantization error costs the model most per
 * weight are coded again with every stage, as many as fit the bit budget (bits_budget, all
 * in: codes, the shared set, row data, as stored).
 *
 * Cost of a tensor's error: score_t = g_t . (W_q - W)_t over the first calibration windows,
 * g_t the gradient of the end-to-end loss (KL + lambda cos, distill.c) at the base-coded
 * model. Near the teacher the loss is about 1/2 dW^T F dW (F the Gauss-Newton matrix), whose
 * gradient is F dW, so score_t ~ dW_t^T (F dW)_t: tensor t's share of twice the loss, its
 * interactions with the others included. The extra stages cut a tensor's error by about the
 * same factor whichever tensor it is and cost the same bits per weight, so tensors are taken
 * in order of score per weight while their extra code bytes fit; one that does not fit leaves
 * the room to smaller ones after it. The measured bytes of the re-coded tensors are checked
 * against the budget again (zstd makes them slightly different from the estimate), dropping
 * the last-picked tensors back to the base stages should the total be over.
 * Deterministic: fixed windows, one thread, ties broken by tensor index. */
#include <stdlib.h>
#include <string.h>
#include "compress/stages.h"

enum { SENSITIVITY_WINDOWS = 4 };

static int is_shared_vq(const nq_encoded *enc) {
    int codes = 0, shared = 0;
    for (int i = 0; enc && i < enc->nparts; i++) {
        codes |= enc->parts[i].kind == NQ_PART_CODES;
        shared |= enc->parts[i].kind == NQ_PART_SHARED;
    }
    return codes && shared;
}

/* Bytes the quantized tensors count (the shared set once) and their weights. */
static void totals(nq_encoded *const *enc, int nt, uint64_t *bytes, uint64_t *weights) {
    *bytes = *weights = 0;
    int set_counted = 0;
    for (int t = 0; t < nt; t++) {
        if (!is_shared_vq(enc[t])) continue;
        *bytes += enc[t]->stored_bytes; /* without the set's parts it carries */
        *weights += enc[t]->weights;
        for (int i = 0; i < enc[t]->nparts && !set_counted; i++)
            if (enc[t]->parts[i].kind == NQ_PART_SHARED) *bytes += enc[t]->parts[i].size;
        set_counted = 1;
    }
}

/* Extra packed code bytes of tensor t with every stage instead of the base ones. */
static uint64_t extra_bytes(const nq_model *m, const nq_settings *s, int t) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    int bits[NQ_MAX_STAGES] = {0};
    for (int k = 0; k < s->nstages; k++)
        while ((1 << bits[k]) < s->K[k]) bits[k]++;
    int64_t nvec = (ti->cols + s->d - 1) / s->d;
    return (uint64_t)ti->rows * (nq_codes_row_bytes(nvec, bits, s->nstages) - nq_codes_row_bytes(nvec, bits, s->base_stages));
}

static nq_status recode(nq_encoded **enc, const nq_model *m, const nq_settings *s, nq_plan *plan, int t, int stages,
                        nq_err *e) {
    plan->stages[t] = stages;
    nq_encoded *ne;
    nq_status st = nq_encode_tensor_plan(m, t, s, plan, &ne, e);
    if (st) return st;
    nq_encoded_free(enc[t]);
    enc[t] = ne;
    return NQ_OK;
}

nq_status nq_mixed_allocate(nq_encoded **enc, const nq_model *m, const nq_settings *s, nq_plan *plan,
                            const nq_llama *teacher, const int32_t *tokens, size_t ntok, int ctx,
                            nq_mixed_report *rep, nq_err *e) {
    memset(rep, 0, sizeof *rep);
    if (!(s->base_stages > 0 && s->base_stages < s->nstages) || !plan || !plan->shared) return NQ_OK;
    if (!(s->bits_budget > 0)) return nq_fail(e, NQ_E_ARG, "mixed precision needs a bit budget (bits_budget > 0)");
    int nt = nq_model_tensor_count(m), nwin = (int)(ntok / (size_t)(ctx > 0 ? ctx : 1));
    if (nwin > SENSITIVITY_WINDOWS) nwin = SENSITIVITY_WINDOWS;
    if (ctx < 1 || nwin < 1)
        return nq_fail(e, NQ_E_ARG, "mixed precision: %zu calibration tokens make no window of %d", ntok, ctx);
    double *score = calloc((size_t)(nt ? nt : 1), sizeof *score);
    int *order = calloc((size_t)(nt ? nt : 1), sizeof *order), *picked = calloc((size_t)(nt ? nt : 1), sizeof *picked);
    nq_status st = score && order && picked ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "mixed precision: out of memory");
    if (st == NQ_OK) st = nq_distill_sensitivity(enc, m, s, teacher, tokens, ntok, ctx, nwin, score, e);
    uint64_t bytes, weights;
    totals(enc, nt, &bytes, &weights);
    rep->windows = nwin;
    rep->bits_base = weights ? (double)bytes * 8 / (double)weights : 0;
    int n = 0;
    for (int t = 0; t < nt && st == NQ_OK; t++)
        if (is_shared_vq(enc[t]) && score[t] > 0) order[n++] = t;
    for (int i = 1; i < n; i++) /* insertion sort by score per weight, stable */
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            if (score[a] / (double)enc[a]->weights >= score[b] / (double)enc[b]->weights) break;
            order[j - 1] = b;
            order[j] = a;
        }
    double budget = s->bits_budget * (double)weights / 8; /* bytes */
    int np = 0;
    for (int i = 0; i < n && st == NQ_OK; i++) {
        int t = order[i];
        uint64_t more = extra_bytes(m, s, t);
        if ((double)(bytes + more) > budget) continue;
        bytes += more;
        picked[np++] = t;
    }
    for (int i = 0; i < np && st == NQ_OK; i++) st = recode(enc, m, s, plan, picked[i], s->nstages, e);
    while (st == NQ_OK && np > 0) { /* the measured bytes decide */
        totals(enc, nt, &bytes, &weights);
        if ((double)bytes <= budget) break;
        st = recode(enc, m, s, plan, picked[--np], s->base_stages, e);
    }
    if (st == NQ_OK) {
        totals(enc, nt, &bytes, &weights);
        rep->tensors = np;
        for (int i = 0; i < np; i++) rep->weights += (int64_t)enc[picked[i]]->weights;
        rep->bits = weights ? (double)bytes * 8 / (double)weights : 0;
        for (int i = 0; i < n; i++) rep->score_total += score[order[i]];
        for (int i = 0; i < np; i++) rep->score_picked += score[picked[i]];
    }
    free(score);
    free(order);
    free(picked);
    return st;
}
