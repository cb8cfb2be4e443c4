/* test_config.c - `--config` files (cli/config.c, compiled in here since it is part of the
 * novaq command, not the core): YAML and JSON forms give the same settings; unknown keys,
 * repeated keys, wrong kinds and malformed YAML are errors naming file and line. */
#include <string.h>
#include "testutil.h"
#include "../cli/config.c"
#include "../cli/settings_args.c"

/* config.c's only outside dependency, with the contract of cli/util.c's. */
char *cli_slurp(const char *path, size_t *len, nq_err *e) {
    size_t n = 0;
    unsigned char *b = tu_read_file(path, &n);
    char *t = b ? realloc(b, n + 1) : NULL;
    if (!t) { free(b); nq_fail(e, NQ_E_IO, "%s: cannot read", path); return NULL; }
    t[n] = 0;
    if (len) *len = n;
    return t;
}

static const char *write_tmp(const char *name, const char *text) {
    FILE *f = fopen(name, "wb");
    if (!f) return name;
    fputs(text, f);
    fclose(f);
    return name;
}

/* Load text as file name; returns status, message in e. */
static int load(const char *name, const char *text, nq_settings *s, nq_err *e) {
    nq_settings_preset(s, "2", NULL);
    memset(e, 0, sizeof *e);
    return cli_config_load(write_tmp(name, text), s, e);
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
    CHECK(cli_config_load("does-not-exist.yaml", &s, &e) != 0 && e.msg[0]);
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
    unsigned char used[8] = {0};
    char *a1[] = {"local", "--config", (char *)write_tmp("pc2.yaml", "model:\n  compression:\n    bits_per_weight: 2\n"),
                  "--bits", "3"};
    CHECK(cli_settings_parse(5, a1, &s, used, &e) == 0 && s.beam == 8 && s.e2e_steps == 256 && !strcmp(s.preset, "3"));
    char *a2[] = {"local", "--config",
                  (char *)write_tmp("pc3.yaml", "model:\n  compression:\n    bits_per_weight: 2\n    beam_width: 2\n"),
                  "--bits", "3"};
    CHECK(cli_settings_parse(5, a2, &s, used, &e) == 0 && s.beam == 2 && s.e2e_steps == 256);
    char *a3[] = {"local", "--bits", "4", "--e2e-steps", "9", "--beam", "3"};
    CHECK(cli_settings_parse(7, a3, &s, used, &e) == 0 && s.beam == 3 && s.e2e_steps == 9 && !strcmp(s.preset, "4"));
    char *a4[] = {"local", "--bits", "3"};
    CHECK(cli_settings_parse(3, a4, &s, used, &e) == 0 && s.beam == 8 && s.e2e_steps == 256);
    CHECK(s.mixed == 1 && s.bits_budget == 3.0625 && s.base_stages == 0);
    unsigned char used9[9] = {0};
    char *a5[] = {"local", "--bits", "4", "--no-mixed", "--bits-budget", "4.1", "--base-stages", "1"};
    CHECK(cli_settings_parse(8, a5, &s, used9, &e) == 0 && s.mixed == 0 && s.bits_budget == 4.1 && s.base_stages == 1);
    char *a6[] = {"local", "--bits", "2", "--base-stages", "3"};
    CHECK(cli_settings_parse(5, a6, &s, used, &e) != 0 && strstr(e.msg, "base stages 3"));
    char *a7[] = {"local", "--config", (char *)write_tmp("pc4.yaml", "model:\n  compression:\n    bits_per_weight: 2\n"),
                  "--bits", "4"};
    CHECK(cli_settings_parse(5, a7, &s, used, &e) == 0 && s.bits_budget == 4.25 && s.mixed == 1);
}

int main(void) {
    test_full();
    test_preset_compute();
    test_forms();
    test_errors();
    return TU_DONE();
}
