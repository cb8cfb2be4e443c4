/* memio.c - nq_reader over a memory buffer and a growable nq_writer into memory. */
#include <stdlib.h>
#include <string.h>
#include "novaq.h"

static int mem_read(void *ctx, uint64_t off, void *dst, size_t len) {
    const nq_mem_source *s = ctx;
    if (off > s->size || len > s->size - off) return -1;
    memcpy(dst, s->data + off, len);
    return 0;
}

nq_reader nq_reader_mem(nq_mem_source *src, const char *name) {
    nq_reader r = {src, src->size, name, mem_read};
    return r;
}

static int mem_write(void *ctx, const void *src, size_t len) {
    nq_mem_sink *s = ctx;
    if (len > SIZE_MAX - s->size) return -1;
    if (s->size + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->size + len) cap = cap > SIZE_MAX / 2 ? s->size + len : cap * 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) return -1;
        s->buf = nb;
        s->cap = cap;
    }
    if (len) memcpy(s->buf + s->size, src, len);
    s->size += len;
    return 0;
}

nq_writer nq_writer_mem(nq_mem_sink *sink) {
    nq_writer w = {sink, mem_write};
    return w;
}
