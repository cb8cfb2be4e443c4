/* writer.c - the .novaq writer: packs each tensor's parts into shards of bounded size
 * (a part never straddles two shards), hashes every shard as it streams out, then writes
 * the manifest (tensors, shards, root hash, statistics) and the footer that locates it.
 * Nothing is buffered beyond one part: output goes straight to the nq_writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "novaq_internal.h"
#include "common/format.h"
#include "common/util.h"
#include "compress/settings.h"

struct nq_container {
    nq_writer w;
    nq_settings s;
    uint64_t pos;              /* bytes written so far */
    cJSON *root, *tensors, *shards, *codebooks;
    int shared_nparts;         /* model-wide codebook stages written (0: none yet) */
    uint8_t shared_sha[NQ_MAX_STAGES][32];
    int nshards;
    uint64_t shard_start, shard_size;
    nq_sha256_ctx shard_hash;
    nq_sha256_ctx root_hash;   /* over the 32-byte shard hashes in order */
    uint64_t weights, payload, q_weights, q_payload;
    double sse, signal;
};

static nq_status put(nq_container *c, const void *p, size_t n, nq_err *e) {
    if (n && c->w.write(c->w.ctx, p, n))
        return nq_fail(e, NQ_E_IO, "write of %zu bytes at output offset %llu failed", n,
                       (unsigned long long)c->pos);
    c->pos += n;
    return NQ_OK;
}

static cJSON *source_json(const char *format, const nq_source_file *src, int nsrc, const char *meta) {
    cJSON *o = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(o, "files");
    cJSON_AddStringToObject(o, "format", format ? format : "unknown");
    for (int i = 0; i < nsrc; i++) {
        cJSON *f = cJSON_CreateObject();
        char hex[65];
        nq_hex(src[i].sha256, 32, hex);
        cJSON_AddStringToObject(f, "name", src[i].name);
        cJSON_AddNumberToObject(f, "size", (double)src[i].size);
        cJSON_AddStringToObject(f, "sha256", hex);
        cJSON_AddItemToArray(files, f);
    }
    cJSON *m = meta ? cJSON_Parse(meta) : NULL;
    if (m) cJSON_AddItemToObject(o, "metadata", m);
    return o;
}

nq_status nq_container_begin(nq_container **out, const nq_writer *w, const nq_settings *s,
                             const char *source_format, const nq_source_file *src, int nsrc,
                             const char *source_metadata_json, nq_err *e) {
    *out = NULL;
    nq_status st = nq_settings_check(s, e);
    if (st) return st;
    nq_container *c = calloc(1, sizeof *c);
    if (!c) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    c->w = *w;
    c->s = *s;
    c->root = cJSON_CreateObject();
    cJSON_AddStringToObject(c->root, "format", "novaq");
    cJSON_AddNumberToObject(c->root, "version", NQ_FORMAT_VERSION);
    cJSON_AddStringToObject(c->root, "generator", "novaq " NQ_VERSION_STRING);
    cJSON_AddItemToObject(c->root, "source", source_json(source_format, src, nsrc, source_metadata_json));
    cJSON_AddItemToObject(c->root, "settings", nq_settings_json_object(s, NQ_VOCAB_MANIFEST));
    c->codebooks = cJSON_AddArrayToObject(c->root, "codebooks");
    c->tensors = cJSON_AddArrayToObject(c->root, "tensors");
    c->shards = cJSON_AddArrayToObject(c->root, "shards");
    nq_sha256_init(&c->root_hash);
    uint8_t hdr[NQ_HEADER_SIZE];
    memcpy(hdr, NQ_MAGIC, 8);
    nq_put_u32(hdr + 8, NQ_FORMAT_VERSION);
    nq_put_u32(hdr + 12, 0); /* flags: none defined; readers reject any other value */
    if ((st = put(c, hdr, sizeof hdr, e))) { nq_container_abort(c); return st; }
    c->shard_start = c->pos;
    nq_sha256_init(&c->shard_hash);
    *out = c;
    return NQ_OK;
}

static void close_shard(nq_container *c) {
    if (!c->shard_size) return;
    uint8_t h[32];
    char hex[65];
    nq_sha256_final(&c->shard_hash, h);
    nq_sha256_update(&c->root_hash, h, 32);
    nq_hex(h, 32, hex);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", c->nshards);
    cJSON_AddNumberToObject(o, "offset", (double)c->shard_start);
    cJSON_AddNumberToObject(o, "size", (double)c->shard_size);
    cJSON_AddStringToObject(o, "sha256", hex);
    cJSON_AddItemToArray(c->shards, o);
    c->nshards++;
    c->shard_start = c->pos;
    c->shard_size = 0;
    nq_sha256_init(&c->shard_hash);
}

static nq_status put_part(nq_container *c, const nq_part *p, cJSON *parts, nq_err *e) {
    if (p->size > c->s.shard_max_bytes)
        return nq_fail(e, NQ_E_LIMIT, "part of %zu bytes exceeds the shard size %u", p->size,
                       c->s.shard_max_bytes);
    if ((unsigned)p->kind >= NQ_PART_KIND_COUNT) return nq_fail(e, NQ_E_ARG, "unknown part kind %d", p->kind);
    if (c->shard_size + p->size > c->s.shard_max_bytes) close_shard(c);
    cJSON *o = cJSON_CreateObject();
    int kind = p->kind == NQ_PART_SHARED ? NQ_PART_CODEBOOK : p->kind; /* as listed in "codebooks" */
    cJSON_AddStringToObject(o, "kind", nq_part_kind_names[kind]);
    if (p->kind != NQ_PART_NORM) {
        cJSON_AddNumberToObject(o, "a", (double)p->a);
        cJSON_AddNumberToObject(o, "b", (double)p->b);
    }
    cJSON_AddNumberToObject(o, "shard", c->nshards);
    cJSON_AddNumberToObject(o, "offset", (double)c->shard_size);
    cJSON_AddNumberToObject(o, "size", (double)p->size);
    cJSON_AddStringToObject(o, "codec", p->codec == NQ_CODEC_ZSTD ? "zstd" : "none");
    cJSON_AddNumberToObject(o, "raw_size", (double)p->raw_size);
    cJSON_AddItemToArray(parts, o);
    nq_sha256_update(&c->shard_hash, p->data, p->size);
    c->shard_size += p->size;
    return put(c, p->data, p->size, e);
}

/* The model-wide codebook set travels with every tensor encoded with it: the first copy
 * is written (listed under "codebooks", counted once), later copies must be identical. */
static nq_status add_shared(nq_container *c, const nq_encoded *enc, nq_err *e) {
    int n = 0;
    for (int i = 0; i < enc->nparts; i++) n += enc->parts[i].kind == NQ_PART_SHARED;
    if (!n) return NQ_OK;
    if (n != c->s.nstages) return nq_fail(e, NQ_E_ARG, "tensor carries %d shared codebook stages, settings have %d", n, c->s.nstages);
    nq_status st = NQ_OK;
    cJSON *parts = NULL;
    if (!c->shared_nparts) {
        cJSON *set = cJSON_CreateObject(), *k = cJSON_CreateArray();
        cJSON_AddNumberToObject(set, "index", 0);
        cJSON_AddNumberToObject(set, "d", c->s.d);
        for (int i = 0; i < c->s.nstages; i++) cJSON_AddItemToArray(k, cJSON_CreateNumber(c->s.K[i]));
        cJSON_AddItemToObject(set, "K", k);
        parts = cJSON_AddArrayToObject(set, "parts");
        cJSON_AddItemToArray(c->codebooks, set);
    }
    for (int i = 0; i < enc->nparts && st == NQ_OK; i++) {
        const nq_part *p = &enc->parts[i];
        if (p->kind != NQ_PART_SHARED) continue;
        if (p->a != 0 || p->b < 0 || p->b >= c->s.nstages)
            return nq_fail(e, NQ_E_ARG, "shared codebook part (set %lld, stage %lld) is out of range", (long long)p->a, (long long)p->b);
        uint8_t h[32];
        nq_sha256(p->data, p->size, h);
        if (parts) {
            memcpy(c->shared_sha[p->b], h, 32);
            st = put_part(c, p, parts, e);
            c->payload += p->size;
            c->q_payload += p->size;
        } else if (memcmp(h, c->shared_sha[p->b], 32)) {
            st = nq_fail(e, NQ_E_ARG, "tensor was encoded with another shared codebook (stage %lld differs)", (long long)p->b);
        }
    }
    if (parts) c->shared_nparts = n;
    return st;
}

nq_status nq_container_add(nq_container *c, const nq_encoded *enc, nq_err *e) {
    cJSON *t = cJSON_Parse(enc->meta_json);
    if (!t || !cJSON_IsObject(t)) { cJSON_Delete(t); return nq_fail(e, NQ_E_ARG, "tensor entry is not JSON"); }
    nq_status st = add_shared(c, enc, e);
    if (st) { cJSON_Delete(t); return st; }
    cJSON *parts = cJSON_AddArrayToObject(t, "parts");
    cJSON_AddNumberToObject(t, "offset", (double)c->pos);
    for (int i = 0; i < enc->nparts && st == NQ_OK; i++)
        if (enc->parts[i].kind != NQ_PART_SHARED) st = put_part(c, &enc->parts[i], parts, e);
    cJSON_AddItemToArray(c->tensors, t);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(t, "method");
    c->weights += enc->weights;
    c->payload += enc->stored_bytes;
    if (cJSON_IsString(method) && !strcmp(method->valuestring, "vq")) {
        c->q_weights += enc->weights;
        c->q_payload += enc->stored_bytes;
        c->sse += enc->sse;
        c->signal += enc->signal;
    }
    return st;
}

static void add_stats(nq_container *c) {
    cJSON *o = cJSON_AddObjectToObject(c->root, "stats");
    cJSON_AddNumberToObject(o, "tensors", cJSON_GetArraySize(c->tensors));
    cJSON_AddNumberToObject(o, "weights", (double)c->weights);
    cJSON_AddNumberToObject(o, "payload_bytes", (double)c->payload);
    cJSON_AddNumberToObject(o, "quantized_weights", (double)c->q_weights);
    cJSON_AddNumberToObject(o, "quantized_payload_bytes", (double)c->q_payload);
    cJSON_AddNumberToObject(o, "bits_per_weight_payload",
                            c->weights ? (double)c->payload * 8 / (double)c->weights : 0);
    cJSON_AddNumberToObject(o, "bits_per_weight_quantized",
                            c->q_weights ? (double)c->q_payload * 8 / (double)c->q_weights : 0);
    cJSON_AddNumberToObject(o, "quantized_sqnr_db", nq_sqnr_db(c->sse, c->signal));
}

nq_status nq_container_finish(nq_container *c, nq_err *e) {
    close_shard(c);
    uint8_t root[32];
    char hex[65];
    nq_sha256_final(&c->root_hash, root);
    nq_hex(root, 32, hex);
    cJSON_AddStringToObject(c->root, "root_hash", hex);
    add_stats(c);
    char *json = cJSON_PrintUnformatted(c->root);
    nq_status st = json ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (st == NQ_OK) {
        size_t n = strlen(json);
        uint8_t foot[NQ_FOOTER_SIZE];
        nq_put_u64(foot, c->pos);
        nq_put_u64(foot + 8, n);
        nq_sha256(json, n, foot + 16);
        nq_put_u32(foot + 48, NQ_FORMAT_VERSION);
        memcpy(foot + 52, NQ_FOOTER_MAGIC, 4);
        st = put(c, json, n, e);
        if (st == NQ_OK) st = put(c, foot, sizeof foot, e);
    }
    free(json);
    nq_container_abort(c);
    return st;
}

void nq_container_abort(nq_container *c) {
    if (!c) return;
    cJSON_Delete(c->root);
    free(c);
}
