/* cmd_calib.c - calibration for stage 3 on the command line: tokenize a calibration text
 * with the model's tokenizer.json, run it through the built-in forward pass of the
 * original model (config.json beside it, or the GGUF metadata) and collect the per-layer
 * input statistics (core/compress/stage3_calib.c); the loaded original and the tokens stay for the
 * end-to-end step (core/compress/stage3_distill.c). Used by `novaq local --calib <text>`. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

static char *beside_model(const char *model, const char *name) {
    struct stat st;
    size_t n = strlen(model);
    char *out = malloc(n + strlen(name) + 2);
    if (!out) return NULL;
    const char *slash = strrchr(model, '/');
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) sprintf(out, "%s/%s", model, name);
    else if (slash) sprintf(out, "%.*s/%s", (int)(slash - model), model, name);
    else sprintf(out, "%s", name);
    return out;
}

static char *slurp_beside(const char *model, const char *name, size_t *len, nq_err *e) {
    char *p = beside_model(model, name);
    if (!p) { nq_fail(e, NQ_E_NOMEM, "out of memory"); return NULL; }
    struct stat st;
    char *text = NULL;
    if (stat(p, &st) != 0) nq_fail(e, NQ_E_IO, "%s: stage 3 calibration needs %s beside the model", p, name);
    else text = cli_slurp(p, len, e);
    free(p);
    return text;
}

void cli_calib_free(cli_calib *c) {
    nq_calib_free(c->stats);
    nq_llama_free(c->teacher);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

int cli_calib_collect(const cli_model *cm, const char *model_path, const char *calib_path, const nq_settings *s,
                      cli_calib *out, nq_err *e) {
    memset(out, 0, sizeof *out);
    size_t clen = 0, tlen = 0, tk_len = 0, nids = 0;
    char *cfg_json = NULL, *tok_json = NULL, *text = NULL;
    nq_llama_config cfg;
    nq_llama *l = NULL;
    nq_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    if (cm->format && !strcmp(cm->format, "gguf")) {
        if (nq_gguf_hf_config(cm->model, &cfg_json, e)) goto done;
        clen = strlen(cfg_json);
    } else if (!(cfg_json = slurp_beside(model_path, "config.json", &clen, e))) {
        goto done;
    }
    if (!(tok_json = slurp_beside(model_path, "tokenizer.json", &tk_len, e))) goto done;
    if (!(text = cli_slurp(calib_path, &tlen, e))) goto done;
    if (nq_llama_config_parse(&cfg, cfg_json, clen, e) || nq_llama_load(&l, cm->model, &cfg, e) ||
        nq_tokenizer_load(&tk, tok_json, tk_len, e) || nq_tokenizer_encode(tk, text, tlen, &ids, &nids, e))
        goto done;
    int ctx = cfg.max_pos < 256 ? cfg.max_pos : 256;
    if (nq_calib_collect(&out->stats, l, ids, nids, ctx, s->calib_tokens, e)) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s: %.400s", calib_path, e->msg);
        memcpy(e->msg, msg, sizeof msg);
        goto done;
    }
    out->teacher = l;
    out->ids = ids;
    out->nids = nids;
    out->ctx = ctx;
    l = NULL;
    ids = NULL;
    rc = 0;
done:
    free(cfg_json);
    free(tok_json);
    free(text);
    free(ids);
    nq_tokenizer_free(tk);
    nq_llama_free(l);
    return rc;
}
