/* llama_testutil.h - helpers for the forward-pass tests: the shared tiny model, and small
 * synthetic LLaMA models built in memory as safetensors (for shape and config cases). */
#ifndef NQ_LLAMA_TESTUTIL_H
#define NQ_LLAMA_TESTUTIL_H
#include <string.h>
#include "testutil.h"

typedef struct tiny_model {
    nq_reader file;
    nq_model *model;
    nq_llama_config cfg;
    nq_llama *llama;
    int32_t *tokens;
    int ntokens;
} tiny_model;

static int tiny_open(tiny_model *t) {
    memset(t, 0, sizeof *t);
    nq_err e = {0};
    size_t n, ncj = 0;
    char *cj = (char *)tu_read_file(tu_data("novaq-tiny-llama/config.json"), &ncj);
    unsigned char *tb = tu_read_file(tu_data("novaq-tiny-llama/val_tokens.u16"), &n);
    if (!cj || !tb) { fprintf(stderr, "tiny model data missing\n"); free(cj); free(tb); return 0; }
    nq_status st = nq_llama_config_parse(&t->cfg, cj, ncj, &e);
    free(cj);
    t->ntokens = (int)(n / 2);
    t->tokens = malloc((size_t)t->ntokens * sizeof *t->tokens);
    for (int i = 0; i < t->ntokens; i++) t->tokens[i] = tb[2 * i] | (tb[2 * i + 1] << 8);
    free(tb);
    t->file = tu_file_reader(tu_data("novaq-tiny-llama/model.safetensors"));
    if (!st) st = nq_safetensors_open(&t->model, &t->file, 1, NULL, 0, &e);
    if (!st) st = nq_llama_load(&t->llama, t->model, &t->cfg, &e);
    if (st) fprintf(stderr, "tiny model: %s\n", e.msg);
    return st == NQ_OK;
}

/* calib.txt of the tiny model as token ids (malloc'd; *n gets their number). */
static inline int32_t *tiny_calib_tokens(int *n) {
    size_t tl = 0, jl = 0, nids = 0;
    char *text = (char *)tu_read_file(tu_data("novaq-tiny-llama/calib.txt"), &tl);
    char *json = (char *)tu_read_file(tu_data("novaq-tiny-llama/tokenizer.json"), &jl);
    nq_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    CHECK(text && json && nq_tokenizer_load(&tk, json, jl, NULL) == NQ_OK);
    if (tk) CHECK(nq_tokenizer_encode(tk, text, tl, &ids, &nids, NULL) == NQ_OK);
    nq_tokenizer_free(tk);
    free(text);
    free(json);
    *n = (int)nids;
    return ids;
}

static void tiny_close(tiny_model *t) {
    nq_llama_free(t->llama);
    nq_model_free(t->model);
    tu_file_reader_close(&t->file);
    free(t->tokens);
}
#endif
