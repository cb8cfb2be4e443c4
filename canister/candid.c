/* candid.c - Candid encoder and decoder (see candid.h for the contract and limits). */
#include "candid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cd_type cd_t_null = CD_PRIM(CD_NULL), cd_t_bool = CD_PRIM(CD_BOOL),
              cd_t_nat = CD_PRIM(CD_NAT), cd_t_int = CD_PRIM(CD_INT),
              cd_t_nat8 = CD_PRIM(CD_NAT8), cd_t_nat16 = CD_PRIM(CD_NAT16),
              cd_t_nat32 = CD_PRIM(CD_NAT32), cd_t_nat64 = CD_PRIM(CD_NAT64),
              cd_t_int64 = CD_PRIM(CD_INT64), cd_t_float64 = CD_PRIM(CD_FLOAT64),
              cd_t_text = CD_PRIM(CD_TEXT), cd_t_reserved = CD_PRIM(CD_RESERVED),
              cd_t_principal = CD_PRIM(CD_PRINCIPAL), cd_t_blob = CD_VEC_OF(&cd_t_nat8);

/* ------------------------------------------------------------------ arena */

struct cd_block {
    struct cd_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *cd_alloc(cd_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    if (a->limit && (size > a->limit || a->total > a->limit - size)) return NULL;
    struct cd_block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

void cd_arena_free(cd_arena *a) {
    struct cd_block *b = a->head;
    while (b) {
        struct cd_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ----------------------------------------------------------------- helpers */

uint32_t cd_hash(const char *name) {
    uint32_t h = 0;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = h * 223u + *s;
    return h;
}

static uint32_t field_id(const cd_field *f) { return f->name ? cd_hash(f->name) : f->id; }

int cd_field_index(const cd_type *t, const char *name) {
    for (int i = 0; i < t->nfields; i++)
        if (t->fields[i].name && strcmp(t->fields[i].name, name) == 0) return i;
    return -1;
}

cd_val cd_v_nat(uint64_t u) { cd_val v = {0}; v.u = u; return v; }
cd_val cd_v_int(int64_t i) { cd_val v = {0}; v.i = i; return v; }
cd_val cd_v_bool(int b) { cd_val v = {0}; v.u = b != 0; return v; }
cd_val cd_v_text(const char *s) { return cd_v_bytes(s, strlen(s)); }
cd_val cd_v_bytes(const void *p, size_t n) {
    cd_val v = {0};
    v.bytes = p;
    v.n = n;
    return v;
}
cd_val cd_v_none(void) { cd_val v = {0}; return v; }
cd_val cd_v_some(cd_arena *a, cd_val inner) {
    cd_val v = {0};
    v.sub = cd_alloc(a, sizeof(cd_val));
    if (v.sub) *v.sub = inner;
    else v.u = 1;
    return v;
}
cd_val *cd_v_array(cd_arena *a, size_t n) {
    if (n > SIZE_MAX / sizeof(cd_val)) return NULL;
    return cd_alloc(a, n * sizeof(cd_val));
}
cd_val cd_v_vec(cd_val *items, size_t n) { cd_val v = {0}; v.sub = items; v.n = n; return v; }
cd_val cd_v_record(cd_val *fields) { cd_val v = {0}; v.sub = fields; return v; }
cd_val cd_v_variant(cd_arena *a, uint64_t tag, cd_val inner) {
    cd_val v = cd_v_some(a, inner);
    v.u = tag;
    return v;
}

/* ------------------------------------------------------------------ buffer */

void cd_buf_free(cd_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void put(cd_buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->oom = 1; return; }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u8(cd_buf *b, uint8_t v) { put(b, &v, 1); }

static void put_uleb(cd_buf *b, uint64_t v) {
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        put_u8(b, byte | (v ? 0x80 : 0));
    } while (v);
}

static void put_sleb(cd_buf *b, int64_t v) {
    for (;;) {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7; /* arithmetic shift on every supported compiler */
        int done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
        put_u8(b, byte | (done ? 0 : 0x80));
        if (done) break;
    }
}

static void put_le(cd_buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put_u8(b, (uint8_t)(v >> (8 * i)));
}

/* ----------------------------------------------------------------- encoder */

#define ENC_MAX_TYPES 256

typedef struct enc {
    cd_buf *out;
    const cd_type *table[ENC_MAX_TYPES];
    int ntable;
    char *err;
    size_t errlen;
    int failed;
} enc;

static void enc_fail(enc *e, const char *fmt, ...) {
    if (e->failed) return;
    e->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errlen, fmt, ap);
    va_end(ap);
}

static int is_primitive(const cd_type *t) { return t->op >= CD_EMPTY || t->op == CD_PRINCIPAL; }

static int table_index(const enc *e, const cd_type *t) {
    for (int i = 0; i < e->ntable; i++)
        if (e->table[i] == t) return i;
    return -1;
}

/* Collect composite types depth first; a type gets its index before its children so
 * recursive types terminate. */
static void collect(enc *e, const cd_type *t) {
    if (is_primitive(t) || table_index(e, t) >= 0) return;
    if (e->ntable == ENC_MAX_TYPES) { enc_fail(e, "candid encode: too many types"); return; }
    e->table[e->ntable++] = t;
    if (t->op == CD_OPT || t->op == CD_VEC) collect(e, t->inner);
    for (int i = 0; i < t->nfields; i++) collect(e, t->fields[i].type);
    for (int i = 0; i < t->nargs; i++) collect(e, t->args[i]);
    for (int i = 0; i < t->nrets; i++) collect(e, t->rets[i]);
}

static void put_typeref(enc *e, const cd_type *t) {
    if (is_primitive(t)) put_sleb(e->out, t->op);
    else put_sleb(e->out, table_index(e, t));
}

/* Field order on the wire: ascending id. order[] receives declared indices. */
static void sort_fields(const cd_type *t, int *order) {
    for (int i = 0; i < t->nfields; i++) order[i] = i;
    for (int i = 1; i < t->nfields; i++) {
        int k = order[i];
        uint32_t id = field_id(&t->fields[k]);
        int j = i - 1;
        while (j >= 0 && field_id(&t->fields[order[j]]) > id) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = k;
    }
}

#define ENC_MAX_FIELDS 64

static void put_type_entry(enc *e, const cd_type *t) {
    put_sleb(e->out, t->op);
    switch (t->op) {
    case CD_OPT: case CD_VEC: put_typeref(e, t->inner); break;
    case CD_RECORD: case CD_VARIANT: {
        int order[ENC_MAX_FIELDS];
        if (t->nfields > ENC_MAX_FIELDS) { enc_fail(e, "candid encode: too many fields"); return; }
        sort_fields(t, order);
        put_uleb(e->out, (uint64_t)t->nfields);
        for (int i = 0; i < t->nfields; i++) {
            put_uleb(e->out, field_id(&t->fields[order[i]]));
            put_typeref(e, t->fields[order[i]].type);
        }
        break;
    }
    case CD_FUNC:
        put_uleb(e->out, (uint64_t)t->nargs);
        for (int i = 0; i < t->nargs; i++) put_typeref(e, t->args[i]);
        put_uleb(e->out, (uint64_t)t->nrets);
        for (int i = 0; i < t->nrets; i++) put_typeref(e, t->rets[i]);
        put_uleb(e->out, t->query ? 1 : 0);
        if (t->query) put_u8(e->out, 1);
        break;
    default: enc_fail(e, "candid encode: unsupported type %d", t->op);
    }
}

static int utf8_valid(const uint8_t *s, size_t n);

static void put_value(enc *e, const cd_type *t, const cd_val *v, int depth) {
    if (e->failed) return;
    if (depth > CD_MAX_DEPTH) { enc_fail(e, "candid encode: value nested too deep"); return; }
    switch (t->op) {
    case CD_NULL: case CD_RESERVED: break;
    case CD_BOOL: put_u8(e->out, v->u ? 1 : 0); break;
    case CD_NAT: put_uleb(e->out, v->u); break;
    case CD_INT: put_sleb(e->out, v->i); break;
    case CD_NAT8: put_le(e->out, v->u, 1); break;
    case CD_NAT16: put_le(e->out, v->u, 2); break;
    case CD_NAT32: put_le(e->out, v->u, 4); break;
    case CD_NAT64: put_le(e->out, v->u, 8); break;
    case CD_INT8: put_le(e->out, (uint64_t)v->i, 1); break;
    case CD_INT16: put_le(e->out, (uint64_t)v->i, 2); break;
    case CD_INT32: put_le(e->out, (uint64_t)v->i, 4); break;
    case CD_INT64: put_le(e->out, (uint64_t)v->i, 8); break;
    case CD_FLOAT64: { uint64_t bits; memcpy(&bits, &v->f, 8); put_le(e->out, bits, 8); break; }
    case CD_FLOAT32: {
        float f = (float)v->f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(e->out, bits, 4);
        break;
    }
    case CD_TEXT:
        if (!utf8_valid(v->bytes, v->n)) { enc_fail(e, "candid encode: text is not UTF-8"); return; }
        put_uleb(e->out, v->n);
        put(e->out, v->bytes, v->n);
        break;
    case CD_PRINCIPAL:
        put_u8(e->out, 1);
        put_uleb(e->out, v->n);
        put(e->out, v->bytes, v->n);
        break;
    case CD_OPT:
        if (!v->sub) { put_u8(e->out, 0); break; }
        put_u8(e->out, 1);
        put_value(e, t->inner, v->sub, depth + 1);
        break;
    case CD_VEC:
        put_uleb(e->out, v->n);
        if (t->inner->op == CD_NAT8) { put(e->out, v->bytes, v->n); break; }
        for (size_t i = 0; i < v->n; i++) put_value(e, t->inner, &v->sub[i], depth + 1);
        break;
    case CD_RECORD: {
        int order[ENC_MAX_FIELDS];
        if (t->nfields > ENC_MAX_FIELDS) { enc_fail(e, "candid encode: too many fields"); return; }
        if (t->nfields && !v->sub) { enc_fail(e, "candid encode: record without fields"); return; }
        sort_fields(t, order);
        for (int i = 0; i < t->nfields; i++)
            put_value(e, t->fields[order[i]].type, &v->sub[order[i]], depth + 1);
        break;
    }
    case CD_VARIANT: {
        int order[ENC_MAX_FIELDS];
        if (v->u >= (uint64_t)t->nfields || !v->sub) {
            enc_fail(e, "candid encode: bad variant tag %llu", (unsigned long long)v->u);
            return;
        }
        sort_fields(t, order);
        int pos = 0;
        while (order[pos] != (int)v->u) pos++;
        put_uleb(e->out, (uint64_t)pos);
        put_value(e, t->fields[v->u].type, v->sub, depth + 1);
        break;
    }
    case CD_FUNC:
        if (!v->sub) { enc_fail(e, "candid encode: func without method"); return; }
        put_u8(e->out, 1);
        put_u8(e->out, 1);
        put_uleb(e->out, v->n);
        put(e->out, v->bytes, v->n);
        put_uleb(e->out, v->sub->n);
        put(e->out, v->sub->bytes, v->sub->n);
        break;
    default: enc_fail(e, "candid encode: unsupported type %d", t->op);
    }
}

int cd_encode(cd_buf *out, const cd_type *const *types, const cd_val *vals, int n, char *err,
              size_t errlen) {
    enc e = {.out = out, .err = err, .errlen = errlen};
    put(out, "DIDL", 4);
    for (int i = 0; i < n; i++) collect(&e, types[i]);
    put_uleb(out, (uint64_t)e.ntable);
    for (int i = 0; i < e.ntable; i++) put_type_entry(&e, e.table[i]);
    put_uleb(out, (uint64_t)n);
    for (int i = 0; i < n; i++) put_typeref(&e, types[i]);
    for (int i = 0; i < n; i++) put_value(&e, types[i], &vals[i], 0);
    if (out->oom) enc_fail(&e, "candid encode: out of memory");
    return e.failed ? -1 : 0;
}

/* ----------------------------------------------------------------- decoder */

/* Wire type table: entry i describes type i; fields (record/variant members, func
 * argument and result types) live in one flat array. */
typedef struct wtype {
    int32_t op;
    int32_t inner;     /* opt, vec: element type; func: number of results */
    uint32_t nfields;  /* record, variant: fields; func: arguments */
    uint32_t first;
} wtype;

typedef struct wfield {
    uint32_t id;
    int32_t type;
} wfield;

typedef enum { DEC_OK = 0, DEC_FORMAT = 1, DEC_TYPE = 2, DEC_NOMEM = 3 } dec_res;

typedef struct dec {
    const uint8_t *buf;
    size_t len, pos;
    wtype *types;
    uint32_t ntypes;
    wfield *fields;
    uint32_t nfields;
    cd_arena *arena;
    uint64_t zero_budget;  /* elements of zero-size types still allowed */
    char *err;
    size_t errlen;
    int have_err;
} dec;

static dec_res dfail(dec *d, dec_res r, const char *fmt, ...) {
    if (d->have_err) return r;
    d->have_err = 1;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(d->err, d->errlen, "candid: %s at byte %zu", what, d->pos);
    return r;
}

/* A type mismatch is recoverable (opt decodes as null): the message is kept only if
 * it reaches the caller. */
static void clear_err(dec *d) { d->have_err = 0; }

static dec_res get_bytes(dec *d, size_t n, const uint8_t **p) {
    *p = d->buf + d->pos; /* set on failure too (quiets -Wmaybe-uninitialized) */
    if (d->len - d->pos < n) return dfail(d, DEC_FORMAT, "truncated input (need %zu bytes)", n);
    *p = d->buf + d->pos;
    d->pos += n;
    return DEC_OK;
}

static dec_res get_uleb(dec *d, uint64_t *out) {
    *out = 0;
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        if (d->pos >= d->len) return dfail(d, DEC_FORMAT, "truncated LEB128");
        uint8_t b = d->buf[d->pos++];
        if (shift == 63 && (b & 0x7e)) return dfail(d, DEC_FORMAT, "LEB128 value over 64 bits");
        if (shift > 63) {
            if (b & 0x7f) return dfail(d, DEC_FORMAT, "LEB128 value over 64 bits");
        } else {
            v |= (uint64_t)(b & 0x7f) << shift;
        }
        if (!(b & 0x80)) break;
        if (shift > 70) return dfail(d, DEC_FORMAT, "LEB128 too long");
    }
    *out = v;
    return DEC_OK;
}

static dec_res get_sleb(dec *d, int64_t *out) {
    *out = 0;
    uint64_t v = 0;
    int shift = 0;
    uint8_t b;
    for (;;) {
        if (d->pos >= d->len) return dfail(d, DEC_FORMAT, "truncated LEB128");
        b = d->buf[d->pos++];
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        else if ((b & 0x7f) != 0 && (b & 0x7f) != 0x7f)
            return dfail(d, DEC_FORMAT, "signed LEB128 value over 64 bits");
        shift += 7;
        if (!(b & 0x80)) break;
        if (shift > 70) return dfail(d, DEC_FORMAT, "LEB128 too long");
    }
    if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
    *out = (int64_t)v;
    return DEC_OK;
}

/* A type reference: a primitive opcode or a table index. */
static dec_res get_typeref(dec *d, int32_t *out) {
    int64_t t = 0;
    dec_res r = get_sleb(d, &t);
    if (r) return r;
    if ((t < 0 && (t >= CD_EMPTY || t == CD_PRINCIPAL)) || (t >= 0 && t < (int64_t)d->ntypes)) {
        *out = (int32_t)t;
        return DEC_OK;
    }
    return dfail(d, DEC_FORMAT, "invalid type reference %lld", (long long)t);
}

static dec_res add_field(dec *d, uint32_t id, int32_t type, uint32_t cap) {
    if (d->nfields >= cap) return dfail(d, DEC_FORMAT, "too many fields in type table");
    d->fields[d->nfields].id = id;
    d->fields[d->nfields].type = type;
    d->nfields++;
    return DEC_OK;
}

static dec_res read_type_entry(dec *d, wtype *w, uint32_t cap) {
    int64_t op;
    uint64_t n;
    dec_res r;
    if ((r = get_sleb(d, &op))) return r;
    w->op = (int32_t)op;
    w->first = d->nfields;
    switch (op) {
    case CD_OPT: case CD_VEC: return get_typeref(d, &w->inner);
    case CD_RECORD: case CD_VARIANT:
        if ((r = get_uleb(d, &n))) return r;
        if (n > d->len - d->pos) return dfail(d, DEC_FORMAT, "field count %llu past end", (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t id;
            int32_t t;
            if ((r = get_uleb(d, &id)) || (r = get_typeref(d, &t))) return r;
            if (id > UINT32_MAX) return dfail(d, DEC_FORMAT, "field id over 32 bits");
            if (i > 0 && id <= d->fields[d->nfields - 1].id)
                return dfail(d, DEC_FORMAT, "field ids not strictly increasing");
            if ((r = add_field(d, (uint32_t)id, t, cap))) return r;
        }
        w->nfields = (uint32_t)n;
        return DEC_OK;
    case CD_FUNC: {
        uint64_t na, nr, nann;
        if ((r = get_uleb(d, &na))) return r;
        if (na > d->len - d->pos) return dfail(d, DEC_FORMAT, "func argument count past end");
        for (uint64_t i = 0; i < na; i++) {
            int32_t t;
            if ((r = get_typeref(d, &t)) || (r = add_field(d, 0, t, cap))) return r;
        }
        if ((r = get_uleb(d, &nr))) return r;
        if (nr > d->len - d->pos) return dfail(d, DEC_FORMAT, "func result count past end");
        for (uint64_t i = 0; i < nr; i++) {
            int32_t t;
            if ((r = get_typeref(d, &t)) || (r = add_field(d, 0, t, cap))) return r;
        }
        w->nfields = (uint32_t)na;
        w->inner = (int32_t)nr;
        if ((r = get_uleb(d, &nann))) return r;
        const uint8_t *ann;
        return get_bytes(d, nann, &ann);
    }
    case CD_SERVICE:
        if ((r = get_uleb(d, &n))) return r;
        if (n > d->len - d->pos) return dfail(d, DEC_FORMAT, "service method count past end");
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len;
            const uint8_t *name;
            int32_t t;
            if ((r = get_uleb(d, &len)) || (r = get_bytes(d, len, &name)) || (r = get_typeref(d, &t)))
                return r;
        }
        return DEC_OK;
    default: return dfail(d, DEC_FORMAT, "unknown type opcode %lld in type table", (long long)op);
    }
}

/* Check references that must name a particular kind of type (service methods are not
 * kept; their references were range-checked while reading). */
static dec_res read_type_table(dec *d) {
    uint64_t n;
    dec_res r;
    if ((r = get_uleb(d, &n))) return r;
    if (n > CD_MAX_TYPES || n > d->len - d->pos)
        return dfail(d, DEC_FORMAT, "type table of %llu entries", (unsigned long long)n);
    d->ntypes = (uint32_t)n;
    /* Every field costs at least two bytes on the wire; a fixed cap keeps the table small. */
    uint32_t cap = d->len - d->pos < 16384 ? (uint32_t)(d->len - d->pos) : 16384;
    d->types = cd_alloc(d->arena, (n ? n : 1) * sizeof(wtype));
    d->fields = cd_alloc(d->arena, (cap ? cap : 1) * sizeof(wfield));
    if (!d->types || !d->fields) return dfail(d, DEC_NOMEM, "out of memory");
    for (uint32_t i = 0; i < d->ntypes; i++)
        if ((r = read_type_entry(d, &d->types[i], cap))) return r;
    return DEC_OK;
}

static int wop(const dec *d, int32_t t) { return t < 0 ? t : d->types[t].op; }

/* Does a value of wire type t take zero bytes whatever it is? (null, reserved, records
 * of such). Bounded by depth so that recursive records terminate. */
static int zero_sized(const dec *d, int32_t t, int depth) {
    if (depth > CD_MAX_DEPTH) return 0;
    int op = wop(d, t);
    if (op == CD_NULL || op == CD_RESERVED) return 1;
    if (op != CD_RECORD) return 0;
    const wtype *w = &d->types[t];
    for (uint32_t i = 0; i < w->nfields; i++)
        if (!zero_sized(d, d->fields[w->first + i].type, depth + 1)) return 0;
    return 1;
}

static dec_res vec_count(dec *d, int32_t elem, uint64_t *n) {
    dec_res r = get_uleb(d, n);
    if (r) return r;
    if (zero_sized(d, elem, 0)) {
        if (*n > d->zero_budget) return dfail(d, DEC_FORMAT, "vector of %llu zero-size elements", (unsigned long long)*n);
        d->zero_budget -= *n;
    } else if (*n > d->len - d->pos) {
        return dfail(d, DEC_FORMAT, "vector length %llu past end", (unsigned long long)*n);
    }
    return DEC_OK;
}

static int fixed_size(int op) {
    switch (op) {
    case CD_BOOL: case CD_NAT8: case CD_INT8: return 1;
    case CD_NAT16: case CD_INT16: return 2;
    case CD_NAT32: case CD_INT32: case CD_FLOAT32: return 4;
    case CD_NAT64: case CD_INT64: case CD_FLOAT64: return 8;
    default: return 0;
    }
}

static dec_res get_principal(dec *d, const uint8_t **p, size_t *n) {
    const uint8_t *flag;
    uint64_t len;
    dec_res r;
    if ((r = get_bytes(d, 1, &flag))) return r;
    if (*flag != 1) return dfail(d, DEC_FORMAT, "opaque or invalid reference (flag %u)", *flag);
    if ((r = get_uleb(d, &len))) return r;
    if (len > 29) return dfail(d, DEC_FORMAT, "principal of %llu bytes (max 29)", (unsigned long long)len);
    *n = (size_t)len;
    return get_bytes(d, *n, p);
}

static dec_res get_text(dec *d, const uint8_t **p, size_t *n) {
    uint64_t len;
    dec_res r = get_uleb(d, &len);
    if (r) return r;
    if (len > d->len - d->pos) return dfail(d, DEC_FORMAT, "text length %llu past end", (unsigned long long)len);
    *n = (size_t)len;
    if ((r = get_bytes(d, *n, p))) return r;
    if (!utf8_valid(*p, *n)) return dfail(d, DEC_FORMAT, "text is not valid UTF-8");
    return DEC_OK;
}

/* Read and discard one value of wire type t. */
static dec_res skip(dec *d, int32_t t, int depth) {
    if (depth > CD_MAX_DEPTH) return dfail(d, DEC_FORMAT, "value nested deeper than %d", CD_MAX_DEPTH);
    int op = wop(d, t);
    const uint8_t *p;
    size_t n;
    uint64_t u;
    int64_t s;
    dec_res r;
    if (fixed_size(op)) {
        if ((r = get_bytes(d, (size_t)fixed_size(op), &p))) return r;
        if (op == CD_BOOL && *p > 1) return dfail(d, DEC_FORMAT, "bool byte %u", *p);
        return DEC_OK;
    }
    switch (op) {
    case CD_NULL: case CD_RESERVED: return DEC_OK;
    case CD_EMPTY: return dfail(d, DEC_FORMAT, "value of type empty");
    case CD_NAT: return get_uleb(d, &u);
    case CD_INT: return get_sleb(d, &s);
    case CD_TEXT: return get_text(d, &p, &n);
    case CD_PRINCIPAL: return get_principal(d, &p, &n);
    case CD_OPT: {
        if ((r = get_bytes(d, 1, &p))) return r;
        if (*p > 1) return dfail(d, DEC_FORMAT, "opt flag %u", *p);
        return *p ? skip(d, d->types[t].inner, depth + 1) : DEC_OK;
    }
    case CD_VEC: {
        int32_t elem = d->types[t].inner;
        if ((r = vec_count(d, elem, &u))) return r;
        if (fixed_size(wop(d, elem)) == 1 && wop(d, elem) != CD_BOOL) return get_bytes(d, (size_t)u, &p);
        for (uint64_t i = 0; i < u; i++)
            if ((r = skip(d, elem, depth + 1))) return r;
        return DEC_OK;
    }
    case CD_RECORD: {
        const wtype *w = &d->types[t];
        for (uint32_t i = 0; i < w->nfields; i++)
            if ((r = skip(d, d->fields[w->first + i].type, depth + 1))) return r;
        return DEC_OK;
    }
    case CD_VARIANT: {
        const wtype *w = &d->types[t];
        if ((r = get_uleb(d, &u))) return r;
        if (u >= w->nfields) return dfail(d, DEC_FORMAT, "variant index %llu of %u", (unsigned long long)u, w->nfields);
        return skip(d, d->fields[w->first + u].type, depth + 1);
    }
    case CD_FUNC: {
        if ((r = get_bytes(d, 1, &p))) return r;
        if (*p != 1) return dfail(d, DEC_FORMAT, "opaque func reference");
        if ((r = get_principal(d, &p, &n))) return r;
        return get_text(d, &p, &n);
    }
    case CD_SERVICE: return get_principal(d, &p, &n);
    default: return dfail(d, DEC_FORMAT, "cannot decode type %d", op);
    }
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static dec_res value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth);

/* An absent field or argument: fine when null fits the expected type. */
static dec_res absent(dec *d, const cd_type *et, const char *what) {
    if (et->op == CD_OPT || et->op == CD_NULL || et->op == CD_RESERVED) return DEC_OK;
    return dfail(d, DEC_TYPE, "missing %s", what);
}

static dec_res opt_value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth) {
    int op = wop(d, wt);
    const uint8_t *p;
    dec_res r;
    if (op == CD_NULL || op == CD_RESERVED) return DEC_OK;
    int32_t inner = wt;
    if (op == CD_OPT) {
        if ((r = get_bytes(d, 1, &p))) return r;
        if (*p > 1) return dfail(d, DEC_FORMAT, "opt flag %u", *p);
        if (!*p) return DEC_OK;
        inner = d->types[wt].inner;
    }
    /* Candid's opt rule: content that does not fit the expected type decodes as null. */
    size_t save = d->pos;
    cd_val *v = cd_alloc(d->arena, sizeof *v);
    if (!v) return dfail(d, DEC_NOMEM, "out of memory");
    r = value(d, inner, et->inner, v, depth + 1);
    if (r == DEC_TYPE) {
        clear_err(d);
        d->pos = save;
        return skip(d, inner, depth + 1);
    }
    if (r) return r;
    out->sub = v;
    return DEC_OK;
}

static dec_res record_value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth) {
    const wtype *w = &d->types[wt];
    cd_val *fields = cd_v_array(d->arena, et->nfields ? (size_t)et->nfields : 1);
    char *seen = cd_alloc(d->arena, et->nfields ? (size_t)et->nfields : 1);
    dec_res r;
    if (!fields || !seen) return dfail(d, DEC_NOMEM, "out of memory");
    for (uint32_t i = 0; i < w->nfields; i++) {
        const wfield *f = &d->fields[w->first + i];
        int k = -1;
        for (int j = 0; j < et->nfields; j++)
            if (field_id(&et->fields[j]) == f->id) k = j;
        if (k < 0) r = skip(d, f->type, depth + 1);
        else {
            r = value(d, f->type, et->fields[k].type, &fields[k], depth + 1);
            seen[k] = 1;
        }
        if (r) return r;
    }
    for (int j = 0; j < et->nfields; j++) {
        if (seen[j]) continue;
        char what[96];
        if (et->fields[j].name) snprintf(what, sizeof what, "record field '%s'", et->fields[j].name);
        else snprintf(what, sizeof what, "record field %u", (unsigned)et->fields[j].id);
        if ((r = absent(d, et->fields[j].type, what))) return r;
    }
    out->sub = fields;
    return DEC_OK;
}

static dec_res variant_value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth) {
    const wtype *w = &d->types[wt];
    uint64_t idx;
    dec_res r = get_uleb(d, &idx);
    if (r) return r;
    if (idx >= w->nfields) return dfail(d, DEC_FORMAT, "variant index %llu of %u", (unsigned long long)idx, w->nfields);
    const wfield *f = &d->fields[w->first + idx];
    for (int j = 0; j < et->nfields; j++) {
        if (field_id(&et->fields[j]) != f->id) continue;
        cd_val *v = cd_alloc(d->arena, sizeof *v);
        if (!v) return dfail(d, DEC_NOMEM, "out of memory");
        if ((r = value(d, f->type, et->fields[j].type, v, depth + 1))) return r;
        out->u = (uint64_t)j;
        out->sub = v;
        return DEC_OK;
    }
    return dfail(d, DEC_TYPE, "unknown variant case (field id %u)", f->id);
}

static dec_res vec_value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth) {
    int32_t elem = d->types[wt].inner;
    uint64_t n;
    dec_res r;
    if (et->inner->op == CD_NAT8) {
        if (wop(d, elem) != CD_NAT8) return dfail(d, DEC_TYPE, "expected blob");
        if ((r = vec_count(d, elem, &n))) return r;
        out->n = (size_t)n;
        return get_bytes(d, out->n, &out->bytes);
    }
    if ((r = vec_count(d, elem, &n))) return r;
    cd_val *items = cd_v_array(d->arena, n ? (size_t)n : 1);
    if (!items) return dfail(d, DEC_NOMEM, "out of memory for %llu elements", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        if ((r = value(d, elem, et->inner, &items[i], depth + 1))) return r;
    out->sub = items;
    out->n = (size_t)n;
    return DEC_OK;
}

static const char *op_name(int op) {
    static const char *names[] = {"null", "bool", "nat", "int", "nat8", "nat16", "nat32",
                                  "nat64", "int8", "int16", "int32", "int64", "float32",
                                  "float64", "text", "reserved", "empty", "opt", "vec",
                                  "record", "variant", "func", "service", "principal"};
    return op <= -1 && op >= -24 ? names[-op - 1] : "?";
}

/* Decode one value of wire type wt as expected type et. */
static dec_res value(dec *d, int32_t wt, const cd_type *et, cd_val *out, int depth) {
    if (depth > CD_MAX_DEPTH) return dfail(d, DEC_FORMAT, "value nested deeper than %d", CD_MAX_DEPTH);
    int op = wop(d, wt);
    if (et->op == CD_RESERVED) return skip(d, wt, depth);
    if (et->op == CD_OPT) return opt_value(d, wt, et, out, depth);
    int ok = op == et->op || (et->op == CD_INT && op == CD_NAT);
    if (!ok) return dfail(d, DEC_TYPE, "expected %s, found %s", op_name(et->op), op_name(op));
    const uint8_t *p;
    dec_res r;
    if (fixed_size(op)) {
        if ((r = get_bytes(d, (size_t)fixed_size(op), &p))) return r;
        uint64_t v = le(p, fixed_size(op));
        if (op == CD_BOOL && v > 1) return dfail(d, DEC_FORMAT, "bool byte %u", *p);
        if (op == CD_FLOAT64) memcpy(&out->f, &v, 8);
        else if (op == CD_FLOAT32) { uint32_t b32 = (uint32_t)v; float f; memcpy(&f, &b32, 4); out->f = f; }
        else if (op <= CD_INT8 && op >= CD_INT64) {
            int bits = 8 * fixed_size(op);
            out->i = bits == 64 ? (int64_t)v : (int64_t)(v ^ (1ull << (bits - 1))) - (int64_t)(1ull << (bits - 1));
        } else out->u = v;
        return DEC_OK;
    }
    switch (op) {
    case CD_NULL: return DEC_OK;
    case CD_NAT:
        if ((r = get_uleb(d, &out->u))) return r;
        out->i = (int64_t)out->u;
        if (et->op == CD_INT && out->u > INT64_MAX) return dfail(d, DEC_FORMAT, "int over 64 bits");
        return DEC_OK;
    case CD_INT: return get_sleb(d, &out->i);
    case CD_TEXT: return get_text(d, &out->bytes, &out->n);
    case CD_PRINCIPAL: return get_principal(d, &out->bytes, &out->n);
    case CD_VEC: return vec_value(d, wt, et, out, depth);
    case CD_RECORD: return record_value(d, wt, et, out, depth);
    case CD_VARIANT: return variant_value(d, wt, et, out, depth);
    case CD_FUNC: {
        if ((r = get_bytes(d, 1, &p))) return r;
        if (*p != 1) return dfail(d, DEC_FORMAT, "opaque func reference");
        if ((r = get_principal(d, &out->bytes, &out->n))) return r;
        cd_val *m = cd_alloc(d->arena, sizeof *m);
        if (!m) return dfail(d, DEC_NOMEM, "out of memory");
        out->sub = m;
        return get_text(d, &m->bytes, &m->n);
    }
    default: return dfail(d, DEC_TYPE, "cannot decode %s", op_name(op));
    }
}

int cd_decode(const uint8_t *buf, size_t len, const cd_type *const *types, int n, cd_val *out,
              cd_arena *arena, char *err, size_t errlen) {
    dec d = {.buf = buf, .len = len, .arena = arena, .zero_budget = CD_MAX_ZERO_SIZED,
             .err = err, .errlen = errlen};
    const uint8_t *magic;
    uint64_t nargs;
    dec_res r;
    if (n > 0) memset(out, 0, (size_t)n * sizeof *out);
    if (get_bytes(&d, 4, &magic) || memcmp(magic, "DIDL", 4) != 0) {
        d.have_err = 0;
        d.pos = 0;
        dfail(&d, DEC_FORMAT, "missing DIDL magic");
        return -1;
    }
    if ((r = read_type_table(&d))) return -1;
    if ((r = get_uleb(&d, &nargs))) return -1;
    if (nargs > d.len - d.pos) { dfail(&d, DEC_FORMAT, "argument count past end"); return -1; }
    int32_t *argt = cd_alloc(arena, (nargs ? nargs : 1) * sizeof(int32_t));
    if (!argt) { dfail(&d, DEC_NOMEM, "out of memory"); return -1; }
    for (uint64_t i = 0; i < nargs; i++)
        if ((r = get_typeref(&d, &argt[i]))) return -1;
    for (uint64_t i = 0; i < nargs; i++) {
        if (i < (uint64_t)n) r = value(&d, argt[i], types[i], &out[i], 0);
        else r = skip(&d, argt[i], 0);
        if (r) return -1;
    }
    for (int i = (int)nargs; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "argument %d", i);
        if (absent(&d, types[i], what)) return -1;
    }
    if (d.pos != d.len) { dfail(&d, DEC_FORMAT, "%zu trailing bytes", d.len - d.pos); return -1; }
    return 0;
}

/* ------------------------------------------------------------------- UTF-8 */

static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < (size_t)len) return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += (size_t)len;
    }
    return 1;
}
