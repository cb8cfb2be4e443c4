/* candid.h - a small Candid codec (encode and decode against declared types).
 *
 * Portable C11 with no ic0 dependency, so it runs natively in unit tests and under
 * libFuzzer as well as inside the canister.
 *
 * Types are static descriptions (cd_type trees; record/variant fields in any order, the
 * codec sorts them by field hash). Values are cd_val trees allocated in a cd_arena.
 *
 * Decoding implements the parts of Candid subtyping that interface evolution needs:
 * extra record fields and extra arguments are skipped, absent opt/null/reserved fields
 * and arguments decode as null, an opt whose content does not fit decodes as null, and
 * nat decodes where int is expected. Everything else must match exactly.
 *
 * Limits (hostile input): nesting depth CD_MAX_DEPTH, type table CD_MAX_TYPES entries,
 * vector lengths bounded by the bytes left (or CD_MAX_ZERO_SIZED elements of zero-size
 * types), nat/int values up to 64 bits, text must be valid UTF-8. */
#ifndef NQC_CANDID_H
#define NQC_CANDID_H
#include <stddef.h>
#include <stdint.h>

#define CD_MAX_DEPTH 64
#define CD_MAX_TYPES 4096
#define CD_MAX_ZERO_SIZED 65536

enum {
    CD_NULL = -1, CD_BOOL = -2, CD_NAT = -3, CD_INT = -4,
    CD_NAT8 = -5, CD_NAT16 = -6, CD_NAT32 = -7, CD_NAT64 = -8,
    CD_INT8 = -9, CD_INT16 = -10, CD_INT32 = -11, CD_INT64 = -12,
    CD_FLOAT32 = -13, CD_FLOAT64 = -14, CD_TEXT = -15, CD_RESERVED = -16, CD_EMPTY = -17,
    CD_OPT = -18, CD_VEC = -19, CD_RECORD = -20, CD_VARIANT = -21, CD_FUNC = -22,
    CD_SERVICE = -23, CD_PRINCIPAL = -24
};

typedef struct cd_type cd_type;

/* A record or variant field: by name (id = hash of name) or, when name is NULL, by id
 * (tuple fields 0, 1, ...). */
typedef struct cd_field {
    const char *name;
    uint32_t id;
    const cd_type *type;
} cd_field;

struct cd_type {
    int op;                      /* CD_* */
    const cd_type *inner;        /* opt, vec */
    int nfields;                 /* record, variant */
    const cd_field *fields;
    int nargs, nrets;            /* func */
    const cd_type *const *args;
    const cd_type *const *rets;
    int query;                   /* func: annotated query */
};

#define CD_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define CD_PRIM(op_) {.op = (op_)}
#define CD_VEC_OF(t) {.op = CD_VEC, .inner = (t)}
#define CD_OPT_OF(t) {.op = CD_OPT, .inner = (t)}
#define CD_RECORD_OF(f) {.op = CD_RECORD, .nfields = CD_COUNT(f), .fields = (f)}
#define CD_VARIANT_OF(f) {.op = CD_VARIANT, .nfields = CD_COUNT(f), .fields = (f)}

extern const cd_type cd_t_null, cd_t_bool, cd_t_nat, cd_t_int, cd_t_nat8, cd_t_nat16,
    cd_t_nat32, cd_t_nat64, cd_t_int64, cd_t_float64, cd_t_text, cd_t_reserved,
    cd_t_principal, cd_t_blob;

/* A value. Which members are used depends on its type:
 *   bool, natN, nat, variant tag (index into the type's fields): u; intN, int: i;
 *   float: f; text, blob (vec nat8), principal: bytes; func: bytes = principal and
 *   sub = one text value (method); vec: sub[0..n); record: sub[i] is field i in the
 *   type's declared order; variant: sub = the case's value; opt: sub NULL (none) or one
 *   value. */
typedef struct cd_val cd_val;
struct cd_val {
    uint64_t u;
    int64_t i;
    double f;
    const uint8_t *bytes;
    size_t n;
    cd_val *sub;
};

/* Bump allocator for one message's values; cd_arena_free releases everything. */
typedef struct cd_arena {
    struct cd_block *head;
    size_t total, limit;  /* limit 0: unlimited */
} cd_arena;
void *cd_alloc(cd_arena *a, size_t size);  /* zeroed; NULL when out of memory/limit */
void cd_arena_free(cd_arena *a);

/* Growable output buffer. */
typedef struct cd_buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} cd_buf;
void cd_buf_free(cd_buf *b);

uint32_t cd_hash(const char *name);

/* Encode n values (DIDL header, type table, argument types, values). Returns 0, or -1
 * with a message in err (a value that does not fit its type, or out of memory). */
int cd_encode(cd_buf *out, const cd_type *const *types, const cd_val *vals, int n,
              char *err, size_t errlen);

/* Decode a message into n values of the expected types. Blobs and text point into buf
 * (keep it alive). Returns 0, or -1 with a message naming what and the byte offset. */
int cd_decode(const uint8_t *buf, size_t len, const cd_type *const *types, int n,
              cd_val *out, cd_arena *arena, char *err, size_t errlen);

/* Value helpers (arena-allocated where they need storage). */
cd_val cd_v_nat(uint64_t u);
cd_val cd_v_int(int64_t i);
cd_val cd_v_bool(int b);
cd_val cd_v_text(const char *s);
cd_val cd_v_bytes(const void *p, size_t n);  /* blob, text of known length, principal */
cd_val cd_v_none(void);
cd_val cd_v_some(cd_arena *a, cd_val v);     /* u = 1 if allocation failed */
cd_val *cd_v_array(cd_arena *a, size_t n);   /* n zeroed values, for records and vecs */
cd_val cd_v_vec(cd_val *items, size_t n);
cd_val cd_v_record(cd_val *fields);
cd_val cd_v_variant(cd_arena *a, uint64_t tag, cd_val v);

/* Index of field name in a record/variant type (declared order), or -1. */
int cd_field_index(const cd_type *t, const char *name);

#endif
