/* probe.c - a tiny canister that pokes at the System API, for the emulator's own tests
 * (emulator.test.mjs): reply/reject rules, rollback on trap, queries never persisting,
 * callers and controllers, stable memory bounds, upgrades. No libc; replies are raw bytes.
 * Built by scripts/test-canister.sh into build-canister/probe.wasm. */
#include "../../canister/ic0.h"

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))

static unsigned heap_counter;

static void reply_u32(unsigned v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    ic0_msg_reply_data_append(b, 4);
    ic0_msg_reply();
}

static unsigned stable_counter(void) {
    unsigned v = 0;
    if (ic0_stable64_size() == 0) return 0;
    ic0_stable64_read((unsigned long long)(unsigned long)&v, 0, 4);
    return v;
}

static void bump(void) {
    heap_counter++;
    if (ic0_stable64_size() == 0 && ic0_stable64_grow(1) < 0) ic0_trap("grow", 4);
    unsigned v = stable_counter() + 1;
    ic0_stable64_write(0, (unsigned long long)(unsigned long)&v, 4);
}

EXPORT("canister_init") void init(void) { bump(); }
EXPORT("canister_post_upgrade") void post_upgrade(void) {}
EXPORT("canister_update bump") void u_bump(void) { bump(); reply_u32(heap_counter * 1000 + stable_counter()); }
EXPORT("canister_query bump_query") void q_bump(void) { bump(); reply_u32(heap_counter * 1000 + stable_counter()); }
EXPORT("canister_query read") void q_read(void) { reply_u32(heap_counter * 1000 + stable_counter()); }
EXPORT("canister_update bump_then_trap") void u_bump_trap(void) { bump(); ic0_trap("after write", 11); }
EXPORT("canister_update reply_twice") void u_reply_twice(void) { ic0_msg_reply(); ic0_msg_reply(); }
EXPORT("canister_update no_reply") void u_no_reply(void) {}
EXPORT("canister_update reject") void u_reject(void) { bump(); ic0_msg_reject("no thanks", 9); }
EXPORT("canister_query certify_in_query") void q_certify(void) { ic0_certified_data_set("x", 1); ic0_msg_reply(); }
EXPORT("canister_update certify_too_long") void u_certify(void) {
    static char b[33];
    ic0_certified_data_set(b, 33);
    ic0_msg_reply();
}
EXPORT("canister_update read_past_end") void u_past_end(void) {
    char b[8];
    ic0_stable64_read((unsigned long long)(unsigned long)b, ic0_stable64_size() * 65536 - 4, 8);
    ic0_msg_reply();
}
EXPORT("canister_query whoami") void q_whoami(void) {
    unsigned char b[29];
    unsigned n = ic0_msg_caller_size();
    ic0_msg_caller_copy(b, 0, n);
    ic0_msg_reply_data_append(b, n);
    ic0_msg_reply();
}
EXPORT("canister_query is_controller") void q_ctrl(void) {
    unsigned char b[29];
    unsigned n = ic0_msg_caller_size();
    ic0_msg_caller_copy(b, 0, n);
    reply_u32(ic0_is_controller(b, n));
}
EXPORT("canister_query echo") void q_echo(void) {
    static unsigned char b[4 << 20];
    unsigned n = ic0_msg_arg_data_size();
    if (n > sizeof b) ic0_trap("big", 3);
    ic0_msg_arg_data_copy(b, 0, n);
    ic0_msg_reply_data_append(b, n);
    ic0_msg_reply();
}
EXPORT("canister_query spin") void q_spin(void) {
    volatile unsigned x = 0;
    for (unsigned i = 0; i < 1000000; i++) x += i;
    reply_u32((unsigned)ic0_performance_counter(0));
}
