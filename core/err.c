#include "core/err.h"

const char *p2p_strerror(int err)
{
    switch (err) {
    case P2P_OK:
        return "ok";
    case P2P_ERR_INVALID_ARG:
        return "invalid argument";
    case P2P_ERR_TRUNCATED:
        return "truncated input";
    case P2P_ERR_OVERSIZE:
        return "input exceeds its size limit";
    case P2P_ERR_DECODE:
        return "undecodable message";
    case P2P_ERR_NO_ROUTE:
        return "no such route";
    case P2P_ERR_LIMIT:
        return "limit reached";
    case P2P_ERR_NOT_FOUND:
        return "not found";
    case P2P_ERR_EXISTS:
        return "already exists";
    case P2P_ERR_ID_MISMATCH:
        return "bytes do not match the artifact id";
    case P2P_ERR_STATE:
        return "invalid state for this call";
    case P2P_ERR_UNWANTED:
        return "artifact unwanted";
    case P2P_ERR_CONNECT:
        return "connect failed";
    case P2P_ERR_WRITE:
        return "write failed";
    case P2P_ERR_READ:
        return "read to end failed";
    case P2P_ERR_CONN_LOST:
        return "connection lost";
    case P2P_ERR_TIMEOUT:
        return "timed out";
    case P2P_ERR_REFUSED:
        return "peer refused";
    case P2P_ERR_MISBEHAVED:
        return "peer banned for misbehaviour";
    case P2P_ERR_NOMEM:
        return "out of memory";
    case P2P_ERR_INTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}
