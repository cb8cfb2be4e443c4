/* tokenizer.c - byte-level BPE from a Hugging Face tokenizer.json (the `tokenizers` format
 * used by GPT-2, LLaMA-3 and the shared tiny model).
 *
 * Pipeline of encode: split out added tokens (<s>, ...) -> pre-tokenize the plain text with
 * the model's split regex (GPT-2 or LLaMA-3, both hand-coded; any other pre-tokenizer is
 * NQ_E_UNSUPPORTED, never a silent approximation) -> map each piece's bytes to their
 * byte-level symbols -> apply BPE merges by rank. Decode concatenates the bytes of tokens.
 *
 * Tokens are kept as raw bytes: the byte-to-unicode map of GPT-2 is undone when loading, so
 * the piece text and token strings compare byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "novaq.h"
#include "llm/tokenizer_internal.h"
#include "llm/tokenizer_unicode.h"
#include "common/util.h"

/* ------------------------------------------------------------ hash map */

/* Open-addressing map from a byte string or a 64-bit pair key to an int value. */
typedef struct hslot {
    uint64_t key;       /* pair key, or string hash */
    const uint8_t *str; /* NULL for pair keys; borrowed from the tokenizer's token table */
    uint32_t len;
    int32_t value;
    int32_t value2;
    uint8_t used;
} hslot;

typedef struct hmap {
    hslot *slots;
    size_t cap; /* power of two */
} hmap;

static uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int hmap_init(hmap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots != NULL;
}

/* Lookups (hmap_*_find) never write: after load the maps are read-only, which is what
 * makes one tokenizer safe to share between threads (novaq.h). Only the load-time inserts
 * (hmap_*_put) touch a slot. */

/* Index of the slot of a string key: the matching one, or the empty one where it would go. */
static size_t hmap_str_index(const hmap *m, const uint8_t *s, size_t n, uint64_t h) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const hslot *sl = &m->slots[i];
        if (!sl->used || (sl->key == h && sl->len == n && !memcmp(sl->str, s, n))) return i;
    }
}

static const hslot *hmap_str_find(const hmap *m, const uint8_t *s, size_t n) {
    const hslot *sl = &m->slots[hmap_str_index(m, s, n, hash_bytes(s, n))];
    return sl->used ? sl : NULL;
}

/* Slot for a string key at load: the matching one, or the empty one, its key set (the
 * caller fills it and marks it used). */
static hslot *hmap_str_put(hmap *m, const uint8_t *s, size_t n) {
    uint64_t h = hash_bytes(s, n);
    hslot *sl = &m->slots[hmap_str_index(m, s, n, h)];
    if (!sl->used) sl->key = h;
    return sl;
}

static size_t hmap_pair_index(const hmap *m, uint64_t key) {
    for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (!m->slots[i].used || m->slots[i].key == key) return i;
}

static const hslot *hmap_pair_find(const hmap *m, uint64_t key) {
    const hslot *sl = &m->slots[hmap_pair_index(m, key)];
    return sl->used ? sl : NULL;
}

static hslot *hmap_pair_put(hmap *m, uint64_t key) {
    hslot *sl = &m->slots[hmap_pair_index(m, key)];
    if (!sl->used) sl->key = key;
    return sl;
}

/* ------------------------------------------------------------ tokenizer */

enum { PRETOK_GPT2 = 1, PRETOK_LLAMA3 = 2 };

typedef struct added_token {
    uint8_t *text;
    size_t len;
    int32_t id;
    int special;
} added_token;

struct nq_tokenizer {
    int32_t vocab_size;      /* one past the largest id */
    uint8_t **tok;           /* raw bytes of each id (NULL for unused ids) */
    uint32_t *tok_len;
    uint8_t *tok_special;    /* 1 for added special tokens */
    hmap by_bytes;           /* raw bytes -> id */
    hmap merges;             /* (left id, right id) -> rank, merged id */
    int32_t byte_id[256];
    added_token *added;
    int nadded;
    int pretok;
    int add_prefix_space;
    int ignore_merges;
};

/* GPT-2's reversible byte <-> code point map: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order. */
static uint32_t byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256u + (uint32_t)n;
}

/* Decode one UTF-8 code point at s[*i] (advancing *i); -1 if malformed. */
static int32_t utf8_next(const uint8_t *s, size_t n, size_t *i) {
    uint8_t c = s[*i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || *i + (size_t)len > n) return -1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[*i + k] & 0x3Fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    *i += (size_t)len;
    return (int32_t)cp;
}

/* Undo the byte-level map of a vocab string; 0 if a code point is outside the map (then
 * the token is kept as its UTF-8 text, as added tokens are). */
static int bytelevel_to_raw(const char *s, uint8_t *out, size_t *outlen, const int16_t *cp_to_byte) {
    size_t n = strlen(s), i = 0, k = 0;
    while (i < n) {
        int32_t cp = utf8_next((const uint8_t *)s, n, &i);
        if (cp < 0 || cp >= 512 || cp_to_byte[cp] < 0) return 0;
        out[k++] = (uint8_t)cp_to_byte[cp];
    }
    *outlen = k;
    return 1;
}

void nq_tokenizer_free(nq_tokenizer *t) {
    if (!t) return;
    if (t->tok)
        for (int32_t i = 0; i < t->vocab_size; i++) free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->tok_special);
    free(t->by_bytes.slots);
    free(t->merges.slots);
    for (int i = 0; i < t->nadded; i++) free(t->added[i].text);
    free(t->added);
    free(t);
}

static nq_status set_token(nq_tokenizer *t, int32_t id, const uint8_t *b, size_t n, nq_err *e) {
    if (t->tok[id]) return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: id %d is used twice", (int)id);
    t->tok[id] = malloc(n ? n : 1);
    if (!t->tok[id]) return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
    memcpy(t->tok[id], b, n);
    t->tok_len[id] = (uint32_t)n;
    hslot *sl = hmap_str_put(&t->by_bytes, b, n);
    if (!sl->used) { /* first id wins for duplicate byte strings */
        sl->used = 1; sl->str = t->tok[id]; sl->len = (uint32_t)n; sl->value = id;
    }
    return NQ_OK;
}

/* Largest id named by model.vocab or added_tokens, plus one. */
static nq_status count_ids(const cJSON *vocab, const cJSON *added, int32_t *size, nq_err *e) {
    int64_t mx = -1, x;
    for (const cJSON *v = vocab->child; v; v = v->next) {
        if (!cJSON_IsNumber(v) || !nq_f64_to_i64(v->valuedouble, 0, 16777216, &x))
            return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: model.vocab['%s'] is not a valid id "
                           "(an integer in 0..16777216)", v->string ? v->string : "?");
        if (x > mx) mx = x;
    }
    int i = 0;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (!cJSON_IsNumber(id) || !nq_f64_to_i64(id->valuedouble, 0, 16777216, &x))
            return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: added_tokens[%d] has no valid 'id' (an "
                           "integer in 0..16777216)", i);
        if (x > mx) mx = x;
    }
    if (mx < 0) return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: model.vocab is empty");
    /* Ids index arrays sized by the largest one: they must be dense (as every real vocabulary
     * is), or a few bytes of JSON claiming id 16777216 would cost gigabytes (found by fuzzing). */
    int64_t entries = i;
    for (const cJSON *v = vocab->child; v; v = v->next) entries++;
    if (mx >= entries)
        return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: token id %lld with only %lld tokens: ids must be "
                       "0..%lld (a dense vocabulary)", (long long)mx, (long long)entries, (long long)entries - 1);
    *size = (int32_t)mx + 1;
    return NQ_OK;
}

static nq_status load_vocab(nq_tokenizer *t, const cJSON *vocab, nq_err *e) {
    int16_t cp_to_byte[512];
    for (int i = 0; i < 512; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp(b)] = (int16_t)b;
    for (const cJSON *v = vocab->child; v; v = v->next) {
        size_t n = strlen(v->string), rn;
        uint8_t *raw = malloc(n + 1);
        if (!raw) return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
        if (!bytelevel_to_raw(v->string, raw, &rn, cp_to_byte)) { memcpy(raw, v->string, n); rn = n; }
        nq_status st = set_token(t, (int32_t)v->valuedouble, raw, rn, e);
        free(raw);
        if (st) return st;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        const hslot *sl = hmap_str_find(&t->by_bytes, &c, 1);
        t->byte_id[b] = sl ? sl->value : -1;
    }
    return NQ_OK;
}

/* A merge is "a b" (older files) or ["a", "b"]; both sides are byte-level strings. */
static nq_status merge_sides(const cJSON *m, int idx, const char **a, const char **b, char *tmp,
                             size_t tmpcap, nq_err *e) {
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
        cJSON_IsString(m->child->next)) {
        *a = m->child->valuestring;
        *b = m->child->next->valuestring;
        return NQ_OK;
    }
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        size_t n = strlen(m->valuestring);
        if (sp && sp != m->valuestring && !strchr(sp + 1, ' ') && n < tmpcap) {
            memcpy(tmp, m->valuestring, n + 1);
            tmp[sp - m->valuestring] = 0;
            *a = tmp;
            *b = tmp + (sp - m->valuestring) + 1;
            return NQ_OK;
        }
    }
    return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: model.merges[%d] is not a pair of strings", idx);
}

static int32_t lookup_bytelevel(const nq_tokenizer *t, const char *s, const int16_t *cp_to_byte) {
    size_t n = strlen(s), rn;
    uint8_t buf[1024];
    if (n > sizeof buf || !bytelevel_to_raw(s, buf, &rn, cp_to_byte)) return -1;
    const hslot *sl = hmap_str_find(&t->by_bytes, buf, rn);
    return sl ? sl->value : -1;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static nq_status load_merges(nq_tokenizer *t, const cJSON *merges, nq_err *e) {
    int16_t cp_to_byte[512];
    for (int i = 0; i < 512; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp(b)] = (int16_t)b;
    if (!hmap_init(&t->merges, (size_t)cJSON_GetArraySize(merges)))
        return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
    int rank = 0;
    char tmp[2048], both[2048];
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        const char *a = NULL, *b = NULL;
        nq_status st = merge_sides(m, rank, &a, &b, tmp, sizeof tmp, e);
        if (st) return st;
        int32_t ia = lookup_bytelevel(t, a, cp_to_byte), ib = lookup_bytelevel(t, b, cp_to_byte);
        snprintf(both, sizeof both, "%s%s", a, b);
        int32_t ic = lookup_bytelevel(t, both, cp_to_byte);
        if (ia < 0 || ib < 0 || ic < 0)
            return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: model.merges[%d] ('%s' + '%s') names a "
                           "token missing from model.vocab", rank, a, b);
        hslot *sl = hmap_pair_put(&t->merges, pair_key(ia, ib));
        if (!sl->used) { /* first rank wins for a repeated pair, so ranks name pairs */
            sl->used = 1;
            sl->value = rank;
            sl->value2 = ic;
        }
    }
    return NQ_OK;
}

static nq_status load_added(nq_tokenizer *t, const cJSON *added, nq_err *e) {
    int n = added ? cJSON_GetArraySize(added) : 0;
    t->added = calloc((size_t)(n ? n : 1), sizeof *t->added);
    if (!t->added) return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble;
        if (!cJSON_IsString(content) || !content->valuestring[0])
            return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: added token %d has no content", (int)id);
        added_token *at = &t->added[t->nadded++];
        at->len = strlen(content->valuestring);
        at->text = malloc(at->len);
        if (!at->text) return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
        memcpy(at->text, content->valuestring, at->len);
        at->id = id;
        at->special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
        if (at->special) t->tok_special[id] = 1;
        if (!t->tok[id]) {
            nq_status st = set_token(t, id, at->text, at->len, e);
            if (st) return st;
        }
    }
    return NQ_OK;
}

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int is_type(const cJSON *o, const char *type) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) && !strcmp(ty->valuestring, type);
}

/* ByteLevel(use_regex) alone, or Sequence[Split(Regex pattern, Isolated), ByteLevel(no regex)]. */
static nq_status load_pretokenizer(nq_tokenizer *t, const cJSON *pt, nq_err *e) {
    if (is_type(pt, "ByteLevel")) {
        t->add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space"));
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pt, "use_regex")))
            return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: ByteLevel pre-tokenizer without regex");
        t->pretok = PRETOK_GPT2;
        return NQ_OK;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (is_type(pt, "Sequence") && cJSON_GetArraySize(seq) == 2 && is_type(seq->child, "Split") &&
        is_type(seq->child->next, "ByteLevel")) {
        const cJSON *split = seq->child, *bl = seq->child->next;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(split, "behavior");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bl, "use_regex")) && cJSON_IsString(pat) &&
            cJSON_IsString(beh) && !strcmp(beh->valuestring, "Isolated") &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(split, "invert"))) {
            t->add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bl, "add_prefix_space"));
            if (!strcmp(pat->valuestring, LLAMA3_PATTERN)) { t->pretok = PRETOK_LLAMA3; return NQ_OK; }
            if (!strcmp(pat->valuestring, GPT2_PATTERN)) { t->pretok = PRETOK_GPT2; return NQ_OK; }
            return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: pre-tokenizer split regex '%.200s' "
                           "is neither GPT-2's nor LLaMA-3's", pat->valuestring);
        }
    }
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: pre-tokenizer '%s' is not supported "
                   "(byte-level BPE with the GPT-2 or LLaMA-3 split regex only)",
                   cJSON_IsString(ty) ? ty->valuestring : "?");
}

static nq_status check_model(const cJSON *model, nq_tokenizer *t, nq_err *e) {
    if (!cJSON_IsObject(model) || !is_type(model, "BPE"))
        return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: model.type is not BPE");
    const char *unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, unsupported[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: model.%s is not supported", unsupported[i]);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: model.byte_fallback (SentencePiece-style BPE) "
                       "is not supported");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: BPE dropout is not supported");
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(model, "vocab")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "merges")))
        return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: model.vocab or model.merges missing");
    return NQ_OK;
}

static nq_status load_json(nq_tokenizer *t, const cJSON *root, nq_err *e) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    nq_status st = check_model(model, t, e);
    if (st) return st;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm))
        return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer.json: normalizers are not supported");
    if ((st = load_pretokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), e)))
        return st;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsArray(added)) added = NULL;
    if ((st = count_ids(vocab, added, &t->vocab_size, e))) return st;
    t->tok = calloc((size_t)t->vocab_size, sizeof *t->tok);
    t->tok_len = calloc((size_t)t->vocab_size, sizeof *t->tok_len);
    t->tok_special = calloc((size_t)t->vocab_size, 1);
    if (!t->tok || !t->tok_len || !t->tok_special ||
        !hmap_init(&t->by_bytes, (size_t)t->vocab_size))
        return nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
    if ((st = load_vocab(t, vocab, e))) return st;
    if ((st = load_added(t, added, e))) return st;
    return load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), e);
}

nq_status nq_tokenizer_load(nq_tokenizer **out, const char *json, size_t len, nq_err *e) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return nq_fail(e, NQ_E_FORMAT, "tokenizer.json: not valid JSON");
    nq_tokenizer *t = calloc(1, sizeof *t);
    nq_status st = t ? load_json(t, root, e) : nq_fail(e, NQ_E_NOMEM, "tokenizer.json: out of memory");
    cJSON_Delete(root);
    if (st) { nq_tokenizer_free(t); return st; }
    *out = t;
    return NQ_OK;
}

int32_t nq_tokenizer_vocab_size(const nq_tokenizer *t) { return t->vocab_size; }

/* ------------------------------------------------------- pre-tokenizer */

/* Text as code points with their byte offsets (cp[n] = 0 sentinel, off[n] = byte length). */
typedef struct cps {
    const int32_t *cp;
    const size_t *off;
    size_t n;
} cps;

static int cls_l(const cps *c, size_t i) { return i < c->n && nq_uc_is_letter((uint32_t)c->cp[i]); }
static int cls_n(const cps *c, size_t i) { return i < c->n && nq_uc_is_number((uint32_t)c->cp[i]); }
static int cls_s(const cps *c, size_t i) { return i < c->n && nq_uc_is_space((uint32_t)c->cp[i]); }
static int cls_other(const cps *c, size_t i) { return i < c->n && !cls_l(c, i) && !cls_n(c, i) && !cls_s(c, i); }
static int is_crlf(const cps *c, size_t i) { return i < c->n && (c->cp[i] == '\r' || c->cp[i] == '\n'); }

static int fold(int32_t cp, int ci) {
    if (!ci) return cp;
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp == 0x17F) return 's'; /* LATIN SMALL LETTER LONG S folds to s */
    return cp;
}

/* 's 't 're 've 'm 'll 'd: length in code points, 0 if none (ci: case-insensitive). */
static size_t contraction(const cps *c, size_t i, int ci) {
    if (c->cp[i] != '\'' || i + 1 >= c->n) return 0;
    int a = fold(c->cp[i + 1], ci), b = i + 2 < c->n ? fold(c->cp[i + 2], ci) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S) then \s+ : a whitespace run, less its last char when a non-space follows. */
static size_t space_run(const cps *c, size_t i) {
    size_t j = i;
    while (cls_s(c, j)) j++;
    if (j < c->n && j - i > 1) return j - i - 1;
    return j - i;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const cps *c, size_t i) {
    size_t k = contraction(c, i, 0), j;
    if (k) return k;
    size_t p = c->cp[i] == ' ' ? i + 1 : i;
    if (cls_l(c, p)) { for (j = p; cls_l(c, j); j++) {} return j - i; }
    if (cls_n(c, p)) { for (j = p; cls_n(c, j); j++) {} return j - i; }
    if (cls_other(c, p)) { for (j = p; cls_other(c, j); j++) {} return j - i; }
    return space_run(c, i);
}

/* LLaMA-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const cps *c, size_t i) {
    size_t k = contraction(c, i, 1), j;
    if (k) return k;
    if (!cls_l(c, i) && !cls_n(c, i) && !is_crlf(c, i) && cls_l(c, i + 1)) {
        for (j = i + 1; cls_l(c, j); j++) {}
        return j - i;
    }
    if (cls_l(c, i)) { for (j = i; cls_l(c, j); j++) {} return j - i; }
    if (cls_n(c, i)) { for (j = i; cls_n(c, j) && j - i < 3; j++) {} return j - i; }
    size_t p = c->cp[i] == ' ' ? i + 1 : i;
    if (cls_other(c, p)) {
        for (j = p; cls_other(c, j); j++) {}
        while (is_crlf(c, j)) j++;
        return j - i;
    }
    size_t last_nl = 0;
    for (j = i; cls_s(c, j); j++)
        if (is_crlf(c, j)) last_nl = j + 1;
    if (last_nl) return last_nl - i;
    return space_run(c, i);
}

/* ----------------------------------------------------------------- BPE */

typedef struct idvec {
    int32_t *v;
    size_t n, cap;
} idvec;

static int idvec_push(idvec *iv, int32_t id) {
    if (iv->n == iv->cap) {
        size_t nc = iv->cap ? iv->cap * 2 : 256;
        int32_t *nv = realloc(iv->v, nc * sizeof *nv);
        if (!nv) return 0;
        iv->v = nv;
        iv->cap = nc;
    }
    iv->v[iv->n++] = id;
    return 1;
}

/* Per-call scratch of the BPE merge loop, grown to the longest piece of one encode call
 * (the tokenizer itself is never written while encoding). The piece's symbols form a linked
 * list in byte order; heap holds candidate merges keyed (rank << 32 | position of the left
 * symbol), smallest first. Entries go stale when a neighbour merges; they are recognised
 * when popped and skipped, so every merge costs O(log n) and a piece O(n log n). */
enum { BPE_NONE = UINT32_MAX };
typedef struct bpe_scratch {
    int32_t *sym;            /* id of each symbol; -1 once merged into its left neighbour */
    uint32_t *next, *prev;   /* neighbours, BPE_NONE at the ends */
    uint64_t *heap;
    size_t cap;              /* symbols the arrays hold; heap holds 2 * cap */
    uint64_t steps;          /* heap pushes, pops and sift steps (tests check the growth) */
} bpe_scratch;

static void bpe_scratch_free(bpe_scratch *b) {
    free(b->sym); free(b->next); free(b->prev); free(b->heap);
}

static int bpe_reserve(bpe_scratch *b, size_t n) {
    if (n <= b->cap) return 1;
    size_t nc = n < 256 ? 256 : n;
    bpe_scratch_free(b);
    b->sym = malloc(nc * sizeof *b->sym);
    b->next = malloc(nc * sizeof *b->next);
    b->prev = malloc(nc * sizeof *b->prev);
    b->heap = malloc(2 * nc * sizeof *b->heap);
    b->cap = b->sym && b->next && b->prev && b->heap ? nc : 0;
    return b->cap != 0;
}

/* Heap size bound: n - 1 initial candidates, and each merge pops one and pushes at most
 * two, so at most n - 1 + (n - 1) entries. */
static void heap_push(bpe_scratch *b, size_t *hn, uint64_t v) {
    size_t i = (*hn)++;
    b->steps++;
    while (i > 0 && b->heap[(i - 1) / 2] > v) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
        b->steps++;
    }
    b->heap[i] = v;
}

static uint64_t heap_pop(bpe_scratch *b, size_t *hn) {
    uint64_t top = b->heap[0], v = b->heap[--*hn];
    size_t i = 0, n = *hn;
    b->steps++;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && b->heap[c + 1] < b->heap[c]) c++;
        if (b->heap[c] >= v) break;
        b->heap[i] = b->heap[c];
        i = c;
        b->steps++;
    }
    if (n) b->heap[i] = v;
    return top;
}

/* Push the pair starting at symbol i if the merge table has it. */
static void bpe_candidate(const nq_tokenizer *t, bpe_scratch *b, size_t *hn, uint32_t i) {
    if (i == BPE_NONE || b->next[i] == BPE_NONE) return;
    const hslot *sl = hmap_pair_find(&t->merges, pair_key(b->sym[i], b->sym[b->next[i]]));
    if (sl) heap_push(b, hn, (uint64_t)(uint32_t)sl->value << 32 | i);
}

/* Merge the lowest-ranked adjacent pair (the leftmost of equal ranks) until none is in the
 * merge table: Hugging Face's BPE. Ranks name pairs (load_merges keeps the first rank of a
 * repeated pair), so a popped candidate is current exactly when the pair now at its
 * position still has its rank. */
static nq_status bpe_piece(const nq_tokenizer *t, const uint8_t *s, size_t n, size_t at,
                           bpe_scratch *b, idvec *out, nq_err *e) {
    if (t->ignore_merges) {
        const hslot *sl = hmap_str_find(&t->by_bytes, s, n);
        if (sl) return idvec_push(out, sl->value) ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
    }
    if (n == 0) return NQ_OK;
    if (n >= BPE_NONE)
        return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer: the pre-tokenized piece at byte %zu is %zu "
                       "bytes (4 GiB at most)", at, n);
    if (!bpe_reserve(b, n)) return nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        b->sym[i] = t->byte_id[s[i]];
        if (b->sym[i] < 0)
            return nq_fail(e, NQ_E_UNSUPPORTED, "tokenizer: byte 0x%02x has no token in the vocabulary", s[i]);
        b->prev[i] = i ? (uint32_t)(i - 1) : BPE_NONE;
        b->next[i] = i + 1 < n ? (uint32_t)(i + 1) : BPE_NONE;
    }
    for (size_t i = 0; i + 1 < n; i++) bpe_candidate(t, b, &hn, (uint32_t)i);
    while (hn) {
        uint64_t top = heap_pop(b, &hn);
        uint32_t l = (uint32_t)top, r = b->next[l];
        if (b->sym[l] < 0 || r == BPE_NONE) continue; /* stale: l was merged away or is last */
        const hslot *sl = hmap_pair_find(&t->merges, pair_key(b->sym[l], b->sym[r]));
        if (!sl || (uint32_t)sl->value != (uint32_t)(top >> 32)) continue; /* stale: pair changed */
        b->sym[l] = sl->value2;
        b->sym[r] = -1;
        b->next[l] = b->next[r];
        if (b->next[r] != BPE_NONE) b->prev[b->next[r]] = l;
        bpe_candidate(t, b, &hn, b->prev[l]);
        bpe_candidate(t, b, &hn, l);
    }
    for (uint32_t i = 0; i != BPE_NONE; i = b->next[i])
        if (!idvec_push(out, b->sym[i])) return nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
    return NQ_OK;
}

/* Pre-tokenize and BPE one stretch of plain text (no added tokens in it). */
static nq_status encode_plain(const nq_tokenizer *t, const uint8_t *s, size_t n, size_t base,
                              bpe_scratch *b, idvec *out, nq_err *e) {
    int prefix = t->add_prefix_space && n > 0 && s[0] != ' ';
    size_t tn = n + (size_t)prefix;
    uint8_t *text = malloc(tn + 1);
    int32_t *cp = malloc((tn + 1) * sizeof *cp);
    size_t *off = malloc((tn + 1) * sizeof *off);
    nq_status st = NQ_OK;
    if (!text || !cp || !off) { st = nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory"); goto done; }
    if (prefix) text[0] = ' ';
    memcpy(text + prefix, s, n);
    size_t ncp = 0;
    for (size_t i = 0; i < tn;) {
        off[ncp] = i;
        int32_t c = utf8_next(text, tn, &i);
        if (c < 0) {
            st = nq_fail(e, NQ_E_FORMAT, "tokenizer: input is not valid UTF-8 at byte %zu",
                         base + off[ncp] - (size_t)prefix);
            goto done;
        }
        cp[ncp++] = c;
    }
    off[ncp] = tn;
    cps c = {cp, off, ncp};
    for (size_t i = 0; i < ncp && !st;) {
        size_t k = t->pretok == PRETOK_LLAMA3 ? match_llama3(&c, i) : match_gpt2(&c, i);
        st = bpe_piece(t, text + off[i], off[i + k] - off[i], base + off[i] - (off[i] ? (size_t)prefix : 0),
                       b, out, e);
        i += k;
    }
done:
    free(text); free(cp); free(off);
    return st;
}

/* Earliest added token in s (longest at that position); returns its index or -1. */
static int find_added(const nq_tokenizer *t, const uint8_t *s, size_t n, size_t *pos) {
    for (size_t i = 0; i < n; i++) {
        int best = -1;
        for (int a = 0; a < t->nadded; a++) {
            const added_token *at = &t->added[a];
            if (at->len <= n - i && !memcmp(s + i, at->text, at->len) &&
                (best < 0 || at->len > t->added[best].len))
                best = a;
        }
        if (best >= 0) { *pos = i; return best; }
    }
    return -1;
}

nq_status nq_tokenizer_encode_steps(const nq_tokenizer *t, const char *text, size_t len,
                                    int32_t **ids, size_t *nids, uint64_t *steps, nq_err *e) {
    idvec out = {0};
    bpe_scratch b = {0};
    const uint8_t *s = (const uint8_t *)text;
    size_t done = 0;
    nq_status st = NQ_OK;
    *ids = NULL;
    *nids = 0;
    while (done < len && !st) {
        size_t pos = 0;
        int a = find_added(t, s + done, len - done, &pos);
        size_t plain = a >= 0 ? pos : len - done;
        if (plain) st = encode_plain(t, s + done, plain, done, &b, &out, e);
        if (!st && a >= 0 && !idvec_push(&out, t->added[a].id))
            st = nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
        done += plain + (a >= 0 ? t->added[a].len : 0);
    }
    bpe_scratch_free(&b);
    if (steps) *steps = b.steps;
    if (st) { free(out.v); return st; }
    *ids = out.v ? out.v : malloc(sizeof(int32_t));
    *nids = out.n;
    return *ids ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
}

nq_status nq_tokenizer_encode(const nq_tokenizer *t, const char *text, size_t len, int32_t **ids,
                              size_t *nids, nq_err *e) {
    return nq_tokenizer_encode_steps(t, text, len, ids, nids, NULL, e);
}

static void sha256_hmap(nq_sha256_ctx *c, const hmap *m) {
    for (size_t i = 0; i < m->cap; i++) {
        const hslot *sl = &m->slots[i];
        uint8_t b[21];
        nq_put_u64(b, sl->key);
        nq_put_u32(b + 8, sl->len);
        nq_put_u32(b + 12, (uint32_t)sl->value);
        nq_put_u32(b + 16, (uint32_t)sl->value2);
        b[20] = sl->used;
        nq_sha256_update(c, b, sizeof b);
    }
}

void nq_tokenizer_tables_sha256(const nq_tokenizer *t, uint8_t out[32]) {
    nq_sha256_ctx c;
    nq_sha256_init(&c);
    sha256_hmap(&c, &t->by_bytes);
    sha256_hmap(&c, &t->merges);
    nq_sha256_update(&c, t->byte_id, sizeof t->byte_id);
    nq_sha256_final(&c, out);
}

nq_status nq_tokenizer_decode(const nq_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                              char **text, size_t *len, nq_err *e) {
    size_t total = 0;
    *text = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size || !t->tok[ids[i]])
            return nq_fail(e, NQ_E_ARG, "tokenizer: token id %d at position %zu is not in the "
                           "vocabulary (size %d)", (int)ids[i], i, (int)t->vocab_size);
        total += t->tok_len[ids[i]];
    }
    char *buf = malloc(total + 1);
    if (!buf) return nq_fail(e, NQ_E_NOMEM, "tokenizer: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_special && t->tok_special[ids[i]]) continue;
        memcpy(buf + k, t->tok[ids[i]], t->tok_len[ids[i]]);
        k += t->tok_len[ids[i]];
    }
    buf[k] = 0;
    *text = buf;
    if (len) *len = k;
    return NQ_OK;
}
