#include "testutil.h"
#include <string.h>
#include "common/format.h"
#include "common/util.h"

int tu_failures = 0;

unsigned char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf && len) *len = (size_t)n;
    return buf;
}

static int file_read(void *ctx, uint64_t off, void *dst, size_t len) {
    FILE *f = ctx;
    if (fseek(f, (long)off, SEEK_SET) != 0) return -1;
    return fread(dst, 1, len, f) == len ? 0 : -1;
}

nq_reader tu_file_reader(const char *path) {
    nq_reader r = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return r;
    fseek(f, 0, SEEK_END);
    r.size = (uint64_t)ftell(f);
    r.ctx = f;
    r.name = path;
    r.read = file_read;
    return r;
}

void tu_file_reader_close(nq_reader *r) {
    if (r->ctx) fclose(r->ctx);
    r->ctx = NULL;
}

const char *tu_data(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", NOVAQ_TEST_DATA, rel);
    return buf;
}

unsigned char *tu_make_st(const char *json, const void *data, size_t dlen, size_t *out_len) {
    size_t n = strlen(json);
    unsigned char *buf = malloc(8 + n + dlen + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    if (dlen) memcpy(buf + 8 + n, data, dlen);
    *out_len = 8 + n + dlen;
    return buf;
}

nq_status tu_open_st(nq_mem_source *src, nq_model **m, nq_err *e) {
    nq_reader r = nq_reader_mem(src, "mem.safetensors");
    return nq_safetensors_open(m, &r, 1, NULL, 0, e);
}

nq_encoded **tu_clone_encodes(nq_encoded *const *src, int n) {
    nq_encoded **enc = calloc((size_t)n, sizeof *enc);
    for (int t = 0; t < n; t++) {
        enc[t] = malloc(sizeof **enc);
        *enc[t] = *src[t];
        enc[t]->meta_json = malloc(strlen(src[t]->meta_json) + 1);
        strcpy(enc[t]->meta_json, src[t]->meta_json);
        enc[t]->parts = malloc((size_t)src[t]->nparts * sizeof *enc[t]->parts);
        for (int i = 0; i < src[t]->nparts; i++) {
            enc[t]->parts[i] = src[t]->parts[i];
            enc[t]->parts[i].data = malloc(src[t]->parts[i].size);
            memcpy(enc[t]->parts[i].data, src[t]->parts[i].data, src[t]->parts[i].size);
        }
    }
    return enc;
}

void tu_free_encodes(nq_encoded **enc, int n) {
    for (int t = 0; t < n; t++) nq_encoded_free(enc[t]);
    free(enc);
}

nq_mem_sink tu_write_encodes(nq_encoded *const *enc, int n, const nq_settings *s) {
    nq_mem_sink sink = {0};
    nq_writer w = nq_writer_mem(&sink);
    nq_container *c = NULL;
    nq_source_file sf = {"model.safetensors", 0, {0}};
    CHECK(nq_container_begin(&c, &w, s, "safetensors", &sf, 1, NULL, NULL) == NQ_OK);
    for (int t = 0; c && t < n; t++) CHECK(nq_container_add(c, enc[t], NULL) == NQ_OK);
    CHECK(c && nq_container_finish(c, NULL) == NQ_OK);
    return sink;
}

char *tu_manifest_of(const nq_mem_sink *f) {
    uint64_t off = nq_get_u64(f->buf + f->size - NQ_FOOTER_SIZE);
    uint64_t ml = nq_get_u64(f->buf + f->size - NQ_FOOTER_SIZE + 8);
    char *man = malloc(ml + 1);
    memcpy(man, f->buf + off, ml);
    man[ml] = 0;
    return man;
}

unsigned char *tu_edit_manifest(const nq_mem_sink *f, const char *from, const char *to, size_t *n) {
    char *man = tu_manifest_of(f), *p = strstr(man, from);
    if (!p) {
        fprintf(stderr, "no '%s' in the manifest\n", from);
        free(man);
        return NULL;
    }
    size_t head = (size_t)(p - man), tail = strlen(p + strlen(from)), ml = head + strlen(to) + tail;
    uint64_t off = nq_get_u64(f->buf + f->size - NQ_FOOTER_SIZE);
    *n = off + ml + NQ_FOOTER_SIZE;
    unsigned char *b = malloc(*n);
    memcpy(b, f->buf, off);
    memcpy(b + off, man, head);
    memcpy(b + off + head, to, strlen(to));
    memcpy(b + off + head + strlen(to), p + strlen(from), tail);
    unsigned char *foot = b + off + ml;
    memcpy(foot, f->buf + f->size - NQ_FOOTER_SIZE, NQ_FOOTER_SIZE);
    nq_put_u64(foot + 8, ml);
    nq_sha256(b + off, ml, foot + 16);
    free(man);
    return b;
}
