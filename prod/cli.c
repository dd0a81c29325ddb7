/* The tools binary beside the replica (prod/cli.h). */
#include "prod/cli.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/err.h"

int prod_cli_sibling(const char *name, char *out, size_t len)
{
    P2P_ASSERT(name != NULL && strchr(name, '/') == NULL);
    P2P_ASSERT(out != NULL && len > 0);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return P2P_ERR_NOT_FOUND;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return P2P_ERR_NOT_FOUND;
    *slash = '\0';
    int w = snprintf(out, len, "%s/%s", self, name);
    return w > 0 && (size_t)w < len ? 0 : P2P_ERR_INVALID_ARG;
}
