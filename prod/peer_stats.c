#include "prod/peer_stats.h"

#include <string.h>

const char *prod_peer_stats_refusal_name(enum prod_refusal r)
{
    switch (r) {
    case PROD_REFUSE_NOT_MEMBER:
        return "not_member";
    case PROD_REFUSE_NO_CERT:
        return "no_cert";
    case PROD_REFUSE_BANNED:
        return "banned";
    case PROD_REFUSE_TLS:
        return "tls";
    case PROD_REFUSE_LIMIT:
        return "limit";
    case PROD_REFUSE_BAD_CERT:
        return "bad_cert";
    case PROD_REFUSE_DUPLICATE:
        return "duplicate_identity";
    case PROD_REFUSE_OURS_TO_DIAL:
        return "ours_to_dial";
    case PROD_REFUSE_COUNT:
        break;
    }
    return "unknown";
}

bool prod_peer_stats_refusal_from_name(const char *phrase, size_t len,
                                       enum prod_refusal *out)
{
    for (int r = 0; r < PROD_REFUSE_COUNT; r++) {
        const char *name = prod_peer_stats_refusal_name((enum prod_refusal)r);
        if (phrase != NULL && strlen(name) == len &&
            memcmp(name, phrase, len) == 0) {
            *out = (enum prod_refusal)r;
            return true;
        }
    }
    return false;
}

const char *prod_peer_stats_initial_drop_name(enum prod_initial_drop d)
{
    switch (d) {
    case PROD_DROP_MALFORMED:
        return "malformed";
    case PROD_DROP_VERSION:
        return "version";
    case PROD_DROP_NOT_INITIAL:
        return "not_initial";
    case PROD_DROP_BAD_INITIAL:
        return "bad_initial";
    case PROD_DROP_TIMEOUT:
        return "timeout";
    case PROD_DROP_ABORTED:
        return "aborted";
    case PROD_DROP_COUNT:
        break;
    }
    return "unknown";
}

const char *prod_peer_stats_reset_unsent_name(enum prod_reset_unsent u)
{
    switch (u) {
    case PROD_RESET_UNSENT_SMALL:
        return "small";
    case PROD_RESET_UNSENT_RATE:
        return "rate";
    case PROD_RESET_UNSENT_COUNT:
        break;
    }
    return "unknown";
}
