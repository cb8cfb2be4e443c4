/* methods.c - the canister's lifecycle hooks and Candid methods (candid/novaq.did),
 * except commit (commit.c) and the HTTP gateway (http.c).
 *
 * Every write checks everything first and only then writes stable memory, so a reject
 * never leaves half-written state (and a trap rolls the whole message back anyway). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "iface.h"
#include "ic0.h"
#include "novaq.h"

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))

extern void __wasm_call_ctors(void);

/* ---------------------------------------------------------------- helpers */

int nqc_parse_id(const uint8_t *s, size_t n, uint64_t *number) {
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v == 0) return -1;
    *number = v;
    return 0;
}

int nqc_parse_index(const uint8_t *s, size_t n, uint64_t *index) {
    if (n == 1 && s[0] == '0') { *index = 0; return 0; }
    return nqc_parse_id(s, n, index);
}

int nqc_find_model(const cd_val *id, uint32_t *slot, nqs_model *model) {
    uint64_t number;
    return !nqc_parse_id(id->bytes, id->n, &number) && nqs_model_find(number, slot, model);
}

cd_val nqc_id_text(cd_arena *a, uint64_t number) {
    char *s = cd_alloc(a, 24);
    if (!s) msg_trap("out of memory");
    snprintf(s, 24, "%llu", (unsigned long long)number);
    return cd_v_text(s);
}

static int same_principal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    return an == bn && memcmp(a, b, an) == 0;
}

static int can_write(const msg *m, const nqs_model *model) {
    return same_principal(m->caller, m->caller_len, model->owner, model->owner_len) ||
           msg_caller_is_controller(m);
}

int nqc_load_for_write(msg *m, const cd_val *id, const char *method, const char *verb, uint32_t *slot,
                       nqs_model *model) {
    if (!nqc_find_model(id, slot, model)) {
        msg_reject(m, "unknown model id '%.*s'", (int)(id->n > 40 ? 40 : id->n), (const char *)id->bytes);
        return -1;
    }
    if (!can_write(m, model)) {
        msg_reject(m, "%s: only the model's owner or a controller may %s model %llu", method, verb,
                   (unsigned long long)model->number);
        return -1;
    }
    return 0;
}

int nqc_committed(const nqs_model *model) { return model->state != NQS_UPLOADING; }

const char *nqc_state_name(uint32_t state) {
    static const char *names[] = {"Uploading", "Validated", "Active", "Deprecated"};
    return state < 4 ? names[state] : "?";
}

static void piece_at(uint64_t off, nqs_piece *p) {
    uint8_t b[NQS_PIECE_SIZE];
    nqs_read(off, b, sizeof b);
    memcpy(&p->off, b, 8);
    memcpy(&p->size, b + 8, 8);
    memcpy(p->sha256, b + 16, 32);
}

void nqc_shard(const nqs_model *model, uint32_t i, nqs_piece *p) {
    piece_at(model->index_off + (uint64_t)i * NQS_PIECE_SIZE, p);
}

void nqc_chunk(const nqs_model *model, uint32_t i, nqs_piece *p) {
    piece_at(model->index_off + ((uint64_t)model->shard_count + i) * NQS_PIECE_SIZE, p);
}

/* Registry hash: SHA-256 over (u64 LE number | u8 state | root[32]) of every committed
 * model in slot order (candid/novaq.did, CertifiedRegistry). */
void nqc_registry_hash(uint8_t out[32]) {
    nq_sha256_ctx c;
    nq_sha256_init(&c);
    nqs_super s;
    nqs_super_load(&s);
    static nqs_model model;
    for (uint32_t i = 0; i < s.slot_high; i++) {
        if (!nqs_model_load(i, &model) || !nqc_committed(&model)) continue;
        uint8_t e[41];
        for (int k = 0; k < 8; k++) e[k] = (uint8_t)(model.number >> 8 * k);
        e[8] = (uint8_t)model.state;
        memcpy(e + 9, model.root, 32);
        nq_sha256_update(&c, e, sizeof e);
    }
    nq_sha256_final(&c, out);
}

void nqc_certify(void) {
    uint8_t h[32];
    nqc_registry_hash(h);
    ic0_certified_data_set(h, 32);
}

/* -------------------------------------------------------------- lifecycle */

EXPORT("canister_init") void canister_init(void) {
    __wasm_call_ctors();
    char err[200];
    if (nqs_format(err, sizeof err)) msg_trap("init: %s", err);
    nqc_certify();
}

EXPORT("canister_pre_upgrade") void canister_pre_upgrade(void) {
    /* Nothing to save: all state already lives in stable memory. */
}

EXPORT("canister_post_upgrade") void canister_post_upgrade(void) {
    __wasm_call_ctors();
    char err[200];
    if (nqs_open(err, sizeof err)) msg_trap("post_upgrade: %s", err);
    uint32_t slot;
    static nqs_model model;
    nqs_model_find(0, &slot, &model); /* builds the heap cache once, here */
    nqc_certify();
}

/* ----------------------------------------------------------------- writes */

EXPORT("canister_update create_model") void m_create_model(void) {
    MSG_OPEN(m, a, 1, &t_create_args);
    const cd_val *f = a[0].sub;
    if (msg_caller_is_anonymous(&m)) { msg_reject(&m, "create_model: the anonymous principal cannot own models"); return; }
    if (f[CA_NAME].n == 0 || f[CA_NAME].n > NQS_MAX_NAME) {
        msg_reject(&m, "create_model: name must be 1..%u bytes (got %zu)", NQS_MAX_NAME, f[CA_NAME].n);
        return;
    }
    if (f[CA_DESC].n > NQS_MAX_DESC) {
        msg_reject(&m, "create_model: description is %zu bytes (max %u)", f[CA_DESC].n, NQS_MAX_DESC);
        return;
    }
    uint64_t size = f[CA_SIZE].u;
    if (size < 72 || size > NQS_MAX_MODEL_BYTES) {
        msg_reject(&m, "create_model: size_bytes %llu outside [72, %llu]", (unsigned long long)size,
                   (unsigned long long)NQS_MAX_MODEL_BYTES);
        return;
    }
    const cd_val *root = f[CA_ROOT].sub;
    if (root && root->n != 32) {
        msg_reject(&m, "create_model: expected_root_hash must be 32 bytes (got %zu)", root->n);
        return;
    }
    nqs_super s;
    nqs_super_load(&s);
    nqs_quota q;
    int qi = nqs_quota_find(&s, m.caller, m.caller_len, 1, &q);
    if (qi < 0) { msg_reject(&m, "create_model: the quota table is full"); return; }
    uint64_t need = nqs_round_granule(size);
    uint64_t limit = nqs_quota_limit(&s, &q);
    if (!msg_caller_is_controller(&m) && (q.used > limit || need > limit - q.used)) {
        msg_reject(&m, "create_model: quota exceeded: %llu bytes in use + %llu requested > quota %llu",
                   (unsigned long long)q.used, (unsigned long long)need, (unsigned long long)limit);
        return;
    }
    uint32_t slot;
    if (!nqs_model_free_slot(&s, &slot)) { msg_reject(&m, "create_model: model table full (%u models)", NQS_MAX_MODELS); return; }
    static nqs_model model;
    memset(&model, 0, sizeof model);
    if (nqs_extent_alloc(&s, size, &model.data_off, &model.data_cap)) {
        msg_reject(&m, "create_model: stable memory cannot hold %llu more bytes", (unsigned long long)need);
        return;
    }
    model.in_use = 1;
    model.state = NQS_UPLOADING;
    model.number = s.next_model_number++;
    model.owner_len = (uint8_t)m.caller_len;
    memcpy(model.owner, m.caller, m.caller_len);
    model.size_bytes = size;
    model.created_at = ic0_time();
    if (root) { model.has_expected_root = 1; memcpy(model.expected_root, root->bytes, 32); }
    model.name_len = (uint16_t)f[CA_NAME].n;
    memcpy(model.name, f[CA_NAME].bytes, f[CA_NAME].n);
    model.desc_len = (uint16_t)f[CA_DESC].n;
    memcpy(model.desc, f[CA_DESC].bytes, f[CA_DESC].n);
    q.used += model.data_cap;
    nqs_quota_save(qi, &q);
    nqs_model_save(slot, &model);
    nqs_super_save(&s);
    cd_val id = nqc_id_text(&m.arena, model.number);
    const cd_type *rt[] = {&cd_t_text};
    msg_reply_values(&m, rt, &id, 1);
}

EXPORT("canister_update upload_chunk") void m_upload_chunk(void) {
    MSG_OPEN(m, a, 1, &t_upload_args);
    const cd_val *f = a[0].sub;
    static nqs_model model;
    uint32_t slot;
    if (nqc_load_for_write(&m, &f[UA_ID], "upload_chunk", "upload to", &slot, &model)) return;
    if (model.state != NQS_UPLOADING) {
        msg_reject(&m, "upload_chunk: model %llu is %s; uploads are closed", (unsigned long long)model.number,
                   nqc_state_name(model.state));
        return;
    }
    uint64_t off = f[UA_OFFSET].u, n = f[UA_DATA].n;
    if (n > NQC_MAX_CHUNK) {
        msg_reject(&m, "upload_chunk: chunk of %llu bytes exceeds the %u-byte limit", (unsigned long long)n, NQC_MAX_CHUNK);
        return;
    }
    if (off > model.size_bytes || n > model.size_bytes - off) {
        msg_reject(&m, "upload_chunk: bytes [%llu, +%llu) lie outside the declared size %llu",
                   (unsigned long long)off, (unsigned long long)n, (unsigned long long)model.size_bytes);
        return;
    }
    const cd_val *want = f[UA_SHA].sub;
    if (want) {
        uint8_t h[32];
        nq_sha256(f[UA_DATA].bytes, n, h);
        if (want->n != 32 || memcmp(h, want->bytes, 32) != 0) {
            char got[65];
            nq_hex(h, 32, got);
            msg_reject(&m, "upload_chunk: SHA-256 of bytes [%llu, +%llu) is %s, not the sha256 given (transfer damaged?)",
                       (unsigned long long)off, (unsigned long long)n, got);
            return;
        }
    }
    if (nqs_ranges_add(&model, off, off + n)) {
        msg_reject(&m, "upload_chunk: more than %u disjoint uploaded ranges; fill the gaps first", NQS_MAX_RANGES);
        return;
    }
    nqs_write(model.data_off + off, f[UA_DATA].bytes, n);
    nqs_model_save(slot, &model);
    cd_val *r = cd_v_array(&m.arena, UP_NFIELDS);
    r[UP_RECEIVED] = cd_v_nat(model.received_bytes);
    r[UP_SIZE] = cd_v_nat(model.size_bytes);
    uint32_t missing = model.nranges;
    if (model.nranges && model.ranges[0].start == 0) missing--;
    if (model.nranges && model.ranges[model.nranges - 1].end != model.size_bytes) missing++;
    if (model.nranges == 0) missing = 1;
    r[UP_MISSING] = cd_v_nat(missing);
    nqs_super s;
    nqs_super_load(&s);
    s.last_upload_instructions = ic0_performance_counter(0);
    nqs_super_save(&s);
    msg_debug("upload_chunk: model %llu [%llu, +%llu): %llu instructions", (unsigned long long)model.number,
              (unsigned long long)off, (unsigned long long)n, (unsigned long long)s.last_upload_instructions);
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_upload_progress};
    msg_reply_values(&m, rt, &v, 1);
}

/* activate / deprecate: one state transition, owner or controller. */
static void transition(const char *name, uint32_t from, uint32_t to) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    if (nqc_load_for_write(&m, &a[0], name, "change", &slot, &model)) return;
    if (model.state != from) {
        msg_reject(&m, "%s: model %llu is %s, must be %s", name, (unsigned long long)model.number,
                   nqc_state_name(model.state), nqc_state_name(from));
        return;
    }
    model.state = to;
    if (to == NQS_ACTIVE) model.activated_at = ic0_time();
    nqs_model_save(slot, &model);
    nqc_certify();
    msg_reply_empty(&m);
}

EXPORT("canister_update activate") void m_activate(void) { transition("activate", NQS_VALIDATED, NQS_ACTIVE); }
EXPORT("canister_update deprecate") void m_deprecate(void) { transition("deprecate", NQS_ACTIVE, NQS_DEPRECATED); }

EXPORT("canister_update delete_model") void m_delete_model(void) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    if (nqc_load_for_write(&m, &a[0], "delete_model", "delete", &slot, &model)) return;
    nqs_super s;
    nqs_super_load(&s);
    nqs_quota q;
    int qi = nqs_quota_find(&s, model.owner, model.owner_len, 0, &q);
    if (nqs_extent_free(&s, model.data_off, model.data_cap) ||
        nqs_extent_free(&s, model.index_off, model.index_cap))
        msg_trap("delete_model: free-extent list full");
    if (qi >= 0) {
        uint64_t release = model.data_cap + model.index_cap;
        q.used = q.used > release ? q.used - release : 0;
        nqs_quota_save(qi, &q);
    }
    nqs_model_clear(slot);
    nqs_super_save(&s);
    nqc_certify();
    msg_reply_empty(&m);
}

EXPORT("canister_update set_quota") void m_set_quota(void) {
    MSG_OPEN(m, a, 2, &cd_t_principal, &cd_t_nat64);
    if (!msg_caller_is_controller(&m)) { msg_reject(&m, "set_quota: only controllers may set quotas"); return; }
    nqs_super s;
    nqs_super_load(&s);
    nqs_quota q;
    int qi = nqs_quota_find(&s, a[0].bytes, a[0].n, 1, &q);
    if (qi < 0) { msg_reject(&m, "set_quota: the quota table is full"); return; }
    q.quota = a[1].u;
    nqs_quota_save(qi, &q);
    nqs_super_save(&s);
    msg_reply_empty(&m);
}

EXPORT("canister_update set_default_quota") void m_set_default_quota(void) {
    MSG_OPEN(m, a, 1, &cd_t_nat64);
    if (!msg_caller_is_controller(&m)) { msg_reject(&m, "set_default_quota: only controllers may set quotas"); return; }
    nqs_super s;
    nqs_super_load(&s);
    s.default_quota = a[0].u;
    nqs_super_save(&s);
    msg_reply_empty(&m);
}

/* ------------------------------------------------------------------ reads */

static cd_val opt_nat64(cd_arena *a, uint64_t v) { return v ? cd_v_some(a, cd_v_nat(v)) : cd_v_none(); }

static cd_val model_info(cd_arena *a, const nqs_model *model) {
    cd_val *f = cd_v_array(a, MI_NFIELDS);
    if (!f) msg_trap("out of memory");
    f[MI_ID] = nqc_id_text(a, model->number);
    char *name = cd_alloc(a, model->name_len + 1u), *desc = cd_alloc(a, model->desc_len + 1u);
    uint8_t *owner = cd_alloc(a, 32);
    if (!name || !desc || !owner) msg_trap("out of memory");
    memcpy(name, model->name, model->name_len);
    memcpy(desc, model->desc, model->desc_len);
    memcpy(owner, model->owner, model->owner_len);
    f[MI_NAME] = cd_v_bytes(name, model->name_len);
    f[MI_DESC] = cd_v_bytes(desc, model->desc_len);
    f[MI_OWNER] = cd_v_bytes(owner, model->owner_len);
    f[MI_STATE] = cd_v_variant(a, model->state, cd_v_none());
    f[MI_SIZE] = cd_v_nat(model->size_bytes);
    f[MI_RECEIVED] = cd_v_nat(model->received_bytes);
    f[MI_CREATED] = cd_v_nat(model->created_at);
    f[MI_VALIDATED] = opt_nat64(a, model->validated_at);
    f[MI_ACTIVATED] = opt_nat64(a, model->activated_at);
    if (model->has_root) {
        uint8_t *root = cd_alloc(a, 32);
        if (!root) msg_trap("out of memory");
        memcpy(root, model->root, 32);
        f[MI_ROOT] = cd_v_some(a, cd_v_bytes(root, 32));
    }
    f[MI_SHARDS] = cd_v_nat(model->shard_count);
    f[MI_TENSORS] = cd_v_nat(model->tensor_count);
    f[MI_MANIFEST_BYTES] = cd_v_nat(model->manifest_size);
    f[MI_CHUNKS] = cd_v_nat(model->chunk_count);
    f[MI_BPW].f = model->bits_per_weight;
    f[MI_RATIO].f = model->compression_ratio;
    return cd_v_record(f);
}

/* list_models: models in id order after `after`, at most `limit` (default 100, max 500),
 * so that a reply stays under the 3 MiB query limit whatever the descriptions. */
#define LIST_DEFAULT 100u
#define LIST_MAX 500u

EXPORT("canister_query list_models") void m_list_models(void) {
    MSG_OPEN(m, a, 1, &t_opt_list_args);
    uint64_t after = 0, limit = LIST_DEFAULT;
    if (a[0].sub) {
        const cd_val *f = a[0].sub->sub;
        if (f[LA_AFTER].sub && nqc_parse_id(f[LA_AFTER].sub->bytes, f[LA_AFTER].sub->n, &after)) {
            msg_reject(&m, "list_models: 'after' is not a model id");
            return;
        }
        if (f[LA_LIMIT].sub) limit = f[LA_LIMIT].sub->u < LIST_MAX ? f[LA_LIMIT].sub->u : LIST_MAX;
    }
    nqs_super s;
    nqs_super_load(&s);
    /* the `limit` smallest ids above `after`, by insertion into a sorted slot list */
    uint32_t *slots = cd_alloc(&m.arena, (limit + 1) * sizeof(uint32_t));
    uint64_t *ids = cd_alloc(&m.arena, (limit + 1) * sizeof(uint64_t));
    if (!slots || !ids) msg_trap("out of memory");
    size_t n = 0;
    static nqs_model model;
    for (uint32_t i = 0; i < s.slot_high; i++) {
        if (!nqs_model_load(i, &model) || model.number <= after) continue;
        size_t k = n;
        while (k > 0 && ids[k - 1] > model.number) { ids[k] = ids[k - 1]; slots[k] = slots[k - 1]; k--; }
        ids[k] = model.number;
        slots[k] = i;
        if (n < limit) n++;
    }
    cd_val *items = cd_v_array(&m.arena, n ? n : 1);
    if (!items) msg_trap("out of memory");
    for (size_t k = 0; k < n; k++) {
        nqs_model_load(slots[k], &model);
        items[k] = model_info(&m.arena, &model);
    }
    cd_val v = cd_v_vec(items, n);
    const cd_type *rt[] = {&t_vec_model_info};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query get_model") void m_get_model(void) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    cd_val v = cd_v_none();
    if (nqc_find_model(&a[0], &slot, &model))
        v = cd_v_some(&m.arena, model_info(&m.arena, &model));
    const cd_type *rt[] = {&t_opt_model_info};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query get_manifest_json") void m_get_manifest_json(void) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    cd_val v = cd_v_none();
    if (nqc_find_model(&a[0], &slot, &model) &&
        nqc_committed(&model)) {
        if (model.manifest_size > NQC_MAX_REPLY_SLICE) {
            msg_reject(&m, "get_manifest_json: manifest of %llu bytes exceeds a reply; GET /models/%llu/manifest.json streams it",
                       (unsigned long long)model.manifest_size, (unsigned long long)model.number);
            return;
        }
        char *text = cd_alloc(&m.arena, model.manifest_size + 1);
        if (!text) msg_trap("out of memory");
        nqs_read(model.data_off + model.manifest_off, text, model.manifest_size);
        v = cd_v_some(&m.arena, cd_v_bytes(text, model.manifest_size));
    }
    const cd_type *rt[] = {&t_opt_text};
    msg_reply_values(&m, rt, &v, 1);
}

/* A slice of the committed file: [piece.off + offset, +len) with len capped. */
static cd_val file_slice(cd_arena *a, const nqs_model *model, uint64_t off, uint64_t len) {
    uint8_t *buf = cd_alloc(a, len ? len : 1);
    if (!buf) msg_trap("out of memory");
    nqs_read(model->data_off + off, buf, len);
    return cd_v_bytes(buf, len);
}

EXPORT("canister_query get_shard") void m_get_shard(void) {
    MSG_OPEN(m, a, 1, &t_shard_args);
    const cd_val *f = a[0].sub;
    static nqs_model model;
    uint32_t slot;
    cd_val v = cd_v_none();
    if (nqc_find_model(&f[SA_ID], &slot, &model) &&
        nqc_committed(&model) && f[SA_SHARD].u < model.shard_count) {
        nqs_piece p;
        nqc_shard(&model, (uint32_t)f[SA_SHARD].u, &p);
        uint64_t off = f[SA_OFFSET].u;
        if (off > p.size) {
            msg_reject(&m, "get_shard: offset %llu past the end of shard %llu (%llu bytes)", (unsigned long long)off,
                       (unsigned long long)f[SA_SHARD].u, (unsigned long long)p.size);
            return;
        }
        uint64_t len = f[SA_LENGTH].sub ? f[SA_LENGTH].sub->u : NQC_MAX_REPLY_SLICE;
        if (len > NQC_MAX_REPLY_SLICE) len = NQC_MAX_REPLY_SLICE;
        if (len > p.size - off) len = p.size - off;
        cd_val *r = cd_v_array(&m.arena, SS_NFIELDS);
        uint8_t *sha = cd_alloc(&m.arena, 32);
        if (!r || !sha) msg_trap("out of memory");
        memcpy(sha, p.sha256, 32);
        r[SS_DATA] = file_slice(&m.arena, &model, p.off + off, len);
        r[SS_OFFSET] = cd_v_nat(off);
        r[SS_SIZE] = cd_v_nat(p.size);
        r[SS_SHA] = cd_v_bytes(sha, 32);
        v = cd_v_some(&m.arena, cd_v_record(r));
    }
    const cd_type *rt[] = {&t_opt_shard_slice};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query get_chunk") void m_get_chunk(void) {
    MSG_OPEN(m, a, 2, &cd_t_text, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    uint64_t chunk;
    cd_val v = cd_v_none();
    if (!nqc_parse_index(a[1].bytes, a[1].n, &chunk) && nqc_find_model(&a[0], &slot, &model) &&
        nqc_committed(&model) && chunk < model.chunk_count) {
        nqs_piece p;
        nqc_chunk(&model, (uint32_t)chunk, &p);
        v = cd_v_some(&m.arena, file_slice(&m.arena, &model, p.off, p.size));
    }
    const cd_type *rt[] = {&t_opt_blob};
    msg_reply_values(&m, rt, &v, 1);
}

static float to_f32(double d) { return (float)d; }

EXPORT("canister_query get_manifest") void m_get_manifest(void) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    cd_val v = cd_v_none();
    if (nqc_find_model(&a[0], &slot, &model)) {
        cd_arena *ar = &m.arena;
        cd_val *f = cd_v_array(ar, OM_NFIELDS), *q = cd_v_array(ar, QM_NFIELDS);
        cd_val *chunks = cd_v_array(ar, model.chunk_count ? model.chunk_count : 1);
        char *checksum = cd_alloc(ar, 65);
        if (!f || !q || !chunks || !checksum) msg_trap("out of memory");
        nq_hex(model.root, model.has_root ? 32 : 0, checksum);
        f[OM_ID] = nqc_id_text(ar, model.number);
        f[OM_VERSION] = cd_v_text("novaq-1");
        /* OHMS knows Pending/Active/Deprecated: uploading and validated models are Pending. */
        uint64_t ostate = model.state == NQS_ACTIVE ? 1 : model.state == NQS_DEPRECATED ? 2 : 0;
        f[OM_STATE] = cd_v_variant(ar, ostate, cd_v_none());
        f[OM_UPLOADED] = cd_v_nat(model.validated_at ? model.validated_at : model.created_at);
        f[OM_ACTIVATED] = opt_nat64(ar, model.activated_at);
        f[OM_TOTAL] = cd_v_nat(model.size_bytes);
        f[OM_NCHUNKS] = cd_v_nat(model.chunk_count);
        f[OM_CHECKSUM] = cd_v_text(checksum);
        q[QM_FORMAT] = cd_v_variant(ar, 0, cd_v_none());
        q[QM_CHECKSUM] = cd_v_text(checksum);
        q[QM_RATIO].f = to_f32(model.compression_ratio);
        q[QM_RETENTION].f = 0; /* unknown to the canister: measured offline (novaq benchmark) */
        q[QM_BPW] = model.bits_per_weight > 0 ? cd_v_some(ar, (cd_val){.f = model.bits_per_weight}) : cd_v_none();
        q[QM_NOTES] = cd_v_some(ar, cd_v_text("NOVAQ container; chunks cover the whole .novaq file in order; "
                                              "accuracy_retention is not measured by the canister (0)"));
        f[OM_QUANT] = cd_v_record(q);
        cd_val *meta = cd_v_array(ar, 2);
        cd_val *kv0 = cd_v_array(ar, 2), *kv1 = cd_v_array(ar, 2);
        if (!meta || !kv0 || !kv1) msg_trap("out of memory");
        char *name = cd_alloc(ar, model.name_len + 1u);
        if (!name) msg_trap("out of memory");
        memcpy(name, model.name, model.name_len);
        kv0[0] = cd_v_text("name");
        kv0[1] = cd_v_bytes(name, model.name_len);
        kv1[0] = cd_v_text("novaq_state");
        kv1[1] = cd_v_text(nqc_state_name(model.state));
        meta[0] = cd_v_record(kv0);
        meta[1] = cd_v_record(kv1);
        f[OM_META] = cd_v_vec(meta, 2);
        for (uint32_t i = 0; i < model.chunk_count; i++) {
            nqs_piece p;
            nqc_chunk(&model, i, &p);
            cd_val *c = cd_v_array(ar, CI_NFIELDS);
            char *hex = cd_alloc(ar, 65);
            if (!c || !hex) msg_trap("out of memory");
            nq_hex(p.sha256, 32, hex);
            c[CI_ID] = nqc_id_text(ar, i);
            c[CI_OFFSET] = cd_v_nat(p.off);
            c[CI_SIZE] = cd_v_nat(p.size);
            c[CI_SHA] = cd_v_text(hex);
            chunks[i] = cd_v_record(c);
        }
        f[OM_CHUNKS] = cd_v_vec(chunks, model.chunk_count);
        v = cd_v_some(ar, cd_v_record(f));
    }
    const cd_type *rt[] = {&t_opt_manifest};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query get_quota") void m_get_quota(void) {
    MSG_OPEN(m, a, 1, &t_opt_principal);
    const uint8_t *p = a[0].sub ? a[0].sub->bytes : m.caller;
    size_t n = a[0].sub ? a[0].sub->n : m.caller_len;
    nqs_super s;
    nqs_super_load(&s);
    nqs_quota q;
    nqs_quota_find(&s, p, n, 0, &q);
    cd_val *r = cd_v_array(&m.arena, QI_NFIELDS);
    if (!r) msg_trap("out of memory");
    r[QI_OWNER] = cd_v_bytes(p, n);
    r[QI_QUOTA] = cd_v_nat(nqs_quota_limit(&s, &q));
    r[QI_USED] = cd_v_nat(q.used);
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_quota_info};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query stats") void m_stats(void) {
    msg m;
    if (msg_open(&m, NULL, 0, NULL)) return;
    nqs_super s;
    nqs_super_load(&s);
    uint32_t count = 0;
    static nqs_model model;
    for (uint32_t i = 0; i < s.slot_high; i++) count += (uint32_t)nqs_model_load(i, &model);
    cd_val *r = cd_v_array(&m.arena, ST_NFIELDS);
    if (!r) msg_trap("out of memory");
    r[ST_MODELS] = cd_v_nat(count);
    r[ST_STABLE] = cd_v_nat(ic0_stable64_size() * NQS_PAGE);
    r[ST_RESERVED] = cd_v_nat(s.reserved_total);
    r[ST_QUOTA] = cd_v_nat(s.default_quota);
    r[ST_UPLOAD_INSTR] = cd_v_nat(s.last_upload_instructions);
    r[ST_COMMIT_INSTR] = cd_v_nat(s.last_commit_instructions);
    r[ST_COMMIT_BYTES] = cd_v_nat(s.last_commit_bytes);
    r[ST_LAYOUT] = cd_v_nat(NQS_LAYOUT_VERSION);
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_stats};
    msg_reply_values(&m, rt, &v, 1);
}

EXPORT("canister_query certified_registry") void m_certified_registry(void) {
    msg m;
    if (msg_open(&m, NULL, 0, NULL)) return;
    cd_arena *ar = &m.arena;
    nqs_super s;
    nqs_super_load(&s);
    cd_val *entries = cd_v_array(ar, s.slot_high ? s.slot_high : 1);
    cd_val *r = cd_v_array(ar, CT_NFIELDS);
    uint8_t *hash = cd_alloc(ar, 32);
    if (!entries || !r || !hash) msg_trap("out of memory");
    size_t n = 0;
    static nqs_model model;
    for (uint32_t i = 0; i < s.slot_high; i++) {
        if (!nqs_model_load(i, &model) || !nqc_committed(&model)) continue;
        cd_val *e = cd_v_array(ar, CE_NFIELDS);
        uint8_t *root = cd_alloc(ar, 32);
        if (!e || !root) msg_trap("out of memory");
        memcpy(root, model.root, 32);
        e[CE_ID] = nqc_id_text(ar, model.number);
        e[CE_STATE] = cd_v_variant(ar, model.state, cd_v_none());
        e[CE_ROOT] = cd_v_bytes(root, 32);
        entries[n++] = cd_v_record(e);
    }
    nqc_registry_hash(hash);
    if (ic0_data_certificate_present()) {
        uint32_t len = ic0_data_certificate_size();
        uint8_t *cert = cd_alloc(ar, len ? len : 1);
        if (!cert) msg_trap("out of memory");
        ic0_data_certificate_copy(cert, 0, len);
        r[CT_CERT] = cd_v_some(ar, cd_v_bytes(cert, len));
    }
    r[CT_HASH] = cd_v_bytes(hash, 32);
    r[CT_ENTRIES] = cd_v_vec(entries, n);
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_certified};
    msg_reply_values(&m, rt, &v, 1);
}
