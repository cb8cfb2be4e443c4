/* test_canister_store.c - the canister's stable-memory store (canister/store.c), natively
 * over a fake ic0 (stable memory in a malloc'd buffer): format/open, record round trips
 * (every field survives, at the documented offsets), model slots, extents (first fit,
 * merging, the bump pointer coming back), quotas, upload range merging. */
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "store.h"

/* ---------------------------------------------------------------- fake ic0 */

static uint8_t *stable;
static uint64_t stable_pages, max_pages = 4096;

uint64_t ic0_stable64_size(void) { return stable_pages; }
int64_t ic0_stable64_grow(uint64_t n) {
    if (stable_pages + n > max_pages) return -1;
    uint8_t *p = realloc(stable, (size_t)((stable_pages + n) * NQS_PAGE));
    if (!p) return -1;
    memset(p + stable_pages * NQS_PAGE, 0, (size_t)(n * NQS_PAGE));
    stable = p;
    int64_t old = (int64_t)stable_pages;
    stable_pages += n;
    return old;
}
void ic0_stable64_read(uint64_t dst, uint64_t off, uint64_t size) {
    if (off + size > stable_pages * NQS_PAGE) { fprintf(stderr, "read out of bounds\n"); abort(); }
    memcpy((void *)(uintptr_t)dst, stable + off, (size_t)size);
}
void ic0_stable64_write(uint64_t off, uint64_t src, uint64_t size) {
    if (off + size > stable_pages * NQS_PAGE) { fprintf(stderr, "write out of bounds\n"); abort(); }
    memcpy(stable + off, (const void *)(uintptr_t)src, (size_t)size);
}

static void reset(void) {
    free(stable);
    stable = NULL;
    stable_pages = 0;
    max_pages = 4096;
}

/* ------------------------------------------------------------------ tests */

static void test_format_open(void) {
    char err[200];
    reset();
    CHECK(nqs_open(err, sizeof err) == -1 && strstr(err, "no NOVAQ store"));
    CHECK(nqs_format(err, sizeof err) == 0);
    CHECK(stable_pages * NQS_PAGE == NQS_DATA_OFF);
    CHECK(memcmp(stable, "NQSTORE1", 8) == 0);
    CHECK(nqs_open(err, sizeof err) == 0);
    stable[8] = 2; /* layout version 2 */
    CHECK(nqs_open(err, sizeof err) == -1 && strstr(err, "layout version 2"));
    stable[8] = 1;
    stable[0] = 'X';
    CHECK(nqs_open(err, sizeof err) == -1 && strstr(err, "magic"));
    reset();
    max_pages = 10;
    CHECK(nqs_format(err, sizeof err) == -1 && strstr(err, "cannot grow"));
}

static void test_super_and_model_round_trip(void) {
    char err[200];
    reset();
    nqs_format(err, sizeof err);
    nqs_super s;
    nqs_super_load(&s);
    CHECK(s.next_model_number == 1 && s.data_end == NQS_DATA_OFF && s.default_quota == NQS_DEFAULT_QUOTA);
    s.last_commit_instructions = 0x1122334455667788ull;
    s.slot_high = 3;
    nqs_super_save(&s);
    nqs_super t;
    nqs_super_load(&t);
    CHECK(t.next_model_number == s.next_model_number && t.data_end == s.data_end &&
          t.default_quota == s.default_quota && t.slot_high == 3 &&
          t.last_commit_instructions == s.last_commit_instructions);
    CHECK(stable[64] == 0x88 && stable[71] == 0x11); /* documented offset 64, little-endian */

    static nqs_model m, back;
    memset(&m, 0, sizeof m);
    m.in_use = 1; m.state = NQS_ACTIVE; m.number = 42; m.owner_len = 29;
    for (int i = 0; i < 29; i++) m.owner[i] = (uint8_t)(i + 1);
    m.size_bytes = 123456789; m.data_off = NQS_DATA_OFF; m.data_cap = 131072;
    m.received_bytes = 5; m.created_at = 7; m.validated_at = 8; m.activated_at = 9;
    m.has_expected_root = 1; m.has_root = 1;
    memset(m.expected_root, 0xee, 32); memset(m.root, 0xab, 32);
    m.shard_count = 3; m.tensor_count = 57; m.chunk_count = 6;
    m.manifest_off = 1000; m.manifest_size = 2000; m.index_off = 5; m.index_cap = 65536;
    m.compression_ratio = 6.25; m.bits_per_weight = 2.5;
    m.name_len = 4; memcpy(m.name, "tiny", 4);
    m.desc_len = NQS_MAX_DESC; memset(m.desc, 'd', NQS_MAX_DESC);
    m.nranges = NQS_MAX_RANGES;
    for (uint32_t i = 0; i < NQS_MAX_RANGES; i++) m.ranges[i] = (nqs_range){i * 10ull, i * 10ull + 5};
    nqs_model_save(2, &m);
    CHECK(nqs_model_load(2, &back) == 1);
    CHECK(memcmp(&m, &back, sizeof m) == 0);
    CHECK(nqs_model_load(1, &back) == 0);
    uint32_t slot;
    CHECK(nqs_model_find(42, &slot, &back) == 1 && slot == 2);
    CHECK(nqs_model_find(43, &slot, &back) == 0);
    /* documented offsets: number at 8, name at 236, ranges at 4460 */
    const uint8_t *rec = stable + NQS_MODELS_OFF + 2 * NQS_RECORD_SIZE;
    CHECK(rec[8] == 42 && memcmp(rec + 236, "tiny", 4) == 0 && rec[4460 + 16] == 10);
    nqs_model_clear(2);
    CHECK(nqs_model_find(42, &slot, &back) == 0);
    /* free slots: reuse below the high water mark first */
    nqs_super_load(&s);
    CHECK(nqs_model_free_slot(&s, &slot) == 1 && slot == 0);
    m.number = 1;
    nqs_model_save(0, &m);
    CHECK(nqs_model_free_slot(&s, &slot) == 1 && slot == 1);
    nqs_model_save(1, &m);
    nqs_model_save(2, &m);
    CHECK(nqs_model_free_slot(&s, &slot) == 1 && slot == 3 && s.slot_high == 4);
}

static void test_extents(void) {
    char err[200];
    reset();
    nqs_format(err, sizeof err);
    nqs_super s;
    nqs_super_load(&s);
    uint64_t a, ac, b, bc, c, cc, d, dc;
    CHECK(nqs_extent_alloc(&s, 1, &a, &ac) == 0 && a == NQS_DATA_OFF && ac == NQS_GRANULE);
    CHECK(nqs_extent_alloc(&s, NQS_GRANULE + 1, &b, &bc) == 0 && b == a + ac && bc == 2 * NQS_GRANULE);
    CHECK(nqs_extent_alloc(&s, 3 * NQS_GRANULE, &c, &cc) == 0 && c == b + bc);
    CHECK(stable_pages * NQS_PAGE >= c + cc);
    CHECK(s.reserved_total == 6 * NQS_GRANULE);
    /* free the middle: it goes to the free list and is reused first fit */
    CHECK(nqs_extent_free(&s, b, bc) == 0 && s.nfree == 1);
    CHECK(nqs_extent_alloc(&s, NQS_GRANULE, &d, &dc) == 0 && d == b && s.nfree == 1);
    CHECK(nqs_extent_free(&s, d, dc) == 0);
    /* freeing a next to the free [b, b+2g) merges them */
    CHECK(nqs_extent_free(&s, a, ac) == 0 && s.nfree == 1);
    uint64_t o, z;
    nqs_free_extent(0, &o, &z);
    CHECK(o == a && z == 3 * NQS_GRANULE);
    /* freeing the last extent gives everything back to the bump pointer */
    CHECK(nqs_extent_free(&s, c, cc) == 0 && s.nfree == 0 && s.data_end == NQS_DATA_OFF && s.reserved_total == 0);
    /* out of stable memory */
    max_pages = stable_pages + 2;
    CHECK(nqs_extent_alloc(&s, (stable_pages + 3) * NQS_PAGE - NQS_DATA_OFF, &a, &ac) == -1);
    CHECK(s.data_end == NQS_DATA_OFF && s.reserved_total == 0);
}

static void test_quota(void) {
    char err[200];
    reset();
    nqs_format(err, sizeof err);
    nqs_super s;
    nqs_super_load(&s);
    nqs_quota q;
    const uint8_t alice[] = {1, 2, 3}, bob[] = {4, 5};
    CHECK(nqs_quota_find(&s, alice, 3, 0, &q) == -1 && q.used == 0 && q.quota == UINT64_MAX);
    CHECK(nqs_quota_limit(&s, &q) == NQS_DEFAULT_QUOTA);
    int ia = nqs_quota_find(&s, alice, 3, 1, &q);
    CHECK(ia == 0 && s.nprincipals == 1);
    q.used = 77;
    q.quota = 1000;
    nqs_quota_save(ia, &q);
    CHECK(nqs_quota_find(&s, bob, 2, 1, &q) == 1);
    CHECK(nqs_quota_find(&s, alice, 3, 0, &q) == 0 && q.used == 77 && nqs_quota_limit(&s, &q) == 1000);
    CHECK(nqs_quota_find(&s, alice, 2, 0, &q) == -1); /* prefix of a principal is another one */
    uint8_t big[30] = {0};
    CHECK(nqs_quota_find(&s, big, 30, 1, &q) == -1);
}

static int ranges_are(const nqs_model *m, const uint64_t *want, uint32_t n) {
    if (m->nranges != n) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (m->ranges[i].start != want[2 * i] || m->ranges[i].end != want[2 * i + 1]) return 0;
    return 1;
}

static void test_ranges(void) {
    static nqs_model m;
    memset(&m, 0, sizeof m);
    CHECK(nqs_ranges_add(&m, 10, 20) == 0);
    CHECK(nqs_ranges_add(&m, 30, 40) == 0);
    CHECK(nqs_ranges_add(&m, 0, 5) == 0);
    const uint64_t w1[] = {0, 5, 10, 20, 30, 40};
    CHECK(ranges_are(&m, w1, 3) && m.received_bytes == 25);
    CHECK(nqs_ranges_add(&m, 12, 18) == 0); /* inside: no change */
    CHECK(ranges_are(&m, w1, 3));
    CHECK(nqs_ranges_add(&m, 20, 30) == 0); /* adjacent on both sides: merges three */
    const uint64_t w2[] = {0, 5, 10, 40};
    CHECK(ranges_are(&m, w2, 2) && m.received_bytes == 35);
    CHECK(nqs_ranges_add(&m, 3, 50) == 0); /* overlaps everything */
    const uint64_t w3[] = {0, 50};
    CHECK(ranges_are(&m, w3, 1) && m.received_bytes == 50);
    CHECK(nqs_ranges_add(&m, 60, 60) == 0 && m.nranges == 1); /* empty */
    memset(&m, 0, sizeof m);
    for (uint32_t i = 0; i < NQS_MAX_RANGES; i++) CHECK(nqs_ranges_add(&m, 10ull * i, 10ull * i + 5) == 0);
    nqs_model before = m;
    CHECK(nqs_ranges_add(&m, 5000, 5001) == -1);
    CHECK(memcmp(&before, &m, sizeof m) == 0); /* unchanged when refused */
    CHECK(nqs_ranges_add(&m, 5, 10) == 0 && m.nranges == NQS_MAX_RANGES - 1);
}

int main(void) {
    test_format_open();
    test_super_and_model_round_trip();
    test_extents();
    test_quota();
    test_ranges();
    reset();
    return TU_DONE();
}
