/* The admin API's door (docs/replica.md, "Admin HTTP API"): it accepts
 * every connection on the admin's listening socket itself, so that the
 * socket is always served and a client always gets an answer, and hands
 * libmicrohttpd only requests whose head it has checked.
 *
 * - Admission: at most connections_max connections at once, counting those
 *   waiting here for their head and those the admin serves; a connection
 *   past that is answered 503 {"error": "too many connections"} at once.
 * - Heads: an admitted connection's bytes are peeked (not read) until its
 *   request head is complete, then checked against the rules that
 *   libmicrohttpd 0.9.75 would otherwise enforce with HTML answers of its
 *   own (400, 413, 414, 431, 505); a bad head gets a JSON error from here,
 *   a good one goes to the admin, which reads the head again from the
 *   start. A head not complete head_timeout_ms after the accept gets 408.
 * - Refusals: the answer (one short write), then a half close, then the
 *   socket is drained until the client closes or PROD_ADMIN_GATE_LINGER_MS
 *   passes, so that a request still arriving does not turn the close into
 *   a reset that could destroy the answer. At most
 *   PROD_ADMIN_GATE_LINGER_MAX sockets linger; past that the oldest is
 *   closed.
 *
 * Waiting and lingering sockets sit in an edge-triggered epoll set of the
 * gate's own (a level-triggered watcher would spin on peeked bytes), and
 * one libev timer serves every deadline. Everything runs on the loop
 * thread. */
#ifndef P2P_PROD_ADMIN_GATE_H
#define P2P_PROD_ADMIN_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

/* Refused sockets kept draining at once. */
#define PROD_ADMIN_GATE_LINGER_MAX 64u
/* How long a refused socket is drained before it is closed. */
#define PROD_ADMIN_GATE_LINGER_MS 2000u
/* Bytes drained from one refused socket; past this it is closed. */
#define PROD_ADMIN_GATE_LINGER_BYTES_MAX (64u * 1024u)
/* Connections accepted per wakeup (others wait in the backlog for the
 * next turn of the loop). */
#define PROD_ADMIN_GATE_ACCEPT_BATCH 64u
/* After accept fails for want of descriptors or memory, accepting pauses
 * this long (the clients wait in the listen backlog). */
#define PROD_ADMIN_GATE_ACCEPT_PAUSE_MS 100u
/* The largest answer the gate writes (status line, headers, JSON). */
#define PROD_ADMIN_GATE_ANSWER_BYTES_MAX 512u

/* What a request head may be. */
struct prod_admin_head_limits {
    size_t head_bytes_max;   /* request line, header lines, empty line */
    size_t fields_max;       /* header lines + query arguments + cookies */
    uint64_t body_bytes_max; /* a Content-Length past it: 413 */
};

/* A decided head: status 0 (acceptable) or the HTTP status of the error
 * and its message (a static string without quotes or backslashes). */
struct prod_admin_head_verdict {
    unsigned status;
    const char *message;
};

/* Checks buf[0..len) (borrowed), the first bytes of a connection. Returns
 * false when the head is not complete yet and may still become acceptable
 * (more bytes are needed); true with *v once decided: status 0 when every
 * line of a complete head passes, else the first problem found (a bad line
 * is decided before the head ends). Stricter than libmicrohttpd on
 * purpose: what passes here, MHD parses without an error of its own.
 *
 *   400  request line not METHOD SP TARGET SP HTTP/d.d (token method,
 *        visible-ASCII target), control bytes or a bare CR, a header line
 *        without "name:", a folded (continued) header line, HTTP/1.1
 *        without Host, a Content-Length that is not all digits, two
 *        Content-Length or Transfer-Encoding headers, or both kinds
 *   413  Content-Length above body_bytes_max (or above 2^64 - 2)
 *   414  no end of the request line within head_bytes_max
 *   431  no end of the head within head_bytes_max, or more than
 *        fields_max fields
 *   501  a Transfer-Encoding other than chunked
 *   505  an HTTP major version other than 1 */
bool prod_admin_gate_head_check(const char *buf, size_t len,
                                const struct prod_admin_head_limits *lim,
                                struct prod_admin_head_verdict *v);

/* Writes a whole HTTP/1.1 answer of status with the JSON body
 * {"error": "<message>"} (message: no quote or backslash), headers
 * Content-Type: application/json, Content-Length, Connection: close, and
 * Retry-After: 1 on a 503, into buf[0..cap). Returns its length (no NUL
 * is written), or 0 if cap is too small. */
size_t prod_admin_gate_answer(unsigned status, const char *message, char *buf,
                              size_t cap);

/* What the gate asks of the admin (called on the loop thread from the
 * gate's callbacks). */
struct prod_admin_gate_ops {
    void *ctx; /* borrowed; passed back */
    /* How many connections the admin serves now. */
    size_t (*serving)(void *ctx);
    /* Takes fd (owned by the callee from here, whatever the result): a
     * connection whose head, still unread, passed. */
    void (*admit)(void *ctx, int fd, const struct sockaddr *addr,
                  socklen_t addr_len);
};

struct prod_admin_gate_opts {
    struct prod_admin_head_limits head;
    size_t connections_max;   /* waiting here + served by the admin */
    uint32_t head_timeout_ms; /* from the accept to the head's end */
};

/* Counters since the start. */
struct prod_admin_gate_stats {
    size_t waiting;              /* admitted, head not complete yet */
    size_t lingering;            /* refused, still draining */
    uint64_t admitted_total;     /* handed to the admin */
    uint64_t refused_busy_total; /* 503: at connections_max */
    uint64_t refused_head_total; /* a bad head (4xx, 5xx) */
    uint64_t timed_out_total;    /* 408 */
};

struct prod_admin_gate;

/* Serves listen_fd (a listening TCP socket, owned by the gate from here:
 * it is closed by prod_admin_gate_stop, or here on error) on loop. *opts
 * and *ops are copied. Returns 0 with *out, or P2P_ERR_INVALID_ARG (a
 * zero limit, a NULL operation), P2P_ERR_NOMEM, P2P_ERR_INTERNAL (epoll
 * could not be created). */
int prod_admin_gate_start(struct ev_loop *loop, int listen_fd,
                          const struct prod_admin_gate_opts *opts,
                          const struct prod_admin_gate_ops *ops,
                          struct prod_admin_gate **out);

void prod_admin_gate_get_stats(const struct prod_admin_gate *g,
                               struct prod_admin_gate_stats *out);

/* Closes every waiting and lingering socket and the listening one, stops
 * the watchers and frees g. NULL is allowed. */
void prod_admin_gate_stop(struct prod_admin_gate *g);

#endif
