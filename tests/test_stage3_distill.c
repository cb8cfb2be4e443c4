/* Stage 3 end to end (core/compress/stage3_distill.c) on the shared tiny model, preset 2 (every tensor
 * quantized, so the shared centroids, row scales of linears, embedding and lm_head and the
 * RMSNorm weights all take part), short windows of calib.txt:
 *  - the step lowers the held-out KL on calibration text, and the report says so;
 *  - the written file decodes to the trained student: its held-out KL, recomputed from the
 *    decoded .novaq, is the report's figure exactly;
 *  - the bit budget is unchanged (stored bytes within zstd's noise), the file validates;
 *  - the same inputs give the same bytes;
 *  - a diverging run (huge learning rate) is dropped and leaves the encodes untouched;
 *  - bad input: too few tokens, per-tensor codebooks. */
#include <string.h>
#include "llama_testutil.h"

enum { CTX = 64 };

static nq_encoded **encode_all(const nq_model *m, const nq_settings *s) {
    int n = nq_model_tensor_count(m);
    nq_encoded **enc = calloc((size_t)n, sizeof *enc);
    nq_plan *plan = NULL;
    CHECK(nq_plan_build(&plan, m, s, NULL, NULL) == NQ_OK);
    for (int t = 0; t < n; t++) CHECK(nq_encode_tensor_plan(m, t, s, plan, &enc[t], NULL) == NQ_OK);
    nq_plan_free(plan);
    return enc;
}

static uint64_t stored(nq_encoded **enc, int n) {
    uint64_t b = 0;
    for (int t = 0; t < n; t++) b += enc[t]->stored_bytes;
    return b;
}

/* Held-out KL of a written file against the teacher, as nq_distill measures it. */
static double held_out_kl(tiny_model *tm, nq_mem_sink *sink, const int32_t *tok, int ntok, int nheld) {
    nq_mem_source src = {sink->buf, sink->size};
    nq_reader r = nq_reader_mem(&src, "mem.novaq");
    CHECK(nq_validate(&r, NULL, NULL, NULL, NULL) == NQ_OK);
    nq_model *m = NULL;
    nq_llama *l = NULL;
    nq_llama_state *a = NULL, *b = NULL;
    nq_eval_sums sums = {0};
    CHECK(nq_novaq_open(&m, &r, NULL) == NQ_OK);
    if (m) CHECK(nq_llama_load(&l, m, &tm->cfg, NULL) == NQ_OK);
    if (l) {
        CHECK(nq_llama_state_new(&a, tm->llama, CTX, CTX, NULL) == NQ_OK);
        CHECK(nq_llama_state_new(&b, l, CTX, CTX, NULL) == NQ_OK);
        size_t first = (size_t)ntok - (size_t)nheld * (CTX + 1);
        for (int h = 0; a && b && h < nheld; h++)
            CHECK(nq_llama_eval_window(a, b, tok + first + (size_t)h * (CTX + 1), CTX, &sums, NULL) == NQ_OK);
    }
    nq_llama_state_free(a);
    nq_llama_state_free(b);
    nq_llama_free(l);
    nq_model_free(m);
    return sums.ntok ? sums.kl / (double)sums.ntok : -1;
}

int main(void) {
    tiny_model tm;
    if (!tiny_open(&tm)) return 1;
    int ntok = 0;
    int32_t *tok = tiny_calib_tokens(&ntok);
    int use = 16 * CTX; /* 12 training windows after 4 held-out ones of CTX + 1 */
    CHECK(ntok > use);
    nq_settings s;
    nq_settings_preset(&s, "2", NULL);
    s.e2e_steps = 12;
    int n = nq_model_tensor_count(tm.model);

    /* 1. the step lowers the held-out KL; the file decodes to the trained student */
    nq_encoded **orig = encode_all(tm.model, &s);
    nq_encoded **enc = tu_clone_encodes(orig, n);
    uint64_t before = stored(enc, n);
    nq_distill_report rep;
    nq_err e = {0};
    CHECK(nq_distill(enc, tm.model, &s, tm.llama, tok, (size_t)use, CTX, &rep, &e) == NQ_OK);
    printf("e2e: %d steps over %d windows (%d held out), %lld values; loss %.4f -> %.4f; held-out KL %.5f -> %.5f, "
           "cosine %.5f -> %.5f, %s\n", rep.steps, rep.windows_train, rep.windows_eval, (long long)rep.params,
           rep.loss_first, rep.loss_last, rep.kl_before, rep.kl_after, rep.cos_before, rep.cos_after,
           rep.accepted ? "kept" : "dropped");
    CHECK(rep.steps == 12 && rep.windows_eval == 4 && rep.windows_train == 11);
    CHECK(rep.kl_after < rep.kl_before * 0.99 && rep.accepted);
    CHECK(rep.cos_after > rep.cos_before);
    uint64_t after = stored(enc, n);
    printf("stored bytes %llu -> %llu\n", (unsigned long long)before, (unsigned long long)after);
    CHECK(after < before + before / 200 && after + after / 200 > before);
    nq_mem_sink f1 = tu_write_encodes(enc, n, &s);
    double kl_file = held_out_kl(&tm, &f1, tok, use, 4);
    printf("held-out KL of the written file: %.17g (report %.17g)\n", kl_file, rep.kl_after);
    CHECK(kl_file == rep.kl_after);
    tu_free_encodes(enc, n);

    /* 2. deterministic: the same bytes again */
    enc = tu_clone_encodes(orig, n);
    CHECK(nq_distill(enc, tm.model, &s, tm.llama, tok, (size_t)use, CTX, &rep, NULL) == NQ_OK);
    nq_mem_sink f2 = tu_write_encodes(enc, n, &s);
    CHECK(f1.size == f2.size && !memcmp(f1.buf, f2.buf, f1.size));
    free(f2.buf);
    tu_free_encodes(enc, n);

    /* 3. a diverging run is dropped and changes nothing */
    enc = tu_clone_encodes(orig, n);
    nq_mem_sink f3 = tu_write_encodes(enc, n, &s);
    nq_settings wild = s;
    wild.e2e_lr = 100;
    wild.e2e_steps = 3;
    CHECK(nq_distill(enc, tm.model, &wild, tm.llama, tok, (size_t)use, CTX, &rep, NULL) == NQ_OK);
    printf("lr x100: held-out KL %.4f -> %.4f, %s\n", rep.kl_before, rep.kl_after, rep.accepted ? "kept" : "dropped");
    CHECK(!rep.accepted);
    nq_mem_sink f5 = tu_write_encodes(enc, n, &s);
    CHECK(f3.size == f5.size && !memcmp(f3.buf, f5.buf, f3.size));
    free(f3.buf);
    free(f5.buf);

    /* 4. bad input */
    CHECK(nq_distill(enc, tm.model, &s, tm.llama, tok, 2 * CTX, CTX, &rep, &e) == NQ_E_ARG && strstr(e.msg, "too few"));
    tu_free_encodes(enc, n);
    tu_free_encodes(orig, n);
    nq_settings own = s;
    own.kmeans_iters = 2;
    own.share_codebooks = 0;
    enc = encode_all(tm.model, &own);
    CHECK(nq_distill(enc, tm.model, &own, tm.llama, tok, (size_t)use, CTX, &rep, &e) == NQ_E_UNSUPPORTED &&
          strstr(e.msg, "codebook set"));
    tu_free_encodes(enc, n);
    nq_settings off = s;
    off.e2e_steps = 0;
    CHECK(nq_distill(NULL, tm.model, &off, tm.llama, tok, (size_t)use, CTX, &rep, NULL) == NQ_OK && rep.steps == 0);

    free(f1.buf);
    free(tok);
    tiny_close(&tm);
    return TU_DONE();
}
