/* Stage 3 on the shared tiny model: calibration statistics from calib.txt through the
 * forward pass, then for a set of layers the calibration output error ||X W^T - X W_hat^T||^2
 * (= sum over rows of e^T H e, H = X^T X) of the decoded weights, with and without stage 3.
 * Stage 3 must never be worse on any layer and must lower the total; tensors without
 * activations (the embedding) fall back to weight-space refinement and say so. Also: the
 * calibration's bad inputs, and H against a direct recomputation on one layer. */
#include <math.h>
#include <string.h>
#include "llama_testutil.h"

/* Encode the tensors `pick` (model order) into an in-memory .novaq and open it. */
static nq_model *encode_some(const nq_model *m, const nq_settings *s, const nq_plan *plan, const int *pick, int npick,
                             nq_mem_sink *sink) {
    nq_writer w = nq_writer_mem(sink);
    nq_container *c = NULL;
    nq_source_file sf = {"model.safetensors", 0, {0}};
    CHECK(nq_container_begin(&c, &w, s, "safetensors", &sf, 1, NULL, NULL) == NQ_OK);
    for (int i = 0; c && i < npick; i++) {
        nq_encoded *enc = NULL;
        nq_err e = {0};
        CHECK(nq_encode_tensor_plan(m, pick[i], s, plan, &enc, &e) == NQ_OK);
        if (!enc) { fprintf(stderr, "%s\n", e.msg); continue; }
        CHECK(nq_container_add(c, enc, NULL) == NQ_OK);
        nq_encoded_free(enc);
    }
    CHECK(c && nq_container_finish(c, NULL) == NQ_OK);
    static nq_mem_source src[2];
    static int which = 0;
    nq_mem_source *ms = &src[which++ & 1];
    *ms = (nq_mem_source){sink->buf, sink->size};
    nq_reader r = nq_reader_mem(ms, "mem.novaq");
    CHECK(nq_validate(&r, NULL, NULL, NULL, NULL) == NQ_OK);
    nq_model *out = NULL;
    CHECK(nq_novaq_open(&out, &r, NULL) == NQ_OK);
    return out;
}

/* sum over rows of (w - w_hat)^T H (w - w_hat) */
static double output_error(const nq_model *orig, int t, const nq_model *dec, const char *name, const double *H) {
    const nq_tensor_info *ti = nq_model_tensor(orig, t);
    int64_t R = ti->rows, C = ti->cols;
    float *w = malloc((size_t)(R * C) * sizeof *w), *q = malloc((size_t)(R * C) * sizeof *q);
    double *e = malloc((size_t)C * sizeof *e), total = 0;
    CHECK(nq_model_read_rows(orig, t, 0, R, w, NULL) == NQ_OK);
    CHECK(nq_model_read_rows(dec, nq_model_find(dec, name), 0, R, q, NULL) == NQ_OK);
    for (int64_t i = 0; i < R; i++) {
        for (int64_t j = 0; j < C; j++) e[j] = (double)w[i * C + j] - q[i * C + j];
        for (int64_t j = 0; j < C; j++) {
            double s = 0;
            for (int64_t k = 0; k < C; k++) s += H[j * C + k] * e[k];
            total += e[j] * s;
        }
    }
    free(w); free(q); free(e);
    return total;
}

/* H of layer 0's q_proj against X^T X recomputed from the hook's own activations. */
typedef struct grab { float *x; int n, width; } grab;
static void grab_attn0(void *ctx, const nq_llama_act *a) {
    grab *g = ctx;
    if (a->layer != 0 || a->site != NQ_SITE_ATTN_IN) return;
    g->x = malloc((size_t)a->ntok * a->width * sizeof *g->x);
    memcpy(g->x, a->x, (size_t)a->ntok * a->width * sizeof *g->x);
    g->n = a->ntok;
    g->width = a->width;
}

static void check_hessian(tiny_model *tm, const int32_t *tok, int ctx) {
    nq_llama_state *st = NULL;
    grab g = {0};
    nq_calib *cal = NULL;
    CHECK(nq_calib_collect(&cal, tm->llama, tok, (size_t)ctx * 4, ctx, ctx, NULL) == NQ_OK); /* one window */
    CHECK(nq_llama_state_new(&st, tm->llama, ctx, ctx, NULL) == NQ_OK);
    if (!st || !cal) { nq_calib_free(cal); nq_llama_state_free(st); return; }
    nq_llama_state_set_hook(st, grab_attn0, &g);
    CHECK(nq_llama_forward(st, tok, ctx, NULL, NULL, NULL) == NQ_OK);
    nq_llama_state_free(st);
    int64_t cols = 0;
    int t = nq_model_find(tm->model, "model.layers.0.self_attn.k_proj.weight");
    const double *H = nq_calib_hessian(cal, t, &cols);
    CHECK(H && g.x && cols == g.width && nq_calib_tokens(cal) == ctx);
    if (H && g.x) {
        double worst = 0;
        for (int i = 0; i < g.width; i += 7)
            for (int j = 0; j < g.width; j += 5) {
                double s = 0;
                for (int k = 0; k < g.n; k++) s += (double)g.x[k * g.width + i] * g.x[k * g.width + j];
                double rel = fabs(H[i * cols + j] - s) / (sqrt(H[i * cols + i] * H[j * cols + j]) + 1e-30);
                if (rel > worst) worst = rel;
            }
        printf("H of the attention input vs X^T X: worst relative difference %.2g\n", worst);
        CHECK(worst < 1e-5); /* f32 dot products per window, f64 totals */
    }
    free(g.x);
    nq_calib_free(cal);
}

int main(void) {
    tiny_model tm;
    if (!tiny_open(&tm)) return 1;
    int ntok = 0;
    int32_t *tok = tiny_calib_tokens(&ntok);
    CHECK(ntok > 1024);
    nq_err e = {0};
    nq_calib *cal = NULL;
    /* bad input: no full window; a token outside the vocabulary */
    CHECK(nq_calib_collect(&cal, tm.llama, tok, 100, 256, 512, &e) == NQ_E_ARG && !cal && strstr(e.msg, "window"));
    int32_t badtok[8] = {1, 2, 3, 99999, 4, 5, 6, 7};
    CHECK(nq_calib_collect(&cal, tm.llama, badtok, 8, 8, 8, &e) != NQ_OK && !cal);
    CHECK(nq_calib_collect(&cal, tm.llama, tok, (size_t)ntok, 256, 512, &e) == NQ_OK && cal);
    if (!cal) { fprintf(stderr, "%s\n", e.msg); return 1; }
    CHECK(nq_calib_tokens(cal) == 512);
    check_hessian(&tm, tok, 256);

    nq_settings s;
    nq_settings_preset(&s, "2", NULL);
    const char *names[] = {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                           "model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.down_proj.weight",
                           "model.layers.5.self_attn.v_proj.weight", "model.layers.5.mlp.up_proj.weight",
                           "lm_head.weight"};
    int n = (int)(sizeof names / sizeof names[0]), pick[8];
    for (int i = 0; i < n; i++) pick[i] = nq_model_find(tm.model, names[i]);
    nq_plan *plan = NULL;
    CHECK(nq_plan_build(&plan, tm.model, &s, cal, &e) == NQ_OK);
    nq_settings s2 = s;
    s2.refine = 0;
    nq_mem_sink a = {0}, b = {0};
    nq_model *m3 = encode_some(tm.model, &s, plan, pick, n, &a);
    nq_model *m2 = encode_some(tm.model, &s2, plan, pick, n, &b);
    double sum2 = 0, sum3 = 0;
    for (int i = 1; m2 && m3 && i < n; i++) {
        int64_t cols = 0;
        const double *H = nq_calib_hessian(cal, pick[i], &cols);
        CHECK(H != NULL);
        if (!H) continue;
        double e2 = output_error(tm.model, pick[i], m2, names[i], H);
        double e3 = output_error(tm.model, pick[i], m3, names[i], H);
        printf("%-42s output error stage 2 %.5g, stage 3 %.5g (%.1f%%)\n", names[i], e2, e3, 100 * e3 / e2);
        CHECK(e3 <= e2 * (1 + 1e-6));
        sum2 += e2;
        sum3 += e3;
    }
    CHECK(sum3 < 0.8 * sum2); /* stage 3 does real work, not only "no worse" */
    const char *man = m3 ? nq_novaq_manifest(m3) : "";
    const char *emb = strstr(man, "\"model.embed_tokens.weight\"");
    const char *lm = strstr(man, "\"lm_head.weight\"");
    CHECK(emb && strstr(emb, "\"mode\":\"weight-space\"") && strstr(emb, "no activations"));
    CHECK(lm && strstr(lm, "\"mode\":\"output-aware\""));
    /* the same settings without a plan give the same bytes for a weight-space tensor */
    nq_encoded *x = NULL, *y = NULL;
    CHECK(nq_encode_tensor(tm.model, pick[0], &s, &x, NULL) == NQ_OK);
    nq_plan *p0 = NULL;
    CHECK(nq_plan_build(&p0, tm.model, &s, NULL, NULL) == NQ_OK);
    CHECK(nq_encode_tensor_plan(tm.model, pick[0], &s, p0, &y, NULL) == NQ_OK);
    CHECK(x && y && x->nparts == y->nparts && x->stored_bytes == y->stored_bytes);
    for (int i = 0; x && y && i < x->nparts && i < y->nparts; i++)
        CHECK(x->parts[i].size == y->parts[i].size && !memcmp(x->parts[i].data, y->parts[i].data, x->parts[i].size));
    /* a plan for other settings is refused */
    nq_settings s4;
    nq_settings_preset(&s4, "4", NULL);
    nq_encoded *z = NULL;
    CHECK(nq_encode_tensor_plan(tm.model, pick[1], &s4, p0, &z, &e) == NQ_E_ARG && !z && strstr(e.msg, "plan"));
    nq_encoded_free(x);
    nq_encoded_free(y);
    nq_plan_free(p0);
    nq_model_free(m2);
    nq_model_free(m3);
    free(a.buf);
    free(b.buf);
    nq_plan_free(plan);
    nq_calib_free(cal);
    free(tok);
    tiny_close(&tm);
    return TU_DONE();
}
