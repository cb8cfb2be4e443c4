/* commit.c - commit: validate an uploaded .novaq with the NOVAQ core and register it.
 *
 * The core does all the checking (nq_validate: footer, manifest hash and schema, every
 * shard's SHA-256, every tensor's parts, root hash), reading straight from stable memory
 * through an nq_reader. Only after it passes does commit read the validated manifest's
 * shard list and root hash (nq_novaq_open + the manifest text) to build the serving
 * index: the shard table and the OHMS chunk table (header, each shard - cut in 1 MiB
 * pieces if it is over 2,000,000 bytes -, the manifest in pieces of at most 1 MiB, the
 * footer: together the whole file, in order, every chunk small enough for one reply). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "common/format.h"
#include "iface.h"
#include "ic0.h"
#include "novaq.h"

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define MAX_PROBLEMS 64
#define MANIFEST_PIECE (1u << 20)

typedef struct problems {
    cd_arena *arena;
    cd_val items[MAX_PROBLEMS];
    int n, total;
} problems;

static void add_problem(problems *p, const char *where, const char *what) {
    p->total++;
    if (p->n == MAX_PROBLEMS) return;
    cd_val *f = cd_v_array(p->arena, PR_NFIELDS);
    char *w = cd_alloc(p->arena, strlen(where) + 1), *m = cd_alloc(p->arena, strlen(what) + 1);
    if (!f || !w || !m) msg_trap("out of memory");
    strcpy(w, where);
    strcpy(m, what);
    f[PR_LOCATION] = cd_v_text(w);
    f[PR_MESSAGE] = cd_v_text(m);
    p->items[p->n++] = cd_v_record(f);
}

static void on_problem(void *ctx, const char *where, const char *what) { add_problem(ctx, where, what); }

static int stable_read(void *ctx, uint64_t off, void *dst, size_t len) {
    const nqs_model *model = ctx;
    if (off > model->size_bytes || len > model->size_bytes - off) return -1;
    nqs_read(model->data_off + off, dst, len);
    return 0;
}

static nq_reader model_reader(nqs_model *model) {
    nq_reader r = {model, model->size_bytes, "uploaded .novaq", stable_read};
    return r;
}

/* Gaps in the upload, as problems. */
static void coverage_problems(const nqs_model *model, problems *p) {
    uint64_t at = 0;
    char what[160];
    for (uint32_t i = 0; i <= model->nranges; i++) {
        uint64_t next = i < model->nranges ? model->ranges[i].start : model->size_bytes;
        if (next > at) {
            snprintf(what, sizeof what, "bytes [%llu, %llu) were never uploaded", (unsigned long long)at,
                     (unsigned long long)next);
            add_problem(p, "upload", what);
        }
        if (i < model->nranges) at = model->ranges[i].end;
    }
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The serving index of a validated file. */
typedef struct index {
    nqs_piece *shards, *chunks;
    uint32_t nshards, nchunks;
    uint8_t root[32];
    uint64_t manifest_off, manifest_size;
    double ratio, bpw;
} index_t;

static void piece_hash(nqs_model *model, nqs_piece *p) {
    enum { BUF = 1 << 16 };
    static uint8_t buf[BUF];
    nq_sha256_ctx c;
    nq_sha256_init(&c);
    for (uint64_t o = 0; o < p->size; o += BUF) {
        size_t n = (size_t)(p->size - o < BUF ? p->size - o : BUF);
        nqs_read(model->data_off + p->off + o, buf, n);
        nq_sha256_update(&c, buf, n);
    }
    nq_sha256_final(&c, p->sha256);
}

/* Read the manifest's shard list, root hash and totals (already validated by the core). */
static int build_index(nqs_model *model, const char *manifest, index_t *ix, problems *p) {
    cJSON *root = cJSON_Parse(manifest);
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(root, "shards");
    const cJSON *rh = cJSON_GetObjectItemCaseSensitive(root, "root_hash");
    if (!root || !cJSON_IsArray(shards) || !cJSON_IsString(rh) || !nq_hex_parse(rh->valuestring, ix->root, 32)) {
        cJSON_Delete(root);
        add_problem(p, "manifest", "no shard list or root_hash after validation (core/canister mismatch)");
        return -1;
    }
    ix->nshards = (uint32_t)cJSON_GetArraySize(shards);
    /* chunks: header + footer, and every shard, manifest byte range in pieces; a shard
     * too big for one reply is cut in MANIFEST_PIECE pieces as well (hashed here) */
    uint64_t nchunks = 2 + (ix->manifest_size + MANIFEST_PIECE - 1) / MANIFEST_PIECE;
    for (const cJSON *s = shards->child; s; s = s->next) {
        uint64_t size = (uint64_t)num(s, "size");
        nchunks += size <= NQC_MAX_REPLY_SLICE ? 1 : (size + MANIFEST_PIECE - 1) / MANIFEST_PIECE;
    }
    ix->shards = calloc(ix->nshards + (size_t)nchunks, sizeof(nqs_piece));
    if (!ix->shards) msg_trap("out of memory");
    ix->chunks = ix->shards + ix->nshards;
    uint32_t i = 0;
    for (const cJSON *s = shards->child; s; s = s->next, i++) {
        nqs_piece *sp = &ix->shards[i];
        sp->off = (uint64_t)num(s, "offset");
        sp->size = (uint64_t)num(s, "size");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(s, "sha256");
        if (!nq_hex_parse(cJSON_IsString(h) ? h->valuestring : NULL, sp->sha256, 32)) msg_trap("shard %u: bad sha256", i);
    }
    uint32_t c = 0;
    ix->chunks[c] = (nqs_piece){.off = 0, .size = NQ_HEADER_SIZE};
    piece_hash(model, &ix->chunks[c++]);
    for (i = 0; i < ix->nshards; i++) {
        const nqs_piece *sp = &ix->shards[i];
        if (sp->size <= NQC_MAX_REPLY_SLICE) { ix->chunks[c++] = *sp; continue; }
        for (uint64_t o = 0; o < sp->size; o += MANIFEST_PIECE) {
            uint64_t n = sp->size - o < MANIFEST_PIECE ? sp->size - o : MANIFEST_PIECE;
            ix->chunks[c] = (nqs_piece){.off = sp->off + o, .size = n};
            piece_hash(model, &ix->chunks[c++]);
        }
    }
    for (uint64_t o = 0; o < ix->manifest_size; o += MANIFEST_PIECE) {
        uint64_t n = ix->manifest_size - o < MANIFEST_PIECE ? ix->manifest_size - o : MANIFEST_PIECE;
        ix->chunks[c] = (nqs_piece){.off = ix->manifest_off + o, .size = n};
        piece_hash(model, &ix->chunks[c++]);
    }
    ix->chunks[c] = (nqs_piece){.off = model->size_bytes - NQ_FOOTER_SIZE, .size = NQ_FOOTER_SIZE};
    piece_hash(model, &ix->chunks[c++]);
    ix->nchunks = c;
    /* totals for get_manifest: all-in bits per weight and whole-file ratio */
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(root, "stats");
    double weights = num(stats, "weights");
    ix->bpw = weights > 0 ? 8.0 * (double)model->size_bytes / weights : 0;
    double original = 0;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "source"), "files");
    for (const cJSON *f = cJSON_IsArray(files) ? files->child : NULL; f; f = f->next) original += num(f, "size");
    ix->ratio = original > 0 ? original / (double)model->size_bytes : 0;
    cJSON_Delete(root);
    return 0;
}

static void write_index(nqs_model *model, const index_t *ix) {
    uint64_t rows = (uint64_t)ix->nshards + ix->nchunks;
    uint8_t *buf = malloc(rows * NQS_PIECE_SIZE + 1);
    if (!buf) msg_trap("out of memory");
    for (uint64_t r = 0; r < rows; r++) {
        const nqs_piece *p = &ix->shards[r]; /* chunks follow shards in the same block */
        memcpy(buf + r * NQS_PIECE_SIZE, &p->off, 8);
        memcpy(buf + r * NQS_PIECE_SIZE + 8, &p->size, 8);
        memcpy(buf + r * NQS_PIECE_SIZE + 16, p->sha256, 32);
    }
    nqs_write(model->index_off, buf, rows * NQS_PIECE_SIZE);
    free(buf);
}

static void reply_report(msg *m, int ok, const nqs_model *model, problems *p, uint64_t instr) {
    cd_arena *a = &m->arena;
    cd_val *r = cd_v_array(a, CR_NFIELDS);
    if (!r) msg_trap("out of memory");
    if (p->total > p->n) {
        char what[80];
        snprintf(what, sizeof what, "%d more problem(s) not listed", p->total - p->n);
        p->total--; /* the summary itself is not a problem */
        p->n--;
        add_problem(p, "report", what);
    }
    r[CR_OK] = cd_v_bool(ok);
    r[CR_STATE] = cd_v_variant(a, model->state, cd_v_none());
    r[CR_PROBLEMS] = cd_v_vec(p->items, (size_t)p->n);
    r[CR_SHARDS] = cd_v_nat(model->shard_count);
    r[CR_TENSORS] = cd_v_nat(model->tensor_count);
    if (model->has_root) {
        uint8_t *root = cd_alloc(a, 32);
        if (!root) msg_trap("out of memory");
        memcpy(root, model->root, 32);
        r[CR_ROOT] = cd_v_some(a, cd_v_bytes(root, 32));
    }
    r[CR_INSTR] = cd_v_nat(instr);
    cd_val v = cd_v_record(r);
    const cd_type *rt[] = {&t_commit_report};
    msg_reply_values(m, rt, &v, 1);
}

static void record_cost(uint64_t bytes, uint64_t *instr) {
    nqs_super s;
    nqs_super_load(&s);
    *instr = ic0_performance_counter(0);
    s.last_commit_instructions = *instr;
    s.last_commit_bytes = bytes;
    nqs_super_save(&s);
    msg_debug("commit: %llu bytes, %llu instructions", (unsigned long long)bytes, (unsigned long long)*instr);
}

EXPORT("canister_update commit") void m_commit(void) {
    MSG_OPEN(m, a, 1, &cd_t_text);
    static nqs_model model;
    uint32_t slot;
    if (nqc_load_for_write(&m, &a[0], "commit", "commit", &slot, &model)) return;
    if (model.state != NQS_UPLOADING) {
        msg_reject(&m, "commit: model %llu is already %s", (unsigned long long)model.number, nqc_state_name(model.state));
        return;
    }
    problems p = {.arena = &m.arena};
    uint64_t instr;
    if (model.received_bytes != model.size_bytes) {
        coverage_problems(&model, &p);
        record_cost(0, &instr);
        reply_report(&m, 0, &model, &p, instr);
        return;
    }
    nq_reader r = model_reader(&model);
    int nproblems = 0;
    nq_err e = {0};
    nq_status st = nq_validate(&r, on_problem, &p, &nproblems, &e);
    if (st == NQ_OK) {
        nq_model *nm = NULL;
        st = nq_novaq_open(&nm, &r, &e);
        if (st != NQ_OK) add_problem(&p, "novaq", e.msg);
        index_t ix = {0};
        uint8_t foot[NQ_FOOTER_SIZE];
        nqs_read(model.data_off + model.size_bytes - NQ_FOOTER_SIZE, foot, sizeof foot);
        memcpy(&ix.manifest_off, foot, 8);
        memcpy(&ix.manifest_size, foot + 8, 8);
        if (st == NQ_OK && build_index(&model, nq_novaq_manifest(nm), &ix, &p) == 0) {
            model.tensor_count = (uint32_t)nq_model_tensor_count(nm);
            if (model.has_expected_root && memcmp(model.expected_root, ix.root, 32)) {
                char want[65], got[65];
                nq_hex(model.expected_root, 32, want);
                nq_hex(ix.root, 32, got);
                char what[200];
                snprintf(what, sizeof what, "root_hash %s differs from the expected %s given to create_model", got, want);
                add_problem(&p, "manifest", what);
                st = NQ_E_HASH;
            }
        } else if (st == NQ_OK) {
            st = NQ_E_FORMAT;
        }
        nq_model_free(nm);
        if (st == NQ_OK) {
            nqs_super s;
            nqs_super_load(&s);
            uint64_t bytes = ((uint64_t)ix.nshards + ix.nchunks) * NQS_PIECE_SIZE;
            if (nqs_extent_alloc(&s, bytes, &model.index_off, &model.index_cap)) {
                free(ix.shards);
                msg_reject(&m, "commit: stable memory cannot hold the %llu-byte index", (unsigned long long)bytes);
                return;
            }
            nqs_super_save(&s);
            nqs_quota q;
            int qi = nqs_quota_find(&s, model.owner, model.owner_len, 0, &q);
            if (qi >= 0) { q.used += model.index_cap; nqs_quota_save(qi, &q); }
            write_index(&model, &ix);
            model.state = NQS_VALIDATED;
            model.validated_at = ic0_time();
            model.has_root = 1;
            memcpy(model.root, ix.root, 32);
            model.shard_count = ix.nshards;
            model.chunk_count = ix.nchunks;
            model.manifest_off = ix.manifest_off;
            model.manifest_size = ix.manifest_size;
            model.compression_ratio = ix.ratio;
            model.bits_per_weight = ix.bpw;
            nqs_model_save(slot, &model);
            nqc_certify();
        }
        free(ix.shards);
    } else if (p.total == 0) {
        add_problem(&p, "novaq", e.msg);
    }
    record_cost(model.size_bytes, &instr);
    reply_report(&m, st == NQ_OK, &model, &p, instr);
}
