/* libFuzzer harness for the state manifest decoder (core/state_manifest.c),
 * which reads bytes a peer sends during state sync. Any input either fails
 * with a non-fatal error and allocates nothing that outlives the call, or
 * decodes to a manifest whose encoding is exactly the input (the encoding
 * is canonical) and whose root is the input's SHA-256. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/state_manifest.h"

#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    free(again);
    struct p2p_state_hash root, direct;
    p2p_state_manifest_root(&m, &root);
    p2p_state_hash_of(data, size, &direct);
    FUZZ_CHECK(p2p_state_hash_eq(&root, &direct));
    FUZZ_CHECK(p2p_state_manifest_verify(&m, &root) == 0);
    p2p_state_manifest_fini(&m);
    FUZZ_CHECK(mem.bytes == 0);
    return 0;
}
