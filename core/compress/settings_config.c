/* settings_config.c - compression settings from a settings file's text (`novaq --config`):
 * novaq-config.yaml or .json.
 *
 * Both forms are read into the same flat list of dotted keys ("model.compression.subspaces")
 * with scalar or list values, then applied to nq_settings through the settings table (settings_table.c). Unknown keys,
 * repeated keys and values of the wrong kind are errors naming the file and line (JSON: the
 * key path), never silently ignored. The YAML reader takes the subset a settings file needs:
 * nested mappings by indentation (spaces), scalars (plain or quoted), flow lists [a, b],
 * block lists ("- a"), comments, and a leading "---". Keys: docs/SOURCES.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "compress/settings.h"

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

/* "normalization.x" and "refinement.x" are accepted at the top level or under "model.". */
static const char *canonical(const char *key) {
    if (!strncmp(key, "model.normalization.", 20) || !strncmp(key, "model.refinement.", 17))
        return key + 6;
    return key;
}

/* One item through its table row: a list only where the row takes one (sizes), its values
 * joined by commas as nq_setting_parse reads them. */
static int apply(cfg *c, const cfg_item *it, nq_settings *s) {
    const nq_setting *r = nq_settings_find(NQ_VOCAB_CONFIG, canonical(it->key));
    if (!r) {
        if (it->line) return nq_fail(c->e, NQ_E_ARG, "%s:%d: unknown key '%s'", c->path, it->line, it->key);
        return nq_fail(c->e, NQ_E_ARG, "%s: unknown key '%s'", c->path, it->key);
    }
    if (r->kind == NQ_SET_PRESET) return 0; /* applied first */
    char text[CFG_MAX_LIST * 65] = "", want[96];
    int list_ok = r->kind == NQ_SET_RESIDUAL;
    if (it->is_list && it->nval == 0 && list_ok) snprintf(text, sizeof text, "0");
    for (int i = 0; i < it->nval; i++) {
        if (i) strcat(text, ",");
        strcat(text, it->val[i]);
    }
    int shape_ok = it->is_list ? list_ok : it->nval == 1;
    if (!shape_ok) nq_setting_parse(s, r, NULL, want, sizeof want); /* only says what it wants */
    if (!shape_ok || nq_setting_parse(s, r, text, want, sizeof want)) return bad_value(c, it, want);
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

nq_status nq_settings_from_config(nq_settings *s, const char *path, const char *text_in, size_t len, nq_err *e) {
    cfg c = {.path = path, .e = e};
    char *text = malloc(len + 1);
    if (!text) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    memcpy(text, text_in, len);
    text[len] = 0;
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
    nq_settings t = *s; /* *s changes only on success */
    /* the preset first, so that the other keys override its choices */
    for (int i = 0; !rc && i < c.n; i++)
        if (!strcmp(c.items[i].key, "model.compression.bits_per_weight")) {
            const cfg_item *it = &c.items[i];
            if (it->is_list || it->nval != 1) rc = bad_value(&c, it, "one of 1.5, 2, 3, 4");
            else if (nq_settings_preset(&t, it->val[0], NULL) != NQ_OK) rc = bad_value(&c, it, "one of 1.5, 2, 3, 4");
        }
    for (int i = 0; !rc && i < c.n; i++) rc = apply(&c, &c.items[i], &t);
    if (!rc) nq_settings_relabel(&t); /* like the flags: a changed stage layout is no longer the preset */
    if (!rc && nq_settings_check(&t, e) != NQ_OK) rc = 1;
    if (!rc) *s = t;
    free(c.items);
    free(text);
    return rc ? (e && e->code ? e->code : NQ_E_ARG) : NQ_OK;
}
