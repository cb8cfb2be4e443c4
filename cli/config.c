/* config.c - compression settings from a `--config` file: novaq-config.yaml or .json.
 *
 * Both forms are read into the same flat list of dotted keys ("model.compression.subspaces")
 * with scalar or list values, then applied to nq_settings through one table. Unknown keys,
 * repeated keys and values of the wrong kind are errors naming the file and line (JSON: the
 * key path), never silently ignored. The YAML reader takes the subset a settings file needs:
 * nested mappings by indentation (spaces), scalars (plain or quoted), flow lists [a, b],
 * block lists ("- a"), comments, and a leading "---". Keys: docs/SOURCES.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

#define CFG_MAX_DEPTH 8
#define CFG_MAX_LIST 8

typedef struct cfg_item {
    char key[256];
    char val[CFG_MAX_LIST][64];
    int nval, is_list, line;
} cfg_item;

typedef struct cfg {
    const char *path;
    cfg_item *items;
    int n, cap;
    nq_err *e;
} cfg;

static cfg_item *cfg_add(cfg *c, const char *key, int line) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->items[i].key, key)) {
            nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s' is set twice", c->path, line, key);
            return NULL;
        }
    if (strlen(key) >= sizeof c->items[0].key) {
        nq_fail(c->e, NQ_E_ARG, "%s:%d: key too long", c->path, line);
        return NULL;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        cfg_item *p = realloc(c->items, (size_t)cap * sizeof *p);
        if (!p) { nq_fail(c->e, NQ_E_NOMEM, "out of memory"); return NULL; }
        c->items = p;
        c->cap = cap;
    }
    cfg_item *it = &c->items[c->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->key, sizeof it->key, "%s", key);
    it->line = line;
    return it;
}

static int item_push(cfg *c, cfg_item *it, const char *v, size_t n) {
    if (it->nval >= CFG_MAX_LIST || n >= sizeof it->val[0])
        return nq_fail(c->e, NQ_E_ARG, "%s:%d: value of '%s' too long", c->path, it->line, it->key);
    memcpy(it->val[it->nval], v, n);
    it->val[it->nval++][n] = 0;
    return 0;
}

/* ----------------------------------------------------------------- YAML subset */

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Cut a comment: '#' at the start or after a blank, outside quotes. */
static void cut_comment(char *s) {
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) { if (*p == q) q = 0; continue; }
        if (*p == '"' || *p == '\'') q = *p;
        else if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) { *p = 0; return; }
    }
}

/* One scalar (quotes removed) into it. */
static int yaml_scalar(cfg *c, cfg_item *it, char *v) {
    v = trim(v);
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) return item_push(c, it, v + 1, n - 2);
    if (!n || v[0] == '"' || v[0] == '\'' || strchr("{[&*!|>", v[0]))
        return nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s': unsupported or empty value '%s'", c->path,
                       it->line, it->key, v);
    return item_push(c, it, v, n);
}

static int yaml_value(cfg *c, cfg_item *it, char *v) {
    v = trim(v);
    size_t n = strlen(v);
    if (v[0] != '[') return yaml_scalar(c, it, v);
    if (v[n - 1] != ']')
        return nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s': unterminated list", c->path, it->line, it->key);
    it->is_list = 1;
    v[n - 1] = 0;
    if (!*trim(v + 1)) return 0;
    for (char *tok = v + 1, *comma; tok; tok = comma ? comma + 1 : NULL) {
        comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (yaml_scalar(c, it, tok)) return 1;
    }
    return 0;
}

static int valid_key(const char *k) {
    if (!*k) return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '-'))
            return 0;
    return 1;
}

static int parse_yaml(cfg *c, char *text) {
    int indent[CFG_MAX_DEPTH], depth = 0, lineno = 0;
    char path[CFG_MAX_DEPTH][64];
    cfg_item *list = NULL; /* the key whose block list is being read */
    int list_indent = -1, open_indent = -1; /* a "key:" waiting for its children */
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        cut_comment(line);
        int ind = 0;
        while (line[ind] == ' ') ind++;
        if (line[ind] == '\t')
            return nq_fail(c->e, NQ_E_ARG, "%s:%d: tab in indentation", c->path, lineno);
        char *s = trim(line);
        if (!*s || (lineno == 1 && !strcmp(s, "---"))) continue;
        if (s[0] == '-' && (s[1] == ' ' || !s[1])) { /* block list item */
            if (!list || ind < list_indent)
                return nq_fail(c->e, NQ_E_ARG, "%s:%d: list item outside a list", c->path, lineno);
            list->is_list = 1;
            if (yaml_scalar(c, list, s + 1)) return 1;
            open_indent = -1;
            continue;
        }
        if (open_indent >= 0 && ind <= open_indent) { /* "key:" with nothing under it */
            return nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s' has no value", c->path, lineno - 1,
                           path[depth - 1]);
        }
        list = NULL;
        open_indent = -1;
        while (depth > 0 && ind <= indent[depth - 1]) depth--;
        char *colon = strstr(s, ": ");
        if (!colon && s[strlen(s) - 1] == ':') colon = s + strlen(s) - 1;
        if (!colon) return nq_fail(c->e, NQ_E_ARG, "%s:%d: expected 'key: value'", c->path, lineno);
        *colon = 0;
        char *key = trim(s), *val = trim(colon + 1);
        if (!valid_key(key) || strlen(key) >= sizeof path[0])
            return nq_fail(c->e, NQ_E_ARG, "%s:%d: invalid key '%s'", c->path, lineno, key);
        if (depth == CFG_MAX_DEPTH)
            return nq_fail(c->e, NQ_E_ARG, "%s:%d: nested too deeply", c->path, lineno);
        char full[600] = "";
        for (int d = 0; d < depth; d++) { strcat(full, path[d]); strcat(full, "."); }
        strcat(full, key);
        if (*val) {
            cfg_item *it = cfg_add(c, full, lineno);
            if (!it || yaml_value(c, it, val)) return 1;
            continue;
        }
        /* "key:" opens a mapping or a block list */
        snprintf(path[depth], sizeof path[0], "%s", key);
        indent[depth++] = ind;
        open_indent = ind;
        if (!(list = cfg_add(c, full, lineno))) return 1;
        list_indent = ind;
    }
    if (open_indent >= 0)
        return nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s' has no value", c->path, lineno, path[depth - 1]);
    /* mapping keys were added as (empty) items so block lists had a home; drop them */
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (c->items[i].nval || c->items[i].is_list) c->items[k++] = c->items[i];
    c->n = k;
    return 0;
}

/* ------------------------------------------------------------------------ JSON */

static int json_scalar(cfg *c, cfg_item *it, const cJSON *v) {
    char tmp[64];
    if (cJSON_IsNumber(v)) snprintf(tmp, sizeof tmp, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v)) snprintf(tmp, sizeof tmp, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsString(v)) return item_push(c, it, v->valuestring, strlen(v->valuestring));
    else return nq_fail(c->e, NQ_E_ARG, "%s: '%s': expected a number, string or boolean", c->path, it->key);
    return item_push(c, it, tmp, strlen(tmp));
}

static int flatten_json(cfg *c, const cJSON *o, const char *prefix) {
    for (const cJSON *v = o->child; v; v = v->next) {
        char key[300];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", v->string);
        if (cJSON_IsObject(v)) {
            if (flatten_json(c, v, key)) return 1;
            continue;
        }
        cfg_item *it = cfg_add(c, key, 0);
        if (!it) return 1;
        if (cJSON_IsArray(v)) {
            it->is_list = 1;
            for (const cJSON *x = v->child; x; x = x->next)
                if (json_scalar(c, it, x)) return 1;
        } else if (json_scalar(c, it, v)) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------- settings */

static int bad_value(cfg *c, const cfg_item *it, const char *want) {
    if (it->line)
        return nq_fail(c->e, NQ_E_ARG, "%s:%d: '%s' must be %s", c->path, it->line, it->key, want);
    return nq_fail(c->e, NQ_E_ARG, "%s: '%s' must be %s", c->path, it->key, want);
}

static int num(cfg *c, const cfg_item *it, int k, double lo, double hi, int integer, double *out) {
    char *end;
    errno = 0;
    double x = it->nval > k ? strtod(it->val[k], &end) : NAN;
    char want[96];
    snprintf(want, sizeof want, "%s in [%g, %g]", integer ? "an integer" : "a number", lo, hi);
    if (it->is_list || it->nval <= k || errno || end == it->val[k] || *end ||
        !(x >= lo && x <= hi) || (integer && x != floor(x)))
        return bad_value(c, it, want);
    *out = x;
    return 0;
}

static int boolean(cfg *c, const cfg_item *it, int *out) {
    if (it->is_list || it->nval != 1) return bad_value(c, it, "true or false");
    if (!strcmp(it->val[0], "true")) *out = 1;
    else if (!strcmp(it->val[0], "false")) *out = 0;
    else return bad_value(c, it, "true or false");
    return 0;
}

/* "normalization.x" and "refinement.x" are accepted at the top level or under "model.". */
static const char *canonical(const char *key) {
    if (!strncmp(key, "model.normalization.", 20) || !strncmp(key, "model.refinement.", 17))
        return key + 6;
    return key;
}

static int apply(cfg *c, const cfg_item *it, nq_settings *s) {
    const char *k = canonical(it->key);
    double x = 0; /* num() sets it only on success; the casts below run either way */
    int b, rc = 0;
    if (!strcmp(k, "model.compression.bits_per_weight")) return 0; /* applied first */
    if (!strcmp(k, "model.compression.subspaces")) { rc = num(c, it, 0, 1, 64, 1, &x); s->d = (int)x; }
    else if (!strcmp(k, "model.compression.primary_codebook_size")) {
        rc = num(c, it, 0, 2, 65536, 1, &x);
        s->K[0] = (int)x;
    } else if (!strcmp(k, "model.compression.residual_codebook_size")) {
        int n = it->is_list ? it->nval : 1;
        if (n > NQ_MAX_STAGES - 1) return bad_value(c, it, "at most 3 residual stages");
        if (!it->is_list && it->nval == 1 && !strcmp(it->val[0], "0")) n = 0; /* no residual stage */
        for (int i = 0; i < n && !rc; i++) {
            cfg_item one = *it;
            one.is_list = 0;
            rc = num(c, &one, i, 2, 65536, 1, &x);
            s->K[i + 1] = (int)x;
        }
        s->nstages = n + 1;
    } else if (!strcmp(k, "model.compression.seed")) { rc = num(c, it, 0, 0, 9007199254740992.0, 1, &x); s->seed = (uint64_t)x; }
    else if (!strcmp(k, "model.compression.codebook_scope_rows")) { rc = num(c, it, 0, 0, 1e9, 1, &x); s->scope_rows = (int)x; }
    else if (!strcmp(k, "model.compression.kmeans_iterations")) { rc = num(c, it, 0, 0, 1000, 1, &x); s->kmeans_iters = (int)x; }
    else if (!strcmp(k, "model.compression.train_vectors")) { rc = num(c, it, 0, 1, 1e9, 1, &x); s->train_vectors = (int)x; }
    else if (!strcmp(k, "model.compression.quantize_embeddings")) { rc = boolean(c, it, &b); s->quantize_embeddings = b; }
    else if (!strcmp(k, "model.compression.quantize_lm_head")) { rc = boolean(c, it, &b); s->quantize_lm_head = b; }
    else if (!strcmp(k, "normalization.outlier_threshold")) { rc = num(c, it, 0, 0, 0.5, 0, &x); s->outlier_fraction = x; }
    else if (!strcmp(k, "model.compression.beam_width")) { rc = num(c, it, 0, 1, 16, 1, &x); s->beam = (int)x; }
    else if (!strcmp(k, "model.compression.share_codebooks")) { rc = boolean(c, it, &b); s->share_codebooks = b; }
    else if (!strcmp(k, "refinement.enabled")) { rc = boolean(c, it, &b); s->refine = b; }
    else if (!strcmp(k, "refinement.damping")) { rc = num(c, it, 0, 1e-6, 10, 0, &x); s->damp = x; }
    else if (!strcmp(k, "refinement.calibration_tokens")) { rc = num(c, it, 0, 1, 1e9, 1, &x); s->calib_tokens = (int)x; }
    else if (!strcmp(k, "refinement.end_to_end_steps")) { rc = num(c, it, 0, 0, 100000, 1, &x); s->e2e_steps = (int)x; }
    else if (!strcmp(k, "refinement.end_to_end_lambda")) { rc = num(c, it, 0, 0, 1000, 0, &x); s->e2e_lambda = x; }
    else if (!strcmp(k, "refinement.mixed_precision")) { rc = boolean(c, it, &b); s->mixed = b; }
    else if (!strcmp(k, "refinement.bits_budget")) { rc = num(c, it, 0, 0, 64, 0, &x); s->bits_budget = x; }
    else if (!strcmp(k, "output.shard_size_bytes")) { rc = num(c, it, 0, 4096, 4e9, 1, &x); s->shard_max_bytes = (uint32_t)x; }
    else if (!strcmp(k, "output.zstd_level")) { rc = num(c, it, 0, 0, 22, 1, &x); s->zstd_level = (int)x; }
    else if (it->line)
        rc = nq_fail(c->e, NQ_E_ARG, "%s:%d: unknown key '%s'", c->path, it->line, it->key);
    else rc = nq_fail(c->e, NQ_E_ARG, "%s: unknown key '%s'", c->path, it->key);
    return rc;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int cli_config_load(const char *path, nq_settings *s, nq_err *e) {
    size_t len = 0;
    char *text = cli_slurp(path, &len, e);
    if (!text) return 1;
    cfg c = {.path = path, .e = e};
    int rc;
    if (ends_with(path, ".json")) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        if (!cJSON_IsObject(root)) rc = nq_fail(e, NQ_E_ARG, "%s: not a JSON object", path);
        else rc = flatten_json(&c, root, "");
        cJSON_Delete(root);
    } else if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
        if (strlen(text) != len) rc = nq_fail(e, NQ_E_ARG, "%s: NUL byte in file", path);
        else rc = parse_yaml(&c, text);
    } else {
        rc = nq_fail(e, NQ_E_ARG, "%s: config files end in .yaml, .yml or .json", path);
    }
    /* the preset first, so that the other keys override its choices */
    for (int i = 0; !rc && i < c.n; i++)
        if (!strcmp(c.items[i].key, "model.compression.bits_per_weight")) {
            const cfg_item *it = &c.items[i];
            if (it->is_list || it->nval != 1) rc = bad_value(&c, it, "one of 1.5, 2, 3, 4");
            else if (nq_settings_preset(s, it->val[0], NULL) != NQ_OK) rc = bad_value(&c, it, "one of 1.5, 2, 3, 4");
        }
    for (int i = 0; !rc && i < c.n; i++) rc = apply(&c, &c.items[i], s);
    if (!rc) {
        nq_settings p; /* like the flags: a changed stage layout is no longer the preset */
        if (nq_settings_preset(&p, s->preset, NULL) != NQ_OK || p.d != s->d || p.nstages != s->nstages ||
            memcmp(p.K, s->K, sizeof p.K))
            snprintf(s->preset, sizeof s->preset, "custom");
    }
    if (!rc && nq_settings_check(s, e) != NQ_OK) rc = 1;
    free(c.items);
    free(text);
    return rc;
}
