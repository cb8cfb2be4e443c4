/* cmd_inspect.c - `novaq validate`, `novaq info`, `novaq stats`: read a .novaq and report. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

typedef struct problems { cJSON *list; int json; } problems;

static void on_problem(void *ctx, const char *where, const char *what) {
    problems *p = ctx;
    if (!p->json) { fprintf(stderr, "  %s: %s\n", where, what); return; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "where", where);
    cJSON_AddStringToObject(o, "what", what);
    cJSON_AddItemToArray(p->list, o);
}

/* Common argument shape: <file.novaq> [--json]. */
static int one_file(int argc, char **argv, const char **path, int *json, const char *usage) {
    *path = NULL;
    *json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) *json = 1;
        else if (!strcmp(argv[i], "--help")) { printf("usage: %s\n", usage); return -1; }
        else if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "novaq: unknown option '%s'\n", argv[i]); return EXIT_USAGE; }
        else if (*path) return cli_usage("expected one file");
        else *path = argv[i];
    }
    return *path ? 0 : cli_usage(usage);
}

int cmd_validate(int argc, char **argv) {
    const char *path;
    int json, rc = one_file(argc, argv, &path, &json, "novaq validate <file.novaq> [--json]");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    nq_err e = {0};
    nq_reader r;
    if (cli_open_reader(path, &r, &e)) return cli_fail(&e);
    problems p = {cJSON_CreateArray(), json};
    int n = 0;
    if (!json) fprintf(stderr, "validating %s\n", path);
    nq_status st = nq_validate(&r, on_problem, &p, &n, &e);
    cli_close_reader(&r);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddBoolToObject(o, "valid", st == NQ_OK);
        cJSON_AddItemToObject(o, "problems", p.list);
        char *s = cJSON_Print(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(p.list);
        if (st == NQ_OK) printf("%s: valid\n", path);
        else fprintf(stderr, "novaq: %s\n", e.msg);
    }
    return st == NQ_OK ? EXIT_OK : EXIT_INVALID;
}

/* Open a .novaq and parse its manifest; the file size comes back for whole-file figures. */
static cJSON *open_manifest(const char *path, uint64_t *file_size, nq_err *e) {
    nq_reader r;
    nq_model *m;
    if (cli_open_reader(path, &r, e)) return NULL;
    *file_size = r.size;
    if (nq_novaq_open(&m, &r, e)) { cli_close_reader(&r); return NULL; }
    cJSON *root = cJSON_Parse(nq_novaq_manifest(m));
    nq_model_free(m);
    cli_close_reader(&r);
    if (!root) nq_fail(e, NQ_E_FORMAT, "%s: manifest is not JSON", path);
    return root;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static uint64_t original_bytes(const cJSON *root) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "source"), "files");
    uint64_t n = 0;
    for (const cJSON *f = files ? files->child : NULL; f; f = f->next) n += (uint64_t)num(f, "size");
    return n;
}

int cmd_info(int argc, char **argv) {
    const char *path;
    int json, rc = one_file(argc, argv, &path, &json, "novaq info <file.novaq> [--json]");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    nq_err e = {0};
    uint64_t size;
    cJSON *root = open_manifest(path, &size, &e);
    if (!root) return cli_fail(&e);
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(root, "stats");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(root, "settings");
    uint64_t orig = original_bytes(root), weights = (uint64_t)num(stats, "weights");
    double bpw = weights ? (double)size * 8 / (double)weights : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddNumberToObject(o, "file_bytes", (double)size);
        cJSON_AddNumberToObject(o, "original_bytes", (double)orig);
        cJSON_AddNumberToObject(o, "ratio", size ? (double)orig / (double)size : 0);
        cJSON_AddNumberToObject(o, "bits_per_weight_file", bpw);
        cJSON_AddNumberToObject(o, "shards", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "shards")));
        const char *keep[] = {"version", "generator", "source", "settings", "stats", "root_hash"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keep[i]);
            if (v) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
        }
        char *s = cJSON_Print(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(root, "generator");
        const cJSON *preset = cJSON_GetObjectItemCaseSensitive(set, "preset");
        const cJSON *root_hash = cJSON_GetObjectItemCaseSensitive(root, "root_hash");
        printf("file        %s (%llu bytes)\n", path, (unsigned long long)size);
        printf("format      novaq v%.0f, %s\n", num(root, "version"), cJSON_IsString(gen) ? gen->valuestring : "?");
        printf("preset      %s (d=%.0f, %.3f code bits/weight)\n", cJSON_IsString(preset) ? preset->valuestring : "?",
               num(set, "subspaces"), num(set, "code_bits_per_weight"));
        printf("tensors     %.0f (%.0f quantized weights of %.0f)\n", num(stats, "tensors"),
               num(stats, "quantized_weights"), num(stats, "weights"));
        printf("shards      %d\n", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "shards")));
        printf("bits/weight %.4f whole file, %.4f quantized tensors\n", bpw, num(stats, "bits_per_weight_quantized"));
        printf("ratio       %.3fx (original %llu bytes)\n", size ? (double)orig / (double)size : 0, (unsigned long long)orig);
        printf("SQNR        %.2f dB over quantized tensors\n", num(stats, "quantized_sqnr_db"));
        printf("root hash   %s\n", cJSON_IsString(root_hash) ? root_hash->valuestring : "?");
    }
    cJSON_Delete(root);
    return EXIT_OK;
}

int cmd_stats(int argc, char **argv) {
    const char *path;
    int json, rc = one_file(argc, argv, &path, &json, "novaq stats <file.novaq> [--json]");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    nq_err e = {0};
    uint64_t size;
    cJSON *root = open_manifest(path, &size, &e);
    if (!root) return cli_fail(&e);
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    cJSON *rows = cJSON_CreateArray();
    double min_sqnr = 1e9, sum_sqnr = 0;
    int nq = 0;
    if (!json) printf("%-48s %-12s %-6s %8s %9s %9s\n", "tensor", "shape", "method", "bpw", "SQNR dB", "rel err");
    for (const cJSON *t = tensors ? tensors->child : NULL; t; t = t->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name"), *method = cJSON_GetObjectItemCaseSensitive(t, "method");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(t, "error"), *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        char sh[64] = "";
        for (const cJSON *d = shape ? shape->child : NULL; d; d = d->next)
            snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%.0f", sh[0] ? "x" : "", d->valuedouble);
        int vq = cJSON_IsString(method) && !strcmp(method->valuestring, "vq");
        double sqnr = vq ? num(err, "sqnr_db") : NAN, rel = vq && num(err, "signal") > 0 ? sqrt(num(err, "sse") / num(err, "signal")) : 0;
        if (vq) { nq++; sum_sqnr += sqnr; if (sqnr < min_sqnr) min_sqnr = sqnr; }
        const char *nm = cJSON_IsString(name) ? name->valuestring : "?";
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", nm);
            cJSON_AddStringToObject(o, "shape", sh);
            cJSON_AddStringToObject(o, "method", vq ? "vq" : "raw");
            cJSON_AddNumberToObject(o, "bits_per_weight", num(t, "bits_per_weight"));
            if (vq) { cJSON_AddNumberToObject(o, "sqnr_db", sqnr); cJSON_AddNumberToObject(o, "rel_error", rel); }
            cJSON_AddItemToArray(rows, o);
        } else if (vq) {
            printf("%-48s %-12s %-6s %8.4f %9.2f %9.4f\n", nm, sh, "vq", num(t, "bits_per_weight"), sqnr, rel);
        } else {
            printf("%-48s %-12s %-6s %8.4f %9s %9s\n", nm, sh, "raw", num(t, "bits_per_weight"), "-", "-");
        }
    }
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(root, "stats");
    uint64_t orig = original_bytes(root), weights = (uint64_t)num(stats, "weights");
    double ratio = size ? (double)orig / (double)size : 0, bpw = weights ? (double)size * 8 / (double)weights : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "tensors", rows);
        cJSON_AddNumberToObject(o, "file_bytes", (double)size);
        cJSON_AddNumberToObject(o, "original_bytes", (double)orig);
        cJSON_AddNumberToObject(o, "ratio", ratio);
        cJSON_AddNumberToObject(o, "bits_per_weight_file", bpw);
        cJSON_AddNumberToObject(o, "bits_per_weight_quantized", num(stats, "bits_per_weight_quantized"));
        cJSON_AddNumberToObject(o, "quantized_sqnr_db", num(stats, "quantized_sqnr_db"));
        cJSON_AddNumberToObject(o, "min_tensor_sqnr_db", nq ? min_sqnr : 0);
        cJSON_AddNumberToObject(o, "mean_tensor_sqnr_db", nq ? sum_sqnr / nq : 0);
        char *s = cJSON_Print(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(rows);
        printf("\ntotal: %llu weights, %llu bytes (%.4f bits/weight whole file; %.4f on quantized tensors)\n",
               (unsigned long long)weights, (unsigned long long)size, bpw, num(stats, "bits_per_weight_quantized"));
        printf("SQNR: %.2f dB overall, tensor min %.2f / mean %.2f dB over %d quantized tensors\n",
               num(stats, "quantized_sqnr_db"), nq ? min_sqnr : 0, nq ? sum_sqnr / nq : 0, nq);
        printf("compression ratio: %.3fx against %llu original bytes\n", ratio, (unsigned long long)orig);
    }
    cJSON_Delete(root);
    return EXIT_OK;
}
