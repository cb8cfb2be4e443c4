/* msg.h - one message's plumbing over ic0: arguments, caller, reply, reject.
 * Every exported method runs msg_begin, decodes its arguments, and ends in exactly one
 * msg_reply_values or msg_reject (both free the message's arena and buffers). */
#ifndef NQC_MSG_H
#define NQC_MSG_H
#include <stddef.h>
#include <stdint.h>
#include "candid.h"

typedef struct msg {
    uint8_t *arg;
    size_t arg_len;
    uint8_t caller[29];
    size_t caller_len;
    cd_arena arena;
} msg;

void msg_begin(msg *m);
/* Decode the arguments; on malformed Candid, rejects and returns -1. */
int msg_args(msg *m, const cd_type *const *types, int n, cd_val *out);
void msg_reply_values(msg *m, const cd_type *const *types, const cd_val *vals, int n);
void msg_reply_empty(msg *m);
void msg_reject(msg *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Trap: rolls back every change of this message. For broken invariants only. */
_Noreturn void msg_trap(const char *fmt, ...);
int msg_caller_is_controller(const msg *m);
int msg_caller_is_anonymous(const msg *m);
void msg_debug(const char *fmt, ...);
#endif
