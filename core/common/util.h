/* util.h - internal helpers shared by core files (not part of the public API). */
#ifndef NQ_UTIL_H
#define NQ_UTIL_H
#include <stddef.h>
#include <stdint.h>

char *nq_strdup(const char *s); /* C11 has no strdup */
/* Little-endian stores/loads used by every binary layout in the format. */
void nq_put_u16(uint8_t *p, uint16_t v);
void nq_put_u32(uint8_t *p, uint32_t v);
void nq_put_u64(uint8_t *p, uint64_t v);
uint16_t nq_get_u16(const uint8_t *p);
uint32_t nq_get_u32(const uint8_t *p);
uint64_t nq_get_u64(const uint8_t *p);
/* x as an integer in [lo, hi] (both within +-2^53): 1 with *out = x if x is finite, integral
 * and in range, else 0 (*out untouched). Every number read from JSON (a double: 2e64, 1e308,
 * an infinity from 1e999) goes through this before it becomes an integer, because converting
 * an out-of-range double to an integer type is undefined behaviour. */
int nq_f64_to_i64(double x, int64_t lo, int64_t hi, int64_t *out);
/* Signal-to-quantization-noise ratio in dB as the manifest records it (numeric.c):
 * -10 log10(sse / signal), and 999 where there is no error or no signal. One formula so the
 * per-tensor, refined and whole-model figures are the same digits on every target. */
double nq_sqnr_db(double sse, double signal);
#endif
