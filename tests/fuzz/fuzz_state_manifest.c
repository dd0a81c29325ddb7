/* libFuzzer harness for the state manifest and meta-manifest decoders
 * (core/state_manifest.c), which read bytes a peer sends during state
 * sync. Any input either fails with a non-fatal error and allocates
 * nothing that outlives the call, or decodes to a manifest whose encoding
 * is exactly the input (the encoding is canonical), whose root is the
 * root of the input's meta-manifest, and whose manifest chunks
 * (encode_range) are the input's pieces. The same input read as a
 * meta-manifest either fails or re-encodes to itself and hashes to its
 * root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/state_manifest.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a meta-manifest: canonical, or refused. */
static void check_meta(const uint8_t *data, size_t size)
{
    static struct p2p_state_meta meta;
    int rc = p2p_state_meta_decode(&meta, data, size);
    if (rc != 0) {
        FUZZ_CHECK(rc == P2P_ERR_DECODE || rc == P2P_ERR_OVERSIZE);
        return;
    }
    FUZZ_CHECK(p2p_state_meta_encoded_len(&meta) == size);
    FUZZ_CHECK(meta.chunks_count >= 1 &&
               meta.chunks_count <= P2P_STATE_MANIFEST_CHUNKS_MAX);
    uint8_t again[P2P_STATE_META_BYTES_MAX];
    FUZZ_CHECK(p2p_state_meta_encode(&meta, again, sizeof(again)) == 0);
    FUZZ_CHECK(memcmp(again, data, size) == 0);
    struct p2p_state_hash root, direct;
    p2p_state_meta_root(&meta, &root);
    p2p_state_hash_of(data, size, &direct);
    FUZZ_CHECK(p2p_state_hash_eq(&root, &direct));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_meta(data, size);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    p2p_state_manifest_init(&m);
    int rc = p2p_state_manifest_decode(&m, &mem, P2P_MEM_OTHER, data, size);
    if (rc != 0) {
        FUZZ_CHECK(!p2p_err_is_fatal(rc));
        FUZZ_CHECK(mem.bytes == 0);
        p2p_state_manifest_fini(&m);
        return 0;
    }
    /* Canonical: encoding what was decoded gives the input back. */
    size_t len = p2p_state_manifest_encoded_len(&m);
    FUZZ_CHECK(len == size);
    uint8_t *again = malloc(len ? len : 1);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(p2p_state_manifest_encode(&m, again, len) == 0);
    FUZZ_CHECK(memcmp(again, data, len) == 0);
    /* Every manifest chunk is that slice of the input. */
    struct p2p_state_meta meta;
    p2p_state_meta_of(&m, &meta);
    FUZZ_CHECK(meta.manifest_bytes == size);
    for (uint32_t k = 0; k < meta.chunks_count; k++) {
        size_t at = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
        uint32_t n = p2p_state_meta_chunk_size(&meta, k);
        FUZZ_CHECK(p2p_state_manifest_encode_range(&m, at, again, n) == 0);
        FUZZ_CHECK(memcmp(again, data + at, n) == 0);
        struct p2p_state_hash h;
        p2p_state_hash_of(data + at, n, &h);
        FUZZ_CHECK(p2p_state_hash_eq(&h, &meta.chunks[k]));
    }
    free(again);
    struct p2p_state_hash root, direct;
    p2p_state_manifest_root(&m, &root);
    FUZZ_CHECK(p2p_state_manifest_root_of_encoding(data, size, &direct) == 0);
    FUZZ_CHECK(p2p_state_hash_eq(&root, &direct));
    FUZZ_CHECK(p2p_state_manifest_verify(&m, &root) == 0);
    p2p_state_manifest_fini(&m);
    FUZZ_CHECK(mem.bytes == 0);
    return 0;
}
