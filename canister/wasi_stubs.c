/* wasi_stubs.c - the WASI functions wasi-libc calls, implemented over ic0 so that the
 * canister imports nothing but ic0 (the IC offers no WASI). Only functions the link pulls
 * in are defined: stdout/stderr writes go to ic0.debug_print, the clock reads ic0.time,
 * exit traps; everything else reports ENOSYS/EBADF. */
#include <stdint.h>
#include <string.h>
#include "ic0.h"

#define WASI(name) int32_t __imported_wasi_snapshot_preview1_##name

enum { WASI_EBADF = 8, WASI_ENOSYS = 52 };

typedef struct { uint32_t buf, len; } wasi_iovec;

WASI(fd_write)(int32_t fd, int32_t iovs, int32_t n, int32_t nwritten) {
    const wasi_iovec *v = (const wasi_iovec *)(uintptr_t)iovs;
    uint32_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if ((fd == 1 || fd == 2) && v[i].len) ic0_debug_print((const void *)(uintptr_t)v[i].buf, v[i].len);
        total += v[i].len;
    }
    *(uint32_t *)(uintptr_t)nwritten = total;
    return fd == 1 || fd == 2 ? 0 : WASI_EBADF;
}

WASI(fd_close)(int32_t fd) { (void)fd; return WASI_EBADF; }
WASI(fd_seek)(int32_t fd, int64_t off, int32_t whence, int32_t out) {
    (void)fd; (void)off; (void)whence; (void)out;
    return WASI_EBADF;
}
WASI(fd_fdstat_get)(int32_t fd, int32_t out) { (void)fd; (void)out; return WASI_EBADF; }

WASI(clock_time_get)(int32_t id, int64_t precision, int32_t out) {
    (void)id; (void)precision;
    uint64_t t = ic0_time();
    memcpy((void *)(uintptr_t)out, &t, 8);
    return 0;
}

_Noreturn void __imported_wasi_snapshot_preview1_proc_exit(int32_t code) {
    (void)code;
    static const char msg[] = "canister: exit() called";
    ic0_trap(msg, sizeof msg - 1);
}
