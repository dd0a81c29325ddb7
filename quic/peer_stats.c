#include "quic/peer_stats.h"

#include <string.h>

const char *quic_peer_stats_refusal_name(enum quic_refusal r)
{
    switch (r) {
    case QUIC_REFUSE_NOT_MEMBER:
        return "not_member";
    case QUIC_REFUSE_NO_CERT:
        return "no_cert";
    case QUIC_REFUSE_BANNED:
        return "banned";
    case QUIC_REFUSE_TLS:
        return "tls";
    case QUIC_REFUSE_LIMIT:
        return "limit";
    case QUIC_REFUSE_BAD_CERT:
        return "bad_cert";
    case QUIC_REFUSE_DUPLICATE:
        return "duplicate_identity";
    case QUIC_REFUSE_OURS_TO_DIAL:
        return "ours_to_dial";
    case QUIC_REFUSE_COUNT:
        break;
    }
    return "unknown";
}

bool quic_peer_stats_refusal_from_name(const char *phrase, size_t len,
                                       enum quic_refusal *out)
{
    for (int r = 0; r < QUIC_REFUSE_COUNT; r++) {
        const char *name = quic_peer_stats_refusal_name((enum quic_refusal)r);
        if (phrase != NULL && strlen(name) == len &&
            memcmp(name, phrase, len) == 0) {
            *out = (enum quic_refusal)r;
            return true;
        }
    }
    return false;
}

const char *quic_peer_stats_initial_drop_name(enum quic_initial_drop d)
{
    switch (d) {
    case QUIC_DROP_MALFORMED:
        return "malformed";
    case QUIC_DROP_VERSION:
        return "version";
    case QUIC_DROP_NOT_INITIAL:
        return "not_initial";
    case QUIC_DROP_BAD_INITIAL:
        return "bad_initial";
    case QUIC_DROP_TIMEOUT:
        return "timeout";
    case QUIC_DROP_ABORTED:
        return "aborted";
    case QUIC_DROP_COUNT:
        break;
    }
    return "unknown";
}

const char *quic_peer_stats_reset_unsent_name(enum quic_reset_unsent u)
{
    switch (u) {
    case QUIC_RESET_UNSENT_SMALL:
        return "small";
    case QUIC_RESET_UNSENT_RATE:
        return "rate";
    case QUIC_RESET_UNSENT_COUNT:
        break;
    }
    return "unknown";
}
