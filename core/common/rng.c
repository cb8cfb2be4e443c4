/* rng.c - the deterministic generator every stage draws from (splitmix64) and the string
 * hash that derives per-tensor seeds (FNV-1a): the same numbers on every target. */
#include "common/layout.h"

uint64_t nq_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double nq_rng_uniform(uint64_t *state) {
    return (double)(nq_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t nq_hash_str(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull; /* FNV-1a */
    return h;
}
