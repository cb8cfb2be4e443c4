#include "testutil.h"
#include <string.h>

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
