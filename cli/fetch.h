/* fetch.h - downloads into the local cache (http.c) for `novaq hf` and `novaq url`. */
#ifndef NQ_CLI_FETCH_H
#define NQ_CLI_FETCH_H
#include "novaq.h"

/* The cache root: $NOVAQ_CACHE_DIR, else $XDG_CACHE_HOME/novaq, else $HOME/.cache/novaq.
 * malloc'd; NULL + message if none can be named. */
char *cli_cache_dir(nq_err *e);
/* Create every missing directory above path (the last component is a file name). */
int cli_mkdirs_for(const char *path, nq_err *e);

/* Download url to dest. The server's announced size (X-Linked-Size or Content-Length) and
 * SHA-256 (X-Linked-Etag or ETag when they are 64 hex digits) are checked; the bytes go to
 * "<dest>.part", resumed with an HTTP Range request after a dropped connection or an
 * interrupted earlier run, and renamed to dest only when complete and verified. A dest that
 * already agrees with what the server announces is reused without downloading (and is used
 * as is when the server cannot be reached). token (may be NULL) is sent as
 * "Authorization: Bearer <token>". If missing is non-NULL, a 404 sets *missing = 1 and
 * returns 0 instead of failing. Returns 0 or nonzero with a message naming the URL. */
int cli_fetch(const char *url, const char *dest, const char *token, int *missing, nq_err *e);
#endif
