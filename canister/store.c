/* store.c - stable-memory store: superblock, model table, extents, quotas (store.h).
 * Records are serialized field by field, little-endian, at the offsets listed below, so
 * the layout does not depend on the compiler's struct layout. */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "ic0.h"

/* Heap cache: the model number in each slot (0 = free), so that finding a model reads no
 * stable memory. Built from the model table on first use after init/upgrade (nqs_format
 * and nqs_open drop it) and kept in step by nqs_model_save/clear. Being heap, it is rolled
 * back together with everything else when a message traps. */
static uint64_t slot_number[NQS_MAX_MODELS];
static int cache_ready;

void nqs_read(uint64_t off, void *dst, uint64_t len) {
    if (len) ic0_stable64_read((uint64_t)(uintptr_t)dst, off, len);
}

void nqs_write(uint64_t off, const void *src, uint64_t len) {
    if (len) ic0_stable64_write(off, (uint64_t)(uintptr_t)src, len);
}

/* ------------------------------------------------------------ serializing */

typedef struct cur { uint8_t *p; size_t pos; } cur;

static void w_bytes(cur *c, const void *src, size_t n) { memcpy(c->p + c->pos, src, n); c->pos += n; }
static void w_u8(cur *c, uint8_t v) { c->p[c->pos++] = v; }
static void w_u16(cur *c, uint16_t v) { for (int i = 0; i < 2; i++) w_u8(c, (uint8_t)(v >> 8 * i)); }
static void w_u32(cur *c, uint32_t v) { for (int i = 0; i < 4; i++) w_u8(c, (uint8_t)(v >> 8 * i)); }
static void w_u64(cur *c, uint64_t v) { for (int i = 0; i < 8; i++) w_u8(c, (uint8_t)(v >> 8 * i)); }
static void w_f64(cur *c, double d) { uint64_t v; memcpy(&v, &d, 8); w_u64(c, v); }
static void r_bytes(cur *c, void *dst, size_t n) { memcpy(dst, c->p + c->pos, n); c->pos += n; }
static uint8_t r_u8(cur *c) { return c->p[c->pos++]; }
static uint16_t r_u16(cur *c) { uint16_t v = 0; for (int i = 0; i < 2; i++) v |= (uint16_t)(r_u8(c) << 8 * i); return v; }
static uint32_t r_u32(cur *c) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)r_u8(c) << 8 * i; return v; }
static uint64_t r_u64(cur *c) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)r_u8(c) << 8 * i; return v; }
static double r_f64(cur *c) { uint64_t v = r_u64(c); double d; memcpy(&d, &v, 8); return d; }

/* Superblock, 4 KiB at offset 0:
 *   0 magic "NQSTORE1" | 8 u32 layout version | 12 u32 nfree | 16 u32 nprincipals |
 *   20 u32 slot_high | 24 u64 next_model_number | 32 u64 data_end | 40 u64 default_quota |
 *   48 u64 reserved_total | 56 u64 last_upload_instructions |
 *   64 u64 last_commit_instructions | 72 u64 last_commit_bytes */
#define SUPER_BYTES 80
static const char super_magic[8] = {'N', 'Q', 'S', 'T', 'O', 'R', 'E', '1'};

void nqs_super_load(nqs_super *s) {
    uint8_t b[SUPER_BYTES];
    nqs_read(NQS_SUPER_OFF, b, sizeof b);
    cur c = {b, 12};
    s->nfree = r_u32(&c);
    s->nprincipals = r_u32(&c);
    s->slot_high = r_u32(&c);
    s->next_model_number = r_u64(&c);
    s->data_end = r_u64(&c);
    s->default_quota = r_u64(&c);
    s->reserved_total = r_u64(&c);
    s->last_upload_instructions = r_u64(&c);
    s->last_commit_instructions = r_u64(&c);
    s->last_commit_bytes = r_u64(&c);
}

void nqs_super_save(const nqs_super *s) {
    uint8_t b[SUPER_BYTES];
    cur c = {b, 0};
    w_bytes(&c, super_magic, 8);
    w_u32(&c, NQS_LAYOUT_VERSION);
    w_u32(&c, s->nfree);
    w_u32(&c, s->nprincipals);
    w_u32(&c, s->slot_high);
    w_u64(&c, s->next_model_number);
    w_u64(&c, s->data_end);
    w_u64(&c, s->default_quota);
    w_u64(&c, s->reserved_total);
    w_u64(&c, s->last_upload_instructions);
    w_u64(&c, s->last_commit_instructions);
    w_u64(&c, s->last_commit_bytes);
    nqs_write(NQS_SUPER_OFF, b, sizeof b);
}

static int ensure_size(uint64_t end) {
    uint64_t have = ic0_stable64_size() * NQS_PAGE;
    if (end <= have) return 0;
    uint64_t pages = (end - have + NQS_PAGE - 1) / NQS_PAGE;
    return ic0_stable64_grow(pages) < 0 ? -1 : 0;
}

int nqs_format(char *err, size_t errlen) {
    if (ensure_size(NQS_DATA_OFF)) {
        snprintf(err, errlen, "cannot grow stable memory to %llu bytes", (unsigned long long)NQS_DATA_OFF);
        return -1;
    }
    /* Fresh stable memory reads as zeros: every slot and entry starts out free. */
    nqs_super s = {.next_model_number = 1, .data_end = NQS_DATA_OFF, .default_quota = NQS_DEFAULT_QUOTA};
    nqs_super_save(&s);
    cache_ready = 0;
    return 0;
}

int nqs_open(char *err, size_t errlen) {
    uint8_t b[12];
    cache_ready = 0;
    if (ic0_stable64_size() * NQS_PAGE < NQS_DATA_OFF) {
        snprintf(err, errlen, "stable memory holds no NOVAQ store (%llu pages)",
                 (unsigned long long)ic0_stable64_size());
        return -1;
    }
    nqs_read(0, b, sizeof b);
    uint32_t version = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    if (memcmp(b, super_magic, 8) != 0) {
        snprintf(err, errlen, "stable memory superblock magic is not NQSTORE1");
        return -1;
    }
    if (version != NQS_LAYOUT_VERSION) {
        snprintf(err, errlen, "stable layout version %u, this build reads %u", version, NQS_LAYOUT_VERSION);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- model table */

/* Model record, 8 KiB at NQS_MODELS_OFF + slot * 8 KiB:
 *   0 u32 in_use | 4 u32 state | 8 u64 number | 16 u8 owner_len | 17 owner[29] |
 *   46 u64 size_bytes | 54 u64 data_off | 62 u64 data_cap | 70 u64 received_bytes |
 *   78 u64 created_at | 86 u64 validated_at | 94 u64 activated_at |
 *   102 u8 has_expected_root | 103 u8 has_root | 104 expected_root[32] | 136 root[32] |
 *   168 u32 shard_count | 172 u32 tensor_count | 176 u32 chunk_count | 180 u32 nranges |
 *   184 u64 manifest_off | 192 u64 manifest_size | 200 u64 index_off | 208 u64 index_cap |
 *   216 f64 compression_ratio | 224 f64 bits_per_weight | 232 u16 name_len |
 *   234 u16 desc_len | 236 name[128] | 364 desc[4096] | 4460 ranges[200] x (u64, u64)
 *   (ends at 7660) */
#define RANGES_AT 4460

static uint64_t slot_off(uint32_t slot) { return NQS_MODELS_OFF + (uint64_t)slot * NQS_RECORD_SIZE; }

static void model_encode(const nqs_model *m, uint8_t *b) {
    cur c = {b, 0};
    w_u32(&c, m->in_use);
    w_u32(&c, m->state);
    w_u64(&c, m->number);
    w_u8(&c, m->owner_len);
    w_bytes(&c, m->owner, NQS_MAX_PRINCIPAL);
    w_u64(&c, m->size_bytes);
    w_u64(&c, m->data_off);
    w_u64(&c, m->data_cap);
    w_u64(&c, m->received_bytes);
    w_u64(&c, m->created_at);
    w_u64(&c, m->validated_at);
    w_u64(&c, m->activated_at);
    w_u8(&c, m->has_expected_root);
    w_u8(&c, m->has_root);
    w_bytes(&c, m->expected_root, 32);
    w_bytes(&c, m->root, 32);
    w_u32(&c, m->shard_count);
    w_u32(&c, m->tensor_count);
    w_u32(&c, m->chunk_count);
    w_u32(&c, m->nranges);
    w_u64(&c, m->manifest_off);
    w_u64(&c, m->manifest_size);
    w_u64(&c, m->index_off);
    w_u64(&c, m->index_cap);
    w_f64(&c, m->compression_ratio);
    w_f64(&c, m->bits_per_weight);
    w_u16(&c, m->name_len);
    w_u16(&c, m->desc_len);
    w_bytes(&c, m->name, NQS_MAX_NAME);
    w_bytes(&c, m->desc, NQS_MAX_DESC);
    for (uint32_t i = 0; i < NQS_MAX_RANGES; i++) {
        w_u64(&c, i < m->nranges ? m->ranges[i].start : 0);
        w_u64(&c, i < m->nranges ? m->ranges[i].end : 0);
    }
}

static void model_decode(nqs_model *m, uint8_t *b) {
    cur c = {b, 0};
    m->in_use = r_u32(&c);
    m->state = r_u32(&c);
    m->number = r_u64(&c);
    m->owner_len = r_u8(&c);
    r_bytes(&c, m->owner, NQS_MAX_PRINCIPAL);
    m->size_bytes = r_u64(&c);
    m->data_off = r_u64(&c);
    m->data_cap = r_u64(&c);
    m->received_bytes = r_u64(&c);
    m->created_at = r_u64(&c);
    m->validated_at = r_u64(&c);
    m->activated_at = r_u64(&c);
    m->has_expected_root = r_u8(&c);
    m->has_root = r_u8(&c);
    r_bytes(&c, m->expected_root, 32);
    r_bytes(&c, m->root, 32);
    m->shard_count = r_u32(&c);
    m->tensor_count = r_u32(&c);
    m->chunk_count = r_u32(&c);
    m->nranges = r_u32(&c);
    m->manifest_off = r_u64(&c);
    m->manifest_size = r_u64(&c);
    m->index_off = r_u64(&c);
    m->index_cap = r_u64(&c);
    m->compression_ratio = r_f64(&c);
    m->bits_per_weight = r_f64(&c);
    m->name_len = r_u16(&c);
    m->desc_len = r_u16(&c);
    r_bytes(&c, m->name, NQS_MAX_NAME);
    r_bytes(&c, m->desc, NQS_MAX_DESC);
    if (m->owner_len > NQS_MAX_PRINCIPAL) m->owner_len = NQS_MAX_PRINCIPAL;
    if (m->name_len > NQS_MAX_NAME) m->name_len = NQS_MAX_NAME;
    if (m->desc_len > NQS_MAX_DESC) m->desc_len = NQS_MAX_DESC;
    if (m->nranges > NQS_MAX_RANGES) m->nranges = NQS_MAX_RANGES;
    for (uint32_t i = 0; i < NQS_MAX_RANGES; i++) {
        m->ranges[i].start = r_u64(&c);
        m->ranges[i].end = r_u64(&c);
    }
}

_Static_assert(RANGES_AT + NQS_MAX_RANGES * 16 <= NQS_RECORD_SIZE, "model record fits 8 KiB");

static uint8_t record_buf[NQS_RECORD_SIZE]; /* scratch; no state survives a message */


static void cache_build(void) {
    nqs_super s;
    nqs_super_load(&s);
    memset(slot_number, 0, sizeof slot_number);
    for (uint32_t i = 0; i < s.slot_high && i < NQS_MAX_MODELS; i++) {
        uint8_t head[16];
        nqs_read(slot_off(i), head, sizeof head);
        cur c = {head, 0};
        uint32_t in_use = r_u32(&c);
        (void)r_u32(&c);
        uint64_t number = r_u64(&c);
        slot_number[i] = in_use ? number : 0;
    }
    cache_ready = 1;
}

int nqs_model_load(uint32_t slot, nqs_model *m) {
    uint32_t in_use;
    nqs_read(slot_off(slot), &in_use, 4); /* wasm32 is little-endian, like the record */
    if (!in_use) return 0;
    nqs_read(slot_off(slot), record_buf, RANGES_AT + NQS_MAX_RANGES * 16);
    model_decode(m, record_buf);
    return 1;
}

void nqs_model_save(uint32_t slot, const nqs_model *m) {
    if (cache_ready) slot_number[slot] = m->in_use ? m->number : 0;
    memset(record_buf, 0, sizeof record_buf);
    model_encode(m, record_buf);
    /* Only the ranges in use need writing; the rest of the record is already zero or
     * ignored (nranges bounds it). */
    nqs_write(slot_off(slot), record_buf, RANGES_AT + (uint64_t)m->nranges * 16);
}

void nqs_model_clear(uint32_t slot) {
    if (cache_ready) slot_number[slot] = 0;
    memset(record_buf, 0, sizeof record_buf);
    nqs_write(slot_off(slot), record_buf, NQS_RECORD_SIZE);
}

int nqs_model_find(uint64_t number, uint32_t *slot, nqs_model *m) {
    if (!cache_ready) cache_build();
    if (number == 0) return 0;
    for (uint32_t i = 0; i < NQS_MAX_MODELS; i++) {
        if (slot_number[i] != number) continue;
        *slot = i;
        return nqs_model_load(i, m);
    }
    return 0;
}

int nqs_model_free_slot(nqs_super *s, uint32_t *slot) {
    for (uint32_t i = 0; i < NQS_MAX_MODELS; i++) {
        uint32_t in_use;
        if (i >= s->slot_high) { s->slot_high = i + 1; *slot = i; return 1; }
        nqs_read(slot_off(i), &in_use, 4);
        if (!in_use) { *slot = i; return 1; }
    }
    return 0;
}

/* --------------------------------------------------------------- extents */

/* Free list: NQS_MAX_FREE entries of (u64 off, u64 size) at NQS_FREE_OFF, unordered;
 * the first nfree are valid. Adjacent free extents are merged when freed, and a free
 * extent that ends at data_end is given back to the bump pointer. */
void nqs_free_extent(uint32_t i, uint64_t *off, uint64_t *size) {
    uint64_t e[2];
    nqs_read(NQS_FREE_OFF + (uint64_t)i * 16, e, 16);
    *off = e[0];
    *size = e[1];
}

static void free_put(uint32_t i, uint64_t off, uint64_t size) {
    uint64_t e[2] = {off, size};
    nqs_write(NQS_FREE_OFF + (uint64_t)i * 16, e, 16);
}

static void free_remove(nqs_super *s, uint32_t i) {
    uint64_t o, z;
    nqs_free_extent(s->nfree - 1, &o, &z);
    free_put(i, o, z);
    s->nfree--;
}

uint64_t nqs_round_granule(uint64_t size) {
    if (size == 0) size = 1;
    return (size + NQS_GRANULE - 1) / NQS_GRANULE * NQS_GRANULE;
}

int nqs_extent_alloc(nqs_super *s, uint64_t size, uint64_t *off, uint64_t *cap) {
    uint64_t need = nqs_round_granule(size);
    /* First fit in the free list; the rest of a larger extent stays free. */
    for (uint32_t i = 0; i < s->nfree; i++) {
        uint64_t o, z;
        nqs_free_extent(i, &o, &z);
        if (z < need) continue;
        if (z == need) free_remove(s, i);
        else free_put(i, o + need, z - need);
        *off = o;
        *cap = need;
        s->reserved_total += need;
        return 0;
    }
    if (ensure_size(s->data_end + need)) return -1;
    *off = s->data_end;
    *cap = need;
    s->data_end += need;
    s->reserved_total += need;
    return 0;
}

int nqs_extent_free(nqs_super *s, uint64_t off, uint64_t cap) {
    if (cap == 0) return 0;
    s->reserved_total -= cap;
    /* Merge with free neighbours (repeat: a merge may make another neighbour adjacent). */
    for (int merged = 1; merged;) {
        merged = 0;
        for (uint32_t i = 0; i < s->nfree; i++) {
            uint64_t o, z;
            nqs_free_extent(i, &o, &z);
            if (o + z == off || off + cap == o) {
                if (o < off) off = o;
                cap += z;
                free_remove(s, i);
                merged = 1;
                break;
            }
        }
    }
    if (off + cap == s->data_end) { s->data_end = off; return 0; }
    if (s->nfree == NQS_MAX_FREE) return -1; /* leak the extent rather than corrupt state */
    free_put(s->nfree++, off, cap);
    return 0;
}

/* ---------------------------------------------------------------- quotas */

/* Quota entry, 64 bytes: 0 u8 len | 1 principal[29] | 30 u16 0 | 32 u64 quota | 40 u64 used */
static void quota_get(int i, nqs_quota *q) {
    uint8_t b[NQS_QUOTA_ENTRY];
    nqs_read(NQS_QUOTA_OFF + (uint64_t)i * NQS_QUOTA_ENTRY, b, sizeof b);
    cur c = {b, 0};
    q->len = r_u8(&c);
    r_bytes(&c, q->principal, NQS_MAX_PRINCIPAL);
    c.pos = 32;
    q->quota = r_u64(&c);
    q->used = r_u64(&c);
    if (q->len > NQS_MAX_PRINCIPAL) q->len = NQS_MAX_PRINCIPAL;
}

void nqs_quota_save(int i, const nqs_quota *q) {
    uint8_t b[NQS_QUOTA_ENTRY] = {0};
    cur c = {b, 0};
    w_u8(&c, q->len);
    w_bytes(&c, q->principal, NQS_MAX_PRINCIPAL);
    c.pos = 32;
    w_u64(&c, q->quota);
    w_u64(&c, q->used);
    nqs_write(NQS_QUOTA_OFF + (uint64_t)i * NQS_QUOTA_ENTRY, b, sizeof b);
}

int nqs_quota_find(nqs_super *s, const uint8_t *p, size_t n, int create, nqs_quota *q) {
    if (n > NQS_MAX_PRINCIPAL) return -1;
    for (uint32_t i = 0; i < s->nprincipals; i++) {
        quota_get((int)i, q);
        if (q->len == n && memcmp(q->principal, p, n) == 0) return (int)i;
    }
    memset(q, 0, sizeof *q);
    q->len = (uint8_t)n;
    memcpy(q->principal, p, n);
    q->quota = UINT64_MAX;
    if (!create || s->nprincipals == NQS_MAX_PRINCIPALS) return -1;
    int i = (int)s->nprincipals++;
    nqs_quota_save(i, q);
    return i;
}

uint64_t nqs_quota_limit(const nqs_super *s, const nqs_quota *q) {
    return q->quota == UINT64_MAX ? s->default_quota : q->quota;
}

/* ---------------------------------------------------------------- ranges */

int nqs_ranges_add(nqs_model *m, uint64_t start, uint64_t end) {
    if (start >= end) return 0;
    nqs_range out[NQS_MAX_RANGES + 1];
    uint32_t n = 0, i = 0;
    while (i < m->nranges && m->ranges[i].end < start) out[n++] = m->ranges[i++];
    nqs_range cur_r = {start, end};
    while (i < m->nranges && m->ranges[i].start <= cur_r.end) {
        if (m->ranges[i].start < cur_r.start) cur_r.start = m->ranges[i].start;
        if (m->ranges[i].end > cur_r.end) cur_r.end = m->ranges[i].end;
        i++;
    }
    out[n++] = cur_r;
    while (i < m->nranges) {
        if (n == NQS_MAX_RANGES) return -1;
        out[n++] = m->ranges[i++];
    }
    if (n > NQS_MAX_RANGES) return -1;
    memcpy(m->ranges, out, n * sizeof *out);
    m->nranges = n;
    uint64_t total = 0;
    for (uint32_t k = 0; k < n; k++) total += m->ranges[k].end - m->ranges[k].start;
    m->received_bytes = total;
    return 0;
}
