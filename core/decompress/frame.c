/* frame.c - the .novaq frame and manifest: header, footer, manifest hash, and the manifest's
 * schema (shards, codebook sets, tensors and their parts), every number range-checked and
 * every span checked against the file before anything uses it (docs/FORMAT.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "decompress/novaq_file.h"
#include "common/format.h"
#include "common/layout.h"
#include "common/util.h"

void nv_report(reporter *r, const char *where, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->count++;
    if (r->fn) r->fn(r->ctx, where, msg);
}

void nv_free(void *p) {
    nv_file *f = p;
    if (!f) return;
    free(f->manifest);
    free(f->verified);
    free(f->cache);
    free(f->raw_buf);
    free(f->shards);
    free(f->sets);
    free(f->t); /* parts live in one block after the tensors */
    free(f);
}

/* ------------------------------------------------------------ JSON helpers */

#define JSON_MAX_INT 9007199254740992LL /* 2^53: larger JSON numbers are not exact */

/* o[key] as an integer in [0, 2^53]; 0 if missing, not a number, fractional or out of range. */
static int num_u64(const cJSON *o, const char *key, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t x;
    if (!cJSON_IsNumber(v) || !nq_f64_to_i64(v->valuedouble, 0, JSON_MAX_INT, &x)) return 0;
    *out = (uint64_t)x;
    return 1;
}

/* The codebook size K[i] of a 'vq' description or codebook set (a power of two in
 * 2..65536) and its bits; 0 after reporting what is wrong with it at `where`. */
static int codebook_size(const cJSON *k, const char *field, int i, const char *where, reporter *rep,
                         int *K, int *bits) {
    int64_t v = 0;
    int b = 0;
    if (cJSON_IsNumber(k) && nq_f64_to_i64(k->valuedouble, 2, 65536, &v))
        while ((1 << b) < v) b++;
    if (v < 2 || (1 << b) != v) {
        if (cJSON_IsNumber(k))
            nv_report(rep, where, "%s[%d] = %.15g: a codebook size must be an integer power of two in 2..65536",
                   field, i, k->valuedouble);
        else
            nv_report(rep, where, "%s[%d] is not a number: a codebook size must be an integer power of two in "
                   "2..65536", field, i);
        return 0;
    }
    *K = (int)v;
    *bits = b;
    return 1;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------- header and footer */

nq_status nv_read_frame(const nq_reader *r, nv_file *f, reporter *rep) {
    const char *name = r->name ? r->name : "novaq";
    uint8_t hdr[NQ_HEADER_SIZE], foot[NQ_FOOTER_SIZE];
    if (r->size < NQ_HEADER_SIZE + NQ_FOOTER_SIZE) {
        nv_report(rep, name, "file is %llu bytes, too short for a .novaq (header + footer = %d)",
               (unsigned long long)r->size, NQ_HEADER_SIZE + NQ_FOOTER_SIZE);
        return NQ_E_FORMAT;
    }
    if (r->read(r->ctx, 0, hdr, sizeof hdr) || r->read(r->ctx, r->size - NQ_FOOTER_SIZE, foot, sizeof foot)) {
        nv_report(rep, name, "cannot read header or footer");
        return NQ_E_IO;
    }
    if (memcmp(hdr, NQ_MAGIC, 8)) { nv_report(rep, "header", "bad magic: not a .novaq file"); return NQ_E_FORMAT; }
    if (nq_get_u32(hdr + 8) != NQ_FORMAT_VERSION) {
        nv_report(rep, "header", "format version %u is not supported (this build reads %d)", nq_get_u32(hdr + 8),
               NQ_FORMAT_VERSION);
        return NQ_E_UNSUPPORTED;
    }
    /* No flag is defined in version 2 and the writer stores 0. The flags are covered by no
     * hash, so any other value is rejected: otherwise they could be changed and the file
     * would still validate (every byte of a file must be checked by something). */
    if (nq_get_u32(hdr + 12) != 0) {
        nv_report(rep, "header", "flags (bytes 12-15) are 0x%08x; version %d defines none, they must be 0",
               (unsigned)nq_get_u32(hdr + 12), NQ_FORMAT_VERSION);
        return NQ_E_FORMAT;
    }
    if (memcmp(foot + 52, NQ_FOOTER_MAGIC, 4) || nq_get_u32(foot + 48) != NQ_FORMAT_VERSION) {
        nv_report(rep, "footer", "bad footer magic or version at byte %llu (file truncated or appended to?)",
               (unsigned long long)(r->size - NQ_FOOTER_SIZE));
        return NQ_E_FORMAT;
    }
    f->manifest_off = nq_get_u64(foot);
    f->manifest_size = nq_get_u64(foot + 8);
    uint64_t end = r->size - NQ_FOOTER_SIZE;
    if (f->manifest_off < NQ_HEADER_SIZE || f->manifest_off > end || f->manifest_size != end - f->manifest_off ||
        f->manifest_size > NQ_MAX_MANIFEST) {
        nv_report(rep, "footer", "manifest at offset %llu, %llu bytes, does not end where the footer begins (%llu)",
               (unsigned long long)f->manifest_off, (unsigned long long)f->manifest_size, (unsigned long long)end);
        return NQ_E_FORMAT;
    }
    f->manifest = malloc(f->manifest_size + 1);
    if (!f->manifest) { nv_report(rep, "manifest", "out of memory"); return NQ_E_NOMEM; }
    if (r->read(r->ctx, f->manifest_off, f->manifest, f->manifest_size)) {
        nv_report(rep, "manifest", "cannot read %llu bytes at offset %llu", (unsigned long long)f->manifest_size,
               (unsigned long long)f->manifest_off);
        return NQ_E_IO;
    }
    f->manifest[f->manifest_size] = 0;
    uint8_t h[32];
    nq_sha256(f->manifest, f->manifest_size, h);
    if (memcmp(h, foot + 16, 32)) {
        nv_report(rep, "manifest", "SHA-256 of the manifest does not match the footer");
        return NQ_E_HASH;
    }
    return NQ_OK;
}

/* ------------------------------------------------------------------ shards */

static void parse_shards(const cJSON *root, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "shards");
    if (!cJSON_IsArray(arr)) { nv_report(rep, "manifest", "missing array 'shards'"); return; }
    int n = cJSON_GetArraySize(arr);
    f->shards = calloc(n ? (size_t)n : 1, sizeof *f->shards);
    if (!f->shards) { nv_report(rep, "manifest", "out of memory"); return; }
    uint64_t expect = NQ_HEADER_SIZE;
    int i = 0;
    for (const cJSON *s = arr->child; s; s = s->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "shard %d", i);
        nv_shard *sh = &f->shards[i];
        uint64_t idx;
        if (!num_u64(s, "index", &idx) || idx != (uint64_t)i) nv_report(rep, where, "'index' must be %d", i);
        if (!num_u64(s, "offset", &sh->off) || !num_u64(s, "size", &sh->size) || sh->size == 0)
            nv_report(rep, where, "missing or invalid 'offset'/'size'");
        else if (sh->off != expect)
            nv_report(rep, where, "starts at byte %llu, expected %llu (shards must be contiguous)",
                   (unsigned long long)sh->off, (unsigned long long)expect);
        else if (sh->size > f->manifest_off - sh->off)
            nv_report(rep, where, "[%llu, +%llu) runs into the manifest at %llu", (unsigned long long)sh->off,
                   (unsigned long long)sh->size, (unsigned long long)f->manifest_off);
        else if (sh->size > NQ_MAX_SHARD)
            nv_report(rep, where, "at byte %llu is %llu bytes, more than the reader's limit of %u",
                   (unsigned long long)sh->off, (unsigned long long)sh->size, NQ_MAX_SHARD);
        if (!nq_hex_parse(str(s, "sha256"), sh->sha, 32)) nv_report(rep, where, "'sha256' is not 64 lowercase hex digits");
        expect = sh->off + sh->size;
    }
    f->nshards = n;
    if (expect != f->manifest_off)
        nv_report(rep, "shards", "end at byte %llu but the manifest starts at %llu", (unsigned long long)expect,
               (unsigned long long)f->manifest_off);
}

/* ----------------------------------------------------------------- tensors */

static int kind_from_name(const char *s) {
    for (int k = 0; s && k < NQ_PART_KIND_COUNT; k++)
        if (!strcmp(s, nq_part_kind_names[k])) return k;
    return -1;
}

static void parse_part(const cJSON *p, const nv_file *f, nv_part *out, const char *where, reporter *rep) {
    memset(out, 0, sizeof *out);
    out->kind = kind_from_name(str(p, "kind"));
    if (out->kind == NQ_PART_SHARED) out->kind = -1; /* an in-memory kind, never in a file */
    const char *codec = str(p, "codec");
    out->codec = codec && !strcmp(codec, "zstd") ? NQ_CODEC_ZSTD : codec && !strcmp(codec, "none") ? NQ_CODEC_NONE : -1;
    uint64_t shard, off, a = 0, b = 0;
    if (out->kind < 0) nv_report(rep, where, "unknown part kind '%s'", str(p, "kind") ? str(p, "kind") : "(none)");
    if (out->codec < 0) nv_report(rep, where, "unknown codec '%s'", codec ? codec : "(none)");
    if (!num_u64(p, "shard", &shard) || !num_u64(p, "offset", &off) || !num_u64(p, "size", &out->size) ||
        !num_u64(p, "raw_size", &out->raw_size)) {
        nv_report(rep, where, "missing or invalid shard/offset/size/raw_size");
        out->kind = -1;
        return;
    }
    if (out->kind != NQ_PART_NORM && (!num_u64(p, "a", &a) || !num_u64(p, "b", &b))) {
        nv_report(rep, where, "missing or invalid range 'a'/'b'");
        out->kind = -1;
    }
    out->a = (int64_t)a;
    out->b = (int64_t)b;
    if (shard >= (uint64_t)f->nshards || off > f->shards[shard].size || out->size > f->shards[shard].size - off) {
        nv_report(rep, where, "bytes [%llu, +%llu) of shard %llu are outside the shard", (unsigned long long)off,
               (unsigned long long)out->size, (unsigned long long)shard);
        out->kind = -1;
        return;
    }
    out->shard = (int)shard;
    out->off = f->shards[shard].off + off;
    if (out->codec == NQ_CODEC_NONE && out->raw_size != out->size)
        nv_report(rep, where, "uncompressed part: raw_size %llu != size %llu", (unsigned long long)out->raw_size,
               (unsigned long long)out->size);
    /* Claimed sizes are checked against what the stored bytes can decode to before anything
     * is allocated (docs/FORMAT.md "Bounds"); a norm part's bound follows from cols (check_vq). */
    if (out->kind != NQ_PART_NORM && out->raw_size > NQ_MAX_PART_RAW) {
        nv_report(rep, where, "raw_size %llu (at byte %llu) exceeds the reader's part limit of %u bytes",
               (unsigned long long)out->raw_size, (unsigned long long)out->off, NQ_MAX_PART_RAW);
        out->kind = -1;
    } else if (out->codec == NQ_CODEC_ZSTD && !nv_zstd_can_hold(out)) {
        nv_report(rep, where, "raw_size %llu cannot come from a %llu-byte zstd frame at byte %llu (at most %u x)",
               (unsigned long long)out->raw_size, (unsigned long long)out->size, (unsigned long long)out->off,
               NQ_ZSTD_MAX_RATIO);
        out->kind = -1;
    } else if (out->codec == NQ_CODEC_NONE && out->raw_size != out->size) {
        out->kind = -1; /* reported above */
    }
}

static int parse_shape(const cJSON *o, nq_tensor_info *ti) {
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape");
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > NQ_MAX_DIMS) return 0;
    ti->ndim = 0;
    uint64_t count = 1;
    for (const cJSON *d = sh->child; d; d = d->next) {
        int64_t v;
        if (!cJSON_IsNumber(d) || !nq_f64_to_i64(d->valuedouble, 0, 1ll << 40, &v)) return 0;
        uint64_t x = (uint64_t)v;
        if (x && count > (1ull << 50) / x) return 0;
        count *= x;
        ti->shape[ti->ndim++] = (int64_t)x;
    }
    nq_tensor_info_finish(ti);
    return 1;
}

/* Checks that the vq description and the parts agree: one norm part, a codebook per
 * (group, stage) of the right size, codes covering every row once, in order. */
static void check_vq(const cJSON *o, const nq_tensor_info *ti, nv_tensor *vt, const nv_file *f, const char *where,
                     reporter *rep) {
    const cJSON *vq = cJSON_GetObjectItemCaseSensitive(o, "vq");
    const cJSON *K = cJSON_GetObjectItemCaseSensitive(vq, "K");
    uint64_t d, scope;
    if (!num_u64(vq, "d", &d) || d < 1 || d > 64 || !cJSON_IsArray(K) || cJSON_GetArraySize(K) < 1 ||
        cJSON_GetArraySize(K) > NQ_MAX_STAGES || !num_u64(vq, "scope_rows", &scope) || scope < 1) {
        nv_report(rep, where, "invalid 'vq' description (d, K, scope_rows)");
        vt->vq = -1;
        return;
    }
    vt->d = (int)d;
    vt->scope_rows = (int64_t)scope;
    vt->nstages = 0;
    for (const cJSON *k = K->child; k; k = k->next, vt->nstages++) {
        if (!codebook_size(k, "vq.K", vt->nstages, where, rep, &vt->K[vt->nstages], &vt->bits[vt->nstages])) {
            vt->vq = -1;
            return;
        }
    }
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(vq, "row_mean");
    if (!cJSON_IsBool(rm)) { nv_report(rep, where, "'vq' lacks boolean 'row_mean'"); vt->vq = -1; return; }
    vt->has_mean = cJSON_IsTrue(rm);
    const cJSON *rot = cJSON_GetObjectItemCaseSensitive(vq, "rotation");
    vt->rotated = rot != NULL;
    if (rot) {
        const char *kind = str(rot, "kind"), *seed = str(rot, "seed");
        uint64_t block;
        char *end = NULL;
        vt->rot_seed = seed ? strtoull(seed, &end, 10) : 0;
        if (!kind || strcmp(kind, "hadamard") || !num_u64(rot, "block", &block) || block < 2 ||
            block != (uint64_t)nq_rot_block(ti->cols) || !seed || !seed[0] || *end) {
            nv_report(rep, where, "invalid 'rotation' (kind hadamard, block %lld for %lld columns, decimal seed)",
                   (long long)nq_rot_block(ti->cols), (long long)ti->cols);
            vt->vq = -1;
            return;
        }
    }
    vt->set = -1;
    if (cJSON_GetObjectItemCaseSensitive(vq, "codebook_set")) {
        uint64_t set;
        if (!num_u64(vq, "codebook_set", &set) || set >= (uint64_t)f->nsets) {
            nv_report(rep, where, "'codebook_set' names no entry of 'codebooks'");
            vt->vq = -1;
            return;
        }
        const nv_set *cs = &f->sets[set];
        if (cs->d != vt->d || vt->nstages > cs->nstages || memcmp(cs->K, vt->K, (size_t)vt->nstages * sizeof *cs->K) ||
            (ti->rows && scope != (uint64_t)ti->rows)) {
            nv_report(rep, where, "codebook set %llu does not begin with the tensor's stages (d, K) or the tensor is split in groups",
                   (unsigned long long)set);
            vt->vq = -1;
            return;
        }
        vt->set = (int)set;
    }
    if (ti->cols > NQ_MAX_VQ_COLS) {
        nv_report(rep, where, "%lld columns per row: more than the decoder's limit of %d", (long long)ti->cols,
               NQ_MAX_VQ_COLS);
        vt->vq = -1;
        return;
    }
    int64_t nvec = (ti->cols + vt->d - 1) / vt->d;
    vt->code_bytes = nq_codes_row_bytes(nvec, vt->bits, vt->nstages);
    vt->ngroups = (ti->rows + vt->scope_rows - 1) / vt->scope_rows;
    int64_t next_row = 0, ncb = 0;
    vt->norm_part = -1;
    for (int i = 0; i < vt->nparts; i++) {
        const nv_part *p = &vt->parts[i];
        if (p->kind == NQ_PART_NORM) {
            if (vt->norm_part >= 0) nv_report(rep, where, "more than one norm part");
            if (p->raw_size > 8 + 6 * (uint64_t)ti->cols) { /* f32 g | u32 n | n x (u32 + f16), n <= cols */
                nv_report(rep, where, "norm part %d: raw_size %llu exceeds 8 + 6 x %lld columns", i,
                       (unsigned long long)p->raw_size, (long long)ti->cols);
                vt->vq = -1;
            }
            vt->norm_part = i;
        } else if (p->kind == NQ_PART_CODEBOOK) {
            if (p->a < 0 || p->a >= vt->ngroups || p->b < 0 || p->b >= vt->nstages ||
                p->raw_size != (uint64_t)vt->K[p->b] * vt->d * 2)
                nv_report(rep, where, "codebook part %d (group %lld, stage %lld) has a wrong index or size", i,
                       (long long)p->a, (long long)p->b);
            ncb++;
        } else if (p->kind == NQ_PART_CODES) {
            if (p->a != next_row || p->b <= p->a || p->b > ti->rows ||
                p->a / vt->scope_rows != (p->b - 1) / vt->scope_rows ||
                p->raw_size != nq_codes_layout_of(vt->has_mean, p->b - p->a, vt->code_bytes).size)
                nv_report(rep, where, "codes part %d (rows %lld..%lld) is out of order, crosses a group or has the wrong size",
                       i, (long long)p->a, (long long)p->b);
            next_row = p->b;
        } else {
            nv_report(rep, where, "%s part in a vq tensor", nq_part_kind_names[p->kind]);
        }
    }
    if (vt->norm_part < 0) nv_report(rep, where, "missing norm part");
    if (next_row != ti->rows) nv_report(rep, where, "codes cover rows 0..%lld of %lld", (long long)next_row, (long long)ti->rows);
    int64_t want = vt->set >= 0 ? 0 : vt->ngroups * vt->nstages;
    if (ncb != want) nv_report(rep, where, "%lld codebook parts, expected %lld", (long long)ncb, (long long)want);
}

static void check_raw(const nq_tensor_info *ti, nv_tensor *vt, const char *where, reporter *rep) {
    uint64_t next = 0;
    for (int i = 0; i < vt->nparts; i++) {
        const nv_part *p = &vt->parts[i];
        if (p->kind != NQ_PART_RAW || (uint64_t)p->a != next || p->b <= p->a ||
            p->raw_size != (uint64_t)(p->b - p->a))
            nv_report(rep, where, "raw part %d is out of order or has the wrong size", i);
        next = (uint64_t)p->b;
    }
    if (next != ti->nbytes)
        nv_report(rep, where, "raw parts hold %llu bytes, the tensor has %llu", (unsigned long long)next,
               (unsigned long long)ti->nbytes);
}

static void parse_tensor(const cJSON *o, int i, nq_tensor_info *ti, nv_tensor *vt, nv_part **pool,
                         const nv_file *f, reporter *rep) {
    char where[300];
    const char *name = str(o, "name"), *dtype = str(o, "dtype"), *method = str(o, "method");
    snprintf(where, sizeof where, "tensor %d '%.200s'", i, name ? name : "?");
    ti->name = nq_strdup(name ? name : "");
    if (!name || !name[0]) nv_report(rep, where, "missing 'name'");
    if (!parse_shape(o, ti)) nv_report(rep, where, "invalid 'shape'");
    int dt = dtype ? nq_dtype_from_name(dtype) : -1;
    if (dt < 0 && dtype && !strcmp(dtype, "Q8_0")) dt = NQ_DT_Q8_0; /* GGUF block type source */
    ti->dtype = dt >= 0 ? (nq_dtype)dt : NQ_DT_OTHER;
    snprintf(ti->dtype_name, sizeof ti->dtype_name, "%s", dtype ? dtype : "?");
    if (!dtype || strlen(dtype) >= sizeof ti->dtype_name) nv_report(rep, where, "invalid 'dtype'");
    uint64_t offset = 0, count = (uint64_t)ti->rows * (uint64_t)ti->cols;
    num_u64(o, "offset", &offset);
    ti->offset = offset;
    ti->nbytes = count * nq_dtype_size(ti->dtype);
    vt->vq = method && !strcmp(method, "vq") ? 1 : method && !strcmp(method, "raw") ? 0 : -1;
    if (vt->vq < 0) nv_report(rep, where, "unknown method '%s'", method ? method : "(none)");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
    if (!cJSON_IsArray(parts)) { nv_report(rep, where, "missing array 'parts'"); vt->vq = -1; return; }
    vt->parts = *pool;
    vt->nparts = cJSON_GetArraySize(parts);
    *pool += vt->nparts;
    int k = 0;
    for (const cJSON *p = parts->child; p; p = p->next, k++) {
        char pw[340];
        snprintf(pw, sizeof pw, "%s part %d", where, k);
        parse_part(p, f, &vt->parts[k], pw, rep);
        if (vt->parts[k].kind < 0) vt->vq = -1;
    }
    if (vt->vq == 1) {
        if (!nq_dtype_is_float(ti->dtype)) {
            nv_report(rep, where, "vq tensor with non-float dtype %s", ti->dtype_name);
            vt->vq = -1;
        } else {
            check_vq(o, ti, vt, f, where, rep);
        }
    } else if (vt->vq == 0) {
        if (nq_dtype_size(ti->dtype) == 0) { /* block or unknown element size: trust the parts' total */
            ti->nbytes = 0;
            for (int j = 0; j < vt->nparts; j++) ti->nbytes += vt->parts[j].raw_size;
        }
        check_raw(ti, vt, where, rep);
    }
}

static int name_dup(const nq_model *m, int upto, const char *name) {
    for (int i = 0; i < upto; i++)
        if (!strcmp(m->tensors[i].name, name)) return 1;
    return 0;
}

/* "codebooks": model-wide sets, each {"index", "d", "K", "parts": one codebook part per
 * stage, a = set index, b = stage, raw_size = K_b * d * 2}. */
static void parse_sets(const cJSON *root, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "codebooks");
    if (!cJSON_IsArray(arr)) { nv_report(rep, "manifest", "missing array 'codebooks'"); return; }
    int n = cJSON_GetArraySize(arr), i = 0;
    f->sets = calloc(n ? (size_t)n : 1, sizeof *f->sets);
    if (!f->sets) { nv_report(rep, "manifest", "out of memory"); return; }
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "codebook set %d", i);
        nv_set *cs = &f->sets[i];
        const cJSON *K = cJSON_GetObjectItemCaseSensitive(o, "K"), *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
        uint64_t idx, d;
        if (!num_u64(o, "index", &idx) || idx != (uint64_t)i || !num_u64(o, "d", &d) || d < 1 || d > 64 ||
            !cJSON_IsArray(K) || cJSON_GetArraySize(K) < 1 || cJSON_GetArraySize(K) > NQ_MAX_STAGES ||
            !cJSON_IsArray(parts) || cJSON_GetArraySize(parts) != cJSON_GetArraySize(K)) {
            nv_report(rep, where, "invalid index, d, K or parts");
            continue;
        }
        cs->d = (int)d;
        for (const cJSON *k = K->child; k; k = k->next) {
            int bits;
            if (!codebook_size(k, "K", cs->nstages, where, rep, &cs->K[cs->nstages], &bits)) {
                cs->nstages = 0;
                break;
            }
            cs->nstages++;
        }
        int k = 0;
        for (const cJSON *p = parts->child; p && cs->nstages; p = p->next, k++) {
            char pw[96];
            snprintf(pw, sizeof pw, "%s part %d", where, k);
            nv_part *np = &cs->parts[k];
            parse_part(p, f, np, pw, rep);
            if (np->kind >= 0 && (np->kind != NQ_PART_CODEBOOK || np->a != i || np->b != k ||
                                  np->raw_size != (uint64_t)cs->K[k] * cs->d * 2)) {
                nv_report(rep, pw, "must be the codebook of set %d stage %d (%d x %d f16)", i, k, cs->K[k], cs->d);
                np->kind = -1;
            }
            if (np->kind < 0) cs->nstages = 0;
        }
    }
    f->nsets = n;
}

static void parse_tensors(const cJSON *root, nq_model *m, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!cJSON_IsArray(arr)) { nv_report(rep, "manifest", "missing array 'tensors'"); return; }
    int n = cJSON_GetArraySize(arr);
    size_t nparts = 0;
    for (const cJSON *o = arr->child; o; o = o->next)
        nparts += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "parts"));
    nq_tensor_info *ti = calloc(n ? (size_t)n : 1, sizeof *ti);
    f->t = calloc(1, (n ? (size_t)n : 1) * sizeof *f->t + (nparts ? nparts : 1) * sizeof(nv_part));
    if (!ti || !f->t) { free(ti); nv_report(rep, "manifest", "out of memory"); return; }
    free(m->tensors);
    m->tensors = ti;
    nv_part *pool = (nv_part *)(f->t + (n ? n : 1));
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        m->ntensors = i + 1;
        if (!cJSON_IsObject(o)) { nv_report(rep, "manifest", "tensor %d is not an object", i); ti[i].name = nq_strdup(""); f->t[i].vq = -1; continue; }
        parse_tensor(o, i, &ti[i], &f->t[i], &pool, f, rep);
        if (ti[i].name && ti[i].name[0] && name_dup(m, i, ti[i].name))
            nv_report(rep, "manifest", "tensor name '%s' appears twice", ti[i].name);
    }
}

void nv_parse_manifest(const char *text, size_t len, nq_model *m, nv_file *f, reporter *rep) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        nv_report(rep, "manifest", "not a valid JSON object");
        cJSON_Delete(root);
        return;
    }
    const char *fmt = str(root, "format");
    uint64_t ver = 0;
    if (!fmt || strcmp(fmt, "novaq")) nv_report(rep, "manifest", "'format' must be \"novaq\"");
    if (!num_u64(root, "version", &ver) || ver != NQ_FORMAT_VERSION)
        nv_report(rep, "manifest", "'version' must be %d", NQ_FORMAT_VERSION);
    if (!nq_hex_parse(str(root, "root_hash"), f->root, 32)) nv_report(rep, "manifest", "'root_hash' is not 64 hex digits");
    parse_shards(root, f, rep);
    if (f->shards) parse_sets(root, f, rep);
    if (f->shards) parse_tensors(root, m, f, rep);
    cJSON_Delete(root);
}
