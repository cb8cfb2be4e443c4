/* safetensors reader: correct reads of F32/F16/BF16 rows, metadata, passthrough dtypes,
 * sharded index; and a clear error for every kind of malformed file. */
#include <string.h>
#include "testutil.h"

static nq_status open_json(const char *json, size_t dlen, nq_err *e, nq_model **m) {
    static unsigned char data[4096];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    size_t n;
    unsigned char *buf = tu_make_st(json, data, dlen, &n);
    nq_mem_source src = {buf, n};
    nq_model *mm = NULL;
    nq_status s = tu_open_st(&src, &mm, e);
    nq_model_free(mm);
    free(buf);
    if (m) *m = NULL;
    return s;
}

static void expect_error(const char *json, size_t dlen, const char *needle) {
    nq_err e = {0};
    nq_status s = open_json(json, dlen, &e, NULL);
    CHECK(s != NQ_OK);
    if (!strstr(e.msg, needle)) {
        tu_failures++;
        fprintf(stderr, "expected '%s' in error, got: %s\n", needle, e.msg);
    }
}

static void good_file(void) {
    /* a: F32 2x3, b: F16 [2], c: BF16 2x2, d: I64 [1] (passthrough) */
    float a[6] = {1, -2, 3.5f, 0.25f, -1e3f, 7};
    uint16_t b[2] = {0x3c00, 0xc000}, c[4] = {0x3f80, 0x4000, 0xbf80, 0x0000};
    int64_t d = 123456789;
    unsigned char data[24 + 4 + 8 + 8];
    memcpy(data, a, 24);
    memcpy(data + 24, b, 4);
    memcpy(data + 28, c, 8);
    memcpy(data + 36, &d, 8);
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                       "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[28,36]},"
                       "\"d\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[36,44]}}";
    size_t n;
    unsigned char *buf = tu_make_st(json, data, sizeof data, &n);
    nq_mem_source src = {buf, n};
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(tu_open_st(&src, &m, &e) == NQ_OK);
    if (!m) { fprintf(stderr, "%s\n", e.msg); free(buf); return; }
    CHECK(nq_model_tensor_count(m) == 4);
    CHECK(!strcmp(nq_model_metadata_json(m), "{\"format\":\"pt\"}"));
    int ia = nq_model_find(m, "a"), ic = nq_model_find(m, "c"), id = nq_model_find(m, "d");
    CHECK(nq_model_tensor(m, ia)->rows == 2 && nq_model_tensor(m, ia)->cols == 3);
    float row[3];
    CHECK(nq_model_read_rows(m, ia, 1, 1, row, NULL) == NQ_OK);
    CHECK(row[0] == 0.25f && row[1] == -1e3f && row[2] == 7);
    float cc[4];
    CHECK(nq_model_read_rows(m, ic, 0, 2, cc, NULL) == NQ_OK);
    CHECK(cc[0] == 1 && cc[1] == 2 && cc[2] == -1 && cc[3] == 0);
    float bb[2];
    CHECK(nq_model_read_rows(m, nq_model_find(m, "b"), 0, 1, bb, NULL) == NQ_OK);
    CHECK(bb[0] == 1 && bb[1] == -2);
    CHECK(nq_model_read_rows(m, id, 0, 1, bb, &e) == NQ_E_UNSUPPORTED); /* I64 is not f32-readable */
    int64_t dd = 0;
    CHECK(nq_model_read_raw(m, id, 0, &dd, 8, NULL) == NQ_OK && dd == 123456789);
    CHECK(nq_model_read_rows(m, ia, 1, 2, row, &e) == NQ_E_ARG); /* rows past the end */
    nq_model_free(m);
    /* truncation at every point of this file: a clear error, never a crash */
    for (size_t cut = 0; cut < n; cut++) {
        nq_mem_source t = {buf, cut};
        nq_model *tm = NULL;
        nq_err te = {0};
        nq_status s = tu_open_st(&t, &tm, &te);
        CHECK(s != NQ_OK && te.msg[0]);
        nq_model_free(tm);
    }
    free(buf);
}

static void sharded(void) {
    float x[4] = {1, 2, 3, 4};
    size_t n1, n2;
    unsigned char *f1 = tu_make_st("{\"w1\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", x, 16, &n1);
    unsigned char *f2 = tu_make_st("{\"w2\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", x, 16, &n2);
    nq_mem_source s1 = {f1, n1}, s2 = {f2, n2};
    nq_reader r[2] = {nq_reader_mem(&s1, "dir/a.safetensors"), nq_reader_mem(&s2, "dir/b.safetensors")};
    const char *idx = "{\"metadata\":{},\"weight_map\":{\"w1\":\"a.safetensors\",\"w2\":\"b.safetensors\"}}";
    char **names;
    int count;
    CHECK(nq_safetensors_index_files(idx, strlen(idx), &names, &count, NULL) == NQ_OK);
    CHECK(count == 2 && !strcmp(names[0], "a.safetensors") && !strcmp(names[1], "b.safetensors"));
    free(names);
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(nq_safetensors_open(&m, r, 2, idx, strlen(idx), &e) == NQ_OK);
    CHECK(m && nq_model_tensor_count(m) == 2 && nq_model_tensor(m, 1)->file == 1);
    nq_model_free(m);
    const char *wrong = "{\"weight_map\":{\"w1\":\"b.safetensors\",\"w2\":\"b.safetensors\"}}";
    CHECK(nq_safetensors_open(&m, r, 2, wrong, strlen(wrong), &e) == NQ_E_FORMAT && strstr(e.msg, "w1"));
    const char *missing = "{\"weight_map\":{\"w1\":\"a.safetensors\",\"w3\":\"b.safetensors\"}}";
    CHECK(nq_safetensors_open(&m, r, 2, missing, strlen(missing), &e) == NQ_E_FORMAT && strstr(e.msg, "w3"));
    const char *evil = "{\"weight_map\":{\"w1\":\"../etc/passwd\"}}";
    CHECK(nq_safetensors_index_files(evil, strlen(evil), &names, &count, &e) == NQ_E_FORMAT);
    nq_reader same[2] = {r[0], r[0]}; /* the same tensor name in two shards */
    CHECK(nq_safetensors_open(&m, same, 2, NULL, 0, &e) == NQ_E_FORMAT && strstr(e.msg, "twice"));
    free(f1);
    free(f2);
}

int main(void) {
    good_file();
    sharded();
    expect_error("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unknown dtype 'Q7'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "span 4");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    /* an empty tensor between two overlapping ones must not hide the overlap (each span is
     * compared with the furthest end so far, empty spans left out) */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 16,
                 "tensors 'a' and 'b' overlap");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                 "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16, "overlap");
    /* an empty tensor owns no bytes but must still lie inside the data section */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}}", 8, "past end of file");
    { /* empty tensors inside or between others, and touching spans, are fine */
        nq_err e = {0};
        CHECK(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                        "\"f\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
                        &e, NULL) == NQ_OK);
    }
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past end of file");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin <= end");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_error("{\"a\":[1,2]}", 0, "not an object");
    expect_error("[1,2,3]", 0, "not an object");
    expect_error("{\"a\":{\"dtype\":\"F32\"", 0, "not valid JSON");
    expect_error("{\"__metadata__\":{\"k\":5}}", 0, "__metadata__ value 'k'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice");
    /* header length past the end of the file */
    unsigned char hdr[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    nq_mem_source src = {hdr, sizeof hdr};
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(tu_open_st(&src, &m, &e) == NQ_E_FORMAT && strstr(e.msg, "past end of file"));
    hdr[7] = 0x7f; /* absurd length */
    CHECK(tu_open_st(&src, &m, &e) == NQ_E_FORMAT && strstr(e.msg, "100 MB"));
    return TU_DONE();
}
