/* libFuzzer harness for the decoder of state-sync chunk answers
 * (core/state_sync_codec.c), which reads the bytes a peer answers a chunk
 * request with: an encoding byte, then the chunk raw or one zstd frame.
 * The input's first two bytes name the chunk's size in the manifest
 * (1..65536), the rest is the answer. Any answer either fails with
 * DECODE or OVERSIZE (never NOMEM: memory is plentiful here), writing
 * nothing past the chunk's size, or gives exactly that many bytes of a
 * frame (or the raw payload in place); a decoded frame's bytes encode and
 * decode back to themselves. Nothing outlives the codec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/state_sync_codec.h"
#include "fuzz_check.h"

#define CAP (65536u + 64u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t expect = 1 + ((size_t)data[0] | (size_t)data[1] << 8);
    const uint8_t *body = data + 2;
    size_t body_len = size - 2;
    static uint8_t out[CAP];
    memset(out + expect, 0xa5, CAP - expect);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_codec c;
    p2p__state_sync_codec_init(&c, &mem, P2P_MEM_OTHER);
    struct p2p_state_decoded d;
    int rc = p2p__state_sync_codec_decode(&c, body, body_len, expect, out,
                                          expect, &d);
    for (size_t i = expect; i < CAP; i++)
        FUZZ_CHECK(out[i] == 0xa5);
    if (rc != 0) {
        FUZZ_CHECK(rc == P2P_ERR_DECODE || rc == P2P_ERR_OVERSIZE);
    } else if (!d.compressed) {
        FUZZ_CHECK(body[0] == P2P_STATE_ENCODING_RAW);
        FUZZ_CHECK(d.bytes == body + 1 && d.len == body_len - 1);
    } else {
        FUZZ_CHECK(body[0] == P2P_STATE_ENCODING_ZSTD);
        FUZZ_CHECK(d.bytes == out && d.len == expect);
        FUZZ_CHECK(d.wire_bytes == body_len - 1);
        /* What was decoded survives our own encode and decode. */
        static uint8_t copy[CAP], back[CAP];
        memcpy(copy, out, expect);
        const uint8_t *b;
        size_t blen;
        bool compressed;
        FUZZ_CHECK(p2p__state_sync_codec_encode(&c, copy, expect, &b, &blen,
                                                &compressed) == 0);
        FUZZ_CHECK(blen <= 1 + expect);
        FUZZ_CHECK(p2p__state_sync_codec_decode(&c, b, blen, expect, back,
                                                expect, &d) == 0);
        FUZZ_CHECK(d.len == expect && memcmp(d.bytes, copy, expect) == 0);
    }
    p2p__state_sync_codec_fini(&c);
    FUZZ_CHECK(mem.bytes == 0);
    return 0;
}
