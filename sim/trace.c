#include "sim/trace.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

void sim_trace_init(struct sim_trace *t, FILE *file, bool record)
{
    memset(t, 0, sizeof(*t));
    t->file = file;
    t->hash = FNV_OFFSET;
    t->record = record;
}

void sim_trace_fini(struct sim_trace *t)
{
    free(t->hashes);
    t->hashes = NULL;
}

static void remember(struct sim_trace *t)
{
    if (t->hashes_count == t->hashes_capacity) {
        size_t capacity = t->hashes_capacity ? t->hashes_capacity * 2 : 4096;
        uint64_t *h = realloc(t->hashes, capacity * sizeof(*h));
        if (h == NULL) {
            t->record = false; /* comparison impossible; reported by caller */
            return;
        }
        t->hashes = h;
        t->hashes_capacity = capacity;
    }
    t->hashes[t->hashes_count++] = t->hash;
}

void sim_trace_line(struct sim_trace *t, p2p_time now, uint32_t node,
                    const char *kind, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "%llu.%09llu n%u %s",
                     (unsigned long long)(now / P2P_NS_PER_S),
                     (unsigned long long)(now % P2P_NS_PER_S), node, kind);
    if (n < 0)
        return;
    if (fmt != NULL && fmt[0] != '\0' && (size_t)n < sizeof(line) - 1) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    for (int i = 0; i < n; i++) {
        t->hash ^= (uint8_t)line[i];
        t->hash *= FNV_PRIME;
    }
    t->lines++;
    if (t->record)
        remember(t);
    if (t->stop_at_line == t->lines)
        memcpy(t->found_line, line, (size_t)n + 1);
    if (t->file != NULL) {
        fwrite(line, 1, (size_t)n, t->file);
        fputc('\n', t->file);
    }
}
