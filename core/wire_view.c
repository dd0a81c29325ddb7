/* In-place decoders (core/wire_view.h). One pass over the fields; every
 * rule below mirrors what protobuf-c 1.4's unpack does (its two passes,
 * scan then parse, reject the same inputs, since an error in either
 * rejects the message and both go in wire order). */
#include "core/wire_view.h"

#include <limits.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

enum wire_type {
    WIRE_VARINT = 0,
    WIRE_FIXED64 = 1,
    WIRE_LEN = 2,
    WIRE_FIXED32 = 5,
};

#define KEY_BYTES_MAX 5 /* protobuf-c reads at most 5 key bytes */
#define VARINT_BYTES_MAX 10
#define PREFIX_BYTES_MAX 5 /* length prefixes, likewise */

/* One field as on the wire. */
struct field {
    uint32_t number;
    unsigned wire_type;
    const uint8_t *value; /* varint, 8 or 4 bytes, or prefix + payload */
    size_t value_len;
    const uint8_t *payload; /* WIRE_LEN: after the prefix */
    size_t payload_len;     /* tail included */
    size_t payload_tail;    /* bytes of it in the reader's tail */
};

/* The unread rest of one message. */
struct reader {
    const uint8_t *at; /* borrowed; NULL only when rem is 0 */
    size_t rem;
    size_t tail;   /* message bytes after the rem readable ones, which are
                      not in memory here: only a length-delimited payload
                      may cover them, to their end */
    size_t fields; /* fields read so far */
};

static void reader_init(struct reader *r, const uint8_t *buf, size_t len,
                        size_t tail)
{
    P2P_ASSERT(buf != NULL || len == 0);
    r->at = buf;
    r->rem = len;
    r->tail = tail;
    r->fields = 0;
}

/* The key: field number and wire type. A one-byte key of number 0 is an
 * error; continuation bytes add 7 bits each above the first byte's 4. */
static int read_key(struct reader *r, struct field *f)
{
    const uint8_t *p = r->at;
    size_t max = r->rem < KEY_BYTES_MAX ? r->rem : KEY_BYTES_MAX;
    if ((p[0] & 0xf8) == 0)
        return P2P_ERR_DECODE;
    f->wire_type = p[0] & 7u;
    uint32_t number = (uint32_t)(p[0] & 0x7f) >> 3;
    size_t i = 0;
    unsigned shift = 4;
    while (p[i] & 0x80) {
        if (++i == max)
            return P2P_ERR_DECODE;
        number |= (uint32_t)(p[i] & 0x7f) << shift;
        shift += 7;
    }
    f->number = number;
    r->at += i + 1;
    r->rem -= i + 1;
    return 0;
}

/* Length of the varint at p (at most VARINT_BYTES_MAX bytes of rem), or 0
 * when it does not end in time. */
static size_t varint_len(const uint8_t *p, size_t rem)
{
    size_t max = rem < VARINT_BYTES_MAX ? rem : VARINT_BYTES_MAX;
    for (size_t i = 0; i < max; i++)
        if ((p[i] & 0x80) == 0)
            return i + 1;
    return 0;
}

/* The length prefix at p: sets *payload_len and returns the prefix's
 * length, or 0 when it is malformed, above INT_MAX or longer than the
 * bytes after it. */
static size_t prefix_len(const uint8_t *p, size_t rem, size_t tail,
                         size_t *payload_len)
{
    size_t max = rem < PREFIX_BYTES_MAX ? rem : PREFIX_BYTES_MAX;
    uint64_t v = 0;
    for (size_t i = 0; i < max; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            /* Within the readable bytes, or exactly to the tail's end. */
            if (v > INT_MAX || (v > rem - (i + 1) && v != rem - (i + 1) + tail))
                return 0;
            *payload_len = (size_t)v;
            return i + 1;
        }
    }
    return 0;
}

/* Reads the next field (r->rem > 0) into *f and steps past it.
 * Errors: P2P_ERR_DECODE (bad key, wire type 3, 4, 6 or 7, truncated
 * value, one field too many). */
static int next_field(struct reader *r, struct field *f)
{
    P2P_ASSERT(r->rem > 0);
    int rc = read_key(r, f);
    if (rc != 0)
        return rc;
    size_t n = 0, pre = 0;
    f->payload = NULL;
    f->payload_len = 0;
    f->payload_tail = 0;
    switch (f->wire_type) {
    case WIRE_VARINT:
        n = varint_len(r->at, r->rem);
        break;
    case WIRE_FIXED64:
        n = r->rem >= 8 ? 8 : 0;
        break;
    case WIRE_FIXED32:
        n = r->rem >= 4 ? 4 : 0;
        break;
    case WIRE_LEN:
        pre = prefix_len(r->at, r->rem, r->tail, &f->payload_len);
        if (pre != 0 && f->payload_len > r->rem - pre) {
            /* It covers the tail: the message ends with it. */
            f->payload = r->at + pre;
            f->payload_tail = r->tail;
            n = r->rem;
            r->tail = 0;
        } else if (pre != 0) {
            f->payload = r->at + pre;
            n = pre + f->payload_len;
        }
        break;
    default: /* groups (3, 4) and 6, 7: protobuf-c knows none of them */
        break;
    }
    if (n == 0 || ++r->fields > P2P_WIRE_VIEW_FIELDS_MAX)
        return P2P_ERR_DECODE;
    P2P_DASSERT(n <= r->rem);
    f->value = r->at;
    f->value_len = n;
    r->at += n;
    r->rem -= n;
    return 0;
}

/* The low 64 bits of a varint of n (<= 10) bytes. */
static uint64_t varint_u64(const uint8_t *p, size_t n)
{
    P2P_DASSERT(n >= 1 && n <= VARINT_BYTES_MAX);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    return v;
}

/* protobuf-c's bool: any of the value's bytes with a low bit set, whatever
 * the wire type (so also bits past a varint's 64th). */
static bool any_low_bits(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] & 0x7f)
            return true;
    return false;
}

static int as_u64(const struct field *f, uint64_t *out)
{
    if (f->wire_type != WIRE_VARINT)
        return P2P_ERR_DECODE;
    *out = varint_u64(f->value, f->value_len);
    return 0;
}

static int as_u32(const struct field *f, uint32_t *out)
{
    uint64_t v;
    int rc = as_u64(f, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int as_bytes(const struct field *f, struct p2p_bytes_view *out)
{
    if (f->wire_type != WIRE_LEN)
        return P2P_ERR_DECODE;
    out->data = f->payload;
    out->len = f->payload_len;
    return 0;
}

/* The readable part of a payload. */
static size_t head_of(const struct field *f)
{
    return f->payload_len - f->payload_tail;
}

static int decode_artifact(const uint8_t *buf, size_t len, size_t tail,
                           struct p2p_artifact_view *a)
{
    struct reader r;
    reader_init(&r, buf, len, tail);
    memset(a, 0, sizeof(*a));
    while (r.rem > 0) {
        struct field f;
        int rc = next_field(&r, &f);
        if (rc == 0 && f.number == 1)
            rc = as_u32(&f, &a->kind);
        else if (rc == 0 && f.number == 2)
            rc = as_bytes(&f, &a->body);
        else if (rc == 0 && f.number == 3)
            rc = as_bytes(&f, &a->id);
        else if (rc == 0 && f.number == 4)
            rc = as_u64(&f, &a->height);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int decode_artifact_ref(const uint8_t *buf, size_t len,
                               struct p2p_artifact_ref_view *ref)
{
    struct reader r;
    reader_init(&r, buf, len, 0);
    memset(ref, 0, sizeof(*ref));
    while (r.rem > 0) {
        struct field f;
        int rc = next_field(&r, &f);
        if (rc == 0 && f.number == 1)
            rc = as_bytes(&f, &ref->id);
        else if (rc == 0 && f.number == 2)
            rc = as_u32(&f, &ref->kind);
        else if (rc == 0 && f.number == 3)
            rc = as_u64(&f, &ref->size);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One member of the oneof: replaces whatever member came before, whole. */
static int slot_update_member(const struct field *f,
                              struct p2p_slot_update_view *u)
{
    struct p2p_artifact_view a;
    struct p2p_artifact_ref_view ref;
    int rc = 0;
    if (f->number != P2P_SLOT_UPDATE_DELETED && f->wire_type != WIRE_LEN)
        return P2P_ERR_DECODE;
    /* Only an artifact's body may lie in the tail (not a ref, nor the
     * bytes `deleted` is read from). */
    if (f->payload_tail != 0 && f->number != P2P_SLOT_UPDATE_ARTIFACT)
        return P2P_ERR_DECODE;
    if (f->number == P2P_SLOT_UPDATE_ARTIFACT)
        rc = decode_artifact(f->payload, head_of(f), f->payload_tail, &a);
    else if (f->number == P2P_SLOT_UPDATE_REF)
        rc = decode_artifact_ref(f->payload, f->payload_len, &ref);
    if (rc != 0)
        return rc;
    memset(&u->artifact, 0, sizeof(u->artifact));
    memset(&u->ref, 0, sizeof(u->ref));
    u->deleted = false;
    switch (f->number) {
    case P2P_SLOT_UPDATE_ARTIFACT:
        u->update_case = P2P_SLOT_UPDATE_ARTIFACT;
        u->artifact = a;
        break;
    case P2P_SLOT_UPDATE_REF:
        u->update_case = P2P_SLOT_UPDATE_REF;
        u->ref = ref;
        break;
    default:
        P2P_ASSERT(f->number == P2P_SLOT_UPDATE_DELETED);
        u->update_case = P2P_SLOT_UPDATE_DELETED;
        u->deleted = any_low_bits(f->value, f->value_len);
        break;
    }
    return 0;
}

/* Whether v is exactly the tail that follows buf[0..len). */
static bool view_is_tail(struct p2p_bytes_view v, const uint8_t *buf,
                         size_t len, size_t tail)
{
    return v.data == buf + len && v.len == tail;
}

/* Every view lies inside buf[0..len). */
static bool view_inside(struct p2p_bytes_view v, const uint8_t *buf, size_t len)
{
    if (v.data == NULL)
        return v.len == 0;
    return v.data >= buf && (size_t)(v.data - buf) <= len &&
           v.len <= len - (size_t)(v.data - buf);
}

int p2p_wire_view_artifact(const uint8_t *buf, size_t len,
                           struct p2p_artifact_view *out)
{
    return p2p_wire_view_artifact_tail(buf, len, 0, out);
}

int p2p_wire_view_artifact_tail(const uint8_t *buf, size_t len, size_t tail,
                                struct p2p_artifact_view *out)
{
    P2P_ASSERT(out != NULL);
    struct p2p_artifact_view a;
    int rc = decode_artifact(buf, len, tail, &a);
    if (rc != 0)
        return rc;
    if (tail != 0 && !view_is_tail(a.body, buf, len, tail))
        return P2P_ERR_DECODE; /* the tail is not exactly the body */
    P2P_ASSERT(view_inside(a.body, buf, len + tail) &&
               view_inside(a.id, buf, len));
    *out = a;
    return 0;
}

int p2p_wire_view_artifact_ref(const uint8_t *buf, size_t len,
                               struct p2p_artifact_ref_view *out)
{
    P2P_ASSERT(out != NULL);
    struct p2p_artifact_ref_view ref;
    int rc = decode_artifact_ref(buf, len, &ref);
    if (rc != 0)
        return rc;
    P2P_ASSERT(view_inside(ref.id, buf, len));
    *out = ref;
    return 0;
}

int p2p_wire_view_slot_update(const uint8_t *buf, size_t len,
                              struct p2p_slot_update_view *out)
{
    return p2p_wire_view_slot_update_tail(buf, len, 0, out);
}

int p2p_wire_view_slot_update_tail(const uint8_t *buf, size_t len, size_t tail,
                                   struct p2p_slot_update_view *out)
{
    P2P_ASSERT(out != NULL);
    struct p2p_slot_update_view u;
    struct reader r;
    reader_init(&r, buf, len, tail);
    memset(&u, 0, sizeof(u));
    while (r.rem > 0) {
        struct field f;
        int rc = next_field(&r, &f);
        if (rc == 0 && f.number == 1)
            rc = as_u64(&f, &u.commit_id);
        else if (rc == 0 && f.number == 2)
            rc = as_u64(&f, &u.slot_id);
        else if (rc == 0 && f.number >= 3 && f.number <= 5)
            rc = slot_update_member(&f, &u);
        if (rc != 0)
            return rc;
    }
    if (tail != 0 && (u.update_case != P2P_SLOT_UPDATE_ARTIFACT ||
                      !view_is_tail(u.artifact.body, buf, len, tail)))
        return P2P_ERR_DECODE; /* the tail is not exactly the body */
    P2P_ASSERT(view_inside(u.artifact.body, buf, len + tail) &&
               view_inside(u.artifact.id, buf, len) &&
               view_inside(u.ref.id, buf, len));
    *out = u;
    return 0;
}

int p2p_wire_view_update_ack(const uint8_t *buf, size_t len,
                             struct p2p_update_ack_view *out)
{
    P2P_ASSERT(out != NULL);
    struct p2p_update_ack_view ack = {0};
    struct reader r;
    reader_init(&r, buf, len, 0);
    while (r.rem > 0) {
        struct field f;
        int rc = next_field(&r, &f);
        if (rc == 0 && f.number == 1)
            rc = as_u64(&f, &ack.slot_id);
        else if (rc == 0 && f.number == 2)
            rc = as_u64(&f, &ack.commit_id);
        if (rc != 0)
            return rc;
    }
    *out = ack;
    return 0;
}

int p2p_wire_view_fetch_request(const uint8_t *buf, size_t len,
                                struct p2p_fetch_request_view *out)
{
    P2P_ASSERT(out != NULL);
    struct p2p_fetch_request_view req = {{NULL, 0}};
    struct reader r;
    reader_init(&r, buf, len, 0);
    while (r.rem > 0) {
        struct field f;
        int rc = next_field(&r, &f);
        if (rc == 0 && f.number == 1)
            rc = as_bytes(&f, &req.id);
        if (rc != 0)
            return rc;
    }
    P2P_ASSERT(view_inside(req.id, buf, len));
    *out = req;
    return 0;
}
