/* The binary's version and its libraries' (prod/build_info.h). */
#include "prod/build_info.h"

#include <ev.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <ngtcp2/ngtcp2.h>
#include <stdio.h>

#include "core/assert.h"
#include "p2p_version.h"

static const char *or_unknown(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "unknown";
}

void prod_build_info_get(struct prod_build_info *out)
{
    const ngtcp2_info *ng = ngtcp2_version(0);
    out->version = P2P_VERSION;
    out->commit = P2P_COMMIT;
    out->ngtcp2 = or_unknown(ng != NULL ? ng->version_str : NULL);
    out->gnutls = or_unknown(gnutls_check_version(NULL));
    out->microhttpd = or_unknown(MHD_get_version());
    int n = snprintf(out->libev, sizeof(out->libev), "%d.%d",
                     ev_version_major(), ev_version_minor());
    P2P_ASSERT(n > 0 && (size_t)n < sizeof(out->libev));
    P2P_ASSERT(out->version[0] != '\0' && out->commit[0] != '\0');
}

void prod_build_info_print(FILE *f)
{
    struct prod_build_info b;
    prod_build_info_get(&b);
    fprintf(f, "p2p-replica %s (commit %s)\n", b.version, b.commit);
    fprintf(f, "ngtcp2 %s, GnuTLS %s, libmicrohttpd %s, libev %s\n", b.ngtcp2,
            b.gnutls, b.microhttpd, b.libev);
}
