/* The HTTP-like status codes of the RPC responses (the IC's transport
 * answers with HTTP status codes; core uses these three). */
#ifndef P2P_CORE_STATUS_H
#define P2P_CORE_STATUS_H

enum p2p_status {
    P2P_STATUS_OK = 200,          /* the answer's body is the result */
    P2P_STATUS_NO_CONTENT = 204,  /* not held (an artifact, a state) */
    P2P_STATUS_BAD_REQUEST = 400, /* the request was malformed */
};

#endif
