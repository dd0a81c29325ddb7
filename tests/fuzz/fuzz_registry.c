/* libFuzzer harness for the replica's registry loader (prod/registry.h).
 *
 * The input is the YAML text, loaded as "/nonexistent-p2p-fuzz/registry.yaml"
 * so that relative cert paths name no file. On success the registry must
 * hold 1..PROD_REGISTRY_MEMBERS_MAX members sorted by strictly increasing
 * index below PROD_REGISTRY_INDEX_MAX, with unique ids whose hex matches
 * their bytes, ports >= 1, and both lookups must find every member. On
 * failure the message is one NUL-terminated line starting with the file
 * name and *out is zeroed. Any failed check aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "core/err.h"
#include "prod/registry.h"
#include "prod/yaml_doc.h"
#include "fuzz_check.h"

#define NAME "/nonexistent-p2p-fuzz/registry.yaml"
#define ERR_BYTES 512

static void check_member(const struct prod_registry *r,
                         const struct prod_member *m)
{
    static const char digits[] = "0123456789abcdef";
    FUZZ_CHECK(m->index < PROD_REGISTRY_INDEX_MAX);
    FUZZ_CHECK(strnlen(m->id_hex, sizeof m->id_hex) == 64);
    for (size_t i = 0; i < 32; i++) {
        FUZZ_CHECK(m->id_hex[2 * i] == digits[m->key_id[i] >> 4]);
        FUZZ_CHECK(m->id_hex[2 * i + 1] == digits[m->key_id[i] & 15]);
    }
    FUZZ_CHECK(strnlen(m->addr_text, sizeof m->addr_text) < sizeof m->addr_text);
    uint16_t port;
    if (m->addr.ss_family == AF_INET) {
        FUZZ_CHECK(m->addr_len == sizeof(struct sockaddr_in));
        port = ntohs(((const struct sockaddr_in *)&m->addr)->sin_port);
    } else {
        FUZZ_CHECK(m->addr.ss_family == AF_INET6);
        FUZZ_CHECK(m->addr_len == sizeof(struct sockaddr_in6));
        port = ntohs(((const struct sockaddr_in6 *)&m->addr)->sin6_port);
    }
    FUZZ_CHECK(port >= 1);
    FUZZ_CHECK(prod_registry_by_index(r, m->index) == m);
    FUZZ_CHECK(prod_registry_by_key(r, m->key_id) == m);
}

static void check_loaded(const struct prod_registry *r)
{
    FUZZ_CHECK(r->version >= 1);
    FUZZ_CHECK(r->count >= 1 && r->count <= PROD_REGISTRY_MEMBERS_MAX);
    for (uint32_t i = 0; i < r->count; i++) {
        check_member(r, &r->members[i]);
        if (i > 0)
            FUZZ_CHECK(r->members[i - 1].index < r->members[i].index);
    }
    /* by_key returned each member itself, so ids are unique. An index
     * between members is absent. */
    if (r->count >= 2 && r->members[1].index > r->members[0].index + 1)
        FUZZ_CHECK(prod_registry_by_index(r, r->members[0].index + 1) == NULL);
    FUZZ_CHECK(prod_registry_by_index(r, PROD_REGISTRY_INDEX_MAX) == NULL);
}

/* memcmp, not a loop: a 300 KiB loop with comparison tracing would take
 * most of each run. */
static bool all_zero(const struct prod_registry *r)
{
    static const struct prod_registry zero;
    return memcmp(r, &zero, sizeof zero) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 300 KiB: kept across runs rather than allocated each time (a heap
     * block this size is an mmap per run). Only this function uses it. */
    static struct prod_registry *reg;
    char err[ERR_BYTES];
    if (reg == NULL) {
        reg = malloc(sizeof *reg);
        FUZZ_CHECK(reg != NULL);
    }
    memset(reg, 0x5a, sizeof *reg);
    memset(err, 0x5a, sizeof err);
    int rc = prod_registry_load_mem(data, size, NAME, reg, err, sizeof err);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0');
        check_loaded(reg);
        return 0;
    }
    FUZZ_CHECK(rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT ||
               rc == P2P_ERR_OVERSIZE || rc == P2P_ERR_READ ||
               rc == P2P_ERR_ID_MISMATCH);
    FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME) + 1) == 0);
    FUZZ_CHECK(strchr(err, '\n') == NULL);
    FUZZ_CHECK(all_zero(reg));
    return 0;
}
