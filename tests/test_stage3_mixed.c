/* Stage 3 mixed precision (core/compress/stage3_mixed.c) on the shared tiny model with preset 2's mixed
 * layout and short windows of calib.txt:
 *  - nq_settings_mixed: preset 2 -> {1024, 32, 256}, 1.5 -> {1024, 2, 256} and 4 ->
 *    {512, 128, 16} with two base stages; none for a custom layout or with mixed off; an
 *    explicit layout is kept;
 *  - the allocation stays within the bit budget as the written file counts it, gives every
 *    stage to the tensors first in score per weight, to none when the budget has no room, and
 *    their decoded error is lower than with the base stages;
 *  - the file validates: picked tensors list all three stages, the others the first two
 *    (a prefix of the set), and decoding gives the error the encoder measured;
 *  - the same inputs give the same bytes;
 *  - bad input: no budget, too few calibration tokens; a tensor whose stages
 *    are not the beginning of its set's. */
#include <string.h>
#include "common/format.h"
#include "llama_testutil.h"
#include "compress/stages.h"
#include "common/util.h"

enum { CTX = 64 };

static nq_encoded **encode_all(const nq_model *m, const nq_settings *s, nq_plan **plan) {
    int n = nq_model_tensor_count(m);
    nq_encoded **enc = calloc((size_t)n, sizeof *enc);
    CHECK(nq_plan_build(plan, m, s, NULL, NULL) == NQ_OK);
    for (int t = 0; t < n; t++) CHECK(nq_encode_tensor_plan(m, t, s, *plan, &enc[t], NULL) == NQ_OK);
    return enc;
}

static const char *manifest_of(const nq_mem_sink *f, char **owned) {
    return *owned = tu_manifest_of(f);
}

/* Number of stages tensor `name` lists in the manifest ("K":[...]). */
static int stages_in(const char *man, const char *name) {
    char key[160];
    snprintf(key, sizeof key, "\"name\":\"%s\"", name);
    const char *p = strstr(man, key), *k = p ? strstr(p, "\"K\":[") : NULL, *end = k ? strchr(k, ']') : NULL;
    int n = k && end ? 1 : 0;
    for (const char *c = k; c && c < end; c++) n += *c == ',';
    return n;
}

/* The file with the first `from` in its manifest replaced by `to`: validation names `expect`. */
static void damaged(const nq_mem_sink *f, const char *from, const char *to, const char *expect) {
    size_t n;
    uint8_t *b = tu_edit_manifest(f, from, to, &n);
    CHECK(b != NULL);
    if (!b) return;
    nq_mem_source src = {b, n};
    nq_reader r = nq_reader_mem(&src, "bad.novaq");
    nq_err e = {0};
    nq_model *m = NULL;
    CHECK(nq_novaq_open(&m, &r, &e) != NQ_OK && !m);
    CHECK(strstr(e.msg, expect) != NULL);
    if (!strstr(e.msg, expect)) fprintf(stderr, "expected '%s' in: %s\n", expect, e.msg);
    free(b);
}

int main(void) {
    tiny_model tm;
    if (!tiny_open(&tm)) return 1;
    int ntok = 0;
    int32_t *tok = tiny_calib_tokens(&ntok);
    int use = 16 * CTX;
    CHECK(ntok > use);
    const nq_model *m = tm.model;
    int n = nq_model_tensor_count(m);

    /* 1. the layouts */
    nq_settings s, mx, other;
    nq_settings_preset(&s, "2", NULL);
    CHECK(s.mixed == 1 && s.bits_budget == 2.0625 && s.nstages == 2 && s.K[1] == 64);
    CHECK(nq_settings_mixed(&s, &mx) == 1);
    CHECK(mx.nstages == 3 && mx.base_stages == 2 && mx.K[0] == 1024 && mx.K[1] == 32 && mx.K[2] == 256);
    CHECK(nq_settings_code_bits(&mx) == 15.0 / 8 && nq_settings_check(&mx, NULL) == NQ_OK);
    nq_settings_preset(&other, "1.5", NULL);
    CHECK(nq_settings_mixed(&other, &other) == 1 && other.K[1] == 2 && other.K[2] == 256 && other.bits_budget == 1.5625);
    other = s;
    snprintf(other.preset, sizeof other.preset, "custom"); /* the numbers decide, not the label */
    CHECK(nq_settings_mixed(&other, &other) == 1 && other.nstages == 3 && other.K[1] == 32);
    other = s;
    other.K[0] = 512; /* a layout no preset has: no mixed one */
    nq_settings_relabel(&other);
    CHECK(!strcmp(other.preset, "custom"));
    CHECK(nq_settings_mixed(&other, &other) == 0 && other.nstages == 2 && other.base_stages == 0);
    nq_settings_preset(&other, "4", NULL);
    CHECK(nq_settings_mixed(&other, &other) == 1 && other.nstages == 3 && other.base_stages == 2 &&
          other.K[1] == 128 && other.K[2] == 16 && other.bits_budget == 4.25);
    other = s;
    other.mixed = 0;
    CHECK(nq_settings_mixed(&other, &other) == 0 && other.nstages == 2);
    nq_settings kept;
    CHECK(nq_settings_mixed(&mx, &kept) == 1 && !memcmp(&kept, &mx, sizeof kept));

    /* 2. allocation within the budget, by score per weight (the decoder linears: quicker) */
    mx.quantize_embeddings = mx.quantize_lm_head = 0;
    nq_plan *plan = NULL;
    nq_encoded **base = encode_all(m, &mx, &plan), **enc = tu_clone_encodes(base, n);
    double *score = calloc((size_t)n, sizeof *score);
    CHECK(nq_distill_sensitivity(enc, m, &mx, tm.llama, tok, (size_t)use, CTX, 8, score, NULL) == NQ_OK);
    int best = -1;
    double total = 0;
    for (int t = 0; t < n; t++) {
        total += score[t];
        if (score[t] > 0 && (best < 0 || score[t] / (double)enc[t]->weights > score[best] / (double)enc[best]->weights))
            best = t;
    }
    CHECK(total > 0 && best >= 0);
    double sse_base = best >= 0 ? enc[best]->sse : 0;
    nq_mixed_report rep;
    nq_err e = {0};
    CHECK(nq_mixed_allocate(enc, m, &mx, plan, tm.llama, tok, (size_t)use, CTX, &rep, &e) == NQ_OK);
    CHECK(rep.windows == 4 && rep.tensors >= 1 && rep.weights > 0);
    CHECK(rep.bits_base < rep.bits && rep.bits <= mx.bits_budget);
    CHECK(rep.score_picked > 0 && rep.score_picked <= rep.score_total);
    CHECK(best >= 0 && enc[best]->sse < sse_base); /* the first in line got every stage, and less error */
    nq_mem_sink f = tu_write_encodes(enc, n, &mx);
    char *man;
    manifest_of(&f, &man);
    const char *bq = strstr(man, "\"bits_per_weight_quantized\":");
    CHECK(bq && atof(bq + 28) <= mx.bits_budget && atof(bq + 28) > rep.bits - 1e-9 && atof(bq + 28) < rep.bits + 1e-9);
    int three = 0, two = 0;
    for (int t = 0; t < n; t++) {
        const nq_tensor_info *ti = nq_model_tensor(m, t);
        if (!nq_should_quantize(m, t, &mx)) continue;
        int k = stages_in(man, ti->name);
        three += k == 3;
        two += k == 2;
    }
    CHECK(three == rep.tensors && two > 0);
    CHECK(best >= 0 && stages_in(man, nq_model_tensor(m, best)->name) == 3);
    nq_mem_source src = {f.buf, f.size};
    nq_reader r = nq_reader_mem(&src, "mixed.novaq");
    CHECK(nq_validate(&r, NULL, NULL, NULL, NULL) == NQ_OK);
    nq_model *dm = NULL;
    CHECK(nq_novaq_open(&dm, &r, NULL) == NQ_OK);
    for (int t = 0; dm && t < n; t++) { /* every tensor decodes to the error the encoder measured */
        const nq_tensor_info *ti = nq_model_tensor(m, t);
        if (!nq_should_quantize(m, t, &mx)) continue;
        float *a = malloc((size_t)ti->cols * sizeof *a), *b = malloc((size_t)ti->cols * sizeof *b);
        double sse = 0;
        for (int64_t row = 0; row < ti->rows; row++) {
            CHECK(nq_model_read_rows(m, t, row, 1, a, NULL) == NQ_OK);
            CHECK(nq_model_read_rows(dm, nq_model_find(dm, ti->name), row, 1, b, NULL) == NQ_OK);
            for (int64_t j = 0; j < ti->cols; j++) sse += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
        }
        CHECK(sse <= enc[t]->sse * (1 + 1e-9) && sse >= enc[t]->sse * (1 - 1e-9));
        free(a);
        free(b);
    }
    nq_model_free(dm);

    /* 3. the same inputs, the same bytes */
    memset(plan->stages, 0, (size_t)plan->ntensors * sizeof *plan->stages);
    nq_encoded **enc2 = tu_clone_encodes(base, n);
    nq_mixed_report rep2;
    CHECK(nq_mixed_allocate(enc2, m, &mx, plan, tm.llama, tok, (size_t)use, CTX, &rep2, NULL) == NQ_OK);
    nq_mem_sink f2 = tu_write_encodes(enc2, n, &mx);
    CHECK(f2.size == f.size && !memcmp(f2.buf, f.buf, f.size) && rep2.tensors == rep.tensors);
    free(f2.buf);
    tu_free_encodes(enc2, n);

    /* 4. no room in the budget: nothing changes */
    nq_settings tight = mx;
    tight.bits_budget = rep.bits_base;
    memset(plan->stages, 0, (size_t)plan->ntensors * sizeof *plan->stages);
    enc2 = tu_clone_encodes(base, n);
    CHECK(nq_mixed_allocate(enc2, m, &tight, plan, tm.llama, tok, (size_t)use, CTX, &rep2, NULL) == NQ_OK);
    CHECK(rep2.tensors == 0 && rep2.bits == rep2.bits_base && rep2.bits_base == rep.bits_base);
    for (int t = 0; t < n; t++) CHECK(enc2[t]->stored_bytes == base[t]->stored_bytes);
    CHECK(nq_mixed_allocate(enc2, m, &mx, plan, tm.llama, tok, CTX - 1, CTX, &rep2, &e) == NQ_E_ARG &&
          strstr(e.msg, "make no window"));
    tight.bits_budget = 0;
    CHECK(nq_mixed_allocate(enc2, m, &tight, plan, tm.llama, tok, (size_t)use, CTX, &rep2, &e) == NQ_E_ARG &&
          strstr(e.msg, "bit budget"));
    tu_free_encodes(enc2, n);

    /* 5. a tensor's stages must begin its set's */
    damaged(&f, "\"K\":[1024,32]", "\"K\":[1024,64]", "does not begin with the tensor's stages");
    damaged(&f, "\"vq\":{\"d\":8,\"K\":[1024,32,256]", "\"vq\":{\"d\":8,\"K\":[1024,32,256,2]", "does not begin with the tensor's stages");

    free(man);
    free(f.buf);
    free(score);
    tu_free_encodes(enc, n);
    tu_free_encodes(base, n);
    nq_plan_free(plan);
    free(tok);
    tiny_close(&tm);
    return TU_DONE();
}
