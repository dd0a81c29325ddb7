/* libFuzzer harness for the in-place decoders (core/wire_view.h).
 *
 * The input is one message's bytes, decoded as each of the five messages
 * by both the view decoder and protobuf-c's generated unpack (the oracle).
 * Checked: both accept or both reject; a view decoder returns 0 or
 * P2P_ERR_DECODE and leaves its output untouched on error; on accept every
 * field equals protobuf-c's, the bytes views lie inside the input and equal
 * protobuf-c's copies, and the oneof members other than the current one
 * are zero. Any failure aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/err.h"
#include "core/wire_view.h"
#include "fuzz_check.h"

/* The input being decoded (for the inside-the-input checks). */
struct input {
    const uint8_t *buf;
    size_t len;
};

static void check_bytes(struct p2p_bytes_view v, ProtobufCBinaryData b,
                        struct input in)
{
    FUZZ_CHECK(v.len == b.len);
    if (v.data == NULL) {
        FUZZ_CHECK(v.len == 0);
        return;
    }
    FUZZ_CHECK(v.data >= in.buf && v.data <= in.buf + in.len);
    FUZZ_CHECK(v.len <= (size_t)(in.buf + in.len - v.data));
    FUZZ_CHECK(v.len == 0 || memcmp(v.data, b.data, v.len) == 0);
}

static void check_artifact(const struct p2p_artifact_view *v,
                           const P2p__V1__Artifact *m, struct input in)
{
    FUZZ_CHECK(v->kind == m->kind);
    check_bytes(v->body, m->body, in);
    check_bytes(v->id, m->id, in);
}

static void check_ref(const struct p2p_artifact_ref_view *v,
                      const P2p__V1__ArtifactRef *m, struct input in)
{
    FUZZ_CHECK(v->kind == m->kind);
    FUZZ_CHECK(v->size == m->size);
    check_bytes(v->id, m->id, in);
}

static bool is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static void check_slot_update(const struct p2p_slot_update_view *v,
                              const P2p__V1__SlotUpdate *m, struct input in)
{
    FUZZ_CHECK(v->commit_id == m->commit_id);
    FUZZ_CHECK(v->slot_id == m->slot_id);
    FUZZ_CHECK((int)v->update_case == (int)m->update_case);
    bool art = v->update_case == P2P_SLOT_UPDATE_ARTIFACT;
    bool ref = v->update_case == P2P_SLOT_UPDATE_REF;
    bool del = v->update_case == P2P_SLOT_UPDATE_DELETED;
    FUZZ_CHECK(art || is_zero(&v->artifact, sizeof(v->artifact)));
    FUZZ_CHECK(ref || is_zero(&v->ref, sizeof(v->ref)));
    FUZZ_CHECK(del || !v->deleted);
    if (art) {
        FUZZ_CHECK(m->artifact != NULL);
        check_artifact(&v->artifact, m->artifact, in);
    } else if (ref) {
        FUZZ_CHECK(m->ref != NULL);
        check_ref(&v->ref, m->ref, in);
    } else if (del) {
        FUZZ_CHECK(v->deleted == (m->deleted != 0));
    } else {
        FUZZ_CHECK(v->update_case == P2P_SLOT_UPDATE_NONE);
    }
}

/* Every view an output may hold, poisoned before each call. */
union views {
    struct p2p_artifact_view a;
    struct p2p_artifact_ref_view r;
    struct p2p_slot_update_view u;
    struct p2p_update_ack_view ack;
    struct p2p_fetch_request_view f;
};

/* The verdicts agree; on error the view kept its poison. */
static void check_verdict(int rc, const void *m, const union views *v,
                          const union views *poison)
{
    FUZZ_CHECK(rc == 0 || rc == P2P_ERR_DECODE);
    FUZZ_CHECK((rc == 0) == (m != NULL));
    if (rc != 0)
        FUZZ_CHECK(memcmp(v, poison, sizeof(*v)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    union views v, poison;
    memset(&poison, 0xa5, sizeof(poison));

    v = poison;
    int rc = p2p_wire_view_artifact(data, size, &v.a);
    P2p__V1__Artifact *a = p2p__v1__artifact__unpack(NULL, size, data);
    check_verdict(rc, a, &v, &poison);
    if (a != NULL) {
        check_artifact(&v.a, a, in);
        p2p__v1__artifact__free_unpacked(a, NULL);
    }

    v = poison;
    rc = p2p_wire_view_artifact_ref(data, size, &v.r);
    P2p__V1__ArtifactRef *r = p2p__v1__artifact_ref__unpack(NULL, size, data);
    check_verdict(rc, r, &v, &poison);
    if (r != NULL) {
        check_ref(&v.r, r, in);
        p2p__v1__artifact_ref__free_unpacked(r, NULL);
    }

    v = poison;
    rc = p2p_wire_view_slot_update(data, size, &v.u);
    P2p__V1__SlotUpdate *u = p2p__v1__slot_update__unpack(NULL, size, data);
    check_verdict(rc, u, &v, &poison);
    if (u != NULL) {
        check_slot_update(&v.u, u, in);
        p2p__v1__slot_update__free_unpacked(u, NULL);
    }

    v = poison;
    rc = p2p_wire_view_update_ack(data, size, &v.ack);
    P2p__V1__UpdateAck *ack = p2p__v1__update_ack__unpack(NULL, size, data);
    check_verdict(rc, ack, &v, &poison);
    if (ack != NULL) {
        FUZZ_CHECK(v.ack.slot_id == ack->slot_id);
        FUZZ_CHECK(v.ack.commit_id == ack->commit_id);
        p2p__v1__update_ack__free_unpacked(ack, NULL);
    }

    v = poison;
    rc = p2p_wire_view_fetch_request(data, size, &v.f);
    P2p__V1__FetchRequest *f = p2p__v1__fetch_request__unpack(NULL, size, data);
    check_verdict(rc, f, &v, &poison);
    if (f != NULL) {
        check_bytes(v.f.id, f->id, in);
        p2p__v1__fetch_request__free_unpacked(f, NULL);
    }
    return 0;
}
