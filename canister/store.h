/* store.h - the canister's persistent state, all of it in stable memory (ic0 stable64).
 *
 * Layout version 1 (offsets in bytes; docs/CANISTER.md has the same table):
 *   [0, 4 KiB)            superblock: magic "NQSTORE1", layout version, counters, settings
 *   [64 KiB, 320 KiB)     quota table: NQS_MAX_PRINCIPALS entries of 64 bytes
 *   [320 KiB, 384 KiB)    free-extent list: NQS_MAX_FREE entries of 16 bytes
 *   [1 MiB, 33 MiB)       model table: NQS_MAX_MODELS records of 8 KiB
 *   [64 MiB, ...)         data extents (64 KiB granules): one per model for the uploaded
 *                         .novaq bytes, one per committed model for its shard/chunk index
 * The heap holds no state between messages but a cache (slot -> model number, rebuilt
 * from the model table after an upgrade): every method reads and writes stable memory, so
 * an upgrade loses nothing and needs no pre_upgrade work. */
#ifndef NQC_STORE_H
#define NQC_STORE_H
#include <stddef.h>
#include <stdint.h>

#define NQS_LAYOUT_VERSION 1u
#define NQS_PAGE 65536ull
#define NQS_SUPER_OFF 0ull
#define NQS_QUOTA_OFF (64ull << 10)
#define NQS_MAX_PRINCIPALS 4096u
#define NQS_QUOTA_ENTRY 64ull
#define NQS_FREE_OFF (320ull << 10)
#define NQS_MAX_FREE 4096u
#define NQS_MODELS_OFF (1ull << 20)
#define NQS_MAX_MODELS 4096u
#define NQS_RECORD_SIZE 8192ull
#define NQS_DATA_OFF (64ull << 20)
#define NQS_GRANULE 65536ull
#define NQS_MAX_RANGES 200u         /* disjoint received ranges per upload */
#define NQS_MAX_NAME 128u
#define NQS_MAX_DESC 4096u
#define NQS_MAX_PRINCIPAL 29u
/* Largest .novaq one model may declare. Commit validates the whole file in one update
 * message: about 155 wasm instructions per byte (SHA-256 alone is ~130/byte in wasm), and
 * an update may run 40e9 instructions, so 224 MiB (~36.5e9) is the most that fits with a
 * margin. The layout itself would allow far more (docs/CANISTER.md). */
#define NQS_MAX_MODEL_BYTES (224ull << 20)
#define NQS_DEFAULT_QUOTA (4ull << 30)

enum { NQS_UPLOADING = 0, NQS_VALIDATED = 1, NQS_ACTIVE = 2, NQS_DEPRECATED = 3 };

typedef struct nqs_super {
    uint64_t next_model_number;
    uint64_t data_end;            /* first byte past the highest extent */
    uint64_t default_quota;
    uint64_t reserved_total;      /* bytes in live extents */
    uint32_t nfree, nprincipals;
    uint32_t slot_high;           /* model slots [0, slot_high) have ever been used */
    uint64_t last_upload_instructions, last_commit_instructions, last_commit_bytes;
} nqs_super;

typedef struct nqs_range { uint64_t start, end; } nqs_range;

/* One model (a slot of the model table). */
typedef struct nqs_model {
    uint32_t in_use, state;
    uint64_t number;              /* the id: ModelId is its decimal text */
    uint8_t owner_len;
    uint8_t owner[NQS_MAX_PRINCIPAL];
    uint64_t size_bytes;
    uint64_t data_off, data_cap;  /* extent holding the .novaq bytes */
    uint64_t received_bytes;
    uint64_t created_at, validated_at, activated_at;
    uint8_t has_expected_root, has_root;
    uint8_t expected_root[32], root[32];
    uint32_t shard_count, tensor_count, chunk_count, nranges;
    uint64_t manifest_off, manifest_size;
    uint64_t index_off, index_cap; /* extent: shard table then chunk table (48-byte rows) */
    double compression_ratio, bits_per_weight;
    uint16_t name_len, desc_len;
    char name[NQS_MAX_NAME];
    char desc[NQS_MAX_DESC];
    nqs_range ranges[NQS_MAX_RANGES];
} nqs_model;

/* A row of the shard or chunk table: a byte range of the .novaq file and its SHA-256. */
typedef struct nqs_piece { uint64_t off, size; uint8_t sha256[32]; } nqs_piece;
#define NQS_PIECE_SIZE 48ull

/* Raw stable memory (ic0 stable64 in the canister). */
void nqs_read(uint64_t off, void *dst, uint64_t len);
void nqs_write(uint64_t off, const void *src, uint64_t len);

/* Called from canister_init: formats an empty store. From post_upgrade: checks the
 * superblock. Both return 0 or -1 with a message. */
int nqs_format(char *err, size_t errlen);
int nqs_open(char *err, size_t errlen);

void nqs_super_load(nqs_super *s);
void nqs_super_save(const nqs_super *s);

/* Model slots: load by slot index (0..NQS_MAX_MODELS-1); find by id number. */
int nqs_model_load(uint32_t slot, nqs_model *m);  /* 1 if in use */
void nqs_model_save(uint32_t slot, const nqs_model *m);
int nqs_model_find(uint64_t number, uint32_t *slot, nqs_model *m);
int nqs_model_free_slot(nqs_super *s, uint32_t *slot); /* may raise s->slot_high */
void nqs_model_clear(uint32_t slot);

/* Extents: allocate size bytes (rounded up to a granule), growing stable memory as
 * needed; 0 on success, -1 if stable memory cannot grow or the free list is full. */
int nqs_extent_alloc(nqs_super *s, uint64_t size, uint64_t *off, uint64_t *cap);
int nqs_extent_free(nqs_super *s, uint64_t off, uint64_t cap);
/* Entry i (< s->nfree) of the free-extent list: its offset and size (tests inspect it). */
void nqs_free_extent(uint32_t i, uint64_t *off, uint64_t *size);
uint64_t nqs_round_granule(uint64_t size);

/* Quotas: per principal, bytes reserved by its models and its limit. */
typedef struct nqs_quota {
    uint8_t len;
    uint8_t principal[NQS_MAX_PRINCIPAL];
    uint64_t quota;               /* UINT64_MAX: the default quota applies */
    uint64_t used;
} nqs_quota;
/* Find (or with create, add) a principal's entry. Returns its index or -1. */
int nqs_quota_find(nqs_super *s, const uint8_t *p, size_t n, int create, nqs_quota *q);
void nqs_quota_save(int index, const nqs_quota *q);
uint64_t nqs_quota_limit(const nqs_super *s, const nqs_quota *q);

/* Upload coverage: add [start, end) to m's ranges (merging). -1 if it would need more
 * than NQS_MAX_RANGES disjoint ranges (m unchanged). */
int nqs_ranges_add(nqs_model *m, uint64_t start, uint64_t end);

#endif
