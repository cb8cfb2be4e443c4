/* status.c - status names and the one helper that fills an nq_err. */
#include <stdarg.h>
#include <stdio.h>
#include "novaq.h"

const char *nq_status_name(nq_status s) {
    switch (s) {
    case NQ_OK: return "ok";
    case NQ_E_ARG: return "invalid argument";
    case NQ_E_IO: return "I/O error";
    case NQ_E_FORMAT: return "malformed input";
    case NQ_E_UNSUPPORTED: return "unsupported";
    case NQ_E_HASH: return "hash mismatch";
    case NQ_E_NOMEM: return "out of memory";
    case NQ_E_LIMIT: return "limit exceeded";
    case NQ_E_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

nq_status nq_fail(nq_err *e, nq_status code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
