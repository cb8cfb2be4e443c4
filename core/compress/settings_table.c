/* settings_table.c - the parsers and serializers that run over the settings table
 * (settings_fields.c): the CLI's flags, settings files (settings_config.c), the wasm module's
 * JSON and the manifest writer all go through here, so one field has one meaning and one range
 * everywhere. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/settings.h"

/* ------------------------------------------------------------------ parsing */

/* A number in [lo, hi] (an integer if integer); 0 on success. */
static int number(const char *v, double lo, double hi, int integer, double *out) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || errno || end == v || *end || !(x >= lo && x <= hi) || (integer && x != floor(x))) return 1;
    *out = x;
    return 0;
}

/* Up to max comma-separated sizes of row r into k[]; the count, or -1. */
static int sizes(const nq_setting *r, const char *v, int max, int *k) {
    int n = 0;
    char item[64];
    for (const char *p = v; p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        double x;
        if (n == max || len >= sizeof item) return -1;
        memcpy(item, p, len);
        item[len] = 0;
        if (number(item, r->lo, r->hi, 1, &x)) return -1;
        k[n++] = (int)x;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static int count_commas(const char *v) {
    int n = 0;
    for (; *v; v++) n += *v == ',';
    return n;
}

static int seed(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    while (v && (*v == ' ' || *v == '\t')) v++;
    if (!v || !*v || *v == '-' || *v == '+') return 1;
    unsigned long long u = strtoull(v, &end, 0);
    if (errno || *end) return 1;
    *out = u;
    return 0;
}

int nq_setting_parse(nq_settings *s, const nq_setting *r, const char *v, char *want, size_t n) {
    void *f = (char *)s + r->offset;
    double x = 0;
    int k[NQ_MAX_STAGES], m;
    const char *kind = "an integer";
    switch (r->kind) {
    case NQ_SET_PRESET:
        if (v && nq_settings_preset(s, v, NULL) == NQ_OK) return 0;
        snprintf(want, n, "one of 1.5, 2, 3, 4");
        return 1;
    case NQ_SET_DOUBLE:
        kind = "a number";
        if (!number(v, r->lo, r->hi, 0, &x)) { *(double *)f = x; return 0; }
        break;
    case NQ_SET_INT:
        if (!number(v, r->lo, r->hi, 1, &x)) { *(int *)f = (int)x; return 0; }
        break;
    case NQ_SET_U32:
        if (!number(v, r->lo, r->hi, 1, &x)) { *(uint32_t *)f = (uint32_t)x; return 0; }
        break;
    case NQ_SET_PRIMARY:
        if (!number(v, r->lo, r->hi, 1, &x)) { s->K[0] = (int)x; return 0; }
        break;
    case NQ_SET_STAGES:
        if (!number(v, r->lo, s->nstages, 1, &x)) { s->nstages = (int)x; return 0; }
        snprintf(want, n, "an integer in [%g, %d]", r->lo, s->nstages);
        return 1;
    case NQ_SET_U64:
        if (!seed(v, (uint64_t *)f)) return 0;
        snprintf(want, n, "an integer in [0, 2^64)");
        return 1;
    case NQ_SET_BOOL:
        if (v && (!strcmp(v, "true") || !strcmp(v, "false"))) { *(int *)f = !strcmp(v, "true"); return 0; }
        snprintf(want, n, "true or false");
        return 1;
    case NQ_SET_SIZES:
        if (v && (m = sizes(r, v, NQ_MAX_STAGES, k)) >= 1) {
            memcpy(s->K, k, (size_t)m * sizeof *k);
            s->nstages = m;
            return 0;
        }
        snprintf(want, n, "a list of 1..%d sizes in [%g, %g]", NQ_MAX_STAGES, r->lo, r->hi);
        return 1;
    case NQ_SET_RESIDUAL:
        if (v && !strcmp(v, "0")) { s->nstages = 1; return 0; } /* no residual stage */
        if (v && 1 + count_commas(v) > NQ_MAX_STAGES - 1) {
            snprintf(want, n, "at most %d residual stages", NQ_MAX_STAGES - 1);
            return 1;
        }
        if (v && (m = sizes(r, v, NQ_MAX_STAGES - 1, k)) >= 1) {
            memcpy(s->K + 1, k, (size_t)m * sizeof *k);
            s->nstages = m + 1;
            return 0;
        }
        break;
    case NQ_SET_CODE_BITS:
        snprintf(want, n, "not set: it follows from the layout");
        return 1;
    }
    snprintf(want, n, "%s in [%g, %g]", kind, r->lo, r->hi);
    return 1;
}

nq_status nq_settings_set(nq_settings *s, nq_settings_vocab v, const char *key, const char *value, nq_err *e) {
    const nq_setting *r = nq_settings_find(v, key);
    if (!r) return nq_fail(e, NQ_E_ARG, "unknown setting '%s'", key ? key : "");
    char want[96];
    nq_settings t = *s;
    if (v == NQ_VOCAB_FLAG && r->kind == NQ_SET_BOOL) { /* flags name the value */
        if (value) return nq_fail(e, NQ_E_ARG, "%s takes no value", key);
        *(int *)((char *)&t + r->offset) = !(r->flag_off && !strcmp(key, r->flag_off));
    } else if (nq_setting_parse(&t, r, value, want, sizeof want)) {
        if (v == NQ_VOCAB_FLAG) return nq_fail(e, NQ_E_ARG, "%s: expected %s, got '%s'", key, want, value ? value : "");
        return nq_fail(e, NQ_E_ARG, "'%s' must be %s, got '%s'", key, want, value ? value : "");
    }
    nq_settings_relabel(&t);
    *s = t;
    return NQ_OK;
}

/* ------------------------------------------------------------------ JSON */

/* A JSON value as row r's text form; 0, or 1 with *bad set to what was wrong. */
static int json_text(const nq_setting *r, const cJSON *v, char *buf, size_t n) {
    if (r->kind == NQ_SET_SIZES || r->kind == NQ_SET_RESIDUAL) {
        if (!cJSON_IsArray(v)) return 1;
        size_t len = 0;
        buf[0] = 0;
        for (const cJSON *x = v->child; x; x = x->next) {
            if (!cJSON_IsNumber(x) || len + 32 > n) return 1;
            len += (size_t)snprintf(buf + len, n - len, "%s%.17g", len ? "," : "", x->valuedouble);
        }
        return len == 0;
    }
    if (r->kind == NQ_SET_BOOL) { /* true/false, or 0/1 as the page sends them */
        if (cJSON_IsBool(v)) snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
        else if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1))
            snprintf(buf, n, "%s", v->valuedouble == 1 ? "true" : "false");
        else return 1;
        return 0;
    }
    if (cJSON_IsString(v) && (r->kind == NQ_SET_PRESET || r->kind == NQ_SET_U64)) {
        snprintf(buf, n, "%s", v->valuestring);
        return strlen(v->valuestring) >= n;
    }
    if (!cJSON_IsNumber(v) || r->kind == NQ_SET_PRESET) return 1;
    snprintf(buf, n, "%.17g", v->valuedouble);
    return 0;
}

static const char *json_type_want(const nq_setting *r) {
    switch (r->kind) {
    case NQ_SET_SIZES: return "an array of 1..4 sizes";
    case NQ_SET_BOOL: return "true, false, 0 or 1";
    case NQ_SET_PRESET: return "a string";
    case NQ_SET_U64: return "a number or a decimal string";
    default: return "a number";
    }
}

nq_status nq_settings_from_json(nq_settings *s, nq_settings_vocab v, const char *json, nq_err *e) {
    if (v != NQ_VOCAB_JSON && v != NQ_VOCAB_MANIFEST)
        return nq_fail(e, NQ_E_ARG, "settings: JSON is read in the JSON or manifest vocabulary");
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    nq_status st = NQ_OK;
    if (!cJSON_IsObject(o)) st = nq_fail(e, NQ_E_ARG, "settings: not a JSON object");
    const cJSON *bits = o && v == NQ_VOCAB_JSON ? cJSON_GetObjectItemCaseSensitive(o, "bits") : NULL;
    if (!st && bits && !cJSON_IsString(bits)) st = nq_fail(e, NQ_E_ARG, "settings: bits must be a string");
    if (!st) st = nq_settings_preset(s, bits ? bits->valuestring : "2", e);
    for (const cJSON *x = o ? o->child : NULL; !st && x; x = x->next) {
        const nq_setting *r = nq_settings_find(v, x->string);
        if (!strcmp(x->string, "preset") || (r && (r->kind == NQ_SET_PRESET || r->kind == NQ_SET_CODE_BITS)))
            continue; /* written by nq_settings_to_json; the label follows the numbers */
        char text[256], want[96];
        if (!r) st = nq_fail(e, NQ_E_ARG, "settings: unknown key '%s'", x->string);
        else if (json_text(r, x, text, sizeof text))
            st = nq_fail(e, NQ_E_ARG, "settings: %s must be %s", x->string, json_type_want(r));
        else if (nq_setting_parse(s, r, text, want, sizeof want))
            st = nq_fail(e, NQ_E_ARG, "settings: %s must be %s, got %s", x->string, want, text);
    }
    cJSON_Delete(o);
    if (st) return st;
    nq_settings_relabel(s);
    return nq_settings_check(s, e);
}

/* Types as the manifest has always had them: booleans as JSON booleans, the seed as a decimal
 * string (JSON numbers lose 64-bit precision), sizes as an array of the used stages. */
cJSON *nq_settings_json_object(const nq_settings *s, nq_settings_vocab v) {
    int nrows;
    const nq_setting *table = nq_settings_table(&nrows);
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < nrows; i++) {
        const nq_setting *r = &table[i];
        const void *f = (const char *)s + r->offset;
        const char *key = r->kind == NQ_SET_PRESET ? "preset" : r->name[v];
        if (!key) continue;
        char seed_text[24];
        cJSON *k;
        switch (r->kind) {
        case NQ_SET_PRESET: cJSON_AddStringToObject(o, key, s->preset); break;
        case NQ_SET_INT: cJSON_AddNumberToObject(o, key, *(const int *)f); break;
        case NQ_SET_U32: cJSON_AddNumberToObject(o, key, *(const uint32_t *)f); break;
        case NQ_SET_DOUBLE: cJSON_AddNumberToObject(o, key, *(const double *)f); break;
        case NQ_SET_BOOL: cJSON_AddBoolToObject(o, key, *(const int *)f); break;
        case NQ_SET_CODE_BITS: cJSON_AddNumberToObject(o, key, nq_settings_code_bits(s)); break;
        case NQ_SET_U64:
            snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)*(const uint64_t *)f);
            cJSON_AddStringToObject(o, key, seed_text);
            break;
        case NQ_SET_SIZES:
            k = cJSON_CreateArray();
            for (int j = 0; k && j < s->nstages; j++) cJSON_AddItemToArray(k, cJSON_CreateNumber(s->K[j]));
            cJSON_AddItemToObject(o, key, k);
            break;
        default: break; /* no JSON or manifest names */
        }
    }
    return o;
}

char *nq_settings_to_json(const nq_settings *s, nq_settings_vocab v) {
    if (v != NQ_VOCAB_JSON && v != NQ_VOCAB_MANIFEST) return NULL;
    cJSON *o = nq_settings_json_object(s, v);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}
