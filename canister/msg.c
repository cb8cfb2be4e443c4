/* msg.c - message plumbing (msg.h). */
#include "msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ic0.h"

static void msg_begin(msg *m) {
    memset(m, 0, sizeof *m);
    m->arena.limit = 64u << 20;
    m->caller_len = ic0_msg_caller_size();
    if (m->caller_len > sizeof m->caller) msg_trap("caller principal of %zu bytes", m->caller_len);
    ic0_msg_caller_copy(m->caller, 0, (uint32_t)m->caller_len);
}

static void msg_end(msg *m) {
    free(m->arg);
    m->arg = NULL;
    cd_arena_free(&m->arena);
}

/* Decode the arguments; on malformed Candid, rejects and returns -1. */
static int msg_args(msg *m, const cd_type *const *types, int n, cd_val *out) {
    m->arg_len = ic0_msg_arg_data_size();
    m->arg = malloc(m->arg_len ? m->arg_len : 1);
    if (!m->arg) msg_trap("out of memory for a %zu-byte argument", m->arg_len);
    ic0_msg_arg_data_copy(m->arg, 0, (uint32_t)m->arg_len);
    char err[256];
    if (cd_decode(m->arg, m->arg_len, types, n, out, &m->arena, err, sizeof err)) {
        msg_reject(m, "invalid arguments: %s", err);
        return -1;
    }
    return 0;
}

int msg_open(msg *m, const cd_type *const *types, int n, cd_val *out) {
    msg_begin(m);
    return msg_args(m, types, n, out);
}

void msg_reply_values(msg *m, const cd_type *const *types, const cd_val *vals, int n) {
    cd_buf b = {0};
    char err[256];
    if (cd_encode(&b, types, vals, n, err, sizeof err)) msg_trap("reply encoding failed: %s", err);
    ic0_msg_reply_data_append(b.p, (uint32_t)b.n);
    ic0_msg_reply();
    cd_buf_free(&b);
    msg_end(m);
}

void msg_reply_empty(msg *m) { msg_reply_values(m, NULL, NULL, 0); }

void msg_reject(msg *m, const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ic0_msg_reject(text, (uint32_t)strlen(text));
    msg_end(m);
}

_Noreturn void msg_trap(const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ic0_trap(text, (uint32_t)strlen(text));
}

int msg_caller_is_controller(const msg *m) {
    return ic0_is_controller(m->caller, (uint32_t)m->caller_len) == 1;
}

int msg_caller_is_anonymous(const msg *m) { return m->caller_len == 1 && m->caller[0] == 0x04; }

void msg_debug(const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ic0_debug_print(text, (uint32_t)strlen(text));
}
