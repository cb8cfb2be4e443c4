/* util.h - internal helpers shared by core files (not part of the public API). */
#ifndef NQ_UTIL_H
#define NQ_UTIL_H
#include <stddef.h>
#include <stdint.h>

char *nq_strdup(const char *s); /* C11 has no strdup */
/* Little-endian stores/loads used by every binary layout in the format. */
void nq_put_u32(uint8_t *p, uint32_t v);
void nq_put_u64(uint8_t *p, uint64_t v);
uint32_t nq_get_u32(const uint8_t *p);
uint64_t nq_get_u64(const uint8_t *p);
#endif
