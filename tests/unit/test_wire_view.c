/* In-place decoders (core/wire_view.h) against protobuf-c's unpack.
 *
 * protobuf-c 1.4's generated unpack is the oracle: for every input both
 * must accept or both reject, and on accept every field must be equal (the
 * views compared byte for byte with protobuf-c's copies, and checked to lie
 * inside the input). Hand-written edge cases, round trips of packed
 * messages, and a seeded loop of random field soups and byte mutations. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/err.h"
#include "core/rng.h"
#include "core/wire_view.h"

#define BUF_BYTES_MAX 4096
#define MUTATION_ROUNDS 100000
#define MUTATION_SEED 0x77697265u /* "wire" */

/* ---- the oracle ---- */

enum msg {
    MSG_ARTIFACT,
    MSG_REF,
    MSG_SLOT_UPDATE,
    MSG_ACK,
    MSG_FETCH,
    MSG_COUNT
};

static const char *const msg_names[MSG_COUNT] = {
    "Artifact", "ArtifactRef", "SlotUpdate", "UpdateAck", "FetchRequest"};

/* A view equals protobuf-c's bytes and lies inside buf[0..len). */
static bool bytes_agree(struct p2p_bytes_view v, ProtobufCBinaryData b,
                        const uint8_t *buf, size_t len)
{
    if (v.len != b.len)
        return false;
    if (v.data == NULL)
        return v.len == 0;
    if (v.data < buf || v.data > buf + len ||
        v.len > (size_t)(buf + len - v.data))
        return false;
    return v.len == 0 || memcmp(v.data, b.data, v.len) == 0;
}

static bool artifact_agrees(const struct p2p_artifact_view *v,
                            const P2p__V1__Artifact *m, const uint8_t *buf,
                            size_t len)
{
    return v->kind == m->kind && bytes_agree(v->body, m->body, buf, len) &&
           bytes_agree(v->id, m->id, buf, len);
}

static bool ref_agrees(const struct p2p_artifact_ref_view *v,
                       const P2p__V1__ArtifactRef *m, const uint8_t *buf,
                       size_t len)
{
    return v->kind == m->kind && v->size == m->size &&
           bytes_agree(v->id, m->id, buf, len);
}

static bool is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static bool slot_update_agrees(const struct p2p_slot_update_view *v,
                               const P2p__V1__SlotUpdate *m, const uint8_t *buf,
                               size_t len)
{
    if (v->commit_id != m->commit_id || v->slot_id != m->slot_id ||
        (int)v->update_case != (int)m->update_case)
        return false;
    bool art = v->update_case == P2P_SLOT_UPDATE_ARTIFACT;
    bool ref = v->update_case == P2P_SLOT_UPDATE_REF;
    bool del = v->update_case == P2P_SLOT_UPDATE_DELETED;
    if (!art && !is_zero(&v->artifact, sizeof(v->artifact)))
        return false;
    if (!ref && !is_zero(&v->ref, sizeof(v->ref)))
        return false;
    if (!del && v->deleted)
        return false;
    if (art)
        return m->artifact != NULL &&
               artifact_agrees(&v->artifact, m->artifact, buf, len);
    if (ref)
        return m->ref != NULL && ref_agrees(&v->ref, m->ref, buf, len);
    if (del)
        return v->deleted == (m->deleted != 0);
    return v->update_case == P2P_SLOT_UPDATE_NONE;
}

/* Decodes buf with both decoders as message k. Returns NULL when they
 * agree (and sets *accepted), else what differs. */
static const char *disagreement(enum msg k, const uint8_t *buf, size_t len,
                                bool *accepted)
{
    /* A view is untouched on error: poison it first to see that. */
    union {
        struct p2p_artifact_view a;
        struct p2p_artifact_ref_view r;
        struct p2p_slot_update_view u;
        struct p2p_update_ack_view ack;
        struct p2p_fetch_request_view f;
    } v, poison;
    memset(&poison, 0xa5, sizeof(poison));
    v = poison;
    int rc = 0;
    ProtobufCMessage *m = NULL;
    bool same = true;
    switch (k) {
    case MSG_ARTIFACT:
        rc = p2p_wire_view_artifact(buf, len, &v.a);
        m = (ProtobufCMessage *)p2p__v1__artifact__unpack(NULL, len, buf);
        same = m == NULL || artifact_agrees(&v.a, (void *)m, buf, len);
        break;
    case MSG_REF:
        rc = p2p_wire_view_artifact_ref(buf, len, &v.r);
        m = (ProtobufCMessage *)p2p__v1__artifact_ref__unpack(NULL, len, buf);
        same = m == NULL || ref_agrees(&v.r, (void *)m, buf, len);
        break;
    case MSG_SLOT_UPDATE:
        rc = p2p_wire_view_slot_update(buf, len, &v.u);
        m = (ProtobufCMessage *)p2p__v1__slot_update__unpack(NULL, len, buf);
        same = m == NULL || slot_update_agrees(&v.u, (void *)m, buf, len);
        break;
    case MSG_ACK: {
        rc = p2p_wire_view_update_ack(buf, len, &v.ack);
        P2p__V1__UpdateAck *a = p2p__v1__update_ack__unpack(NULL, len, buf);
        m = (ProtobufCMessage *)a;
        same = a == NULL ||
               (v.ack.slot_id == a->slot_id && v.ack.commit_id == a->commit_id);
        break;
    }
    case MSG_FETCH: {
        rc = p2p_wire_view_fetch_request(buf, len, &v.f);
        P2p__V1__FetchRequest *f =
            p2p__v1__fetch_request__unpack(NULL, len, buf);
        m = (ProtobufCMessage *)f;
        same = f == NULL || bytes_agree(v.f.id, f->id, buf, len);
        break;
    }
    default:
        ck_abort_msg("no such message kind %d", (int)k);
    }
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    *accepted = rc == 0;
    if (rc != 0 && rc != P2P_ERR_DECODE)
        return "error other than P2P_ERR_DECODE";
    if ((rc == 0) != (m != NULL))
        return rc == 0 ? "view accepts what protobuf-c rejects"
                       : "view rejects what protobuf-c accepts";
    if (rc != 0 && memcmp(&v, &poison, sizeof(v)) != 0)
        return "view written on error";
    if (!same)
        return "fields differ";
    return NULL;
}

static void hex_dump(const uint8_t *buf, size_t len, char *out, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; i < len && at + 3 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02x", buf[i]);
    out[at] = '\0';
}

/* Asserts both decoders agree on message k of buf; returns the verdict. */
static bool check_agree(enum msg k, const uint8_t *buf, size_t len,
                        const char *what)
{
    bool accepted = false;
    const char *why = disagreement(k, buf, len, &accepted);
    if (why != NULL) {
        char hex[2 * 512 + 1];
        hex_dump(buf, len, hex, sizeof(hex));
        ck_abort_msg("%s as %s: %s (%zu bytes: %s)", what, msg_names[k], why,
                     len, hex);
    }
    return accepted;
}

/* ---- byte helpers ---- */

/* Parses hex (spaces ignored) into out; returns the byte count. */
static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int nibbles = 0;
    unsigned cur = 0;
    for (const char *p = hex; *p != '\0'; p++) {
        if (*p == ' ')
            continue;
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            ck_abort_msg("bad hex digit in \"%s\"", hex);
        cur = cur << 4 | d;
        if (++nibbles == 2) {
            ck_assert_uint_lt(n, cap);
            out[n++] = (uint8_t)cur;
            nibbles = 0;
            cur = 0;
        }
    }
    ck_assert_int_eq(nibbles, 0);
    return n;
}

/* Writes v as a varint padded with pad extra (non-minimal) bytes. */
static size_t put_varint(uint8_t *p, uint64_t v, unsigned pad)
{
    size_t n = 0;
    while (v >= 0x80 || pad > 0) {
        if (v < 0x80)
            pad--;
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* ---- hand-written cases ---- */

/* A hex input, the verdict expected of message `as`, and (for the cases
 * where protobuf-c's choice is the point) one field's expected value. */
struct edge_case {
    const char *name;
    enum msg as;
    const char *hex;
    int rc;
};

static const struct edge_case edges[] = {
    /* framing of values */
    {"empty", MSG_SLOT_UPDATE, "", 0},
    {"truncated varint", MSG_ACK, "08 80", P2P_ERR_DECODE},
    {"truncated key", MSG_ACK, "88", P2P_ERR_DECODE},
    {"ten-byte varint", MSG_ACK, "08 ff ff ff ff ff ff ff ff ff 7f", 0},
    {"eleven-byte varint", MSG_ACK, "08 ff ff ff ff ff ff ff ff ff ff 01",
     P2P_ERR_DECODE},
    {"non-minimal varint", MSG_ACK, "08 81 80 80 00", 0},
    {"truncated length", MSG_FETCH, "0a", P2P_ERR_DECODE},
    {"truncated length varint", MSG_FETCH, "0a 80", P2P_ERR_DECODE},
    {"length past end", MSG_FETCH, "0a 03 01 02", P2P_ERR_DECODE},
    {"length to the end", MSG_FETCH, "0a 03 01 02 03", 0},
    {"non-minimal length", MSG_FETCH, "0a 82 80 80 00 01 02", 0},
    {"five-byte length", MSG_FETCH, "0a 82 80 80 80 00 01 02", 0},
    {"six-byte length", MSG_FETCH, "0a 82 80 80 80 80 00 01 02",
     P2P_ERR_DECODE},
    {"length above INT_MAX", MSG_FETCH, "0a 80 80 80 80 08", P2P_ERR_DECODE},
    {"truncated fixed64", MSG_ACK, "19 01 02 03 04 05 06 07", P2P_ERR_DECODE},
    {"truncated fixed32", MSG_ACK, "1d 01 02 03", P2P_ERR_DECODE},
    /* keys */
    {"field number 0", MSG_ACK, "00 01", P2P_ERR_DECODE},
    {"field number 0, length-delimited", MSG_FETCH, "02 00", P2P_ERR_DECODE},
    {"field number 0 in two bytes", MSG_ACK, "80 00 01", 0},
    {"field 1 in a non-minimal key", MSG_ACK, "88 80 00 05", 0},
    {"five-byte key", MSG_ACK, "f8 ff ff ff 7f 01", 0},
    {"six-byte key", MSG_ACK, "f8 ff ff ff ff 01 01", P2P_ERR_DECODE},
    {"wire type 3 (start group)", MSG_ACK, "0b", P2P_ERR_DECODE},
    {"wire type 4 (end group)", MSG_ACK, "0c", P2P_ERR_DECODE},
    {"unknown group", MSG_ACK, "33 08 01 34", P2P_ERR_DECODE},
    {"wire type 6", MSG_ACK, "0e 00", P2P_ERR_DECODE},
    {"wire type 7", MSG_ACK, "0f 00", P2P_ERR_DECODE},
    /* unknown fields */
    {"unknown varint", MSG_ACK, "30 ff 01 08 07", 0},
    {"unknown fixed64", MSG_ACK, "31 01 02 03 04 05 06 07 08 08 07", 0},
    {"unknown length-delimited", MSG_ACK, "32 02 ff ff 08 07", 0},
    {"unknown fixed32", MSG_ACK, "35 01 02 03 04 08 07", 0},
    {"unknown of a huge number", MSG_FETCH, "f8 ff ff ff 0f 00 0a 01 aa", 0},
    /* known fields with the wrong wire type */
    {"uint64 as fixed64", MSG_ACK, "09 01 00 00 00 00 00 00 00",
     P2P_ERR_DECODE},
    {"uint64 as length-delimited", MSG_ACK, "0a 01 05", P2P_ERR_DECODE},
    {"uint32 as fixed32", MSG_ARTIFACT, "0d 01 00 00 00", P2P_ERR_DECODE},
    {"bytes as varint", MSG_FETCH, "08 01", P2P_ERR_DECODE},
    {"message as varint", MSG_SLOT_UPDATE, "18 01", P2P_ERR_DECODE},
    {"ref as fixed32", MSG_SLOT_UPDATE, "25 00 00 00 00", P2P_ERR_DECODE},
    /* values */
    {"uint32 keeps the low 32 bits", MSG_ARTIFACT,
     "08 ff ff ff ff ff ff ff ff ff 01", 0},
    {"uint32 of 2^32", MSG_ARTIFACT, "08 80 80 80 80 10", 0},
    {"uint64 keeps the low 64 bits", MSG_REF,
     "18 ff ff ff ff ff ff ff ff ff 7f", 0},
    {"scalars: last wins", MSG_ACK, "08 01 10 02 08 03 10 04", 0},
    {"bytes: last wins", MSG_ARTIFACT, "12 01 aa 1a 01 bb 12 02 cc dd", 0},
    {"bytes: empty last wins", MSG_ARTIFACT, "12 01 aa 12 00", 0},
    /* the oneof */
    {"deleted false", MSG_SLOT_UPDATE, "08 01 10 02 28 00", 0},
    {"deleted true", MSG_SLOT_UPDATE, "08 01 10 02 28 01", 0},
    {"deleted 2^7 (low bits zero, then one)", MSG_SLOT_UPDATE, "28 80 01", 0},
    {"deleted zero in ten bytes", MSG_SLOT_UPDATE,
     "28 80 80 80 80 80 80 80 80 80 00", 0},
    {"deleted only past bit 64", MSG_SLOT_UPDATE,
     "28 80 80 80 80 80 80 80 80 80 7e", 0},
    {"deleted as fixed64 zero", MSG_SLOT_UPDATE, "29 00 00 00 00 00 00 00 00",
     0},
    {"deleted as fixed64 0x80", MSG_SLOT_UPDATE, "29 80 00 00 00 00 00 00 80",
     0},
    {"deleted as fixed32 one", MSG_SLOT_UPDATE, "2d 00 00 01 00", 0},
    {"deleted as empty bytes", MSG_SLOT_UPDATE, "2a 00", 0},
    {"deleted as bytes 00", MSG_SLOT_UPDATE, "2a 01 00", 0},
    {"deleted as bytes, prefix 0x80 0x00", MSG_SLOT_UPDATE, "2a 80 00", 0},
    {"deleted as group", MSG_SLOT_UPDATE, "2b", P2P_ERR_DECODE},
    {"artifact then ref", MSG_SLOT_UPDATE, "1a 02 08 05 22 02 10 06", 0},
    {"ref then artifact", MSG_SLOT_UPDATE, "22 02 10 06 1a 02 08 05", 0},
    {"artifact then deleted", MSG_SLOT_UPDATE, "1a 03 12 01 aa 28 01", 0},
    {"deleted then artifact", MSG_SLOT_UPDATE, "28 01 1a 03 12 01 aa", 0},
    {"artifact twice: no merge", MSG_SLOT_UPDATE,
     "1a 05 08 07 12 01 aa 1a 03 1a 01 bb", 0},
    {"ref twice: no merge", MSG_SLOT_UPDATE, "22 04 0a 02 01 02 22 02 18 09",
     0},
    {"empty artifact", MSG_SLOT_UPDATE, "1a 00", 0},
    {"invalid artifact", MSG_SLOT_UPDATE, "1a 02 08 80", P2P_ERR_DECODE},
    {"invalid artifact, replaced", MSG_SLOT_UPDATE, "1a 01 0b 28 01",
     P2P_ERR_DECODE},
    {"artifact with a bad inner wire type", MSG_SLOT_UPDATE,
     "1a 05 0d 01 00 00 00", P2P_ERR_DECODE},
    {"artifact inner field 0", MSG_SLOT_UPDATE, "1a 02 00 01", P2P_ERR_DECODE},
    {"artifact inner unknowns", MSG_SLOT_UPDATE,
     "1a 0b 2d 01 02 03 04 42 00 12 02 aa bb", 0},
    {"artifact height", MSG_SLOT_UPDATE, "1a 06 20 07 12 02 aa bb", 0},
    {"artifact height of a wrong wire type", MSG_SLOT_UPDATE,
     "1a 09 25 01 02 03 04 12 02 aa bb", P2P_ERR_DECODE},
    {"artifact inner length past its end", MSG_SLOT_UPDATE,
     "1a 02 12 05 01 02 03", P2P_ERR_DECODE},
};

START_TEST(edge_cases)
{
    const struct edge_case *c = &edges[_i];
    uint8_t buf[256];
    size_t len = from_hex(c->hex, buf, sizeof(buf));
    /* NULL for the empty input: the API allows it. */
    const uint8_t *p = len == 0 ? NULL : buf;
    bool accepted = check_agree(c->as, p, len, c->name);
    ck_assert_msg(accepted == (c->rc == 0), "%s: expected rc %d", c->name,
                  c->rc);
    /* Every case, as every other message too. */
    for (int k = 0; k < MSG_COUNT; k++)
        check_agree((enum msg)k, p, len, c->name);
}
END_TEST

/* The values protobuf-c chose in the cases above, spelled out. */
START_TEST(edge_values)
{
    uint8_t buf[64];
    size_t len;
    struct p2p_artifact_view a;
    struct p2p_slot_update_view u;
    struct p2p_update_ack_view ack;

    len = from_hex("08 ff ff ff ff ff ff ff ff ff 01", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_artifact(buf, len, &a), 0);
    ck_assert_uint_eq(a.kind, UINT32_MAX);
    len = from_hex("08 80 80 80 80 10", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_artifact(buf, len, &a), 0);
    ck_assert_uint_eq(a.kind, 0);

    len = from_hex("08 01 10 02 08 03 10 04", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_update_ack(buf, len, &ack), 0);
    ck_assert_uint_eq(ack.slot_id, 3);
    ck_assert_uint_eq(ack.commit_id, 4);

    /* Last body wins; the view points into buf at its payload. */
    len = from_hex("12 01 aa 1a 01 bb 12 02 cc dd", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_artifact(buf, len, &a), 0);
    ck_assert_ptr_eq(a.body.data, buf + 8);
    ck_assert_uint_eq(a.body.len, 2);
    ck_assert_ptr_eq(a.id.data, buf + 5);
    /* An empty body that occurred still points into buf. */
    len = from_hex("12 01 aa 12 00", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_artifact(buf, len, &a), 0);
    ck_assert_ptr_eq(a.body.data, buf + 5);
    ck_assert_uint_eq(a.body.len, 0);
    ck_assert_ptr_null(a.id.data);

    /* A second artifact replaces the first whole: kind back to 0. */
    len = from_hex("1a 05 08 07 12 01 aa 1a 03 1a 01 bb", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_slot_update(buf, len, &u), 0);
    ck_assert_int_eq(u.update_case, P2P_SLOT_UPDATE_ARTIFACT);
    ck_assert_uint_eq(u.artifact.kind, 0);
    ck_assert_ptr_null(u.artifact.body.data);
    ck_assert_ptr_eq(u.artifact.id.data, buf + 11);

    /* The pushed body's offset in the SlotUpdate. */
    len = from_hex("08 01 1a 05 12 03 61 62 63", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_slot_update(buf, len, &u), 0);
    ck_assert_uint_eq((size_t)(u.artifact.body.data - buf), 6);
    ck_assert_uint_eq(u.artifact.body.len, 3);

    /* deleted: protobuf-c's "any low 7 bits set", whatever the type. */
    static const struct {
        const char *hex;
        bool deleted;
    } dels[] = {
        {"28 00", false},
        {"28 80 01", true},
        {"28 80 80 80 80 80 80 80 80 80 7e", true},
        {"29 80 00 00 00 00 00 00 80", false},
        {"2d 00 00 01 00", true},
        {"2a 00", false},
        {"2a 80 00", false},
        {"2a 01 00", true},
        {"1a 00 28 00", false},
    };
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
        len = from_hex(dels[i].hex, buf, sizeof(buf));
        ck_assert_int_eq(p2p_wire_view_slot_update(buf, len, &u), 0);
        ck_assert_int_eq(u.update_case, P2P_SLOT_UPDATE_DELETED);
        ck_assert_msg(u.deleted == dels[i].deleted, "%s", dels[i].hex);
    }

    /* Empty input, NULL or not: every default, absent bytes NULL. */
    memset(&u, 0xa5, sizeof(u));
    ck_assert_int_eq(p2p_wire_view_slot_update(NULL, 0, &u), 0);
    ck_assert_uint_eq(u.commit_id, 0);
    ck_assert_int_eq(u.update_case, P2P_SLOT_UPDATE_NONE);
    ck_assert_ptr_null(u.artifact.body.data);
    ck_assert_int_eq(p2p_wire_view_artifact(buf, 0, &a), 0);
    ck_assert_ptr_null(a.body.data);
    ck_assert_uint_eq(a.kind, 0);

    /* An error leaves the view alone. */
    memset(&ack, 0x5a, sizeof(ack));
    len = from_hex("08 80", buf, sizeof(buf));
    ck_assert_int_eq(p2p_wire_view_update_ack(buf, len, &ack), P2P_ERR_DECODE);
    ck_assert_uint_eq(ack.slot_id, 0x5a5a5a5a5a5a5a5aull);
}
END_TEST

/* Every prefix of a valid encoding: a cut inside a field is an error, a
 * cut between fields a shorter message, for both decoders alike. */
START_TEST(every_truncation)
{
    uint8_t buf[64];
    size_t len = from_hex("08 96 01 10 ff ff 03 1a 07 08 01 12 03 61 62 63 "
                          "30 05",
                          buf, sizeof(buf));
    size_t accepted = 0;
    for (size_t cut = 0; cut <= len; cut++)
        accepted += check_agree(MSG_SLOT_UPDATE, buf, cut, "truncation");
    /* Empty, after each of the four fields. */
    ck_assert_uint_eq(accepted, 5);
}
END_TEST

/* ---- random messages ---- */

struct gen {
    struct p2p_rng rng;
    uint8_t bytes[3][256]; /* storage for the fields of one message */
};

static uint64_t below(struct gen *g, uint64_t n)
{
    return p2p_rng_below(&g->rng, n);
}

/* A value of a random bit width (so all varint lengths occur). */
static uint64_t any_width(struct gen *g)
{
    unsigned bits = (unsigned)below(g, 65);
    uint64_t v = p2p_rng_u64(&g->rng);
    return bits == 64 ? v : v & ((UINT64_C(1) << bits) - 1);
}

static ProtobufCBinaryData any_bytes(struct gen *g, int slot)
{
    static const size_t lens[] = {0, 1, 32, 127, 128, 200};
    size_t n = lens[below(g, sizeof(lens) / sizeof(lens[0]))];
    for (size_t i = 0; i < n; i++)
        g->bytes[slot][i] = (uint8_t)below(g, 256);
    return (ProtobufCBinaryData){.len = n, .data = g->bytes[slot]};
}

/* Packs a random message of kind k into out (cap bytes); returns its
 * length. */
static size_t pack_random(struct gen *g, enum msg k, uint8_t *out, size_t cap)
{
    P2p__V1__Artifact a = P2P__V1__ARTIFACT__INIT;
    P2p__V1__ArtifactRef r = P2P__V1__ARTIFACT_REF__INIT;
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    P2p__V1__FetchRequest f = P2P__V1__FETCH_REQUEST__INIT;
    a.kind = (uint32_t)any_width(g);
    a.body = any_bytes(g, 0);
    a.id = any_bytes(g, 1);
    r.id = any_bytes(g, 2);
    r.kind = (uint32_t)any_width(g);
    r.size = any_width(g);
    const ProtobufCMessage *m = NULL;
    switch (k) {
    case MSG_ARTIFACT:
        m = &a.base;
        break;
    case MSG_REF:
        m = &r.base;
        break;
    case MSG_SLOT_UPDATE:
        u.commit_id = any_width(g);
        u.slot_id = any_width(g);
        u.update_case = (P2p__V1__SlotUpdate__UpdateCase)below(g, 6);
        if (u.update_case < 3)
            u.update_case = P2P__V1__SLOT_UPDATE__UPDATE__NOT_SET;
        if (u.update_case == P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT)
            u.artifact = &a;
        else if (u.update_case == P2P__V1__SLOT_UPDATE__UPDATE_REF)
            u.ref = &r;
        else if (u.update_case == P2P__V1__SLOT_UPDATE__UPDATE_DELETED)
            u.deleted = (protobuf_c_boolean)below(g, 2);
        m = &u.base;
        break;
    case MSG_ACK:
        ack.slot_id = any_width(g);
        ack.commit_id = any_width(g);
        m = &ack.base;
        break;
    case MSG_FETCH:
        f.id = any_bytes(g, 0);
        m = &f.base;
        break;
    default:
        ck_abort_msg("no such message kind %d", (int)k);
    }
    size_t n = protobuf_c_message_get_packed_size(m);
    ck_assert_uint_le(n, cap);
    ck_assert_uint_eq(protobuf_c_message_pack(m, out), n);
    return n;
}

START_TEST(round_trips)
{
    enum msg k = (enum msg)_i;
    struct gen g;
    p2p_rng_init(&g.rng, 1000 + (uint64_t)k, 1);
    uint8_t buf[BUF_BYTES_MAX];
    for (int i = 0; i < 2000; i++) {
        size_t len = pack_random(&g, k, buf, sizeof(buf));
        ck_assert(check_agree(k, len ? buf : NULL, len, "round trip"));
    }
}
END_TEST

/* The wire type a known field of message k has, or -1 for unknown. */
static int field_wire_type(enum msg k, uint32_t number)
{
    static const int8_t types[MSG_COUNT][6] = {
        [MSG_ARTIFACT] = {-1, 0, 2, 2, -1, -1},
        [MSG_REF] = {-1, 2, 0, 0, -1, -1},
        [MSG_SLOT_UPDATE] = {-1, 0, 0, 2, 2, 0},
        [MSG_ACK] = {-1, 0, 0, -1, -1, -1},
        [MSG_FETCH] = {-1, 2, -1, -1, -1, -1},
    };
    return number < 6 ? types[k][number] : -1;
}

/* Appends a random "field soup" for message k to out[*at..cap): known
 * and unknown numbers, mostly the right wire types but not always,
 * non-minimal and overlong varints and keys, and (depth 0) SlotUpdate
 * members whose payloads are soups of their own. */
static void soup(struct gen *g, enum msg k, int depth, uint8_t *out, size_t *at,
                 size_t cap)
{
    unsigned fields = (unsigned)below(g, 7);
    for (unsigned i = 0; i < fields && *at + 64 < cap; i++) {
        uint64_t number;
        unsigned pick = (unsigned)below(g, 20);
        if (pick < 14)
            number = 1 + below(g, 5);
        else if (pick == 14)
            number = 0;
        else if (pick < 19)
            number = 6 + below(g, 20);
        else
            number = below(g, UINT64_C(1) << 32);
        int want = field_wire_type(k, (uint32_t)number);
        unsigned wt = below(g, 8) == 0 || want < 0
                          ? (unsigned)below(g, 8)
                          : (unsigned)(want < 0 ? 0 : want);
        if (below(g, 30) == 0 && wt != 7)
            wt = 3 + (unsigned)below(g, 2); /* groups now and then */
        *at += put_varint(out + *at, number << 3 | wt,
                          below(g, 8) == 0 ? (unsigned)below(g, 3) : 0);
        switch (wt) {
        case 0: {
            unsigned pad = below(g, 6) == 0 ? (unsigned)below(g, 11) : 0;
            uint64_t v = below(g, 3) == 0 ? below(g, 3) : any_width(g);
            size_t n = put_varint(out + *at, v, pad);
            if (n > 11) { /* keep it at most 11: one past the limit */
                out[*at + 10] &= 0x7f;
                n = 11;
            }
            *at += n;
            break;
        }
        case 1:
        case 5:
            for (unsigned j = 0; j < (wt == 1 ? 8u : 4u); j++)
                out[(*at)++] = below(g, 2) ? (uint8_t)below(g, 256) : 0;
            break;
        case 2: {
            uint8_t payload[BUF_BYTES_MAX];
            size_t n = 0;
            bool sub = depth == 0 && k == MSG_SLOT_UPDATE &&
                       (number == 3 || number == 4) && below(g, 4) != 0;
            if (sub) {
                soup(g, number == 3 ? MSG_ARTIFACT : MSG_REF, depth + 1,
                     payload, &n, (cap - *at) / 2);
            } else {
                n = below(g, 3) == 0 ? 0 : below(g, 40);
                for (size_t j = 0; j < n; j++)
                    payload[j] = (uint8_t)below(g, 256);
            }
            if (*at + 10 + n > cap)
                n = 0;
            *at += put_varint(out + *at, n,
                              below(g, 10) == 0 ? (unsigned)below(g, 5) : 0);
            memcpy(out + *at, payload, n);
            *at += n;
            break;
        }
        default: /* 3, 4, 6, 7: nothing or a byte follows */
            if (below(g, 2))
                out[(*at)++] = (uint8_t)below(g, 256);
            break;
        }
    }
}

/* Changes buf[0..*len) in one random way, keeping *len <= cap. */
static void mutate(struct gen *g, uint8_t *buf, size_t *len, size_t cap)
{
    static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80,
                                          0xff, 0x08, 0x12, 0x1a};
    size_t n = *len;
    size_t pos = n ? below(g, n) : 0;
    switch (below(g, 7)) {
    case 0: /* flip a bit */
        if (n)
            buf[pos] ^= (uint8_t)(1u << below(g, 8));
        break;
    case 1: /* set a byte */
        if (n)
            buf[pos] = below(g, 2) ? interesting[below(g, sizeof(interesting))]
                                   : (uint8_t)below(g, 256);
        break;
    case 2: /* insert a byte */
        if (n < cap) {
            memmove(buf + pos + 1, buf + pos, n - pos);
            buf[pos] = interesting[below(g, sizeof(interesting))];
            *len = n + 1;
        }
        break;
    case 3: { /* delete a few bytes */
        size_t k = n ? 1 + below(g, n - pos < 4 ? n - pos : 4) : 0;
        memmove(buf + pos, buf + pos + k, n - pos - k);
        *len = n - k;
        break;
    }
    case 4: /* truncate */
        *len = pos;
        break;
    case 5: { /* duplicate a span elsewhere */
        size_t span = n ? 1 + below(g, n - pos) : 0;
        if (n + span <= cap) {
            size_t to = below(g, n + 1);
            uint8_t tmp[BUF_BYTES_MAX];
            memcpy(tmp, buf + pos, span);
            memmove(buf + to + span, buf + to, n - to);
            memcpy(buf + to, tmp, span);
            *len = n + span;
        }
        break;
    }
    default: /* a varint run of 0x80s: overlong or truncated */
    {
        size_t end = pos + 1 + below(g, 12);
        for (size_t i = pos; i < n && i < end; i++)
            buf[i] = 0x80;
        break;
    }
    }
}

/* The differential loop: MUTATION_ROUNDS inputs, each decoded as all five
 * messages by both decoders. Inputs are packed messages, soups, and
 * concatenations of them (protobuf's merge), then 0-3 byte mutations. */
START_TEST(differential_mutations)
{
    struct gen g;
    p2p_rng_init(&g.rng, MUTATION_SEED, 2);
    static uint8_t buf[BUF_BYTES_MAX];
    size_t accepted[MSG_COUNT] = {0};
    for (int round = 0; round < MUTATION_ROUNDS; round++) {
        enum msg k = (enum msg)below(&g, MSG_COUNT);
        size_t len = 0;
        unsigned parts = 1 + (unsigned)(below(&g, 4) == 0);
        for (unsigned p = 0; p < parts; p++) {
            if (below(&g, 2))
                soup(&g, k, 0, buf, &len, sizeof(buf) / 2);
            else
                len += pack_random(&g, k, buf + len, sizeof(buf) - len);
        }
        unsigned mutations = (unsigned)below(&g, 4);
        for (unsigned i = 0; i < mutations; i++)
            mutate(&g, buf, &len, sizeof(buf));
        char what[64];
        snprintf(what, sizeof(what), "seed %#x round %d", MUTATION_SEED, round);
        for (int m = 0; m < MSG_COUNT; m++)
            accepted[m] +=
                check_agree((enum msg)m, len ? buf : NULL, len, what);
    }
    /* Both verdicts well represented for every message. */
    for (int m = 0; m < MSG_COUNT; m++) {
        ck_assert_msg(accepted[m] > MUTATION_ROUNDS / 20, "%s: %zu accepted",
                      msg_names[m], accepted[m]);
        ck_assert_msg(accepted[m] < MUTATION_ROUNDS - MUTATION_ROUNDS / 20,
                      "%s: %zu accepted", msg_names[m], accepted[m]);
    }
}
END_TEST

/* ---- suite ---- */

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *wire_view_suite(void)
{
    Suite *s = suite_create("wire_view");
    TCase *tc = tcase_create("edges");
    tcase_add_loop_test(tc, edge_cases, 0, COUNT(edges));
    tcase_add_test(tc, edge_values);
    tcase_add_test(tc, every_truncation);
    suite_add_tcase(s, tc);

    tc = tcase_create("differential");
    tcase_add_loop_test(tc, round_trips, 0, MSG_COUNT);
    tcase_add_test(tc, differential_mutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_view_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
