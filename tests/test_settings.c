/* test_settings.c - the settings table (core/compress/settings_table.c) and what runs over it:
 * settings files (settings_config.c: YAML and JSON forms give the same settings; unknown keys,
 * repeated keys, wrong kinds and malformed YAML are errors naming file and line), flags, the
 * embedders' JSON and the manifest's names; every row round-trips through each vocabulary
 * and refuses out-of-range values by name; the preset label follows the numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* Load text as file name; returns status, message in e. */
static int load(const char *name, const char *text, nq_settings *s, nq_err *e) {
    nq_settings_preset(s, "2", NULL);
    memset(e, 0, sizeof *e);
    return nq_settings_from_config(s, name, text, strlen(text), e) != NQ_OK;
}

static void expect_error(const char *name, const char *text, const char *needle) {
    nq_settings s;
    nq_err e;
    if (!load(name, text, &s, &e) || !strstr(e.msg, needle)) {
        fprintf(stderr, "%s: want error containing '%s', got '%s'\n", name, needle, e.msg);
        tu_failures++;
    }
}

static const char yaml_full[] =
    "---\n"
    "# NOVAQ settings\n"
    "model:\n"
    "  compression:\n"
    "    bits_per_weight: 3          # preset first, then the keys below\n"
    "    subspaces: 8\n"
    "    primary_codebook_size: 128\n"
    "    residual_codebook_size: [64, 32]\n"
    "    seed: 42\n"
    "    kmeans_iterations: 5\n"
    "    train_vectors: 4096\n"
    "    quantize_lm_head: false\n"
    "    share_codebooks: false\n"
    "    beam_width: 2\n"
    "  normalization:\n"
    "    outlier_threshold: 0.02\n"
    "  refinement:\n"
    "    enabled: false\n"
    "    damping: 0.05\n"
    "    calibration_tokens: 2048\n"
    "    end_to_end_steps: 7\n"
    "    end_to_end_lambda: 0.25\n"
    "    mixed_precision: false\n"
    "    bits_budget: 3.5\n"
    "output:\n"
    "  shard_size_bytes: 1000000\n"
    "  zstd_level: \"5\"\n";

static const char json_full[] =
    "{\"model\": {\"compression\": {\"bits_per_weight\": 3, \"subspaces\": 8,\n"
    "  \"primary_codebook_size\": 128, \"residual_codebook_size\": [64, 32], \"seed\": 42,\n"
    "  \"kmeans_iterations\": 5, \"train_vectors\": 4096, \"quantize_lm_head\": false,\n"
    "  \"share_codebooks\": false, \"beam_width\": 2}, \"normalization\": {\"outlier_threshold\": 0.02},\n"
    "  \"refinement\": {\"enabled\": false, \"damping\": 0.05, \"calibration_tokens\": 2048,\n"
    "  \"end_to_end_steps\": 7, \"end_to_end_lambda\": 0.25, \"mixed_precision\": false, \"bits_budget\": 3.5}},\n"
    " \"output\": {\"shard_size_bytes\": 1000000, \"zstd_level\": 5}}\n";

static void test_full(void) {
    nq_settings a, b;
    nq_err e;
    if (load("full.yaml", yaml_full, &a, &e)) { fprintf(stderr, "yaml: %s\n", e.msg); tu_failures++; return; }
    CHECK(a.d == 8 && a.nstages == 3 && a.K[0] == 128 && a.K[1] == 64 && a.K[2] == 32);
    CHECK(a.seed == 42 && a.kmeans_iters == 5 && a.train_vectors == 4096);
    CHECK(a.quantize_lm_head == 0 && a.quantize_embeddings == 1);
    CHECK(a.outlier_fraction == 0.02 && a.shard_max_bytes == 1000000 && a.zstd_level == 5);
    CHECK(a.share_codebooks == 0 && a.refine == 0 && a.damp == 0.05 && a.calib_tokens == 2048);
    CHECK(a.e2e_steps == 7 && a.e2e_lambda == 0.25 && a.beam == 2);
    CHECK(a.mixed == 0 && a.bits_budget == 3.5);
    CHECK(!strcmp(a.preset, "custom"));
    if (load("full.json", json_full, &b, &e)) { fprintf(stderr, "json: %s\n", e.msg); tu_failures++; return; }
    CHECK(!memcmp(&a, &b, sizeof a));
}

static void test_forms(void) {
    nq_settings s;
    nq_err e;
    /* a preset alone keeps its name and layout */
    CHECK(load("p.yaml", "model:\n  compression:\n    bits_per_weight: 1.5\n", &s, &e) == 0);
    nq_settings p;
    nq_settings_preset(&p, "1.5", NULL);
    CHECK(!strcmp(s.preset, "1.5") && !memcmp(&s, &p, sizeof s));
    /* without a preset, keys apply over the caller's settings */
    CHECK(load("k.yml", "model:\n  compression:\n    subspaces: 4\n", &s, &e) == 0);
    nq_settings_preset(&p, "2", NULL);
    CHECK(s.d == 4 && s.K[0] == p.K[0] && !strcmp(s.preset, "custom"));
    /* block list, a residual of 0 (one stage), top-level normalization */
    CHECK(load("l.yaml", "model:\n  compression:\n    residual_codebook_size:\n    - 16\n    - 4\n", &s, &e) == 0);
    CHECK(s.nstages == 3 && s.K[1] == 16 && s.K[2] == 4);
    CHECK(load("z.yaml", "model:\n  compression:\n    residual_codebook_size: 0\n", &s, &e) == 0);
    CHECK(s.nstages == 1);
    CHECK(load("n.yaml", "normalization:\n  outlier_threshold: 0\n", &s, &e) == 0);
    CHECK(s.outlier_fraction == 0);
    CHECK(load("c.yaml", "model: # comment\n  compression:\n    seed: '7'  # quoted\n\n", &s, &e) == 0);
    CHECK(s.seed == 7);
}

static void test_errors(void) {
    expect_error("u.yaml", "model:\n  compression:\n    subspace: 8\n", "u.yaml:3: unknown key 'model.compression.subspace'");
    expect_error("u.json", "{\"output\": {\"path\": \"x\"}}", "unknown key 'output.path'");
    expect_error("d.yaml", "output:\n  zstd_level: 3\n  zstd_level: 4\n", "d.yaml:3: 'output.zstd_level' is set twice");
    expect_error("t.yaml", "model:\n  compression:\n    subspaces: eight\n", "t.yaml:3: 'model.compression.subspaces' must be an integer");
    expect_error("r.yaml", "model:\n  compression:\n    subspaces: 100\n", "must be an integer in [1, 64]");
    expect_error("f.yaml", "model:\n  compression:\n    subspaces: 2.5\n", "must be an integer");
    expect_error("b.yaml", "model:\n  compression:\n    bits_per_weight: 5\n", "one of 1.5, 2, 3, 4");
    expect_error("q.yaml", "model:\n  compression:\n    quantize_lm_head: yes\n", "true or false");
    expect_error("k.yaml", "model:\n  compression:\n    primary_codebook_size: 100\n", "power of two");
    expect_error("s.yaml", "model:\n  compression:\n    residual_codebook_size: [4, 4, 4, 4]\n", "at most 3 residual stages");
    expect_error("x.yaml", "model:\n  refinement:\n    enabled: maybe\n", "x.yaml:3: 'model.refinement.enabled' must be true or false");
    expect_error("dm.yaml", "refinement:\n  damping: 0\n", "'refinement.damping' must be a number");
    expect_error("bw.yaml", "model:\n  compression:\n    beam_width: 17\n", "'model.compression.beam_width' must be an integer in [1, 16]");
    expect_error("tab.yaml", "model:\n\tcompression:\n", "tab.yaml:2: tab in indentation");
    expect_error("kv.yaml", "model:\n  compression\n", "kv.yaml:2: expected 'key: value'");
    expect_error("e.yaml", "model:\n  compression:\noutput:\n  zstd_level: 3\n", "e.yaml:2: 'compression' has no value");
    expect_error("li.yaml", "- 3\n", "list item outside a list");
    expect_error("fl.yaml", "output:\n  zstd_level: {a: 1}\n", "unsupported or empty value");
    expect_error("bad.json", "{\"model\": ", "not a JSON object");
    expect_error("nul.json", "{\"output\": {\"zstd_level\": null}}", "expected a number, string or boolean");
    expect_error("cfg.toml", "x = 1\n", "end in .yaml, .yml or .json");
    nq_settings s;
    nq_err e = {0};
    nq_settings_preset(&s, "2", NULL);
    CHECK(nq_settings_from_config(&s, "nul.yaml", "output:\n  zstd_level: 3\n\0x", 25, &e) != NQ_OK &&
          strstr(e.msg, "NUL byte"));
}

/* Presets carry their beam and end-to-end steps (issue 4); --bits over a config file brings
 * them along unless the file set its own. */
static void test_preset_compute(void) {
    nq_settings s;
    nq_err e;
    nq_settings_preset(&s, "2", NULL);
    CHECK(s.beam == 4 && s.e2e_steps == 48);
    nq_settings_preset(&s, "1.5", NULL);
    CHECK(s.beam == 4 && s.e2e_steps == 48);
    nq_settings_preset(&s, "3", NULL);
    CHECK(s.beam == 8 && s.e2e_steps == 256 && s.d == 4);
    nq_settings_preset(&s, "4", NULL);
    CHECK(s.beam == 4 && s.e2e_steps == 256 && s.e2e_lambda == 10);
    /* --bits over a file: the file's preset's beam and steps give way, its own ones stay */
    nq_settings_preset(&s, "2", NULL);
    CHECK(load("pc2.yaml", "model:\n  compression:\n    bits_per_weight: 2\n", &s, &e) == 0);
    CHECK(nq_settings_preset_over(&s, "3", &e) == NQ_OK && s.beam == 8 && s.e2e_steps == 256 && !strcmp(s.preset, "3"));
    CHECK(load("pc3.yaml", "model:\n  compression:\n    bits_per_weight: 2\n    beam_width: 2\n", &s, &e) == 0);
    CHECK(nq_settings_preset_over(&s, "3", &e) == NQ_OK && s.beam == 2 && s.e2e_steps == 256);
    CHECK(load("pc4.yaml", "model:\n  compression:\n    bits_per_weight: 2\n", &s, &e) == 0);
    CHECK(nq_settings_preset_over(&s, "4", &e) == NQ_OK && s.bits_budget == 4.25 && s.mixed == 1);
    CHECK(nq_settings_preset_over(&s, "5", &e) != NQ_OK);
    /* flags over a preset */
    nq_settings_preset(&s, "4", NULL);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--e2e-steps", "9", &e) == NQ_OK);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--beam", "3", &e) == NQ_OK);
    CHECK(s.beam == 3 && s.e2e_steps == 9 && !strcmp(s.preset, "4"));
    nq_settings_preset(&s, "3", NULL);
    CHECK(s.mixed == 1 && s.bits_budget == 3.0625 && s.base_stages == 0);
    nq_settings_preset(&s, "4", NULL);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--no-mixed", NULL, &e) == NQ_OK);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--bits-budget", "4.1", &e) == NQ_OK);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--base-stages", "1", &e) == NQ_OK);
    CHECK(s.mixed == 0 && s.bits_budget == 4.1 && s.base_stages == 1 && nq_settings_check(&s, &e) == NQ_OK);
    nq_settings_preset(&s, "2", NULL);
    CHECK(nq_settings_set(&s, NQ_VOCAB_FLAG, "--base-stages", "3", &e) == NQ_OK);
    CHECK(nq_settings_check(&s, &e) != NQ_OK && strstr(e.msg, "base stages 3"));
    /* nq_settings_check takes its ranges from the table: a struct filled by hand is held to
     * the same ranges as every parser, and the message names the field */
    nq_settings_preset(&s, "2", NULL);
    s.zstd_level = 23;
    CHECK(nq_settings_check(&s, &e) == NQ_E_ARG && strstr(e.msg, "zstd_level 23: must be in [0, 22]"));
    nq_settings_preset(&s, "2", NULL);
    s.damp = 0;
    CHECK(nq_settings_check(&s, &e) == NQ_E_ARG && strstr(e.msg, "damp 0: must be in [1e-06, 10]"));
    nq_settings_preset(&s, "2", NULL);
    s.mixed = 2;
    CHECK(nq_settings_check(&s, &e) == NQ_E_ARG && strstr(e.msg, "refinement.mixed_precision 2"));
}

/* A valid value other than preset 2's for every row with a flag (the flag vocabulary reaches
 * every settable field); a row added to the table without one here fails the test. */
static const char *const flag_values[][2] = {
    {"--subspaces", "4"}, {"--codebook-size", "256"}, {"--residual-codebook-size", "16,8"}, {"--stages", "1"},
    {"--seed", "18446744073709551615"}, {"--scope-rows", "32"}, {"--outlier-fraction", "0.125"},
    {"--no-quantize-embeddings", NULL}, {"--no-quantize-lm-head", NULL}, {"--kmeans-iters", "3"},
    {"--train-vectors", "777"}, {"--zstd-level", "4"}, {"--shard-size", "70000"}, {"--no-share-codebooks", NULL},
    {"--no-refine", NULL}, {"--damp", "0.3"}, {"--calib-tokens", "999"}, {"--no-joint", NULL}, {"--beam", "7"},
    {"--no-rotate", NULL}, {"--act-order", NULL}, {"--e2e-steps", "5"}, {"--e2e-lambda", "0.1"},
    {"--e2e-lr", "2.5"}, {"--base-stages", "1"}, {"--bits-budget", "1.75"}, {"--no-mixed", NULL},
    {"--bits", "3"},
};

static const char *flag_value(const nq_setting *r, const char **flag) {
    for (size_t i = 0; i < sizeof flag_values / sizeof flag_values[0]; i++)
        if ((r->name[NQ_VOCAB_FLAG] && !strcmp(flag_values[i][0], r->name[NQ_VOCAB_FLAG])) ||
            (r->flag_off && !strcmp(flag_values[i][0], r->flag_off))) {
            *flag = flag_values[i][0];
            return flag_values[i][1] ? flag_values[i][1] : "";
        }
    return NULL;
}

/* flag -> settings -> JSON -> settings -> manifest (and back): equal settings, the row's key
 * in each serialized form. */
static void test_round_trip(void) {
    int n;
    const nq_setting *t = nq_settings_table(&n);
    for (int i = 0; i < n; i++) {
        const nq_setting *r = &t[i];
        if (r->kind == NQ_SET_CODE_BITS || r->kind == NQ_SET_SIZES) continue; /* no flag: below */
        const char *flag = NULL, *v = flag_value(r, &flag);
        if (!v) { fprintf(stderr, "row %d: no flag value in the test\n", i); tu_failures++; continue; }
        nq_settings a, b, c;
        nq_err e = {0};
        nq_settings_preset(&a, "2", NULL);
        if (nq_settings_set(&a, NQ_VOCAB_FLAG, flag, *v ? v : NULL, &e) || nq_settings_check(&a, &e)) {
            fprintf(stderr, "%s %s: %s\n", flag, v, e.msg);
            tu_failures++;
            continue;
        }
        nq_settings p;
        nq_settings_preset(&p, "2", NULL);
        CHECK(memcmp(&a, &p, sizeof a) != 0); /* the value changed something */
        char *json = nq_settings_to_json(&a, NQ_VOCAB_JSON);
        CHECK(json && nq_settings_from_json(&b, NQ_VOCAB_JSON, json, &e) == NQ_OK);
        if (memcmp(&a, &b, sizeof a)) { fprintf(stderr, "%s: JSON round trip differs: %s\n", flag, json); tu_failures++; }
        char *man = nq_settings_to_json(&b, NQ_VOCAB_MANIFEST);
        CHECK(man && nq_settings_from_json(&c, NQ_VOCAB_MANIFEST, man, &e) == NQ_OK);
        c.mixed = a.mixed; /* the manifest records the layout mixed precision made, not the request */
        if (memcmp(&a, &c, sizeof a)) { fprintf(stderr, "%s: manifest round trip differs: %s\n", flag, man); tu_failures++; }
        for (int v2 = NQ_VOCAB_JSON; v2 <= NQ_VOCAB_MANIFEST; v2++) {
            const char *key = r->name[v2], *text = v2 == NQ_VOCAB_JSON ? json : man;
            char quoted[80];
            if (!key || r->kind == NQ_SET_PRESET) continue;
            snprintf(quoted, sizeof quoted, "\"%s\":", key);
            if (!text || !strstr(text, quoted)) { fprintf(stderr, "%s: no %s in %s\n", flag, quoted, text); tu_failures++; }
        }
        /* the config vocabulary sets every field a flag can */
        if (!r->name[NQ_VOCAB_CONFIG]) { fprintf(stderr, "%s: no config key\n", flag); tu_failures++; }
        free(json);
        free(man);
    }
    /* the sizes: JSON K, manifest codebook_sizes */
    nq_settings a, b;
    nq_err e = {0};
    CHECK(nq_settings_from_json(&a, NQ_VOCAB_JSON, "{\"K\": [256, 16, 4], \"d\": 4, \"seed\": \"7\", \"rotate\": 0}", &e) == NQ_OK);
    CHECK(a.nstages == 3 && a.K[2] == 4 && a.seed == 7 && a.rotate == 0 && !strcmp(a.preset, "custom"));
    char *man = nq_settings_to_json(&a, NQ_VOCAB_MANIFEST);
    CHECK(man && strstr(man, "\"codebook_sizes\":[256,16,4]") && strstr(man, "\"preset\":\"custom\""));
    CHECK(man && nq_settings_from_json(&b, NQ_VOCAB_MANIFEST, man, &e) == NQ_OK && !memcmp(&a, &b, sizeof a));
    free(man);
    CHECK(nq_settings_from_json(&a, NQ_VOCAB_JSON, "{\"K\": \"x\"}", &e) != NQ_OK && strstr(e.msg, "K must be an array"));
    CHECK(nq_settings_from_json(&a, NQ_VOCAB_JSON, "{\"d\": \"eight\"}", &e) != NQ_OK && strstr(e.msg, "d must be a number"));
    CHECK(nq_settings_from_json(&a, NQ_VOCAB_JSON, "{\"dd\": 8}", &e) != NQ_OK && strstr(e.msg, "unknown key 'dd'"));
    CHECK(nq_settings_from_json(&a, NQ_VOCAB_JSON, "{\"bits\": \"7\"}", &e) != NQ_OK);
    CHECK(nq_settings_set(&a, NQ_VOCAB_FLAG, "--no-such-flag", NULL, &e) != NQ_OK);
}

/* Out of range, in every vocabulary that names the row: refused, the message names the key. */
static void test_out_of_range(void) {
    int n;
    const nq_setting *t = nq_settings_table(&n);
    for (int i = 0; i < n; i++) {
        const nq_setting *r = &t[i];
        if (r->kind == NQ_SET_PRESET || r->kind == NQ_SET_BOOL || r->kind == NQ_SET_U64 || r->kind == NQ_SET_CODE_BITS)
            continue;
        char big[64], json[160];
        snprintf(big, sizeof big, "%.17g", r->kind == NQ_SET_STAGES ? NQ_MAX_STAGES + 1.0 : r->hi * 2 + 1);
        for (int v = 0; v < NQ_VOCAB_COUNT; v++) {
            const char *key = r->name[v];
            if (!key) continue;
            nq_settings s, before;
            nq_err e = {0};
            nq_settings_preset(&s, "2", NULL);
            before = s;
            nq_status st;
            if (v == NQ_VOCAB_JSON || v == NQ_VOCAB_MANIFEST) {
                int list = r->kind == NQ_SET_SIZES;
                snprintf(json, sizeof json, "{\"%s\": %s%s%s}", key, list ? "[" : "", big, list ? "]" : "");
                st = nq_settings_from_json(&s, (nq_settings_vocab)v, json, &e);
            } else {
                st = nq_settings_set(&s, (nq_settings_vocab)v, key, big, &e);
            }
            if (st == NQ_OK || !strstr(e.msg, key) || memcmp(&s, &before, sizeof s)) {
                fprintf(stderr, "%s = %s: want a refusal naming it, got '%s'\n", key, big, e.msg);
                tu_failures++;
            }
        }
    }
}

/* A 64 x 64 tensor, enough for the encoder to run every stage it runs without calibration. */
static nq_mem_sink compress_synthetic(const nq_settings *set) {
    enum { R = 64, C = 64 };
    static float w[R * C];
    uint32_t x = 12345;
    for (int i = 0; i < R * C; i++) {
        x = x * 1664525u + 1013904223u;
        w[i] = (float)((int)(x >> 9) - (1 << 22)) / (float)(1 << 22);
    }
    char json[256];
    snprintf(json, sizeof json, "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]}}",
             R, C, R * C * 4);
    size_t size = 0;
    unsigned char *file = tu_make_st(json, w, sizeof w, &size);
    nq_mem_source src = {file, size};
    nq_model *m = NULL;
    nq_mem_sink sink = {0};
    nq_err e = {0};
    CHECK(tu_open_st(&src, &m, &e) == NQ_OK);
    nq_source_file sf = {"synthetic.safetensors", size, {0}};
    nq_writer wr = nq_writer_mem(&sink);
    if (m) CHECK(nq_compress(m, set, &sf, 1, &wr, NULL, NULL, &e) == NQ_OK);
    if (e.msg[0]) fprintf(stderr, "%s\n", e.msg);
    nq_model_free(m);
    free(file);
    return sink;
}

/* The numbers decide, not the label: preset 3 turned into preset 2's numbers is preset 2, in
 * its settings, its mixed layout and its bytes; a hand-made "custom" label with preset 2's
 * numbers gets preset 2's mixed layout. */
static void test_numbers_not_label(void) {
    nq_settings two, other, eff2, eff;
    nq_err e = {0};
    nq_settings_preset(&two, "2", NULL);
    nq_settings_preset(&other, "3", NULL);
    const char *flags[][2] = {{"--subspaces", "8"}, {"--codebook-size", "1024"}, {"--residual-codebook-size", "64"},
                              {"--beam", "4"}, {"--e2e-steps", "48"}, {"--bits-budget", "2.0625"}};
    for (int i = 0; i < 6; i++) CHECK(nq_settings_set(&other, NQ_VOCAB_FLAG, flags[i][0], flags[i][1], &e) == NQ_OK);
    CHECK(!strcmp(other.preset, "2") && !memcmp(&two, &other, sizeof two));
    for (int k = 0; k < 2; k++) { /* kmeans and vectors small: a quick encode; same for both */
        CHECK(nq_settings_set(&two, NQ_VOCAB_FLAG, k ? "--train-vectors" : "--kmeans-iters", k ? "512" : "2", &e) == NQ_OK);
        CHECK(nq_settings_set(&other, NQ_VOCAB_FLAG, k ? "--train-vectors" : "--kmeans-iters", k ? "512" : "2", &e) == NQ_OK);
    }
    nq_mem_sink a = compress_synthetic(&two), b = compress_synthetic(&other);
    CHECK(a.size > 0 && a.size == b.size && !memcmp(a.buf, b.buf, a.size));
    free(a.buf);
    free(b.buf);
    snprintf(other.preset, sizeof other.preset, "custom");
    CHECK(nq_settings_mixed(&two, &eff2) == 1 && nq_settings_mixed(&other, &eff) == 1);
    CHECK(eff.nstages == 3 && eff.K[1] == eff2.K[1] && eff.K[2] == eff2.K[2] && eff.base_stages == 2);
    nq_settings_relabel(&other);
    CHECK(!strcmp(other.preset, "2"));
}

int main(void) {
    test_full();
    test_preset_compute();
    test_forms();
    test_errors();
    test_round_trip();
    test_out_of_range();
    test_numbers_not_label();
    return TU_DONE();
}
