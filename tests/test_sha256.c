/* SHA-256 against the FIPS 180-4 / NIST example vectors, one-shot and streamed. */
#include <string.h>
#include "testutil.h"

static void hex_of(const void *data, size_t n, char out[65]) {
    uint8_t h[32];
    nq_sha256(data, n, h);
    nq_hex(h, 32, out);
}

int main(void) {
    char hex[65];
    hex_of("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    hex_of("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    CHECK(!strcmp(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
    /* one million 'a', streamed in uneven pieces to exercise the block buffering */
    nq_sha256_ctx c;
    nq_sha256_init(&c);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    for (size_t step = 1; left; step = step % 997 + 1) {
        size_t n = step < left ? step : left;
        nq_sha256_update(&c, a, n);
        left -= n;
    }
    uint8_t h[32];
    nq_sha256_final(&c, h);
    nq_hex(h, 32, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* the reader variant agrees with the one-shot hash */
    uint8_t buf[70000], h1[32], h2[32];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 31 + 7);
    nq_mem_source src = {buf, sizeof buf};
    nq_reader r = nq_reader_mem(&src, "mem");
    CHECK(nq_sha256_reader(&r, h1, NULL) == NQ_OK);
    nq_sha256(buf, sizeof buf, h2);
    CHECK(!memcmp(h1, h2, 32));
    return TU_DONE();
}
