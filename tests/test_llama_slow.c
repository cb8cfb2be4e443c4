/* test_llama_slow.c - perplexity of the tiny model's original weights over all 331 windows
 * of val_tokens.u16 (protocol of docs/DESIGN.md, "The test model") must be PyTorch's 76.491 +- 0.05.
 * About a minute in a release build; labelled slow (skipped in the sanitizer build). */
#include <math.h>
#include <cjson/cJSON.h>
#include "llama_testutil.h"

int main(void) {
    tiny_model t;
    CHECK(tiny_open(&t));
    if (!tu_failures) {
        size_t n;
        char *js = (char *)tu_read_file(tu_data("novaq-tiny-llama/reference.json"), &n);
        cJSON *ref = js ? cJSON_ParseWithLength(js, n) : NULL;
        free(js);
        const cJSON *want = cJSON_GetObjectItem(ref, "ppl_fp32_from_saved");
        const cJSON *nwant = cJSON_GetObjectItem(ref, "val_windows");
        CHECK(cJSON_IsNumber(want) && cJSON_IsNumber(nwant));
        int ctx = 256, nwin = (t.ntokens - 1) / ctx;
        CHECK(nwin == 331 && nwin == nwant->valueint);
        nq_llama_state *s = NULL;
        nq_err e = {0};
        CHECK(nq_llama_state_new(&s, t.llama, ctx, ctx, &e) == NQ_OK);
        nq_eval_sums sums = {0};
        for (int w = 0; w < nwin && s; w++)
            CHECK(nq_llama_eval_window(s, NULL, t.tokens + (size_t)w * ctx, ctx, &sums, &e) == NQ_OK);
        double ppl = exp(sums.nll_a / (double)sums.ntok);
        printf("perplexity %.4f over %lld tokens (reference %.4f)\n", ppl, (long long)sums.ntok,
               cJSON_IsNumber(want) ? want->valuedouble : 0.0);
        CHECK(sums.ntok == 84736);
        CHECK(cJSON_IsNumber(want) && fabs(ppl - want->valuedouble) < 0.05);
        nq_llama_state_free(s);
        cJSON_Delete(ref);
    }
    tiny_close(&t);
    return TU_DONE();
}
