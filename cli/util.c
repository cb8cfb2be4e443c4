/* util.c - stdio readers/writers, model opening, atomic output and progress for the CLI. */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

/* pread: the reader is shared by the encoding threads, so it must not move a file position. */
static int file_read(void *ctx, uint64_t off, void *dst, size_t len) {
    int fd = fileno((FILE *)ctx);
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

int cli_open_reader(const char *path, nq_reader *r, nq_err *e) {
    memset(r, 0, sizeof *r);
    struct stat st;
    if (stat(path, &st) != 0) return nq_fail(e, NQ_E_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return nq_fail(e, NQ_E_IO, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return nq_fail(e, NQ_E_IO, "%s: %s", path, strerror(errno));
    r->ctx = f;
    r->size = (uint64_t)st.st_size;
    r->name = strdup(path);
    r->read = file_read;
    return 0;
}

void cli_close_reader(nq_reader *r) {
    if (r->ctx) fclose(r->ctx);
    free((char *)r->name);
    memset(r, 0, sizeof *r);
}

char *cli_slurp(const char *path, size_t *len, nq_err *e) {
    nq_reader r;
    if (cli_open_reader(path, &r, e)) return NULL;
    char *buf = r.size < (1u << 30) ? malloc((size_t)r.size + 1) : NULL;
    if (!buf || r.read(r.ctx, 0, buf, (size_t)r.size)) {
        nq_fail(e, NQ_E_IO, "%s: cannot read", path);
        free(buf);
        cli_close_reader(&r);
        return NULL;
    }
    buf[r.size] = 0;
    if (len) *len = (size_t)r.size;
    cli_close_reader(&r);
    return buf;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Open the listed files as readers and describe them as sources (hashes: hash_sources). */
static int open_files(cli_model *cm, char **paths, int n, nq_err *e) {
    if (n < 1) return nq_fail(e, NQ_E_FORMAT, "no model files listed");
    cm->readers = calloc((size_t)n, sizeof *cm->readers);
    cm->src = calloc((size_t)n, sizeof *cm->src);
    cm->src_names = calloc((size_t)n, sizeof *cm->src_names);
    if (!cm->readers || !cm->src || !cm->src_names) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (cli_open_reader(paths[i], &cm->readers[i], e)) return 1;
        cm->nreaders = cm->nsrc = i + 1;
        cm->src_names[i] = strdup(base_name(paths[i]));
        cm->src[i].name = cm->src_names[i];
        cm->src[i].size = cm->readers[i].size;
    }
    return 0;
}

/* SHA-256 of every source file, for the manifest. Only once the model parsed: hashing reads
 * every byte, so a broken or hostile input (a 1 TiB sparse file with a bad header) must be
 * rejected by its header first, not after minutes of hashing. */
static int hash_sources(cli_model *cm, nq_err *e) {
    for (int i = 0; i < cm->nsrc; i++)
        if (nq_sha256_reader(&cm->readers[i], cm->src[i].sha256, e)) return 1;
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int open_sharded(const char *dir, cli_model *cm, nq_err *e) {
    char *index_path = join(dir, "model.safetensors.index.json");
    size_t len;
    char *json = cli_slurp(index_path, &len, e);
    free(index_path);
    if (!json) return 1;
    char **names = NULL;
    int n = 0, rc = nq_safetensors_index_files(json, len, &names, &n, e) != NQ_OK;
    char **paths = rc ? NULL : calloc((size_t)n + 1, sizeof *paths);
    for (int i = 0; !rc && i < n; i++) paths[i] = join(dir, names[i]);
    if (!rc) rc = open_files(cm, paths, n, e);
    if (!rc) rc = nq_safetensors_open(&cm->model, cm->readers, cm->nreaders, json, len, e) != NQ_OK;
    for (int i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
    free(names);
    free(json);
    return rc;
}

/* GGUF files start with the magic "GGUF" (issue 7). */
static int is_gguf(const nq_reader *r) {
    char magic[4];
    return r->size >= 4 && !r->read(r->ctx, 0, magic, 4) && !memcmp(magic, "GGUF", 4);
}

int cli_open_model(const char *path, int want_hash, int no_verify, cli_model *cm, nq_err *e) {
    memset(cm, 0, sizeof *cm);
    struct stat st;
    if (stat(path, &st) != 0) return nq_fail(e, NQ_E_IO, "%s: %s", path, strerror(errno));
    int rc;
    if (S_ISDIR(st.st_mode)) {
        char *idx = join(path, "model.safetensors.index.json"), *single = join(path, "model.safetensors");
        struct stat s2;
        if (idx && stat(idx, &s2) == 0) {
            cm->format = "safetensors";
            rc = open_sharded(path, cm, e);
        } else if (single && stat(single, &s2) == 0) {
            cm->format = "safetensors";
            rc = open_files(cm, &single, 1, e) ||
                 nq_safetensors_open(&cm->model, cm->readers, 1, NULL, 0, e) != NQ_OK;
        } else {
            rc = nq_fail(e, NQ_E_IO, "%s: no model.safetensors or model.safetensors.index.json in directory", path);
        }
        free(idx);
        free(single);
    } else {
        char *p = (char *)path;
        rc = open_files(cm, &p, 1, e);
        if (!rc && ends_with(path, ".novaq")) {
            cm->format = "novaq";
            rc = nq_novaq_open_ex(&cm->model, &cm->readers[0], no_verify ? NQ_OPEN_NO_VERIFY : 0, e) != NQ_OK;
        } else if (!rc && is_gguf(&cm->readers[0])) { /* GGUF (issue 7): by magic, so Ollama blobs work */
            cm->format = "gguf";
            rc = nq_gguf_open(&cm->model, &cm->readers[0], e) != NQ_OK;
        } else if (!rc) {
            cm->format = "safetensors";
            rc = nq_safetensors_open(&cm->model, cm->readers, 1, NULL, 0, e) != NQ_OK;
        }
    }
    /* A .novaq input is only opened to be refused (cmd_local) or read: no hash needed. */
    if (!rc && want_hash && strcmp(cm->format, "novaq")) rc = hash_sources(cm, e);
    if (rc) cli_close_model(cm);
    return rc;
}

void cli_close_model(cli_model *cm) {
    nq_model_free(cm->model);
    for (int i = 0; i < cm->nreaders; i++) cli_close_reader(&cm->readers[i]);
    for (int i = 0; i < cm->nsrc; i++) free(cm->src_names[i]);
    free(cm->readers);
    free(cm->src);
    free(cm->src_names);
    memset(cm, 0, sizeof *cm);
}

static int file_write(void *ctx, const void *src, size_t len) {
    return fwrite(src, 1, len, ctx) == len ? 0 : -1;
}

/* The CLI's one piece of global state, justified: a signal handler reaches nothing else.
 * While an output is being written, sig_tmp_path holds its temporary file's name, copied
 * there before sig_tmp_armed is set and not changed while it is set, so that SIGINT or
 * SIGTERM can remove the file instead of leaving "<out>.tmp.<pid>" behind forever. One
 * output at a time (the CLI writes one). */
static char sig_tmp_path[4096];
static volatile sig_atomic_t sig_tmp_armed;

/* Async-signal-safe only: unlink, signal and raise. The default action then ends the
 * process with the signal, as it would have without the handler. */
static void on_fatal_signal(int sig) {
    if (sig_tmp_armed) unlink(sig_tmp_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cleanup_arm(const char *tmp) {
    size_t n = strlen(tmp);
    sig_tmp_armed = 0;
    if (n >= sizeof sig_tmp_path) return; /* no room: the file stays on a signal, as before */
    memcpy(sig_tmp_path, tmp, n + 1);
    const int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        /* A signal ignored on entry (nohup, background jobs of a script) stays ignored. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
    sig_tmp_armed = 1;
}

int cli_out_check(const char *path, nq_err *e) {
    struct stat st;
    if (!path[0]) return nq_fail(e, NQ_E_IO, "the output path is empty");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nq_fail(e, NQ_E_IO, "%s: the output is a directory; give a file name (-o DIR/name.novaq)", path);
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 2);
    if (!dir) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    if (!slash) strcpy(dir, ".");
    else if (n == 0) strcpy(dir, "/");
    else { memcpy(dir, path, n); dir[n] = 0; }
    int rc = 0;
    if (stat(dir, &st) != 0) rc = nq_fail(e, NQ_E_IO, "%s: output directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode)) rc = nq_fail(e, NQ_E_IO, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = nq_fail(e, NQ_E_IO, "%s: cannot write in directory %s: %s", path, dir, strerror(errno));
    free(dir);
    return rc;
}

int cli_out_open(cli_out *o, const char *path, nq_err *e) {
    memset(o, 0, sizeof *o);
    if (cli_out_check(path, e)) return 1;
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        return nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    cleanup_arm(o->tmp); /* before the file exists: no window where a signal leaves it */
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        sig_tmp_armed = 0;
        nq_fail(e, NQ_E_IO, "%s: %s", o->tmp, strerror(errno));
        free(o->path);
        free(o->tmp);
        return 1;
    }
    o->w.ctx = o->f;
    o->w.write = file_write;
    return 0;
}

int cli_out_commit(cli_out *o, nq_err *e) {
    int bad = fflush(o->f) != 0 || ferror(o->f);
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (bad || rename(o->tmp, o->path) != 0) {
        nq_fail(e, NQ_E_IO, "%s: cannot complete output: %s", o->path, strerror(errno));
        remove(o->tmp);
        sig_tmp_armed = 0;
        free(o->path);
        free(o->tmp);
        return 1;
    }
    sig_tmp_armed = 0; /* after the rename: a signal before it still removes the file */
    free(o->path);
    free(o->tmp);
    return 0;
}

void cli_out_abort(cli_out *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) remove(o->tmp);
    sig_tmp_armed = 0;
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

int cli_fail(const nq_err *e) {
    fprintf(stderr, "novaq: %s\n", e->msg[0] ? e->msg : nq_status_name(e->code));
    return e->code == NQ_E_ARG ? EXIT_USAGE : EXIT_INVALID;
}

int cli_usage(const char *msg) {
    fprintf(stderr, "novaq: %s (see --help)\n", msg);
    return EXIT_USAGE;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double cli_now(void) { return now_s(); }

int cli_progress(void *ctx, int tensor, int ntensors, uint64_t done, uint64_t total) {
    const double *start = ctx;
    if (!isatty(fileno(stderr))) return 0;
    double el = now_s() - *start, frac = total ? (double)done / (double)total : 1;
    double eta = frac > 0 ? el / frac - el : 0;
    fprintf(stderr, "\r[%d/%d] %5.1f%%  %.0fs elapsed, ETA %.0fs   ", tensor, ntensors, 100 * frac, el, eta);
    if (tensor == ntensors) fputc('\n', stderr);
    return 0;
}

int cli_threads(void) {
    const char *v = getenv("NOVAQ_NUM_THREADS");
    if (v && atoi(v) > 0) return atoi(v);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cli_has_flag(int argc, char **argv, const char *flag) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], flag)) return 1;
    return 0;
}
