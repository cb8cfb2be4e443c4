/* http.c - the HTTP gateway interface: http_request and its streaming callback.
 *
 * Routes (GET, or HEAD for headers only; anything else is 405):
 *   /models                          JSON list of models
 *   /models/<id>                     JSON of one model
 *   /models/<id>/manifest.json       the validated NOVAQ manifest
 *   /models/<id>/shards/<n>          shard n's bytes (x-novaq-sha256 header)
 *   /models/<id>/model.novaq         the whole .novaq file
 * Bodies over HTTP_SLICE bytes come back in slices through the streaming callback; the
 * token carries the path and the next offset, and each callback resolves the path again
 * (queries keep no state). Responses are not certified (use the raw domain, or check the
 * bytes against the certified registry: docs/CANISTER.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "iface.h"
#include "ic0.h"
#include "novaq.h"

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define HTTP_SLICE 1900000u

typedef struct body {
    int status;
    const char *type;
    const uint8_t *mem;      /* body in memory, or */
    uint64_t stable_off;     /* body in stable memory at [stable_off, +len) */
    uint64_t len;
    char sha_hex[65];        /* optional x-novaq-sha256 */
} body;

/* Principal text form: base32(crc32 || bytes), lowercase, dash every 5 characters. */
static uint32_t crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void principal_text(const uint8_t *p, size_t n, char *out) {
    uint8_t buf[4 + 29];
    uint32_t c = crc32(p, n);
    buf[0] = (uint8_t)(c >> 24); buf[1] = (uint8_t)(c >> 16); buf[2] = (uint8_t)(c >> 8); buf[3] = (uint8_t)c;
    memcpy(buf + 4, p, n);
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
    size_t total = n + 4, o = 0, chars = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < total; i++) {
        acc = (acc << 8) | buf[i];
        bits += 8;
        while (bits >= 5) {
            if (chars && chars % 5 == 0) out[o++] = '-';
            out[o++] = alpha[(acc >> (bits - 5)) & 31];
            chars++;
            bits -= 5;
        }
    }
    if (bits > 0) {
        if (chars && chars % 5 == 0) out[o++] = '-';
        out[o++] = alpha[(acc << (5 - bits)) & 31];
    }
    out[o] = 0;
}

static cJSON *model_json(const nqs_model *model) {
    cJSON *o = cJSON_CreateObject();
    char buf[80], hex[65];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)model->number);
    cJSON_AddStringToObject(o, "model_id", buf);
    char *name = malloc(model->name_len + 1u), *desc = malloc(model->desc_len + 1u);
    if (!name || !desc) msg_trap("out of memory");
    memcpy(name, model->name, model->name_len);
    name[model->name_len] = 0;
    memcpy(desc, model->desc, model->desc_len);
    desc[model->desc_len] = 0;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "description", desc);
    free(name);
    free(desc);
    principal_text(model->owner, model->owner_len, buf);
    cJSON_AddStringToObject(o, "owner", buf);
    cJSON_AddStringToObject(o, "state", nqc_state_name(model->state));
    cJSON_AddNumberToObject(o, "size_bytes", (double)model->size_bytes);
    cJSON_AddNumberToObject(o, "received_bytes", (double)model->received_bytes);
    if (model->has_root) {
        nq_hex(model->root, 32, hex);
        cJSON_AddStringToObject(o, "root_hash", hex);
        cJSON_AddNumberToObject(o, "shard_count", model->shard_count);
        cJSON_AddNumberToObject(o, "tensor_count", model->tensor_count);
        snprintf(buf, sizeof buf, "/models/%llu/manifest.json", (unsigned long long)model->number);
        cJSON_AddStringToObject(o, "manifest", buf);
        snprintf(buf, sizeof buf, "/models/%llu/model.novaq", (unsigned long long)model->number);
        cJSON_AddStringToObject(o, "file", buf);
    }
    return o;
}

static void json_body(body *b, cJSON *o, cd_arena *a) {
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) msg_trap("out of memory");
    size_t n = strlen(text);
    uint8_t *copy = cd_alloc(a, n + 1);
    if (!copy) msg_trap("out of memory");
    memcpy(copy, text, n);
    free(text);
    b->mem = copy;
    b->len = n;
    b->type = "application/json";
}

static void error_body(body *b, int status, const char *message, cd_arena *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    json_body(b, o, a);
    b->status = status;
}

/* Split "/models/<id>/<rest>" ; returns the number of segments. */
static int split(const char *path, size_t n, char seg[4][48]) {
    int k = 0;
    size_t i = 0;
    while (i < n && k < 4) {
        while (i < n && path[i] == '/') i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && path[i] != '/') i++;
        if (i - start >= 48) return -1;
        memcpy(seg[k], path + start, i - start);
        seg[k][i - start] = 0;
        k++;
    }
    while (i < n && path[i] == '/') i++;
    return i < n ? -1 : k;
}

static void resolve(const char *path, size_t n, body *b, cd_arena *a) {
    memset(b, 0, sizeof *b);
    b->status = 200;
    size_t q = 0;
    while (q < n && path[q] != '?' && path[q] != '#') q++;
    char seg[4][48];
    int k = split(path, q, seg);
    if (k < 1 || strcmp(seg[0], "models") != 0) {
        error_body(b, 404, "not found; try /models", a);
        return;
    }
    static nqs_model model;
    if (k == 1) {
        nqs_super s;
        nqs_super_load(&s);
        cJSON *arr = cJSON_CreateArray();
        for (uint32_t i = 0; i < s.slot_high; i++)
            if (nqs_model_load(i, &model)) cJSON_AddItemToArray(arr, model_json(&model));
        json_body(b, arr, a);
        return;
    }
    uint64_t number;
    uint32_t slot;
    if (nqc_parse_id((const uint8_t *)seg[1], strlen(seg[1]), &number) || !nqs_model_find(number, &slot, &model)) {
        error_body(b, 404, "unknown model id", a);
        return;
    }
    if (k == 2) { json_body(b, model_json(&model), a); return; }
    if (!nqc_committed(&model)) { error_body(b, 404, "model is still uploading (not committed)", a); return; }
    if (k == 3 && strcmp(seg[2], "manifest.json") == 0) {
        b->stable_off = model.data_off + model.manifest_off;
        b->len = model.manifest_size;
        b->type = "application/json";
        return;
    }
    if (k == 3 && strcmp(seg[2], "model.novaq") == 0) {
        b->stable_off = model.data_off;
        b->len = model.size_bytes;
        b->type = "application/octet-stream";
        nq_hex(model.root, 32, b->sha_hex);
        return;
    }
    uint64_t shard;
    if (k == 4 && strcmp(seg[2], "shards") == 0 &&
        !nqc_parse_index((const uint8_t *)seg[3], strlen(seg[3]), &shard) && shard < model.shard_count) {
        nqs_piece p;
        nqc_shard(&model, (uint32_t)shard, &p);
        b->stable_off = model.data_off + p.off;
        b->len = p.size;
        b->type = "application/octet-stream";
        nq_hex(p.sha256, 32, b->sha_hex);
        return;
    }
    error_body(b, 404, "not found", a);
}

static cd_val slice(const body *b, uint64_t off, cd_arena *a) {
    uint64_t n = b->len - off < HTTP_SLICE ? b->len - off : HTTP_SLICE;
    if (b->mem) return cd_v_bytes(b->mem + off, n);
    uint8_t *buf = cd_alloc(a, n ? n : 1);
    if (!buf) msg_trap("out of memory");
    nqs_read(b->stable_off + off, buf, n);
    return cd_v_bytes(buf, n);
}

static cd_val token(cd_arena *a, const uint8_t *path, size_t n, uint64_t off) {
    cd_val *t = cd_v_array(a, TK_NFIELDS);
    if (!t) msg_trap("out of memory");
    t[TK_PATH] = cd_v_bytes(path, n);
    t[TK_OFFSET] = cd_v_nat(off);
    return cd_v_record(t);
}

static cd_val header(cd_arena *a, const char *k, const char *v) {
    cd_val *kv = cd_v_array(a, 2);
    char *copy = cd_alloc(a, strlen(v) + 1);
    if (!kv || !copy) msg_trap("out of memory");
    strcpy(copy, v);
    kv[0] = cd_v_text(k);
    kv[1] = cd_v_text(copy);
    return cd_v_record(kv);
}

EXPORT("canister_query http_request") void m_http_request(void) {
    MSG_OPEN(m, a, 1, &t_http_request);
    const cd_val *f = a[0].sub;
    cd_arena *ar = &m.arena;
    body b;
    const cd_val *url = &f[HQ_URL];
    if (!(f[HQ_METHOD].n == 3 && memcmp(f[HQ_METHOD].bytes, "GET", 3) == 0) &&
        !(f[HQ_METHOD].n == 4 && memcmp(f[HQ_METHOD].bytes, "HEAD", 4) == 0)) {
        memset(&b, 0, sizeof b);
        error_body(&b, 405, "only GET is supported", ar);
    } else {
        resolve((const char *)url->bytes, url->n, &b, ar);
    }
    cd_val *r = cd_v_array(ar, HR_NFIELDS), *hs = cd_v_array(ar, 5);
    if (!r || !hs) msg_trap("out of memory");
    char len[24];
    snprintf(len, sizeof len, "%llu", (unsigned long long)b.len);
    size_t nh = 0;
    hs[nh++] = header(ar, "content-type", b.type);
    hs[nh++] = header(ar, "content-length", len);
    hs[nh++] = header(ar, "access-control-allow-origin", "*");
    if (b.sha_hex[0]) hs[nh++] = header(ar, "x-novaq-sha256", b.sha_hex);
    r[HR_STATUS] = cd_v_nat((uint64_t)b.status);
    r[HR_HEADERS] = cd_v_vec(hs, nh);
    int head = b.status != 405 && f[HQ_METHOD].n == 4; /* HEAD: headers only */
    r[HR_BODY] = head ? cd_v_bytes("", 0) : slice(&b, 0, ar);
    if (!head && b.len > HTTP_SLICE) {
        /* path only (no query string) in the token */
        size_t pn = 0;
        while (pn < url->n && url->bytes[pn] != '?' && url->bytes[pn] != '#') pn++;
        cd_val *cs = cd_v_array(ar, CS_NFIELDS), *fn = cd_alloc(ar, sizeof(cd_val));
        uint8_t *self = cd_alloc(ar, 32);
        if (!cs || !fn || !self) msg_trap("out of memory");
        uint32_t sn = ic0_canister_self_size();
        if (sn > 29) msg_trap("canister id of %u bytes", sn);
        ic0_canister_self_copy(self, 0, sn);
        *fn = cd_v_text("http_request_streaming_callback");
        cs[CS_CALLBACK] = cd_v_bytes(self, sn);
        cs[CS_CALLBACK].sub = fn;
        cs[CS_TOKEN] = token(ar, url->bytes, pn, HTTP_SLICE);
        r[HR_STRATEGY] = cd_v_some(ar, cd_v_variant(ar, 0, cd_v_record(cs)));
    }
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_http_response};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query http_request_streaming_callback") void m_http_streaming_callback(void) {
    MSG_OPEN(m, a, 1, &t_token);
    const cd_val *f = a[0].sub;
    cd_arena *ar = &m.arena;
    body b;
    resolve((const char *)f[TK_PATH].bytes, f[TK_PATH].n, &b, ar);
    uint64_t off = f[TK_OFFSET].u;
    cd_val v = cd_v_none();
    if (b.status == 200 && off <= b.len) {
        cd_val *r = cd_v_array(ar, CB_NFIELDS);
        if (!r) msg_trap("out of memory");
        r[CB_BODY] = slice(&b, off, ar);
        uint64_t next = off + r[CB_BODY].n;
        if (next < b.len) r[CB_TOKEN] = cd_v_some(ar, token(ar, f[TK_PATH].bytes, f[TK_PATH].n, next));
        v = cd_v_some(ar, cd_v_record(r));
    }
    const cd_type *rt[] = {&t_opt_callback_response};
    msg_reply_values(&m, rt, &v, 1);
}
