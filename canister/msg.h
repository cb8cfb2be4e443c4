/* msg.h - one message's plumbing over ic0: arguments, caller, reply, reject.
 * Every exported method starts with MSG_OPEN (or msg_open) and ends in exactly one
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

/* The start of every exported method: msg_begin, then msg_args. Returns -1 when the
 * arguments are malformed; the message is then already rejected ("invalid arguments: ..."). */
int msg_open(msg *m, const cd_type *const *types, int n, cd_val *out);
/* msg_open for a method of n (>= 1) arguments of the given Candid types, as the method's
 * first statement: declares `msg m` and `cd_val a[n]`, and returns from the method (void)
 * when the arguments are rejected. */
#define MSG_OPEN(m, a, n, ...)                                                   \
    msg m;                                                                       \
    cd_val a[n];                                                                 \
    if (msg_open(&m, (const cd_type *const[n]){__VA_ARGS__}, n, a)) return
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
