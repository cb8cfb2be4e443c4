/* ic0.h - the Internet Computer System API as imported by a wasm32 canister.
 * Signatures follow the IC interface specification (pointers and sizes i32 on wasm32,
 * stable-memory offsets i64). Only these imports may remain in novaq_canister.wasm. */
#ifndef NQC_IC0_H
#define NQC_IC0_H
#include <stdint.h>

#if defined(__wasm__)
#define IC0(name) __attribute__((import_module("ic0"), import_name(#name)))
#else
#define IC0(name) /* native unit tests (tests/test_canister_store.c) define these */
#endif

IC0(msg_arg_data_size) uint32_t ic0_msg_arg_data_size(void);
IC0(msg_arg_data_copy) void ic0_msg_arg_data_copy(void *dst, uint32_t off, uint32_t size);
IC0(msg_caller_size) uint32_t ic0_msg_caller_size(void);
IC0(msg_caller_copy) void ic0_msg_caller_copy(void *dst, uint32_t off, uint32_t size);
IC0(msg_reply_data_append) void ic0_msg_reply_data_append(const void *src, uint32_t size);
IC0(msg_reply) void ic0_msg_reply(void);
IC0(msg_reject) void ic0_msg_reject(const void *src, uint32_t size);
IC0(canister_self_size) uint32_t ic0_canister_self_size(void);
IC0(canister_self_copy) void ic0_canister_self_copy(void *dst, uint32_t off, uint32_t size);
IC0(stable64_size) uint64_t ic0_stable64_size(void);
IC0(stable64_grow) int64_t ic0_stable64_grow(uint64_t new_pages);
IC0(stable64_read) void ic0_stable64_read(uint64_t dst, uint64_t off, uint64_t size);
IC0(stable64_write) void ic0_stable64_write(uint64_t off, uint64_t src, uint64_t size);
IC0(certified_data_set) void ic0_certified_data_set(const void *src, uint32_t size);
IC0(data_certificate_present) uint32_t ic0_data_certificate_present(void);
IC0(data_certificate_size) uint32_t ic0_data_certificate_size(void);
IC0(data_certificate_copy) void ic0_data_certificate_copy(void *dst, uint32_t off, uint32_t size);
IC0(time) uint64_t ic0_time(void);
IC0(is_controller) uint32_t ic0_is_controller(const void *src, uint32_t size);
IC0(debug_print) void ic0_debug_print(const void *src, uint32_t size);
IC0(trap) _Noreturn void ic0_trap(const void *src, uint32_t size);
IC0(performance_counter) uint64_t ic0_performance_counter(uint32_t type);

#endif
