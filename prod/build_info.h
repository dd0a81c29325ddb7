/* What this binary is: the project's version and the git commit it was
 * built from (generated into the build tree as p2p_version.h, see
 * cmake/p2p_version.cmake), and the versions of the libraries it runs
 * with, as `p2p-replica --version` prints them and /metrics serves them
 * (p2p_build_info, prod/process_metrics.h). */
#ifndef P2P_PROD_BUILD_INFO_H
#define P2P_PROD_BUILD_INFO_H

#include <stdio.h>

/* The versions of the libraries loaded at run time (not the headers
 * compiled against: a security update of a shared library shows here).
 * Every string is static and never NULL ("unknown" when a library does
 * not say). */
struct prod_build_info {
    const char *version;    /* the project's, e.g. "0.6.0" */
    const char *commit;     /* 12 hex digits [-dirty], or "unknown" */
    const char *ngtcp2;     /* ngtcp2_version(0)->version_str */
    const char *gnutls;     /* gnutls_check_version(NULL) */
    const char *microhttpd; /* MHD_get_version() */
    char libev[16];         /* "major.minor" from ev_version_*() */
};

/* Fills *out (caller storage). Cannot fail. */
void prod_build_info_get(struct prod_build_info *out);

/* Prints `p2p-replica VERSION (commit COMMIT)` and a line with the
 * libraries' versions to f. The first line's text after the program name
 * is what `p2p-sim --version` prints after its own. */
void prod_build_info_print(FILE *f);

#endif
