/* test_candid.c - the canister's Candid codec, natively: exact wire bytes of known
 * encodings, round trips, subtyping rules, and hostile input (every malformed message
 * is rejected with a message naming what and where, never a crash). */
#include <stdint.h>
#include <string.h>

#include "testutil.h"
/* The codec is portable C with no ic0 dependency: linked natively (tests/CMakeLists.txt). */
#include "candid.h"

static int bytes_eq(const cd_buf *b, const char *hex) {
    size_t n = strlen(hex) / 2;
    if (b->n != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        if (b->p[i] != v) return 0;
    }
    return 1;
}

static size_t unhex(const char *hex, uint8_t *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* ------------------------------------------------------------- test types */

static const cd_field f_ab[] = {{"b", 0, &cd_t_text}, {"a", 0, &cd_t_nat}};
static const cd_type t_ab = CD_RECORD_OF(f_ab);
static const cd_type t_opt_nat = CD_OPT_OF(&cd_t_nat);
static const cd_field f_result[] = {{"ok", 0, &cd_t_nat}, {"err", 0, &cd_t_text}};
static const cd_type t_result = CD_VARIANT_OF(f_result);

static const cd_field f_item[] = {{"id", 0, &cd_t_nat64}, {"data", 0, &cd_t_blob},
                                  {"tag", 0, &t_opt_nat}, {"who", 0, &cd_t_principal}};
static const cd_type t_item = CD_RECORD_OF(f_item);
static const cd_type t_items = CD_VEC_OF(&t_item);
static const cd_field f_big[] = {{"items", 0, &t_items}, {"res", 0, &t_result},
                                 {"delta", 0, &cd_t_int}, {"name", 0, &cd_t_text},
                                 {"flag", 0, &cd_t_bool}, {"ratio", 0, &cd_t_float64}};
static const cd_type t_big = CD_RECORD_OF(f_big);

static void test_hash(void) {
    CHECK(cd_hash("a") == 97);
    CHECK(cd_hash("name") == 1224700491u);   /* value from the Candid spec's examples */
    CHECK(cd_hash("") == 0);
}

static void test_known_bytes(void) {
    cd_buf b = {0};
    char err[256];
    CHECK(cd_encode(&b, NULL, NULL, 0, err, sizeof err) == 0);
    CHECK(bytes_eq(&b, "4449444c0000"));
    cd_buf_free(&b);

    const cd_type *t1[] = {&cd_t_nat};
    cd_val v1 = cd_v_nat(300);
    CHECK(cd_encode(&b, t1, &v1, 1, err, sizeof err) == 0);
    CHECK(bytes_eq(&b, "4449444c00017dac02"));
    cd_buf_free(&b);

    const cd_type *t2[] = {&cd_t_int};
    cd_val v2 = cd_v_int(-129);
    CHECK(cd_encode(&b, t2, &v2, 1, err, sizeof err) == 0);
    CHECK(bytes_eq(&b, "4449444c00017cff7e"));
    cd_buf_free(&b);

    /* record fields go out in hash order whatever the declared order */
    cd_arena a = {0};
    cd_val *f = cd_v_array(&a, 2);
    f[0] = cd_v_text("x");
    f[1] = cd_v_nat(1);
    const cd_type *t3[] = {&t_ab};
    cd_val v3 = cd_v_record(f);
    CHECK(cd_encode(&b, t3, &v3, 1, err, sizeof err) == 0);
    CHECK(bytes_eq(&b, "4449444c016c02617d627101000101" "78"));
    cd_buf_free(&b);

    /* variant: index on the wire is the position in hash order (err < ok) */
    const cd_type *t4[] = {&t_result};
    cd_val v4 = cd_v_variant(&a, 0, cd_v_nat(5));
    CHECK(cd_encode(&b, t4, &v4, 1, err, sizeof err) == 0);
    /* hash("err") = 5048165, hash("ok") = 24860 -> ok first */
    CHECK(cd_hash("ok") < cd_hash("err"));
    CHECK(bytes_eq(&b, "4449444c016b029cc2017de58eb4027101000005"));
    cd_buf_free(&b);

    /* text must be UTF-8 */
    const cd_type *t5[] = {&cd_t_text};
    cd_val v5 = cd_v_bytes("\xff", 1);
    CHECK(cd_encode(&b, t5, &v5, 1, err, sizeof err) == -1);
    CHECK(strstr(err, "UTF-8") != NULL);
    cd_buf_free(&b);
    cd_arena_free(&a);
}

static cd_val make_big(cd_arena *a, const uint8_t *blob, size_t blen, const uint8_t *pr) {
    cd_val *items = cd_v_array(a, 3);
    for (int i = 0; i < 3; i++) {
        cd_val *it = cd_v_array(a, 4);
        it[0] = cd_v_nat(0xfedcba9876543210ull + (uint64_t)i);
        it[1] = cd_v_bytes(blob, blen - (size_t)i);
        it[2] = i == 1 ? cd_v_none() : cd_v_some(a, cd_v_nat(1000000000000ull * (uint64_t)i));
        it[3] = cd_v_bytes(pr, 10);
        items[i] = cd_v_record(it);
    }
    cd_val *f = cd_v_array(a, 6);
    f[0] = cd_v_vec(items, 3);
    f[1] = cd_v_variant(a, 1, cd_v_text("bad thing"));
    f[2] = cd_v_int(-1234567890123ll);
    f[3] = cd_v_text("mod\xc3\xa8le");
    f[4] = cd_v_bool(1);
    f[5].f = 0.25;
    return cd_v_record(f);
}

static void test_round_trip(void) {
    cd_arena a = {0};
    uint8_t blob[1000], pr[10];
    for (int i = 0; i < 1000; i++) blob[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 10; i++) pr[i] = (uint8_t)(i + 1);
    cd_val v = make_big(&a, blob, sizeof blob, pr);
    const cd_type *t[] = {&t_big, &cd_t_text};
    cd_val vals[2] = {v, cd_v_text("second")};
    cd_buf b = {0};
    char err[256];
    CHECK(cd_encode(&b, t, vals, 2, err, sizeof err) == 0);

    cd_arena da = {0};
    cd_val out[2];
    int rc = cd_decode(b.p, b.n, t, 2, out, &da, err, sizeof err);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "%s\n", err);
    if (rc == 0) {
        cd_val *f = out[0].sub;
        CHECK(f[0].n == 3);
        for (int i = 0; i < 3 && f[0].n == 3; i++) {
            cd_val *it = f[0].sub[i].sub;
            CHECK(it[0].u == 0xfedcba9876543210ull + (uint64_t)i);
            CHECK(it[1].n == 1000 - (size_t)i && memcmp(it[1].bytes, blob, it[1].n) == 0);
            CHECK(i == 1 ? it[2].sub == NULL : (it[2].sub && it[2].sub->u == 1000000000000ull * (uint64_t)i));
            CHECK(it[3].n == 10 && memcmp(it[3].bytes, pr, 10) == 0);
        }
        CHECK(f[1].u == 1 && f[1].sub && f[1].sub->n == 9 && memcmp(f[1].sub->bytes, "bad thing", 9) == 0);
        CHECK(f[2].i == -1234567890123ll);
        CHECK(f[3].n == 7 && memcmp(f[3].bytes, "mod\xc3\xa8le", 7) == 0);
        CHECK(f[4].u == 1);
        CHECK(f[5].f == 0.25);
        CHECK(out[1].n == 6 && memcmp(out[1].bytes, "second", 6) == 0);
    }
    cd_arena_free(&da);
    cd_buf_free(&b);
    cd_arena_free(&a);
}

/* The wire may carry more (extra fields, args) or less (absent opt fields, args) than
 * expected. */
static const cd_field f_a_only[] = {{"a", 0, &cd_t_nat}, {"c", 0, &t_opt_nat}};
static const cd_type t_a_only = CD_RECORD_OF(f_a_only);

static void test_subtyping(void) {
    uint8_t msg[256];
    char err[256];
    cd_arena a = {0};
    cd_val out[3];
    /* record {a=1; b="x"} decoded as record {a: nat; c: opt nat}: b skipped, c null */
    size_t n = unhex("4449444c016c02617d627101000101" "78", msg);
    const cd_type *t1[] = {&t_a_only};
    CHECK(cd_decode(msg, n, t1, 1, out, &a, err, sizeof err) == 0);
    CHECK(out[0].sub && out[0].sub[0].u == 1 && out[0].sub[1].sub == NULL);

    /* missing non-opt field is an error naming it */
    const cd_type *t2[] = {&t_ab};
    n = unhex("4449444c016c01617d010001", msg);
    CHECK(cd_decode(msg, n, t2, 1, out, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "'b'") != NULL);

    /* extra arguments are skipped, absent opt arguments are null, absent nat is not */
    n = unhex("4449444c00027d71050000", msg); /* (nat 5, text "") + one junk byte */
    const cd_type *t3[] = {&cd_t_nat};
    CHECK(cd_decode(msg, n, t3, 1, out, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "trailing") != NULL);
    n = unhex("4449444c00027d710500", msg);
    CHECK(cd_decode(msg, n, t3, 1, out, &a, err, sizeof err) == 0 && out[0].u == 5);
    const cd_type *t4[] = {&cd_t_nat, &t_opt_nat};
    n = unhex("4449444c00017d05", msg);
    CHECK(cd_decode(msg, n, t4, 2, out, &a, err, sizeof err) == 0 && out[0].u == 5 && out[1].sub == NULL);
    const cd_type *t5[] = {&cd_t_nat, &cd_t_nat};
    CHECK(cd_decode(msg, n, t5, 2, out, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "missing argument 1") != NULL);

    /* opt nat sent where opt text expected: null (opt rule); nat where int expected: ok */
    static const cd_type t_opt_text = CD_OPT_OF(&cd_t_text);
    const cd_type *t6[] = {&t_opt_text};
    n = unhex("4449444c016e7d01000107", msg);
    CHECK(cd_decode(msg, n, t6, 1, out, &a, err, sizeof err) == 0 && out[0].sub == NULL);
    const cd_type *t7[] = {&cd_t_int};
    n = unhex("4449444c00017d07", msg);
    CHECK(cd_decode(msg, n, t7, 1, out, &a, err, sizeof err) == 0 && out[0].i == 7);
    /* but text where nat expected is a type error */
    n = unhex("4449444c0001710161", msg);
    CHECK(cd_decode(msg, n, t3, 1, out, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "expected nat, found text") != NULL);
    /* a bare value where opt is expected decodes as some */
    const cd_type *t8[] = {&t_opt_nat};
    n = unhex("4449444c00017d09", msg);
    CHECK(cd_decode(msg, n, t8, 1, out, &a, err, sizeof err) == 0 && out[0].sub && out[0].sub->u == 9);
    cd_arena_free(&a);
}

static void expect_reject(const char *hex, const cd_type *t, const char *needle) {
    uint8_t msg[512];
    char err[256] = "";
    cd_arena a = {0};
    cd_val out[1];
    size_t n = unhex(hex, msg);
    const cd_type *ts[] = {t};
    int rc = cd_decode(msg, n, ts, 1, out, &a, err, sizeof err);
    CHECK(rc == -1);
    if (rc == -1 && !strstr(err, needle)) {
        fprintf(stderr, "for %s: expected '%s' in '%s'\n", hex, needle, err);
        tu_failures++;
    }
    CHECK(rc != -1 || strstr(err, "at byte") != NULL);
    cd_arena_free(&a);
}

static const cd_type t_vec_null = CD_VEC_OF(&cd_t_null);

static void test_bad_input(void) {
    expect_reject("", &cd_t_nat, "DIDL");
    expect_reject("4449444d0000", &cd_t_nat, "DIDL");
    expect_reject("4449444c", &cd_t_nat, "truncated");
    expect_reject("4449444c00017d", &cd_t_nat, "truncated LEB128");
    expect_reject("4449444c0001717f", &cd_t_text, "past end");
    expect_reject("4449444c00017102c328", &cd_t_text, "UTF-8");
    expect_reject("4449444c00017e02", &cd_t_bool, "bool byte");
    expect_reject("4449444c000105", &cd_t_nat, "invalid type reference");
    expect_reject("4449444c000160", &cd_t_nat, "invalid type reference");
    expect_reject("4449444c01550001000000", &cd_t_nat, "unknown type opcode");
    expect_reject("4449444c016c0262716171010000", &t_ab, "strictly increasing");
    expect_reject("4449444c016b01007d01000105", &t_result, "variant index");
    expect_reject("4449444c000168011e" "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d",
                  &cd_t_principal, "principal of 30 bytes");
    expect_reject("4449444c00016800", &cd_t_principal, "opaque");
    expect_reject("4449444c00017d8080808080808080808002", &cd_t_nat, "64 bits");
    /* vec null of 2^32 elements: costs nothing on the wire, rejected by the budget */
    expect_reject("4449444c016d7f01008080808010", &t_vec_null, "zero-size");
    expect_reject("4449444c016d7b0100ffffff0f00", &cd_t_blob, "past end");
    /* recursive type  mu x. opt x  nested past the depth limit */
    char deep[600] = "4449444c016e00010";
    strcat(deep, "0");
    for (int i = 0; i < 100; i++) strcat(deep, "01");
    strcat(deep, "00");
    static const cd_type t_opt_res = CD_OPT_OF(&cd_t_reserved);
    expect_reject(deep, &t_opt_res, "nested deeper");
    /* mu x. record { x } can never end */
    expect_reject("4449444c016c0100000100", &cd_t_reserved, "nested deeper");
}

/* Mutated and random messages: never crash, always answer 0 or -1 with a message. */
static void test_random(void) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    cd_arena a0 = {0};
    uint8_t blob[64] = {1, 2, 3}, pr[10] = {4};
    cd_val v = make_big(&a0, blob, sizeof blob, pr);
    const cd_type *t[] = {&t_big};
    cd_buf b = {0};
    char err[256];
    CHECK(cd_encode(&b, t, &v, 1, err, sizeof err) == 0);
    uint8_t *m = malloc(b.n);
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(m, b.p, b.n);
        size_t len = b.n;
        int flips = 1 + (int)(s % 4);
        for (int k = 0; k < flips; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            m[(s >> 33) % len] ^= (uint8_t)(1u << ((s >> 20) % 8));
        }
        if (iter % 3 == 0) len = (size_t)((s >> 40) % len);
        cd_arena a = {0};
        cd_val out[1];
        err[0] = 0;
        int rc = cd_decode(m, len, t, 1, out, &a, err, sizeof err);
        if (rc == 0) ok++;
        else {
            bad++;
            if (!strstr(err, "candid:")) { tu_failures++; fprintf(stderr, "no message\n"); break; }
        }
        cd_arena_free(&a);
    }
    CHECK(bad > 0);
    printf("random: %d decoded, %d rejected\n", ok, bad);
    free(m);
    cd_buf_free(&b);
    cd_arena_free(&a0);
}

int main(void) {
    test_hash();
    test_known_bytes();
    test_round_trip();
    test_subtyping();
    test_bad_input();
    test_random();
    return TU_DONE();
}
