/* validate.c - opening a .novaq file (nq_novaq_open: the first problem fails it) and the full
 * validator (nq_validate: every problem reported, every shard hashed, every part decoded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "decompress/novaq_file.h"
#include "common/format.h"
#include "common/layout.h"
#include "common/util.h"

/* ------------------------------------------------------------ open/validate */

/* root_hash = SHA-256 of the shard hashes in order. */
static int root_matches(const nv_file *f) {
    nq_sha256_ctx all;
    nq_sha256_init(&all);
    for (int i = 0; i < f->nshards; i++) nq_sha256_update(&all, f->shards[i].sha, 32);
    uint8_t root[32];
    nq_sha256_final(&all, root);
    return !memcmp(root, f->root, 32);
}

static nq_status parse_all(const nq_reader *r, reporter *rep, nq_model **out) {
    *out = NULL;
    nq_model *m = nq_model_alloc("novaq", 0, r, 1);
    nv_file *f = calloc(1, sizeof *f);
    if (!m || !f) { nq_model_free(m); free(f); nv_report(rep, "novaq", "out of memory"); return NQ_E_NOMEM; }
    m->ops = &nv_ops;
    m->impl = f;
    f->cache_shard = -1;
    nq_status st = nv_read_frame(r, f, rep);
    if (st == NQ_OK || st == NQ_E_HASH) nv_parse_manifest(f->manifest, f->manifest_size, m, f, rep);
    *out = m;
    return rep->count ? (st ? st : NQ_E_FORMAT) : NQ_OK;
}

typedef struct first_problem { nq_err *e; const char *file; } first_problem;

static void keep_first(void *ctx, const char *where, const char *what) {
    first_problem *fp = ctx;
    if (fp->e && fp->e->code == NQ_OK) nq_fail(fp->e, NQ_E_FORMAT, "%s: %s: %s", fp->file, where, what);
}

nq_status nq_novaq_open_ex(nq_model **out, const nq_reader *r, unsigned flags, nq_err *e) {
    *out = NULL;
    nq_err local = {0};
    first_problem fp = {&local, r->name ? r->name : "novaq"};
    reporter rep = {keep_first, &fp, 0};
    nq_model *m;
    nq_status st = parse_all(r, &rep, &m);
    nv_file *f = m ? m->impl : NULL;
    if (st == NQ_OK && !(flags & NQ_OPEN_NO_VERIFY)) {
        f->verify = 1;
        f->verified = calloc(f->nshards ? (size_t)f->nshards : 1, 1);
        if (!f->verified) { nv_report(&rep, "novaq", "out of memory"); st = NQ_E_NOMEM; }
        else if (!root_matches(f)) {
            nv_report(&rep, "manifest", "root_hash does not match the shard hashes");
            st = NQ_E_HASH;
        }
    }
    if (st) {
        nq_model_free(m);
        if (e) { *e = local; e->code = st; }
        return st;
    }
    *out = m;
    return NQ_OK;
}

nq_status nq_novaq_open(nq_model **out, const nq_reader *r, nq_err *e) { return nq_novaq_open_ex(out, r, 0, e); }

const char *nq_novaq_manifest(const nq_model *m) {
    return m && m->ops == &nv_ops ? nv_of(m)->manifest : NULL;
}

static void check_shard_hashes(const nq_reader *r, const nv_file *f, reporter *rep) {
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    nq_sha256_ctx all;
    nq_sha256_init(&all);
    for (int i = 0; buf && i < f->nshards; i++) {
        const nv_shard *s = &f->shards[i];
        char where[32];
        snprintf(where, sizeof where, "shard %d", i);
        nq_sha256_ctx c;
        nq_sha256_init(&c);
        int ok = s->off + s->size <= f->manifest_off;
        for (uint64_t o = 0; ok && o < s->size; o += CHUNK) {
            size_t n = (size_t)(s->size - o < CHUNK ? s->size - o : CHUNK);
            ok = r->read(r->ctx, s->off + o, buf, n) == 0;
            nq_sha256_update(&c, buf, n);
        }
        uint8_t h[32];
        nq_sha256_final(&c, h);
        nq_sha256_update(&all, s->sha, 32);
        if (!ok) nv_report(rep, where, "cannot read bytes [%llu, +%llu)", (unsigned long long)s->off, (unsigned long long)s->size);
        else if (memcmp(h, s->sha, 32))
            nv_report(rep, where, "SHA-256 mismatch: bytes [%llu, +%llu) are corrupted", (unsigned long long)s->off,
                   (unsigned long long)s->size);
    }
    if (!buf) nv_report(rep, "shards", "out of memory");
    free(buf);
    uint8_t root[32];
    nq_sha256_final(&all, root);
    if (memcmp(root, f->root, 32)) nv_report(rep, "manifest", "root_hash does not match the shard hashes");
}

/* Every part decompresses to its raw size; norm parts parse. */
static void check_parts(const nq_model *m, reporter *rep) {
    const nv_file *f = nv_of(m);
    for (int k = 0; k < f->nsets; k++)
        for (int i = 0; i < f->sets[k].nstages; i++) {
            char where[64];
            snprintf(where, sizeof where, "codebook set %d part %d", k, i);
            uint8_t *raw;
            nq_err e = {0};
            if (nv_load_part(m, &f->sets[k].parts[i], &raw, where, &e)) nv_report(rep, where, "%s", e.msg);
            else free(raw);
        }
    for (int t = 0; t < m->ntensors; t++) {
        const nv_tensor *vt = &f->t[t];
        if (vt->vq < 0) continue;
        for (int i = 0; i < vt->nparts; i++) {
            char where[300];
            snprintf(where, sizeof where, "tensor '%.200s' part %d", m->tensors[t].name, i);
            uint8_t *raw;
            nq_err e = {0};
            if (nv_load_part(m, &vt->parts[i], &raw, where, &e)) { nv_report(rep, where, "%s", e.msg); continue; }
            if (vt->parts[i].kind == NQ_PART_NORM) {
                nq_norm nm;
                if (nq_norm_part_read(raw, vt->parts[i].raw_size, m->tensors[t].cols, &nm, where, &e))
                    nv_report(rep, where, "%s", e.msg);
                else
                    nq_norm_free(&nm);
            }
            free(raw);
        }
    }
}

nq_status nq_validate(const nq_reader *r, nq_problem_fn problem, void *pctx, int *nproblems, nq_err *e) {
    reporter rep = {problem, pctx, 0};
    nq_model *m = NULL;
    nq_status st = parse_all(r, &rep, &m);
    const nv_file *f = m ? nv_of(m) : NULL;
    if (f && f->manifest && f->shards) check_shard_hashes(r, f, &rep);
    if (f && f->t && st == NQ_OK) check_parts(m, &rep);
    nq_model_free(m);
    if (nproblems) *nproblems = rep.count;
    if (rep.count)
        return nq_fail(e, st && st != NQ_E_FORMAT ? st : NQ_E_FORMAT, "%s: %d problem(s) found",
                       r->name ? r->name : "novaq", rep.count);
    return NQ_OK;
}
