/* util.c - small internal helpers. */
#include <stdlib.h>
#include <string.h>
#include "common/util.h"

char *nq_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

void nq_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

uint16_t nq_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void nq_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void nq_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t nq_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int nq_f64_to_i64(double x, int64_t lo, int64_t hi, int64_t *out) {
    /* written so that NaN fails too; lo and hi are exact as doubles (|.| <= 2^53) */
    if (!(x >= (double)lo && x <= (double)hi)) return 0;
    int64_t v = (int64_t)x;
    if ((double)v != x) return 0;
    *out = v;
    return 1;
}

uint64_t nq_get_u64(const uint8_t *p) {
    return (uint64_t)nq_get_u32(p) | (uint64_t)nq_get_u32(p + 4) << 32;
}
