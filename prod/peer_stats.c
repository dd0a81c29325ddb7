#include "prod/peer_stats.h"

const char *prod_refusal_name(enum prod_refusal r)
{
    switch (r) {
    case PROD_REFUSE_NOT_MEMBER: return "not_member";
    case PROD_REFUSE_NO_CERT: return "no_cert";
    case PROD_REFUSE_BANNED: return "banned";
    case PROD_REFUSE_TLS: return "tls";
    case PROD_REFUSE_LIMIT: return "limit";
    case PROD_REFUSE_COUNT: break;
    }
    return "unknown";
}
