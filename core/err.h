/* Error values shared by every core module.
 *
 * Functions return 0 on success or a negative P2P_ERR_* code. Codes at or
 * below P2P_ERR_FATAL are programmer or resource errors after which only the
 * destructor may be called; codes above it describe bad input (from a peer, a
 * file or a flag) and leave the callee's state unchanged. */
#ifndef P2P_CORE_ERR_H
#define P2P_CORE_ERR_H

enum p2p_err {
    P2P_OK = 0,
    P2P_ERR_INVALID_ARG = -1, /* a caller passed an out-of-range value */
    P2P_ERR_TRUNCATED = -2,   /* input ended before a complete message */
    P2P_ERR_OVERSIZE = -3,    /* input exceeds the route's or message's limit */
    P2P_ERR_DECODE = -4,      /* bytes are not a valid message */
    P2P_ERR_NO_ROUTE = -5,    /* request path is not in the routing table */
    P2P_ERR_LIMIT = -6,       /* a bounded table or queue is full */
    P2P_ERR_NOT_FOUND = -7,   /* the id, slot, stream or peer is unknown */
    P2P_ERR_EXISTS = -8,      /* the item is already present */
    P2P_ERR_ID_MISMATCH = -9, /* bytes do not hash to the claimed id */
    P2P_ERR_STATE = -10,      /* call not valid in the object's state */
    P2P_ERR_UNWANTED = -11,   /* the bouncer refused the artifact */
    P2P_ERR_CONNECT = -12,    /* transport: could not connect */
    P2P_ERR_WRITE = -13,      /* transport: write failed */
    P2P_ERR_READ = -14,       /* transport: read to end failed */
    P2P_ERR_CONN_LOST = -15,  /* transport: connection lost */
    P2P_ERR_TIMEOUT = -16,    /* a deadline passed */
    P2P_ERR_REFUSED = -17,    /* a peer is not (or no longer) accepted */
    P2P_ERR_MISBEHAVED = -18, /* a peer was banned for misbehaviour */
    P2P_ERR_FATAL = -100,     /* threshold: codes <= this are fatal */
    P2P_ERR_NOMEM = -101,     /* the allocator refused */
    P2P_ERR_INTERNAL = -102,  /* an invariant was broken */
};

/* Returns a static, human-readable name for an error code (never NULL). */
const char *p2p_strerror(int err);

/* True when err is fatal for the object that returned it. */
static inline int p2p_err_is_fatal(int err)
{
    return err <= P2P_ERR_FATAL;
}

#endif
