/* Envelopes, routes and the stream reader. The reader decodes by hand so
 * that the body is borrowed from the reassembly buffer instead of copied (a
 * body can be 128 MiB), and so that every length is checked against what
 * actually arrived. Encoding is by hand too (core/wire_write.h), so an
 * envelope can end in a shared body it does not copy. */
#include "core/framing.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/wire_write.h"

/* Protobuf wire types (the low three bits of a tag). */
enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

enum { FIELD_PATH = 1, FIELD_STATUS = 1, FIELD_BODY = 2 };

/* Artifact {kind = 1, body = 2, id = 3} (proto/p2p.proto): the field a
 * streaming reader writes to the store. */
enum { ARTIFACT_FIELD_BODY = 2 };

/* How far a streaming reader looks into the envelope's body for the
 * Artifact's body field: past kind and id (at most 2 + 10 and 2 + 64
 * bytes as ours write them) and the body's tag and length, with room for
 * a few unknown small fields. A longer head is buffered as usual. */
#define ARTIFACT_HEAD_BYTES_MAX 256

/* The first tag of every request: field 1, length-delimited. */
#define TAG_PATH ((FIELD_PATH << 3) | WT_LEN)

/* Varints longer than this are malformed: 10 bytes carry 64 bits; tags and
 * lengths are 32-bit, 5 bytes (protobuf-c reads no more). */
#define VARINT64_BYTES_MAX 10
#define VARINT32_BYTES_MAX 5

/* The smallest buffer the reader allocates; it doubles from there. */
#define READER_BUF_BYTES_MIN 128

/* A scan result meaning "the bytes end inside this item"; never returned
 * by a public function. */
#define MORE 1
/* try_stream's answer when the stream is not of a shape it streams. */
#define NOT_STREAMED 2

static const char *const route_paths[P2P_ROUTES_COUNT] = {
    [P2P_ROUTE_ARTIFACT_UPDATE] = "/artifact/update",
    [P2P_ROUTE_ARTIFACT_RPC] = "/artifact/rpc",
    [P2P_ROUTE_STATE_ADVERT] = "/state-sync/advert",
    [P2P_ROUTE_STATE_CHUNK] = "/state-sync/chunk",
};

const char *p2p_route_path(enum p2p_route r)
{
    return (unsigned)r < P2P_ROUTES_COUNT ? route_paths[r] : NULL;
}

int p2p_route_lookup(const uint8_t *path, size_t len, enum p2p_route *out)
{
    for (unsigned r = 0; r < P2P_ROUTES_COUNT; r++) {
        const char *p = route_paths[r];
        if (strlen(p) == len && len != 0 && memcmp(p, path, len) == 0) {
            *out = (enum p2p_route)r;
            return 0;
        }
    }
    return P2P_ERR_NO_ROUTE;
}

void p2p_route_limits_default(struct p2p_route_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->request_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE] =
        P2P_FRAME_MESSAGE_BYTES_MAX;
    l->response_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE] = P2P_FRAME_ACK_BYTES_MAX;
    l->request_bytes_max[P2P_ROUTE_ARTIFACT_RPC] =
        P2P_FRAME_FETCH_REQUEST_BYTES_MAX;
    l->response_bytes_max[P2P_ROUTE_ARTIFACT_RPC] = P2P_FRAME_MESSAGE_BYTES_MAX;
    l->request_bytes_max[P2P_ROUTE_STATE_ADVERT] =
        P2P_FRAME_STATE_ADVERT_BYTES_MAX;
    l->response_bytes_max[P2P_ROUTE_STATE_ADVERT] =
        P2P_FRAME_STATE_ADVERT_RESPONSE_BYTES_MAX;
    l->request_bytes_max[P2P_ROUTE_STATE_CHUNK] =
        P2P_FRAME_CHUNK_REQUEST_BYTES_MAX;
    l->response_bytes_max[P2P_ROUTE_STATE_CHUNK] =
        P2P_FRAME_CHUNK_RESPONSE_BYTES_MAX;
}

/* ---- encoding ---- */

/* Rejects bodies that cannot fit before any size arithmetic, so that none
 * can wrap. */
static int check_body(const uint8_t *body, size_t body_len, size_t tail_len)
{
    if (body == NULL && body_len != 0)
        return P2P_ERR_INVALID_ARG;
    return body_len > P2P_FRAME_MESSAGE_BYTES_MAX ||
                   tail_len > P2P_FRAME_MESSAGE_BYTES_MAX - body_len
               ? P2P_ERR_OVERSIZE
               : 0;
}

/* Writes an envelope: its first field (key first_key, then either a
 * varint first_value, or first_len bytes of first_bytes), then the body
 * field of body_len + tail_len bytes up to the tail. Fields with default
 * values are left out, as protobuf-c does. */
struct envelope {
    unsigned first_key;
    uint64_t first_value;       /* varint field, when first_bytes is NULL */
    const uint8_t *first_bytes; /* length-delimited field, or NULL */
    size_t first_len;
    const uint8_t *body;
    size_t body_len, tail_len;
};

static int write_envelope(struct p2p_mem *mem, enum p2p_mem_module module,
                          const struct envelope *e, uint8_t **out,
                          size_t *out_len)
{
    bool first = e->first_bytes != NULL ? e->first_len > 0 : e->first_value;
    size_t whole = e->body_len + e->tail_len;
    size_t head = 0;
    if (first)
        head += 1 + (e->first_bytes != NULL
                         ? p2p_wire_varint_size(e->first_len) + e->first_len
                         : p2p_wire_varint_size(e->first_value));
    if (whole > 0)
        head += 1 + p2p_wire_varint_size(whole) + e->body_len;
    if (head + e->tail_len > P2P_FRAME_MESSAGE_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    /* An empty envelope still gets a freeable block. */
    uint8_t *buf = p2p_mem_alloc_raw(mem, module, head ? head : 1);
    if (buf == NULL)
        return P2P_ERR_NOMEM;
    size_t n = 0;
    if (first) {
        buf[n++] = (uint8_t)e->first_key;
        if (e->first_bytes != NULL) {
            n += p2p_wire_put_varint(buf + n, e->first_len);
            memcpy(buf + n, e->first_bytes, e->first_len);
            n += e->first_len;
        } else {
            n += p2p_wire_put_varint(buf + n, e->first_value);
        }
    }
    if (whole > 0) {
        buf[n++] = (FIELD_BODY << 3) | WT_LEN;
        n += p2p_wire_put_varint(buf + n, whole);
        if (e->body_len > 0)
            memcpy(buf + n, e->body, e->body_len);
        n += e->body_len;
    }
    P2P_ASSERT(n == head);
    *out = buf;
    *out_len = head;
    return 0;
}

int p2p_frame_request_encode(struct p2p_mem *mem, enum p2p_mem_module module,
                             const struct p2p_frame_request *req, uint8_t **out,
                             size_t *out_len)
{
    const char *path = p2p_route_path(req->route);
    if (path == NULL)
        return P2P_ERR_INVALID_ARG;
    int rc = check_body(req->body, req->body_len, req->tail_len);
    if (rc != 0)
        return rc;
    struct envelope e = {.first_key = TAG_PATH,
                         .first_bytes = (const uint8_t *)path,
                         .first_len = strlen(path),
                         .body = req->body,
                         .body_len = req->body_len,
                         .tail_len = req->tail_len};
    return write_envelope(mem, module, &e, out, out_len);
}

int p2p_frame_response_encode(struct p2p_mem *mem, enum p2p_mem_module module,
                              const struct p2p_frame_response *resp,
                              uint8_t **out, size_t *out_len)
{
    int rc = check_body(resp->body, resp->body_len, resp->tail_len);
    if (rc != 0)
        return rc;
    struct envelope e = {.first_key = (FIELD_STATUS << 3) | WT_VARINT,
                         .first_value = resp->status,
                         .body = resp->body,
                         .body_len = resp->body_len,
                         .tail_len = resp->tail_len};
    return write_envelope(mem, module, &e, out, out_len);
}

/* ---- wire scanning ---- */

/* Reads a varint of at most bytes_max bytes from p[0..avail). Returns 0
 * with *v and *used set, MORE if the bytes end inside it, or
 * P2P_ERR_DECODE if it is too long or overflows its width. */
static int scan_varint(const uint8_t *p, size_t avail, unsigned bytes_max,
                       uint64_t *v, size_t *used)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < bytes_max; i++) {
        if (i == avail)
            return MORE;
        if (i == VARINT64_BYTES_MAX - 1 && p[i] > 1)
            return P2P_ERR_DECODE; /* bits past 64 */
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (bytes_max == VARINT32_BYTES_MAX && x > UINT32_MAX)
                return P2P_ERR_DECODE;
            *v = x;
            *used = i + 1;
            return 0;
        }
    }
    return P2P_ERR_DECODE;
}

/* One field as it sits in a buffer. */
struct field {
    uint32_t number;
    unsigned wire;
    uint64_t value;  /* WT_VARINT */
    size_t data_off; /* WT_LEN: where the bytes start */
    size_t data_len; /* WT_LEN */
};

/* Reads the tag of the field at buf[*pos..len). */
static int scan_tag(const uint8_t *buf, size_t len, size_t *pos,
                    struct field *f)
{
    uint64_t tag;
    size_t used;
    int rc =
        scan_varint(buf + *pos, len - *pos, VARINT32_BYTES_MAX, &tag, &used);
    if (rc != 0)
        return rc;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (unsigned)(tag & 7);
    if (f->number == 0)
        return P2P_ERR_DECODE;
    *pos += used;
    return 0;
}

/* Reads the value of a field whose tag ends at *pos; moves *pos past it. */
static int scan_value(const uint8_t *buf, size_t len, size_t *pos,
                      struct field *f)
{
    size_t avail = len - *pos, used = 0;
    uint64_t n = 0;
    int rc;
    switch (f->wire) {
    case WT_VARINT:
        rc = scan_varint(buf + *pos, avail, VARINT64_BYTES_MAX, &f->value,
                         &used);
        break;
    case WT_I64:
    case WT_I32:
        used = f->wire == WT_I64 ? 8 : 4;
        rc = avail < used ? MORE : 0;
        break;
    case WT_LEN:
        rc = scan_varint(buf + *pos, avail, VARINT32_BYTES_MAX, &n, &used);
        if (rc == 0 && n > avail - used)
            rc = MORE;
        f->data_off = *pos + used;
        f->data_len = (size_t)n;
        used += (size_t)n;
        break;
    default:
        return P2P_ERR_DECODE; /* groups (3, 4) and 6, 7 */
    }
    if (rc == 0)
        *pos += used;
    return rc;
}

static int scan_field(const uint8_t *buf, size_t len, size_t *pos,
                      struct field *f)
{
    int rc = scan_tag(buf, len, pos, f);
    if (rc != 0)
        return rc;
    return scan_value(buf, len, pos, f);
}

/* ---- the reader ---- */

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

void p2p_frame_reader_cap(struct p2p_frame_reader *r, size_t bytes_max)
{
    P2P_ASSERT(r->mode == P2P_FRAME_RESPONSE && r->len == 0);
    if (bytes_max < r->limit)
        r->limit = bytes_max;
}

static size_t capped(size_t limit)
{
    return min_size(limit, P2P_FRAME_MESSAGE_BYTES_MAX);
}

static void invariants(const struct p2p_frame_reader *r)
{
    P2P_DASSERT(r->len <= r->cap);
    P2P_DASSERT((r->buf == NULL) == (r->cap == 0));
    P2P_DASSERT(r->err != 0 || r->len <= r->limit);
    P2P_DASSERT(r->cap <= r->limit || r->cap <= P2P_FRAME_PREFIX_BYTES_MAX);
    P2P_DASSERT(r->err != 0 || r->route_known || r->mode == P2P_FRAME_REQUEST);
    (void)r;
}

void p2p_frame_reader_init(struct p2p_frame_reader *r, struct p2p_mem *mem,
                           enum p2p_frame_mode mode,
                           const struct p2p_route_limits *limits,
                           enum p2p_route response_route)
{
    P2P_ASSERT(r != NULL && mem != NULL && limits != NULL);
    memset(r, 0, sizeof(*r));
    r->mem = mem;
    r->limits = limits;
    r->mode = mode;
    if (mode == P2P_FRAME_REQUEST) {
        r->limit = P2P_FRAME_PREFIX_BYTES_MAX;
    } else if (mode == P2P_FRAME_RESPONSE &&
               (unsigned)response_route < P2P_ROUTES_COUNT) {
        r->route = response_route;
        r->route_known = true;
        r->limit = capped(limits->response_bytes_max[response_route]);
    } else {
        r->err = P2P_ERR_INVALID_ARG;
    }
    invariants(r);
}

/* Grows buf geometrically to hold need bytes, never past cap_max. */
static int reserve(struct p2p_frame_reader *r, size_t need, size_t cap_max)
{
    P2P_ASSERT(need <= cap_max);
    if (r->borrowed) {
        /* The caller's bytes become the reader's own. */
        uint8_t *own =
            p2p_mem_alloc_raw(r->mem, P2P_MEM_STREAMS, need ? need : 1);
        if (own == NULL)
            return P2P_ERR_NOMEM;
        if (r->len > 0)
            memcpy(own, r->buf, r->len);
        r->buf = own;
        r->cap = need ? need : 1;
        r->borrowed = false;
        return 0;
    }
    if (need <= r->cap)
        return 0;
    size_t cap = r->cap != 0 ? r->cap : READER_BUF_BYTES_MIN;
    while (cap < need)
        cap = cap > cap_max / 2 ? cap_max : cap * 2;
    cap = min_size(cap, cap_max);
    uint8_t *buf = p2p_mem_realloc(r->mem, P2P_MEM_STREAMS, r->buf, cap);
    if (buf == NULL)
        return P2P_ERR_NOMEM;
    r->buf = buf;
    r->cap = cap;
    return 0;
}

/* Appends len bytes, or refuses them whole when the total would pass the
 * limit (nothing is buffered then). */
static int append(struct p2p_frame_reader *r, const uint8_t *data, size_t len)
{
    if (len > r->limit - r->len)
        return P2P_ERR_OVERSIZE;
    if (len == 0)
        return 0;
    int rc = reserve(r, r->len + len, r->limit);
    if (rc != 0)
        return rc;
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

/* Parses the path from the buffered prefix. Returns 0 once the route is
 * known (and switches the limit to it), MORE while the path is incomplete,
 * or an error. */
static int learn_route(struct p2p_frame_reader *r)
{
    size_t pos = 0;
    struct field f;
    int rc = scan_tag(r->buf, r->len, &pos, &f);
    if (rc == 0 && (f.number != FIELD_PATH || f.wire != WT_LEN))
        rc = P2P_ERR_DECODE; /* the path must come first */
    uint64_t n = 0;
    size_t used;
    if (rc == 0)
        rc = scan_varint(r->buf + pos, r->len - pos, VARINT32_BYTES_MAX, &n,
                         &used);
    if (rc != 0)
        return rc;
    if (n > P2P_FRAME_PATH_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    pos += used;
    if (r->len - pos < n)
        return MORE;
    rc = p2p_route_lookup(r->buf + pos, (size_t)n, &r->route);
    if (rc != 0)
        return rc;
    r->route_known = true;
    r->limit = capped(r->limits->request_bytes_max[r->route]);
    return r->len > r->limit ? P2P_ERR_OVERSIZE : 0;
}

/* Request mode before the route is known: takes only as many bytes as the
 * prefix may hold, then tries to read the path. *taken says how many. */
static int feed_prefix(struct p2p_frame_reader *r, const uint8_t *data,
                       size_t len, size_t *taken)
{
    *taken = min_size(len, P2P_FRAME_PREFIX_BYTES_MAX - r->len);
    int rc = append(r, data, *taken);
    if (rc != 0 || r->len == 0)
        return rc;
    rc = learn_route(r);
    if (rc == MORE) {
        /* The prefix cap covers the longest valid tag, length and path. */
        P2P_ASSERT(*taken == len);
        return 0;
    }
    return rc;
}

/* Walks the top-level field headers buffered so far: a length-delimited
 * field declaring more bytes than the limit leaves room for fails at once,
 * before those bytes arrive (the limit is enforced as bytes
 * arrive, before buffering more). Other malformations are left for
 * finish, which reports them with the whole message in view. */
static int try_stream(struct p2p_frame_reader *r, size_t at, size_t n);

static int check_declared(struct p2p_frame_reader *r)
{
    if (r->sink != NULL)
        return 0; /* the field being streamed was the last one checked */
    while (r->scan_pos < r->len) {
        size_t pos = r->scan_pos;
        struct field f;
        if (scan_tag(r->buf, r->len, &pos, &f) != 0)
            return 0;
        if (f.wire != WT_LEN) {
            if (scan_value(r->buf, r->len, &pos, &f) != 0)
                return 0;
            r->scan_pos = pos;
            continue;
        }
        uint64_t n;
        size_t used;
        if (scan_varint(r->buf + pos, r->len - pos, VARINT32_BYTES_MAX, &n,
                        &used) != 0)
            return 0;
        pos += used; /* <= len <= limit */
        if (n > r->limit - pos)
            return P2P_ERR_OVERSIZE;
        if (r->tail_len != 0 && n == r->len - pos + r->tail_len) {
            r->tail_fits = true; /* it ends with the announced tail */
            return 0;
        }
        if (n > r->len - pos) {
            /* Its bytes are still coming. An answer we asked for (its cap
             * is what we expect, e.g. the artifact's size) gets its whole
             * buffer now rather than a doubling series of copies; a
             * request's buffer grows with what actually arrives, so that
             * declared lengths cost a peer nothing it has not sent. */
            if (r->mode != P2P_FRAME_RESPONSE)
                return 0;
            if (f.number == FIELD_BODY) {
                int rc = try_stream(r, pos, (size_t)n);
                if (rc != NOT_STREAMED)
                    return rc == MORE ? 0 : rc;
            }
            return reserve(r, pos + (size_t)n, r->limit);
        }
        r->scan_pos = pos + (size_t)n;
    }
    return 0;
}

void p2p_frame_reader_set_store(struct p2p_frame_reader *r,
                                const struct p2p_body_store *store)
{
    P2P_ASSERT(r->len == 0 && r->sink == NULL);
    r->store = store;
}

/* Whether r may still stream: a store, an answer carrying an artifact,
 * bytes of its own (not a whole borrowed message, no tail given) and no
 * judgement yet. */
static bool may_stream(const struct p2p_frame_reader *r)
{
    return r->store != NULL && !r->stream_judged && !r->borrowed &&
           r->tail_len == 0 && r->mode == P2P_FRAME_RESPONSE &&
           r->route == P2P_ROUTE_ARTIFACT_RPC;
}

/* The Artifact's body starts at buf[at] with len bytes and, when it ends
 * exactly where the envelope does (end), goes to the store from here on:
 * what is buffered of it moves there. */
static int start_stream(struct p2p_frame_reader *r, size_t at, uint64_t len,
                        size_t end)
{
    r->stream_judged = true;
    if (len != end - at || len < r->store->bytes_min)
        return NOT_STREAMED;
    int err;
    struct p2p_body_sink *sink = p2p__body_sink_open(
        r->mem, P2P_MEM_STREAMS, r->store, (size_t)len, &err);
    if (sink == NULL)
        return err != 0 ? err : NOT_STREAMED;
    /* The envelope's end has not arrived (the caller saw its bytes still
     * coming), so what is buffered past at is less than the body. */
    int rc = p2p__body_sink_write(sink, r->buf + at, r->len - at);
    if (rc != 0) {
        p2p__body_sink_abort(sink);
        return rc;
    }
    r->len = at;
    r->sink = sink;
    return 0;
}

/* The envelope's body field, n bytes from buf[at], is still arriving:
 * looks inside it for an Artifact whose body runs to its end (kind, id,
 * body, as ours encode it) and, when it finds one, streams. MORE while the
 * Artifact's head is incomplete; NOT_STREAMED for any other shape (the
 * bytes are then buffered, and finish judges them). */
static int try_stream(struct p2p_frame_reader *r, size_t at, size_t n)
{
    if (!may_stream(r))
        return NOT_STREAMED;
    size_t end = at + n, pos = at;
    for (;;) {
        struct field f;
        int rc = scan_tag(r->buf, r->len, &pos, &f);
        if (rc == 0 && f.number == ARTIFACT_FIELD_BODY && f.wire == WT_LEN) {
            uint64_t len;
            size_t used;
            rc = scan_varint(r->buf + pos, r->len - pos, VARINT32_BYTES_MAX,
                             &len, &used);
            if (rc == 0)
                return start_stream(r, pos + used, len, end);
        } else if (rc == 0) {
            rc = scan_value(r->buf, r->len, &pos, &f);
        }
        if (rc == MORE && r->len - at <= ARTIFACT_HEAD_BYTES_MAX)
            return MORE;
        if (rc != 0 || pos >= end) {
            r->stream_judged = true;
            return NOT_STREAMED;
        }
    }
}

/* The store holds every byte of the body and more arrived after it: the
 * body is read back into the buffer, which is then as if every byte had
 * been fed. */
static int unstream(struct p2p_frame_reader *r)
{
    struct p2p_body *b;
    int rc = p2p__body_sink_seal(r->sink, &b);
    r->sink = NULL;
    if (rc != 0)
        return rc;
    rc = reserve(r, r->len + b->len, r->limit);
    if (rc == 0) {
        memcpy(r->buf + r->len, b->bytes, b->len);
        r->len += b->len;
    }
    p2p_body_release(b, r->mem, P2P_MEM_STREAMS);
    return rc;
}

/* Feeds a streaming reader: the body's bytes to the store, anything after
 * them to the buffer. */
static int feed_sink(struct p2p_frame_reader *r, const uint8_t *data,
                     size_t len)
{
    size_t n = min_size(len, p2p__body_sink_missing(r->sink));
    int rc = p2p__body_sink_write(r->sink, data, n);
    if (rc != 0 || n == len)
        return rc;
    rc = unstream(r);
    if (rc == 0)
        rc = append(r, data + n, len - n);
    return rc == 0 ? check_declared(r) : rc;
}

static int fail(struct p2p_frame_reader *r, int err)
{
    r->err = err;
    invariants(r);
    return err;
}

int p2p_frame_reader_feed(struct p2p_frame_reader *r, const uint8_t *data,
                          size_t len)
{
    if (r->err != 0)
        return r->err;
    if (r->finished)
        return P2P_ERR_STATE;
    if (data == NULL && len != 0)
        return fail(r, P2P_ERR_INVALID_ARG);
    if (len == 0)
        return 0; /* nothing to do; and no arithmetic on a NULL data */
    if (!r->route_known) {
        size_t taken;
        int rc = feed_prefix(r, data, len, &taken);
        if (rc != 0)
            return fail(r, rc);
        data += taken;
        len -= taken;
    }
    int rc;
    if (r->sink != NULL) {
        rc = feed_sink(r, data, len);
    } else {
        rc = append(r, data, len);
        if (rc == 0 && r->route_known)
            rc = check_declared(r);
    }
    if (rc != 0)
        return fail(r, rc);
    invariants(r);
    return 0;
}

/* Whether the route's consumer reads a frame with a tail. */
static bool reads_tails(const struct p2p_frame_reader *r)
{
    return r->mode == P2P_FRAME_REQUEST ? r->route == P2P_ROUTE_ARTIFACT_UPDATE
                                        : r->route == P2P_ROUTE_ARTIFACT_RPC;
}

/* Copies the tail into the buffer: the reader is then as if every byte
 * had been fed. */
static int flatten_tail(struct p2p_frame_reader *r)
{
    struct p2p_body *t = r->tail;
    r->tail_len = 0;
    r->tail_fits = false;
    if (t == NULL)
        return 0;
    r->tail = NULL;
    int rc = t->len == 0 ? 0 : reserve(r, r->len + t->len, r->limit);
    if (rc == 0 && t->len > 0) {
        memcpy(r->buf + r->len, t->bytes, t->len);
        r->len += t->len;
    }
    p2p_body_release(t, r->mem, P2P_MEM_STREAMS);
    /* The limits of fed bytes apply to them now, as if fed. */
    return rc == 0 && r->route_known ? check_declared(r) : rc;
}

int p2p_frame_reader_feed_tail(struct p2p_frame_reader *r, const uint8_t *data,
                               size_t len, struct p2p_body *tail)
{
    if (tail == NULL || tail->len == 0)
        return p2p_frame_reader_feed(r, data, len);
    if (r->err != 0)
        return r->err;
    if (r->finished || r->tail != NULL)
        return P2P_ERR_STATE;
    /* Announced first, so that the head's declared length is read as
     * ending with the tail rather than as bytes still to come. */
    r->tail_len = tail->len;
    int rc = p2p_frame_reader_feed(r, data, len);
    if (rc == 0 && r->route_known)
        rc = check_declared(r); /* the head may have come before */
    if (rc != 0)
        return r->err != 0 ? rc : fail(r, rc);
    if (!r->route_known || !reads_tails(r) || !r->tail_fits) {
        r->tail_len = 0;
        r->tail_fits = false;
        return p2p_frame_reader_feed(r, tail->bytes, tail->len);
    }
    if (tail->len > r->limit - r->len)
        return fail(r, P2P_ERR_OVERSIZE);
    if (!p2p_body_hold(tail, r->mem, P2P_MEM_STREAMS))
        return fail(r, P2P_ERR_NOMEM);
    r->tail = tail;
    invariants(r);
    return 0;
}

/* scan_field, where the reader's tail follows buf[0..len): a
 * length-delimited field may run into it, exactly to its end (*into_tail
 * is then set and *pos moves to len). */
static int scan_field_tail(const struct p2p_frame_reader *r, size_t *pos,
                           struct field *f, bool *into_tail)
{
    *into_tail = false;
    size_t at = *pos;
    int rc = scan_field(r->buf, r->len, pos, f);
    if (rc != MORE || r->tail == NULL)
        return rc;
    /* Re-read the header: does the field end exactly with the tail? */
    *pos = at;
    rc = scan_tag(r->buf, r->len, pos, f);
    if (rc != 0 || f->wire != WT_LEN)
        return rc != 0 ? rc : MORE;
    uint64_t n;
    size_t used;
    rc = scan_varint(r->buf + *pos, r->len - *pos, VARINT32_BYTES_MAX, &n,
                     &used);
    if (rc != 0)
        return rc;
    if (n != r->len - *pos - used + r->tail->len)
        return MORE;
    f->data_off = *pos + used;
    f->data_len = r->len - f->data_off; /* the part in buf */
    *pos = r->len;
    *into_tail = true;
    return 0;
}

/* Decodes a request whose route is known; the path is the first field. */
static int decode_request(const struct p2p_frame_reader *r,
                          struct p2p_frame *out)
{
    size_t pos = 0;
    struct field f;
    bool into_tail = false;
    int rc = scan_field(r->buf, r->len, &pos, &f);
    P2P_ASSERT(rc == 0 && f.number == FIELD_PATH); /* learn_route saw it */
    out->route = r->route;
    out->status = 0;
    out->body = r->buf + pos; /* any in-bounds pointer for an empty body */
    out->body_len = 0;
    out->tail = NULL;
    while (pos < r->len) {
        rc = scan_field_tail(r, &pos, &f, &into_tail);
        if (rc != 0)
            return rc;
        if (f.number == FIELD_PATH)
            return P2P_ERR_DECODE; /* a second path could change the route */
        if (f.number != FIELD_BODY)
            continue; /* unknown field: skip, as protobuf does */
        if (f.wire != WT_LEN)
            return P2P_ERR_DECODE;
        out->body = r->buf + f.data_off;
        out->body_len = f.data_len;
        out->tail = into_tail ? r->tail : NULL;
    }
    return into_tail || r->tail == NULL ? 0 : MORE;
}

static int decode_response(const struct p2p_frame_reader *r,
                           struct p2p_frame *out)
{
    out->route = r->route;
    out->status = 0;
    out->body = r->buf;
    out->body_len = 0;
    out->tail = NULL;
    size_t pos = 0;
    bool into_tail = false;
    while (pos < r->len) {
        struct field f;
        int rc = scan_field_tail(r, &pos, &f, &into_tail);
        if (rc != 0)
            return rc;
        if (into_tail && f.number != FIELD_BODY)
            return MORE; /* only the body may run into the tail */
        if (f.number == FIELD_STATUS) {
            if (f.wire != WT_VARINT)
                return P2P_ERR_DECODE;
            out->status = (uint32_t)f.value; /* protobuf uint32: low bits */
        } else if (f.number == FIELD_BODY) {
            if (f.wire != WT_LEN)
                return P2P_ERR_DECODE;
            out->body = r->buf + f.data_off;
            out->body_len = f.data_len;
            out->tail = into_tail ? r->tail : NULL;
        }
    }
    return into_tail || r->tail == NULL ? 0 : MORE;
}

/* Puts r back as it was before whole borrowed data (freeing what it may
 * have allocated meanwhile). */
static void whole_undo(struct p2p_frame_reader *r,
                       const struct p2p_frame_reader *before)
{
    if (!r->borrowed && r->buf != NULL)
        p2p_mem_free(r->mem, P2P_MEM_STREAMS, r->buf);
    *r = *before;
}

/* whole's plain way: every byte fed, then finish. */
static int whole_fed(struct p2p_frame_reader *r, const uint8_t *data,
                     size_t len, struct p2p_body *tail, struct p2p_frame *out)
{
    int rc = p2p_frame_reader_feed(r, data, len);
    if (rc == 0 && tail != NULL)
        rc = p2p_frame_reader_feed(r, tail->bytes, tail->len);
    return rc != 0 ? rc : p2p_frame_reader_finish(r, out);
}

int p2p_frame_reader_whole(struct p2p_frame_reader *r, const uint8_t *data,
                           size_t len, struct p2p_body *tail,
                           struct p2p_frame *out)
{
    if (r->err != 0)
        return r->err;
    if (r->finished || r->len != 0 || r->tail != NULL)
        return P2P_ERR_STATE;
    if (data == NULL && len != 0)
        return fail(r, P2P_ERR_INVALID_ARG);
    if (tail != NULL && tail->len == 0)
        tail = NULL;
    if (r->buf != NULL || len == 0)
        return whole_fed(r, data, len, tail, out);
    /* The same steps as feed, on the caller's bytes instead of a copy. */
    struct p2p_frame_reader before = *r;
    r->tail_len = tail != NULL ? tail->len : 0;
    r->buf = (uint8_t *)data; /* only read while borrowed */
    r->cap = len;
    r->borrowed = true;
    int rc = 0;
    if (!r->route_known) {
        r->len = min_size(len, P2P_FRAME_PREFIX_BYTES_MAX);
        rc = learn_route(r);
        if (rc == MORE)
            rc = 0; /* finish reports the unfinished path */
    }
    if (tail != NULL && (rc != 0 || !r->route_known || !reads_tails(r))) {
        /* A tail this reader will not keep: read it all as fed bytes. */
        whole_undo(r, &before);
        return whole_fed(r, data, len, tail, out);
    }
    if (rc == 0 && len > r->limit)
        rc = P2P_ERR_OVERSIZE;
    if (rc == 0) {
        r->len = len;
        if (r->route_known)
            rc = check_declared(r);
    }
    if (rc == 0 && tail != NULL && !r->tail_fits) {
        whole_undo(r, &before); /* not the body's end: read it as fed */
        return whole_fed(r, data, len, tail, out);
    }
    if (rc == 0 && tail != NULL) {
        if (tail->len > r->limit - r->len)
            rc = P2P_ERR_OVERSIZE;
        else if (!p2p_body_hold(tail, r->mem, P2P_MEM_STREAMS))
            rc = P2P_ERR_NOMEM;
        else
            r->tail = tail;
    }
    if (rc != 0) {
        if (r->borrowed) { /* nothing of the caller's is kept */
            r->buf = NULL;
            r->len = r->cap = 0;
            r->borrowed = false;
        }
        return fail(r, rc);
    }
    return p2p_frame_reader_finish(r, out);
}

int p2p_frame_reader_finish(struct p2p_frame_reader *r, struct p2p_frame *out)
{
    if (r->err != 0)
        return r->err;
    if (r->sink != NULL) {
        /* The streamed body becomes the tail the envelope ends with. */
        struct p2p_body *b;
        int rc = p2p__body_sink_seal(r->sink, &b);
        r->sink = NULL;
        if (rc != 0)
            return fail(r, rc);
        r->tail = b;
        r->tail_len = b->len;
        r->tail_fits = true;
    }
    /* Nothing arrived, or a request ended before its path was complete. */
    if ((r->len == 0 && r->tail == NULL) || !r->route_known)
        return fail(r, P2P_ERR_TRUNCATED);
    struct p2p_frame f;
    int rc = r->mode == P2P_FRAME_REQUEST ? decode_request(r, &f)
                                          : decode_response(r, &f);
    if (rc == MORE && r->tail != NULL) {
        /* Not the shape a tail can be kept in: decode the bytes whole. */
        rc = flatten_tail(r);
        if (rc == 0)
            rc = r->mode == P2P_FRAME_REQUEST ? decode_request(r, &f)
                                              : decode_response(r, &f);
    }
    if (rc == MORE)
        rc = P2P_ERR_TRUNCATED;
    if (rc != 0)
        return fail(r, rc);
    P2P_DASSERT(f.body >= r->buf && f.body_len <= r->len);
    r->finished = true;
    *out = f;
    invariants(r);
    return 0;
}

int p2p_frame_flatten(struct p2p_mem *mem, const struct p2p_frame *f,
                      uint8_t **out, size_t *out_len)
{
    size_t tail = f->tail != NULL ? f->tail->len : 0;
    size_t len = f->body_len + tail;
    uint8_t *buf = p2p_mem_alloc_raw(mem, P2P_MEM_WIRE, len ? len : 1);
    if (buf == NULL)
        return P2P_ERR_NOMEM;
    if (f->body_len > 0)
        memcpy(buf, f->body, f->body_len);
    if (tail > 0)
        memcpy(buf + f->body_len, f->tail->bytes, tail);
    *out = buf;
    *out_len = len;
    return 0;
}

void p2p_frame_reader_fini(struct p2p_frame_reader *r)
{
    if (r->buf != NULL && !r->borrowed)
        p2p_mem_free(r->mem, P2P_MEM_STREAMS, r->buf);
    r->borrowed = false;
    if (r->tail != NULL)
        p2p_body_release(r->tail, r->mem, P2P_MEM_STREAMS);
    r->tail = NULL;
    p2p__body_sink_abort(r->sink);
    r->sink = NULL;
    r->tail_len = 0;
    r->buf = NULL;
    r->len = 0;
    r->cap = 0;
}

size_t p2p_frame_reader_buffered(const struct p2p_frame_reader *r)
{
    return r->cap;
}
