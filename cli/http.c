/* http.c - resumable, verified HTTP(S) downloads into the cache with libcurl.
 *
 * One download: a HEAD request (following redirects) learns the size and SHA-256 the server
 * announces; a cached copy that matches is reused. Otherwise GET requests fill
 * "<dest>.part", each resuming with "Range: bytes=<have>-" where the previous one stopped,
 * up to FETCH_TRIES times; the finished part is checked (size, SHA-256) and renamed.
 * Next to each cached file, "<dest>.meta" records its size, SHA-256 and ETag. */
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "fetch.h"

char *cli_cache_dir(nq_err *e) {
    const char *v = getenv("NOVAQ_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    const char *base = v && *v ? v : x && *x ? x : h && *h ? h : NULL;
    if (!base) {
        nq_fail(e, NQ_E_ARG, "no cache directory: set NOVAQ_CACHE_DIR (or HOME)");
        return NULL;
    }
    const char *sub = v && *v ? "" : x && *x ? "/novaq" : "/.cache/novaq";
    size_t n = strlen(base) + strlen(sub) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", base, sub);
    return p;
}

int cli_mkdirs_for(const char *path, nq_err *e) {
    char *p = strdup(path);
    if (!p) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            nq_fail(e, NQ_E_IO, "cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return 1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

#ifndef NOVAQ_HAVE_CURL
int cli_fetch(const char *url, const char *dest, const char *token, int *missing, nq_err *e) {
    (void)dest; (void)token; (void)missing;
    return nq_fail(e, NQ_E_UNSUPPORTED, "%s: this novaq was built without libcurl", url);
}
#else
#include <curl/curl.h>

#define FETCH_TRIES 6

/* What the response headers said (the last response of a redirect chain, except the
 * X-Linked-* headers the Hugging Face Hub puts on the redirect itself). */
typedef struct http_meta {
    long status;
    int64_t length, linked_size, range_start;
    char etag[96], linked_etag[96];
} http_meta;

/* SHA-256 of a .part file as it grows, so a finished download needs no second pass. */
typedef struct part_hash { nq_sha256_ctx c; uint64_t n; } part_hash;

typedef struct transfer {
    http_meta hm;
    part_hash *hash;   /* updated with every body byte written (may be NULL) */
    FILE *f;           /* body destination (NULL for HEAD) */
    uint64_t from;     /* bytes already in the part file */
    int started, bad_range;
    const char *label;
    double last_draw, t0;
    char next[2048];   /* HEAD: where a redirect points */
    double total, now; /* body bytes expected and received so far (progress bar) */
} transfer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void header_value(const char *line, size_t n, char *out, size_t cap) {
    const char *v = memchr(line, ':', n);
    size_t k = 0;
    if (!v) { out[0] = 0; return; }
    for (v++; v < line + n && (*v == ' ' || *v == '\t'); v++) {}
    while (v + k < line + n && v[k] != '\r' && v[k] != '\n' && k + 1 < cap) k++;
    memcpy(out, v, k);
    out[k] = 0;
}

static int is_header(const char *line, size_t n, const char *name) {
    size_t k = strlen(name);
    return n > k && line[k] == ':' && !strncasecmp(line, name, k);
}

/* Strip W/ and quotes; keep only a 64-hex SHA-256 (lowercased), else "". */
static void as_sha256(const char *etag, char out[65]) {
    const char *p = etag;
    if (!strncmp(p, "W/", 2)) p += 2;
    if (*p == '"') p++;
    size_t n = 0;
    while (n < 64 && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
                      (p[n] >= 'A' && p[n] <= 'F'))) {
        out[n] = (char)(p[n] >= 'A' && p[n] <= 'F' ? p[n] + 32 : p[n]);
        n++;
    }
    int end = p[n] == 0 || p[n] == '"';
    out[n == 64 && end ? 64 : 0] = 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ctx) {
    transfer *t = ctx;
    size_t n = size * nitems;
    char v[96];
    if (n > 5 && !strncmp(line, "HTTP/", 5)) { /* a new response in the chain */
        const char *sp = memchr(line, ' ', n);
        t->hm.status = sp ? strtol(sp + 1, NULL, 10) : 0;
        t->hm.length = t->hm.range_start = -1;
        t->hm.etag[0] = 0;
    } else if (is_header(line, n, "content-length")) {
        header_value(line, n, v, sizeof v);
        t->hm.length = strtoll(v, NULL, 10);
    } else if (is_header(line, n, "x-linked-size")) {
        header_value(line, n, v, sizeof v);
        t->hm.linked_size = strtoll(v, NULL, 10);
    } else if (is_header(line, n, "etag")) {
        header_value(line, n, t->hm.etag, sizeof t->hm.etag);
    } else if (is_header(line, n, "x-linked-etag")) {
        header_value(line, n, t->hm.linked_etag, sizeof t->hm.linked_etag);
    } else if (is_header(line, n, "content-range")) { /* "bytes 100-199/200" */
        header_value(line, n, v, sizeof v);
        const char *d = strpbrk(v, "0123456789");
        t->hm.range_start = d ? strtoll(d, NULL, 10) : -1;
    }
    return n;
}

/* Body bytes: only a 200/206 answer is data; a 200 to a range request starts over. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
    transfer *t = ctx;
    size_t n = size * nmemb;
    if (!t->f || (t->hm.status != 200 && t->hm.status != 206)) return n; /* error page */
    if (!t->started) {
        t->started = 1;
        if (t->hm.status == 206 && t->hm.range_start != (int64_t)t->from) {
            t->bad_range = 1;
            return 0;
        }
        if (t->hm.status == 200 && t->from > 0) {
            if (fflush(t->f) || ftruncate(fileno(t->f), 0) || fseeko(t->f, 0, SEEK_SET)) return 0;
            t->from = 0;
            if (t->hash) { nq_sha256_init(&t->hash->c); t->hash->n = 0; }
        }
    }
    size_t w = fwrite(data, 1, n, t->f);
    if (t->hash) { nq_sha256_update(&t->hash->c, data, w); t->hash->n += w; }
    return w;
}

/* The progress bar: at most 4 redraws a second, and once more with the final count. */
static void draw_progress(transfer *t, double dltotal, double dlnow) {
    double now = now_s(), have = (double)t->from + dlnow, total = (double)t->from + dltotal;
    double rate = now > t->t0 ? dlnow / (now - t->t0) : 0;
    t->last_draw = now;
    if (dltotal > 0)
        fprintf(stderr, "\r  %s  %5.1f%%  %.1f/%.1f MB  %.1f MB/s   ", t->label, 100 * have / total,
                have / 1e6, total / 1e6, rate / 1e6);
    else
        fprintf(stderr, "\r  %s  %.1f MB  %.1f MB/s   ", t->label, have / 1e6, rate / 1e6);
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut, curl_off_t un) {
    transfer *t = ctx;
    (void)ut; (void)un;
    if (!t->f || !isatty(fileno(stderr))) return 0;
    t->total = (double)dltotal;
    t->now = (double)dlnow;
    if (now_s() - t->last_draw >= 0.25) draw_progress(t, t->total, t->now);
    return 0;
}

static CURLcode http_do(const char *url, const char *token, transfer *t) {
    CURL *c = curl_easy_init();
    if (!c) return CURLE_FAILED_INIT;
    struct curl_slist *hdr = NULL;
    char auth[4200], range[32];
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, t->f ? 1L : 0L); /* HEAD: see head_meta */
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "novaq/" NQ_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr); /* libcurl drops it on cross-host redirects */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled connection counts as dropped */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (!t->f) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (t->f && t->from > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)t->from);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    t->t0 = now_s();
    CURLcode rc = curl_easy_perform(c);
    char *next = NULL;
    t->next[0] = 0;
    if (rc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) == CURLE_OK && next)
        snprintf(t->next, sizeof t->next, "%s", next);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    return rc;
}

/* ---------------------------------------------------------------- cache meta */

typedef struct cache_meta { int64_t size; char sha[65], etag[96]; } cache_meta;

static char *with_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", path, suffix);
    return p;
}

static int read_meta(const char *dest, cache_meta *cm) {
    char *p = with_suffix(dest, ".meta");
    FILE *f = p ? fopen(p, "r") : NULL;
    free(p);
    memset(cm, 0, sizeof *cm);
    cm->size = -1;
    if (!f) return 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "size ", 5)) cm->size = strtoll(line + 5, NULL, 10);
        else if (!strncmp(line, "sha256 ", 7)) snprintf(cm->sha, sizeof cm->sha, "%.64s", line + 7);
        else if (!strncmp(line, "etag ", 5)) snprintf(cm->etag, sizeof cm->etag, "%.95s", line + 5);
    }
    fclose(f);
    return 1;
}

static int write_meta(const char *dest, const cache_meta *cm) {
    char *p = with_suffix(dest, ".meta");
    FILE *f = p ? fopen(p, "w") : NULL;
    free(p);
    if (!f) return 1;
    fprintf(f, "size %lld\nsha256 %s\netag %s\n", (long long)cm->size, cm->sha, cm->etag);
    return fclose(f) != 0;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

static int sha256_file(const char *path, char hex[65], nq_err *e) {
    nq_reader r;
    uint8_t d[32];
    if (cli_open_reader(path, &r, e)) return 1;
    int rc = nq_sha256_reader(&r, d, e) != NQ_OK;
    cli_close_reader(&r);
    if (!rc) nq_hex(d, 32, hex);
    return rc;
}

/* Does the cached dest agree with what the server announces now? */
static int cache_matches(const char *dest, int64_t size, const char *sha, const char *etag) {
    cache_meta cm;
    int64_t have = file_size(dest);
    if (have < 0 || !read_meta(dest, &cm) || cm.size != have) return 0;
    if (size >= 0 && have != size) return 0;
    if (sha[0]) return !strcmp(cm.sha, sha);
    if (etag[0]) return !strcmp(cm.etag, etag);
    return 1;
}

/* ------------------------------------------------------------------ download */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int transient(CURLcode rc, long status) {
    if (rc == CURLE_OK) return status >= 500;
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
           rc == CURLE_GOT_NOTHING || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_COULDNT_CONNECT || rc == CURLE_HTTP2_STREAM || rc == CURLE_SSL_CONNECT_ERROR;
}

static int http_error(const char *url, long status, nq_err *e) {
    if (status == 401 || status == 403)
        return nq_fail(e, NQ_E_IO, "%s: HTTP %ld (%s): the repository is private, gated or "
                       "missing; set HF_TOKEN to a token that may read it", url, status,
                       status == 401 ? "unauthorized" : "forbidden");
    return nq_fail(e, NQ_E_IO, "%s: HTTP %ld", url, status);
}

/* Bring h up to the first `to` bytes of the file (bytes a previous run left). */
static int hash_upto(const char *path, part_hash *h, uint64_t to) {
    FILE *f = fopen(path, "rb");
    if (!f || fseeko(f, (off_t)h->n, SEEK_SET)) { if (f) fclose(f); return 1; }
    uint8_t buf[1 << 16];
    while (h->n < to) {
        size_t want = to - h->n < sizeof buf ? (size_t)(to - h->n) : sizeof buf;
        if (fread(buf, 1, want, f) != want) { fclose(f); return 1; }
        nq_sha256_update(&h->c, buf, want);
        h->n += want;
    }
    fclose(f);
    return 0;
}

/* GET into part until it holds the whole body; returns 0 when the transfer finished.
 * h follows the part's bytes across attempts. */
static int download_part(const char *url, const char *part, const char *token, int64_t size,
                         const char *label, part_hash *h, nq_err *e) {
    for (int attempt = 1;; attempt++) {
        int64_t have = file_size(part);
        if (have < 0) have = 0;
        if (size >= 0 && have > size) { remove(part); have = 0; }
        if ((uint64_t)have < h->n) { nq_sha256_init(&h->c); h->n = 0; }
        if ((uint64_t)have > h->n && hash_upto(part, h, (uint64_t)have))
            return nq_fail(e, NQ_E_IO, "%s: cannot read back", part);
        if (size > 0 && have == size) return 0; /* an earlier run got it all */
        FILE *f = fopen(part, have ? "r+b" : "wb");
        if (!f || fseeko(f, have, SEEK_SET)) {
            if (f) fclose(f);
            return nq_fail(e, NQ_E_IO, "%s: %s", part, strerror(errno));
        }
        transfer t = {.f = f, .from = (uint64_t)have, .label = label, .hash = h};
        t.hm.linked_size = -1;
        CURLcode rc = http_do(url, token, &t);
        int werr = fclose(f) != 0;
        if (isatty(fileno(stderr)) && t.last_draw > 0) {
            draw_progress(&t, t.total, t.now);
            fputc('\n', stderr);
        }
        if (werr) return nq_fail(e, NQ_E_IO, "%s: write failed", part);
        int64_t now = file_size(part);
        if (rc == CURLE_OK && t.hm.status == 416 && have > 0) { remove(part); continue; }
        /* A body that matched its Content-Length is complete; finish_part checks the size
         * against the announcement. Only a broken transfer is resumed. */
        if (rc == CURLE_OK && (t.hm.status == 200 || t.hm.status == 206)) return 0;
        if (t.bad_range)
            return nq_fail(e, NQ_E_IO, "%s: server answered a range request for byte %lld with "
                           "a different range", url, (long long)have);
        if (!transient(rc, t.hm.status) && rc != CURLE_OK)
            return nq_fail(e, NQ_E_IO, "%s: %s", url, curl_easy_strerror(rc));
        if (!transient(rc, t.hm.status)) return http_error(url, t.hm.status, e);
        if (attempt >= FETCH_TRIES)
            return nq_fail(e, NQ_E_IO, "%s: gave up after %d tries at byte %lld: %s", url,
                           attempt, (long long)now,
                           rc != CURLE_OK ? curl_easy_strerror(rc) : "server error");
        fprintf(stderr, "novaq: %s: transfer stopped at byte %lld (%s); resuming\n", label,
                (long long)now, rc != CURLE_OK ? curl_easy_strerror(rc) : "server error");
        struct timespec ts = {0, 200000000L * attempt};
        nanosleep(&ts, NULL);
    }
}

/* Size and SHA-256 of the finished part against the announcement; then move into place. */
static int finish_part(const char *url, const char *part, const char *dest, int64_t size,
                       const char *sha, const char *etag, part_hash *h, nq_err *e) {
    cache_meta cm = {.size = file_size(part)};
    snprintf(cm.etag, sizeof cm.etag, "%s", etag);
    if (size >= 0 && cm.size != size) {
        remove(part);
        return nq_fail(e, NQ_E_FORMAT, "%s: downloaded %lld bytes but the server announced %lld",
                       url, (long long)cm.size, (long long)size);
    }
    if (h->n == (uint64_t)cm.size) { /* hashed while downloading */
        uint8_t d[32];
        nq_sha256_final(&h->c, d);
        nq_hex(d, 32, cm.sha);
    } else if (sha256_file(part, cm.sha, e)) return 1;
    if (sha[0] && strcmp(sha, cm.sha)) {
        remove(part);
        return nq_fail(e, NQ_E_HASH, "%s: SHA-256 %s does not match the announced %s", url,
                       cm.sha, sha);
    }
    if (write_meta(dest, &cm) || rename(part, dest))
        return nq_fail(e, NQ_E_IO, "%s: cannot store in the cache: %s", dest, strerror(errno));
    fprintf(stderr, "novaq: fetched %s (%lld bytes, sha256 %s%s)\n", base_name(dest),
            (long long)cm.size, cm.sha, sha[0] ? " verified" : "");
    return 0;
}

/* HEAD, following redirects one by one until a response carries the Hub's X-Linked-*
 * headers: the Hub puts them on its redirect to the CDN, and a CDN's signed URL may refuse
 * HEAD. Ends with t->hm describing the last response asked. */
static CURLcode head_meta(const char *url, const char *token, transfer *t) {
    char cur[2048];
    snprintf(cur, sizeof cur, "%s", url);
    for (int hop = 0; hop < 10; hop++) {
        CURLcode rc = http_do(cur, token, t);
        int redirect = t->hm.status >= 300 && t->hm.status < 400;
        if (rc != CURLE_OK || !redirect || !t->next[0] || t->hm.linked_size >= 0 || t->hm.linked_etag[0])
            return rc;
        snprintf(cur, sizeof cur, "%s", t->next);
    }
    return CURLE_TOO_MANY_REDIRECTS;
}

int cli_fetch(const char *url, const char *dest, const char *token, int *missing, nq_err *e) {
    static int inited;
    if (!inited) { curl_global_init(CURL_GLOBAL_DEFAULT); inited = 1; }
    if (missing) *missing = 0;
    transfer head = {0};
    head.hm.linked_size = -1;
    CURLcode rc = head_meta(url, token, &head);
    if (rc != CURLE_OK) {
        if (file_size(dest) >= 0) {
            fprintf(stderr, "novaq: %s unreachable (%s); using the cached %s\n", url,
                    curl_easy_strerror(rc), dest);
            return 0;
        }
        return nq_fail(e, NQ_E_IO, "%s: %s", url, curl_easy_strerror(rc));
    }
    long st = head.hm.status;
    if (st == 404 && missing) { *missing = 1; return 0; }
    if (st == 404 || st == 401) return http_error(url, st, e);
    if (st < 200 || st > 399) { /* HEAD refused (405, 403 ...): nothing announced; GET decides */
        memset(&head.hm, 0, sizeof head.hm);
        head.hm.linked_size = head.hm.length = -1;
    }
    /* a redirect's own Content-Length is its body's, not the file's */
    int64_t size = head.hm.linked_size >= 0 ? head.hm.linked_size : st < 300 ? head.hm.length : -1;
    char sha[65];
    as_sha256(head.hm.linked_etag, sha);
    if (!sha[0]) as_sha256(head.hm.etag, sha);
    const char *etag = head.hm.linked_etag[0] ? head.hm.linked_etag : head.hm.etag;
    if (cache_matches(dest, size, sha, etag)) {
        fprintf(stderr, "novaq: using cached %s\n", dest);
        return 0;
    }
    char *part = with_suffix(dest, ".part");
    if (!part) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    part_hash h = {.n = 0};
    nq_sha256_init(&h.c);
    int r = cli_mkdirs_for(dest, e) || download_part(url, part, token, size, base_name(dest), &h, e) ||
            finish_part(url, part, dest, size, sha, etag, &h, e);
    free(part);
    return r;
}
#endif
