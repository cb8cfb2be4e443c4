/* gguf.c - reader for GGUF v2/v3 files (llama.cpp's model container), as an nq_model.
 *
 * Layout (all little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count,
 * the key/values (string key, u32 value type, value), the tensor infos (string name, u32
 * n_dims, u64 dims innermost first, u32 ggml type, u64 offset into the data section), padding
 * to general.alignment (default 32), the data section.
 *
 * Every count, length and offset is checked against the bytes that remain before it is used.
 * F32, F16, BF16 and Q8_0 tensors read as f32 rows; every other ggml type is listed with its
 * name (NQ_DT_OTHER) and its bytes can be copied, never decoded.
 *
 * Shapes come out outermost first. For architecture "llama", tensors come out in the
 * Hugging Face layout the rest of NOVAQ (llama.c) expects: llama.cpp names mapped back
 * (blk.N.attn_q.weight -> model.layers.N.self_attn.q_proj.weight, ...; unknown names kept)
 * and the row permutation llama.cpp's converter applies to Q and K (so its rotary embedding
 * can pair adjacent elements) undone on read. Other architectures keep llama.cpp's names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "io/gguf.h"
#include "io/model.h"
#include "common/util.h"

#define GG_MAX_TENSORS (1 << 20)
#define GG_MAX_KV 65536
#define GG_MAX_KEY 65535u
#define GG_MAX_STRING (16u << 20)  /* one metadata string (chat templates are a few KB) */
#define GG_MAX_DEPTH 4             /* arrays of arrays */
#define GG_JSON_ARRAY_MAX 64       /* longer arrays are summarized in the metadata JSON */
#define GG_DEFAULT_ALIGN 32u

enum { GV_U8, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY,
       GV_U64, GV_I64, GV_F64, GV_COUNT };
static const char *const gv_names[GV_COUNT] = {"uint8", "int8", "uint16", "int16", "uint32",
    "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"};
/* Bytes of a fixed-size value; strings and arrays: their smallest encoding (a u64 length). */
static const uint8_t gv_size[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

/* ggml tensor types by id: name, elements per block, bytes per block. */
typedef struct gg_type { const char *name; uint32_t block, size; nq_dtype dt; } gg_type;
static const gg_type gg_types[] = {
    [0] = {"F32", 1, 4, NQ_DT_F32},         [1] = {"F16", 1, 2, NQ_DT_F16},
    [2] = {"Q4_0", 32, 18, NQ_DT_OTHER},    [3] = {"Q4_1", 32, 20, NQ_DT_OTHER},
    [6] = {"Q5_0", 32, 22, NQ_DT_OTHER},    [7] = {"Q5_1", 32, 24, NQ_DT_OTHER},
    [8] = {"Q8_0", 32, 34, NQ_DT_Q8_0},     [9] = {"Q8_1", 32, 36, NQ_DT_OTHER},
    [10] = {"Q2_K", 256, 84, NQ_DT_OTHER},  [11] = {"Q3_K", 256, 110, NQ_DT_OTHER},
    [12] = {"Q4_K", 256, 144, NQ_DT_OTHER}, [13] = {"Q5_K", 256, 176, NQ_DT_OTHER},
    [14] = {"Q6_K", 256, 210, NQ_DT_OTHER}, [15] = {"Q8_K", 256, 292, NQ_DT_OTHER},
    [16] = {"IQ2_XXS", 256, 66, NQ_DT_OTHER}, [17] = {"IQ2_XS", 256, 74, NQ_DT_OTHER},
    [18] = {"IQ3_XXS", 256, 98, NQ_DT_OTHER}, [19] = {"IQ1_S", 256, 50, NQ_DT_OTHER},
    [20] = {"IQ4_NL", 32, 18, NQ_DT_OTHER},  [21] = {"IQ3_S", 256, 110, NQ_DT_OTHER},
    [22] = {"IQ2_S", 256, 82, NQ_DT_OTHER},  [23] = {"IQ4_XS", 256, 136, NQ_DT_OTHER},
    [24] = {"I8", 1, 1, NQ_DT_I8},           [25] = {"I16", 1, 2, NQ_DT_I16},
    [26] = {"I32", 1, 4, NQ_DT_I32},         [27] = {"I64", 1, 8, NQ_DT_I64},
    [28] = {"F64", 1, 8, NQ_DT_F64},         [29] = {"IQ1_M", 256, 56, NQ_DT_OTHER},
    [30] = {"BF16", 1, 2, NQ_DT_BF16},       [34] = {"TQ1_0", 256, 54, NQ_DT_OTHER},
    [35] = {"TQ2_0", 256, 66, NQ_DT_OTHER},  [39] = {"MXFP4", 32, 17, NQ_DT_OTHER},
};
#define GG_NTYPES (sizeof gg_types / sizeof gg_types[0])

/* Per-tensor facts the reads need beyond nq_tensor_info. */
typedef struct gg_tensor {
    uint64_t row_bytes;  /* stored bytes of one row (cols elements) */
    uint32_t block, bsize;
    int perm_heads;      /* > 0: rows (or elements of a 1-D tensor) are in llama.cpp's Q/K order */
} gg_tensor;

typedef struct gg_impl { gg_tensor *t; } gg_impl;

/* ----------------------------------------------------------- buffered cursor */

typedef struct gg_cur {
    const nq_reader *r;
    const char *name;
    uint64_t pos;
    uint8_t buf[1 << 16];
    uint64_t boff;
    size_t blen;
    nq_err *e;
} gg_cur;

static uint64_t cur_left(const gg_cur *c) { return c->r->size - c->pos; }

static nq_status cur_past_end(gg_cur *c, uint64_t n, const char *what) {
    return nq_fail(c->e, NQ_E_FORMAT, "%s: %s (%llu bytes at offset %llu) runs past end of file "
                   "(%llu bytes)", c->name, what, (unsigned long long)n,
                   (unsigned long long)c->pos, (unsigned long long)c->r->size);
}

/* Copy n bytes at the cursor into dst (or skip them if dst is NULL) and advance. */
static nq_status cur_get(gg_cur *c, void *dst, uint64_t n, const char *what) {
    if (n > cur_left(c)) return cur_past_end(c, n, what);
    if (!dst) { c->pos += n; return NQ_OK; }
    uint8_t *d = dst;
    while (n) {
        if (c->pos < c->boff || c->pos >= c->boff + c->blen) {
            uint64_t left = cur_left(c);
            c->boff = c->pos;
            c->blen = left < sizeof c->buf ? (size_t)left : sizeof c->buf;
            if (c->r->read(c->r->ctx, c->boff, c->buf, c->blen)) {
                c->blen = 0;
                return nq_fail(c->e, NQ_E_IO, "%s: read of %s at offset %llu failed", c->name,
                               what, (unsigned long long)c->pos);
            }
        }
        uint64_t avail = c->boff + c->blen - c->pos;
        size_t k = (size_t)(n < avail ? n : avail);
        memcpy(d, c->buf + (c->pos - c->boff), k);
        d += k;
        c->pos += k;
        n -= k;
    }
    return NQ_OK;
}

static nq_status cur_u32(gg_cur *c, uint32_t *v, const char *what) {
    uint8_t b[4];
    nq_status s = cur_get(c, b, 4, what);
    if (s == NQ_OK) *v = nq_get_u32(b);
    return s;
}

static nq_status cur_u64(gg_cur *c, uint64_t *v, const char *what) {
    uint8_t b[8];
    nq_status s = cur_get(c, b, 8, what);
    if (s == NQ_OK) *v = nq_get_u64(b);
    return s;
}

/* A GGUF string (u64 length + bytes) as a NUL-terminated malloc'd copy, or skipped when
 * out is NULL. *len receives the stored length. */
static nq_status cur_str(gg_cur *c, char **out, uint64_t max, uint64_t *len, const char *what) {
    uint64_t n;
    nq_status s = cur_u64(c, &n, what);
    if (s) return s;
    if (n > cur_left(c)) return cur_past_end(c, n, what);
    if (n > max)
        return nq_fail(c->e, NQ_E_LIMIT, "%s: %s at offset %llu is %llu bytes (limit %llu)",
                       c->name, what, (unsigned long long)(c->pos - 8), (unsigned long long)n,
                       (unsigned long long)max);
    if (len) *len = n;
    if (!out) return cur_get(c, NULL, n, what);
    *out = malloc((size_t)n + 1);
    if (!*out) return nq_fail(c->e, NQ_E_NOMEM, "%s: out of memory for %s", c->name, what);
    if ((s = cur_get(c, *out, n, what))) { free(*out); *out = NULL; return s; }
    (*out)[n] = 0;
    return NQ_OK;
}

/* ------------------------------------------------------------ metadata values */

/* Replace bytes that are not valid UTF-8 (and NULs) by '?', so the JSON stays valid. */
static void utf8_sanitize(char *s, uint64_t n) {
    uint64_t i = 0;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        int k = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : -1;
        int ok = k >= 0 && i + (uint64_t)k < n && b != 0 && b != 0xC0 && b != 0xC1 && b <= 0xF4;
        for (int j = 1; ok && j <= k; j++) ok = ((unsigned char)s[i + j] & 0xC0) == 0x80;
        if (!ok) { s[i++] = '?'; continue; }
        i += (uint64_t)k + 1;
    }
}

/* Shortest decimal that reads back as the same float, so 1e-5f shows as 1e-05. */
static double f32_as_decimal(float f) {
    if (f != f || f - f != 0) return 0; /* NaN / inf: JSON has no spelling; callers use null */
    char tmp[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, (double)f);
        double d = strtod(tmp, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

static int64_t sext(uint64_t v, int bits) {
    uint64_t m = 1ull << (bits - 1);
    return (int64_t)((v ^ m) - m);
}

/* A scalar of type ty from its little-endian bytes b as JSON. */
static cJSON *scalar_json(uint32_t ty, const uint8_t *b) {
    uint64_t u = 0;
    for (int i = gv_size[ty] - 1; i >= 0; i--) u = u << 8 | b[i];
    switch (ty) {
    case GV_U8: case GV_U16: case GV_U32: return cJSON_CreateNumber((double)u);
    case GV_I8: return cJSON_CreateNumber((double)sext(u, 8));
    case GV_I16: return cJSON_CreateNumber((double)sext(u, 16));
    case GV_I32: return cJSON_CreateNumber((double)sext(u, 32));
    case GV_BOOL: return cJSON_CreateBool(u != 0);
    case GV_F32: {
        float f; uint32_t w = (uint32_t)u; memcpy(&f, &w, 4);
        return f != f || f - f != 0 ? cJSON_CreateNull() : cJSON_CreateNumber(f32_as_decimal(f));
    }
    case GV_F64: {
        double d; memcpy(&d, &u, 8);
        return d != d || d - d != 0 ? cJSON_CreateNull() : cJSON_CreateNumber(d);
    }
    default: { /* 64-bit integers: exact as numbers up to 2^53, else as decimal strings */
        char tmp[24];
        int neg = ty == GV_I64 && (int64_t)u < 0;
        uint64_t mag = neg ? 0 - u : u;
        if (mag <= (1ull << 53)) return cJSON_CreateNumber(neg ? -(double)mag : (double)mag);
        if (neg) snprintf(tmp, sizeof tmp, "%lld", (long long)(int64_t)u);
        else snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
        return cJSON_CreateString(tmp);
    }
    }
}

static nq_status parse_value(gg_cur *c, uint32_t ty, int depth, const char *key, int want,
                             cJSON **out);

static nq_status parse_array(gg_cur *c, int depth, const char *key, int want, cJSON **out) {
    uint32_t et;
    uint64_t n;
    nq_status s = NQ_OK;
    if ((s = cur_u32(c, &et, "array element type")) || (s = cur_u64(c, &n, "array length")))
        return s;
    if (et >= GV_COUNT)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: key '%s': array element type %u is unknown",
                       c->name, key, et);
    if (et == GV_ARRAY && depth + 1 >= GG_MAX_DEPTH)
        return nq_fail(c->e, NQ_E_LIMIT, "%s: key '%s': arrays nested deeper than %d", c->name,
                       key, GG_MAX_DEPTH);
    if (n > cur_left(c) / gv_size[et])
        return nq_fail(c->e, NQ_E_FORMAT, "%s: key '%s': array of %llu %s at offset %llu cannot "
                       "fit in the %llu bytes left", c->name, key, (unsigned long long)n,
                       gv_names[et], (unsigned long long)c->pos, (unsigned long long)cur_left(c));
    int full = want && n <= GG_JSON_ARRAY_MAX;
    cJSON *arr = NULL; /* owned here until returned: every failure below deletes it */
    if (want) {
        arr = full ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!arr || (!full && (!cJSON_AddStringToObject(arr, "array_of", gv_names[et]) ||
                               !cJSON_AddNumberToObject(arr, "count", (double)n)))) {
            cJSON_Delete(arr);
            return nq_fail(c->e, NQ_E_NOMEM, "out of memory");
        }
    }
    if (!full && et != GV_STRING && et != GV_ARRAY && et != GV_BOOL) {
        s = cur_get(c, NULL, n * gv_size[et], "array data"); /* fixed size: skip at once */
    } else {
        for (uint64_t i = 0; i < n && s == NQ_OK; i++) {
            cJSON *item = NULL;
            s = parse_value(c, et, depth + 1, key, full, full ? &item : NULL);
            if (s == NQ_OK && full) cJSON_AddItemToArray(arr, item);
        }
    }
    if (s) { cJSON_Delete(arr); return s; }
    if (want) *out = arr;
    return NQ_OK;
}

/* Parse one value of type ty; if want, return it as JSON in *out. On failure nothing is
 * returned and nothing stays allocated. */
static nq_status parse_value(gg_cur *c, uint32_t ty, int depth, const char *key, int want,
                             cJSON **out) {
    if (ty >= GV_COUNT)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: key '%s': value type %u at offset %llu is unknown",
                       c->name, key, ty, (unsigned long long)(c->pos - 4));
    if (ty == GV_ARRAY) return parse_array(c, depth, key, want, out);
    if (ty == GV_STRING) {
        char *str = NULL;
        uint64_t n = 0;
        nq_status s = cur_str(c, want ? &str : NULL, GG_MAX_STRING, &n, "string value");
        if (s || !want) return s;
        utf8_sanitize(str, n);
        *out = cJSON_CreateString(str);
        free(str);
        return *out ? NQ_OK : nq_fail(c->e, NQ_E_NOMEM, "out of memory");
    }
    uint8_t b[8];
    nq_status s = cur_get(c, b, gv_size[ty], gv_names[ty]);
    if (s) return s;
    if (ty == GV_BOOL && b[0] > 1)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: key '%s': bool at offset %llu has value %u",
                       c->name, key, (unsigned long long)(c->pos - 1), b[0]);
    if (!want) return NQ_OK;
    *out = scalar_json(ty, b);
    return *out ? NQ_OK : nq_fail(c->e, NQ_E_NOMEM, "out of memory");
}

static int str_ptr_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* First duplicate among n strings, or NULL. Sorts v. */
static const char *find_duplicate(char **v, size_t n) {
    qsort(v, n, sizeof *v, str_ptr_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i - 1], v[i])) return v[i];
    return NULL;
}

/* All key/values into the JSON object meta; general.alignment into *align. */
static nq_status parse_kvs(gg_cur *c, uint64_t nkv, cJSON *meta, uint32_t *align) {
    char **keys = calloc(nkv ? (size_t)nkv : 1, sizeof *keys);
    if (!keys) return nq_fail(c->e, NQ_E_NOMEM, "out of memory");
    nq_status s = NQ_OK;
    uint64_t i;
    for (i = 0; i < nkv && s == NQ_OK; i++) {
        uint64_t at = c->pos, klen = 0;
        uint32_t ty = 0;
        cJSON *v = NULL;
        if ((s = cur_str(c, &keys[i], GG_MAX_KEY, &klen, "metadata key"))) break;
        if (klen == 0 || strlen(keys[i]) != klen) {
            s = nq_fail(c->e, NQ_E_FORMAT, "%s: metadata key %llu at offset %llu is empty or "
                        "holds a NUL byte", c->name, (unsigned long long)i, (unsigned long long)at);
            break;
        }
        if ((s = cur_u32(c, &ty, "metadata value type"))) break;
        if ((s = parse_value(c, ty, 0, keys[i], 1, &v))) break; /* v stays NULL */
        if (!strcmp(keys[i], "general.alignment")) {
            double a = cJSON_IsNumber(v) ? v->valuedouble : 0;
            if (ty != GV_U32 || a < 1 || ((uint32_t)a & ((uint32_t)a - 1)))
                s = nq_fail(c->e, NQ_E_FORMAT, "%s: general.alignment must be a uint32 power of "
                            "two (type %s, value %g)", c->name, gv_names[ty], a);
            else *align = (uint32_t)a;
        }
        if (!cJSON_AddItemToObject(meta, keys[i], v)) {
            cJSON_Delete(v);
            if (s == NQ_OK) s = nq_fail(c->e, NQ_E_NOMEM, "out of memory");
        }
    }
    const char *dup = s == NQ_OK ? find_duplicate(keys, (size_t)nkv) : NULL;
    if (dup) s = nq_fail(c->e, NQ_E_FORMAT, "%s: metadata key '%s' appears twice", c->name, dup);
    for (uint64_t j = 0; j < nkv; j++) free(keys[j]);
    free(keys);
    return s;
}

/* ------------------------------------------------------------ tensor names */

static const struct { const char *gg, *hf; } gg_global_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

static const struct { const char *gg, *hf; } gg_block_names[] = {
    {"attn_norm", "input_layernorm"},  {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},     {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

/* llama.cpp's name -> Hugging Face name (malloc'd); *qk = 'q' or 'k' for attention Q/K
 * tensors, else 0. Names it does not know are returned unchanged. */
static char *hf_name(const char *gg, int *qk) {
    *qk = 0;
    for (size_t i = 0; i < sizeof gg_global_names / sizeof gg_global_names[0]; i++)
        if (!strcmp(gg, gg_global_names[i].gg)) return nq_strdup(gg_global_names[i].hf);
    if (strncmp(gg, "blk.", 4)) return nq_strdup(gg);
    const char *p = gg + 4, *num = p;
    while (*p >= '0' && *p <= '9') p++;
    size_t nlen = (size_t)(p - num);
    if (nlen == 0 || nlen > 9 || *p != '.') return nq_strdup(gg);
    const char *part = p + 1, *dot = strrchr(part, '.');
    if (!dot || (strcmp(dot, ".weight") && strcmp(dot, ".bias"))) return nq_strdup(gg);
    for (size_t i = 0; i < sizeof gg_block_names / sizeof gg_block_names[0]; i++) {
        size_t plen = strlen(gg_block_names[i].gg);
        if ((size_t)(dot - part) != plen || strncmp(part, gg_block_names[i].gg, plen)) continue;
        if (!strcmp(gg_block_names[i].gg, "attn_q")) *qk = 'q';
        if (!strcmp(gg_block_names[i].gg, "attn_k")) *qk = 'k';
        size_t n = 13 + nlen + 1 + strlen(gg_block_names[i].hf) + strlen(dot) + 1;
        char *out = malloc(n);
        if (out) snprintf(out, n, "model.layers.%.*s.%s%s", (int)nlen, num, gg_block_names[i].hf, dot);
        return out;
    }
    return nq_strdup(gg);
}

int64_t nq_gguf_meta_int(const cJSON *meta, const char *arch, const char *suffix) {
    char key[256];
    snprintf(key, sizeof key, "%s%s", arch, suffix);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    return (int64_t)v->valuedouble;
}

const char *nq_gguf_meta_arch(const cJSON *meta) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(meta, "general.architecture");
    return cJSON_IsString(a) ? a->valuestring : "";
}

/* ------------------------------------------------------------ tensor infos */

static nq_status parse_tensor_info(gg_cur *c, uint64_t idx, nq_tensor_info *ti, gg_tensor *gt,
                                   char **ggname) {
    nq_status s;
    uint64_t nlen = 0, at = c->pos;
    uint32_t nd, ty;
    if ((s = cur_str(c, ggname, GG_MAX_KEY, &nlen, "tensor name"))) return s;
    const char *nm = *ggname;
    if (nlen == 0 || strlen(nm) != nlen)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: tensor %llu at offset %llu: name is empty or "
                       "holds a NUL byte", c->name, (unsigned long long)idx, (unsigned long long)at);
    if ((s = cur_u32(c, &nd, "tensor dimension count"))) return s;
    if (nd < 1 || nd > 4)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: tensor '%s': %u dimensions (GGUF allows 1..4)",
                       c->name, nm, nd);
    uint64_t ne[4], count = 1;
    for (uint32_t d = 0; d < nd; d++) {
        if ((s = cur_u64(c, &ne[d], "tensor dimension"))) return s;
        if (ne[d] == 0 || ne[d] > (1ull << 40) || count > (1ull << 50) / ne[d])
            return nq_fail(c->e, NQ_E_FORMAT, "%s: tensor '%s': dimension %u is %llu (zero or "
                           "too large)", c->name, nm, d, (unsigned long long)ne[d]);
        count *= ne[d];
    }
    if ((s = cur_u32(c, &ty, "tensor type")) || (s = cur_u64(c, &ti->offset, "tensor offset")))
        return s;
    if (ty >= GG_NTYPES || !gg_types[ty].name)
        return nq_fail(c->e, NQ_E_UNSUPPORTED, "%s: tensor '%s': ggml type %u is unknown",
                       c->name, nm, ty);
    const gg_type *gtype = &gg_types[ty];
    if (ne[0] % gtype->block)
        return nq_fail(c->e, NQ_E_FORMAT, "%s: tensor '%s': row of %llu elements is not a whole "
                       "number of %s blocks (%u)", c->name, nm, (unsigned long long)ne[0],
                       gtype->name, gtype->block);
    ti->dtype = gtype->dt;
    snprintf(ti->dtype_name, sizeof ti->dtype_name, "%s", gtype->name);
    ti->ndim = (int)nd;
    for (uint32_t d = 0; d < nd; d++) ti->shape[d] = (int64_t)ne[nd - 1 - d]; /* outermost first */
    ti->nbytes = count / gtype->block * gtype->size;
    nq_tensor_info_finish(ti);
    gt->block = gtype->block;
    gt->bsize = gtype->size;
    gt->row_bytes = (uint64_t)ti->cols / gtype->block * gtype->size;
    return NQ_OK;
}

typedef struct gg_span { uint64_t begin, end; int tensor; } gg_span;

static int span_cmp(const void *a, const void *b) {
    const gg_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->tensor - y->tensor;
}

/* Offsets: aligned, inside the file, not overlapping. Makes them absolute. */
static nq_status place_tensors(nq_model *m, const char *fn, uint64_t data_start, uint32_t align,
                               nq_err *e) {
    uint64_t size = m->files[0].size;
    if (data_start > size)
        return nq_fail(e, NQ_E_FORMAT, "%s: data section would start at %llu, past end of file "
                       "(%llu bytes)", fn, (unsigned long long)data_start, (unsigned long long)size);
    gg_span *sp = malloc((m->ntensors ? (size_t)m->ntensors : 1) * sizeof *sp);
    if (!sp) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_status s = NQ_OK;
    for (int i = 0; i < m->ntensors && s == NQ_OK; i++) {
        nq_tensor_info *ti = &m->tensors[i];
        uint64_t rel = ti->offset, room = size - data_start;
        if (rel % align)
            s = nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the "
                        "alignment %u", fn, ti->name, (unsigned long long)rel, align);
        else if (rel > room || ti->nbytes > room - rel)
            s = nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': data [%llu, +%llu) runs past end of "
                        "file (data section is %llu bytes)", fn, ti->name,
                        (unsigned long long)rel, (unsigned long long)ti->nbytes,
                        (unsigned long long)room);
        ti->offset = data_start + rel;
        sp[i] = (gg_span){ti->offset, ti->offset + ti->nbytes, i};
    }
    if (s == NQ_OK) qsort(sp, (size_t)m->ntensors, sizeof *sp, span_cmp);
    for (int i = 1; i < m->ntensors && s == NQ_OK; i++)
        if (sp[i].begin < sp[i - 1].end)
            s = nq_fail(e, NQ_E_FORMAT, "%s: tensors '%s' and '%s' overlap at byte %llu", fn,
                        m->tensors[sp[i - 1].tensor].name, m->tensors[sp[i].tensor].name,
                        (unsigned long long)sp[i].begin);
    free(sp);
    return s;
}

/* llama.cpp permutes Q and K rows of "llama" models; note which tensors need undoing. */
static nq_status plan_unpermute(nq_model *m, gg_impl *g, const int *qk, const cJSON *meta,
                                const char *fn, nq_err *e) {
    const char *arch = nq_gguf_meta_arch(meta);
    if (strcmp(arch, "llama")) return NQ_OK;
    int64_t nh = nq_gguf_meta_int(meta, arch, ".attention.head_count");
    int64_t nkv = nq_gguf_meta_int(meta, arch, ".attention.head_count_kv");
    if (nkv < 0) nkv = nh;
    for (int i = 0; i < m->ntensors; i++) {
        if (!qk[i]) continue;
        nq_tensor_info *ti = &m->tensors[i];
        int64_t heads = qk[i] == 'q' ? nh : nkv;
        int64_t n = ti->ndim == 1 ? ti->cols : ti->rows;
        if (heads <= 0 || heads > (1 << 20))
            return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': %s.attention.head_count%s missing or "
                           "invalid; needed to undo llama.cpp's Q/K row order", fn, ti->name,
                           arch, qk[i] == 'k' ? "_kv" : "");
        if (n % (2 * heads))
            return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': %lld rows do not split into %lld "
                           "heads of an even size", fn, ti->name, (long long)n, (long long)heads);
        if (ti->ndim == 1 && g->t[i].block != 1)
            return nq_fail(e, NQ_E_UNSUPPORTED, "%s: tensor '%s': a 1-D %s tensor cannot be "
                           "reordered element by element", fn, ti->name, ti->dtype_name);
        g->t[i].perm_heads = (int)heads;
    }
    return NQ_OK;
}

/* Hugging Face row (or element) index -> stored index in llama.cpp's order. llama.cpp views
 * each head's rows as (2, half) and stores them transposed as (half, 2). */
static int64_t stored_index(int64_t i, int64_t n, int heads) {
    int64_t hd = n / heads, half = hd / 2, h = i / hd, r = i % hd;
    return h * hd + (r % half) * 2 + r / half;
}

/* ------------------------------------------------------------------- reads */

static void decode_q8_0(const uint8_t *src, size_t n, float *dst) {
    for (size_t b = 0; b < n / 32; b++, src += 34) {
        float d = nq_f16_to_f32(nq_get_u16(src));
        for (int j = 0; j < 32; j++) dst[b * 32 + (size_t)j] = (float)(int8_t)src[2 + j] * d;
    }
}

static void decode(nq_dtype dt, const uint8_t *src, size_t n, float *dst) {
    if (dt == NQ_DT_Q8_0) decode_q8_0(src, n, dst);
    else nq_convert_to_f32(dt, src, n, dst);
}

/* Stored bytes of units [u, u+n) where a unit is a row, or an element of a 1-D tensor. */
static nq_status read_units(const nq_model *m, int t, int64_t u, int64_t n, uint64_t unit,
                            uint8_t *dst, nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    const gg_tensor *gt = &((const gg_impl *)m->impl)->t[t];
    if (!gt->perm_heads)
        return nq_model_file_read(m, 0, ti->offset + (uint64_t)u * unit, dst, (size_t)(n * (int64_t)unit), e);
    int64_t total = ti->ndim == 1 ? ti->cols : ti->rows;
    for (int64_t i = 0; i < n; i++) {
        int64_t src = stored_index(u + i, total, gt->perm_heads);
        nq_status s = nq_model_file_read(m, 0, ti->offset + (uint64_t)src * unit, dst + i * (int64_t)unit, (size_t)unit, e);
        if (s) return s;
    }
    return NQ_OK;
}

static nq_status gg_read_rows(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst,
                              nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    const gg_tensor *gt = &((const gg_impl *)m->impl)->t[t];
    if (gt->perm_heads && ti->ndim == 1) { /* element order within the single row */
        uint64_t es = gt->bsize;
        uint8_t *buf = malloc((size_t)ti->nbytes);
        if (!buf) return nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory", ti->name);
        nq_status s = read_units(m, t, 0, ti->cols, es, buf, e);
        if (s == NQ_OK) decode(ti->dtype, buf, (size_t)ti->cols, dst);
        free(buf);
        return s;
    }
    int64_t chunk = gt->row_bytes >= (1u << 20) ? 1 : (int64_t)((1u << 20) / gt->row_bytes);
    if (chunk > nrows) chunk = nrows;
    uint8_t *buf = malloc((size_t)(chunk * (int64_t)gt->row_bytes));
    if (!buf) return nq_fail(e, NQ_E_NOMEM, "tensor '%s': out of memory", ti->name);
    nq_status s = NQ_OK;
    for (int64_t r = 0; r < nrows && s == NQ_OK; r += chunk) {
        int64_t n = nrows - r < chunk ? nrows - r : chunk;
        s = read_units(m, t, row0 + r, n, gt->row_bytes, buf, e);
        if (s == NQ_OK) decode(ti->dtype, buf, (size_t)(n * ti->cols), dst + r * ti->cols);
    }
    free(buf);
    return s;
}

/* Raw bytes in the Hugging Face order: with a Q/K permutation, whole rows (or elements of a
 * 1-D tensor) are fetched from their stored position. */
static nq_status gg_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len,
                             nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    const gg_tensor *gt = &((const gg_impl *)m->impl)->t[t];
    if (!gt->perm_heads) return nq_model_file_read(m, 0, ti->offset + off, dst, len, e);
    uint64_t unit = ti->ndim == 1 ? gt->bsize : gt->row_bytes;
    int64_t total = ti->ndim == 1 ? ti->cols : ti->rows;
    uint8_t *d = dst;
    while (len) {
        uint64_t u = off / unit, within = off % unit;
        size_t k = (size_t)(unit - within < len ? unit - within : len);
        uint64_t src = (uint64_t)stored_index((int64_t)u, total, gt->perm_heads);
        nq_status s = nq_model_file_read(m, 0, ti->offset + src * unit + within, d, k, e);
        if (s) return s;
        d += k; off += k; len -= k;
    }
    return NQ_OK;
}

static void gg_free_impl(void *impl) {
    gg_impl *g = impl;
    if (g) free(g->t);
    free(g);
}

static const nq_model_ops gg_ops = {gg_read_rows, gg_read_raw, gg_free_impl};

/* ------------------------------------------------------------------- open */

static nq_status parse_header(gg_cur *c, uint64_t *nt, uint64_t *nkv) {
    uint8_t magic[4];
    uint32_t ver;
    nq_status s;
    if ((s = cur_get(c, magic, 4, "magic")) || (s = cur_u32(c, &ver, "version"))) return s;
    if (memcmp(magic, "GGUF", 4))
        return nq_fail(c->e, NQ_E_FORMAT, "%s: not a GGUF file (magic is not 'GGUF')", c->name);
    if (ver == 0x02000000u || ver == 0x03000000u)
        return nq_fail(c->e, NQ_E_UNSUPPORTED, "%s: big-endian GGUF is not supported", c->name);
    if (ver != 2 && ver != 3)
        return nq_fail(c->e, NQ_E_UNSUPPORTED, "%s: GGUF version %u (supported: 2 and 3)",
                       c->name, ver);
    if ((s = cur_u64(c, nt, "tensor count")) || (s = cur_u64(c, nkv, "metadata count"))) return s;
    if (*nt > GG_MAX_TENSORS || *nt > cur_left(c) / 33) /* smallest tensor info: 33 bytes */
        return nq_fail(c->e, *nt > GG_MAX_TENSORS ? NQ_E_LIMIT : NQ_E_FORMAT,
                       "%s: tensor count %llu is impossible for a %llu-byte file (limit %d)",
                       c->name, (unsigned long long)*nt, (unsigned long long)c->r->size,
                       GG_MAX_TENSORS);
    if (*nkv > GG_MAX_KV || *nkv > cur_left(c) / 14) /* smallest key/value: 14 bytes */
        return nq_fail(c->e, *nkv > GG_MAX_KV ? NQ_E_LIMIT : NQ_E_FORMAT,
                       "%s: metadata count %llu is impossible for a %llu-byte file (limit %d)",
                       c->name, (unsigned long long)*nkv, (unsigned long long)c->r->size,
                       GG_MAX_KV);
    return NQ_OK;
}

/* Tensor infos into m; names mapped to Hugging Face names if map_names (qk then marks the
 * Q/K tensors), else kept. */
static nq_status parse_tensors(gg_cur *c, nq_model *m, gg_impl *g, int map_names, int *qk) {
    nq_status s = NQ_OK;
    for (int i = 0; i < m->ntensors && s == NQ_OK; i++) {
        char *ggname = NULL;
        s = parse_tensor_info(c, (uint64_t)i, &m->tensors[i], &g->t[i], &ggname);
        if (s == NQ_OK) {
            m->tensors[i].name = map_names ? hf_name(ggname, &qk[i]) : nq_strdup(ggname);
            if (!m->tensors[i].name) s = nq_fail(c->e, NQ_E_NOMEM, "out of memory");
        } else if (ggname) {
            m->tensors[i].name = ggname; /* freed with the model */
            ggname = NULL;
        }
        free(ggname);
    }
    if (s) return s;
    char **names = malloc((m->ntensors ? (size_t)m->ntensors : 1) * sizeof *names);
    if (!names) return nq_fail(c->e, NQ_E_NOMEM, "out of memory");
    for (int i = 0; i < m->ntensors; i++) names[i] = m->tensors[i].name;
    const char *dup = find_duplicate(names, (size_t)m->ntensors);
    if (dup) s = nq_fail(c->e, NQ_E_FORMAT, "%s: tensor '%s' appears twice", c->name, dup);
    free(names);
    return s;
}

nq_status nq_gguf_open(nq_model **out, const nq_reader *r, nq_err *e) {
    *out = NULL;
    gg_cur *c = calloc(1, sizeof *c);
    if (!c) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    *c = (gg_cur){.r = r, .name = r->name ? r->name : "gguf", .e = e};
    uint64_t nt = 0, nkv = 0;
    uint32_t align = GG_DEFAULT_ALIGN;
    nq_model *m = NULL;
    gg_impl *g = NULL;
    int *qk = NULL;
    cJSON *meta = cJSON_CreateObject();
    nq_status s = meta ? parse_header(c, &nt, &nkv) : nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (s == NQ_OK) s = parse_kvs(c, nkv, meta, &align);
    if (s == NQ_OK) {
        m = nq_model_alloc("gguf", (int)nt, r, 1);
        g = calloc(1, sizeof *g);
        if (g) g->t = calloc(nt ? (size_t)nt : 1, sizeof *g->t);
        qk = calloc(nt ? (size_t)nt : 1, sizeof *qk);
        if (!m || !g || !g->t || !qk) s = nq_fail(e, NQ_E_NOMEM, "out of memory");
        if (m) { m->ops = &gg_ops; m->impl = g; g = NULL; }
    }
    /* Only for "llama" is the whole layout known (names, and the Q/K order undone below);
     * other architectures keep llama.cpp's names rather than HF names on rows that may be
     * ordered differently from the HF checkpoint. */
    if (s == NQ_OK) s = parse_tensors(c, m, m->impl, !strcmp(nq_gguf_meta_arch(meta), "llama"), qk);
    if (s == NQ_OK) {
        uint64_t data_start = (c->pos + align - 1) / align * align;
        s = place_tensors(m, c->name, data_start, align, e);
    }
    if (s == NQ_OK) s = plan_unpermute(m, m->impl, qk, meta, c->name, e);
    if (s == NQ_OK && !(m->metadata_json = cJSON_PrintUnformatted(meta)))
        s = nq_fail(e, NQ_E_NOMEM, "out of memory");
    cJSON_Delete(meta);
    gg_free_impl(g);
    free(qk);
    free(c);
    if (s) { nq_model_free(m); return s; }
    *out = m;
    return NQ_OK;
}
