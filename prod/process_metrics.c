/* The process's own Prometheus families (prod/process_metrics.h). */
#include "prod/process_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/err.h"

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull

/* /proc/self/stat is one line of about 300 bytes; a command name is at
 * most 64. */
#define PROC_STAT_BYTES_MAX 4096

/* ---- /proc/self/stat ---- */

/* Fields after the command name, counted from 0 at the state (field 3
 * in proc(5)'s numbering, which starts at 1 with the pid). */
enum {
    STAT_UTIME = 14 - 3,
    STAT_STIME = 15 - 3,
    STAT_STARTTIME = 22 - 3,
    STAT_VSIZE = 23 - 3,
    STAT_RSS = 24 - 3,
    STAT_FIELDS_NEEDED = STAT_RSS + 1,
};

/* A decimal field at text[*i..len) up to a space or the end; rss may in
 * principle be negative on old kernels, read as 0. */
static bool field_u64(const char *text, size_t len, size_t *i, uint64_t *v)
{
    bool neg = *i < len && text[*i] == '-';
    if (neg)
        (*i)++;
    size_t start = *i;
    uint64_t x = 0;
    while (*i < len && text[*i] >= '0' && text[*i] <= '9') {
        uint64_t d = (uint64_t)(text[*i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
        (*i)++;
    }
    if (*i == start || (*i < len && text[*i] != ' ' && text[*i] != '\n'))
        return false;
    *v = neg ? 0 : x;
    return true;
}

int prod_process_metrics_stat_parse(const char *text, size_t len,
                                    struct prod_proc_stat *out)
{
    size_t close = len;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ')')
            close = i;
    if (close == len || close + 2 >= len || text[close + 1] != ' ')
        return P2P_ERR_DECODE;
    uint64_t want[STAT_FIELDS_NEEDED] = {0};
    size_t i = close + 2;
    for (int f = 0; f < STAT_FIELDS_NEEDED; f++) {
        if (i >= len)
            return P2P_ERR_DECODE;
        if (f == 0) { /* the state: one letter */
            while (i < len && text[i] != ' ')
                i++;
        } else if (!field_u64(text, len, &i, &want[f])) {
            return P2P_ERR_DECODE;
        }
        if (i < len && text[i] == ' ')
            i++;
        else if (f + 1 < STAT_FIELDS_NEEDED)
            return P2P_ERR_DECODE;
    }
    out->utime_ticks = want[STAT_UTIME];
    out->stime_ticks = want[STAT_STIME];
    out->start_ticks = want[STAT_STARTTIME];
    out->vsize_bytes = want[STAT_VSIZE];
    out->rss_pages = want[STAT_RSS];
    return 0;
}

/* ---- reading this process ---- */

static int read_stat(struct prod_proc_stat *st)
{
    char buf[PROC_STAT_BYTES_MAX];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return P2P_ERR_READ;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf))
            break;
    }
    close(fd);
    return prod_process_metrics_stat_parse(buf, len, st) == 0 ? 0
                                                              : P2P_ERR_READ;
}

/* Entries of /proc/self/fd, less the one the listing itself holds. */
static int count_fds(uint64_t *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return P2P_ERR_READ;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    *out = n > 0 ? n - 1 : 0;
    return 0;
}

static uint64_t ns_of(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
}

int prod_process_metrics_stats_read(struct prod_process_stats *out)
{
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    struct prod_proc_stat st;
    struct rlimit rl;
    struct timespec real, boot;
    if (hz <= 0 || page <= 0 || read_stat(&st) != 0 ||
        count_fds(&out->open_fds) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
        clock_gettime(CLOCK_REALTIME, &real) != 0 ||
        clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
        return P2P_ERR_READ;
    uint64_t ticks = (uint64_t)hz;
    out->cpu_ms = (st.utime_ticks + st.stime_ticks) * 1000 / ticks;
    out->resident_bytes = st.rss_pages * (uint64_t)page;
    out->virtual_bytes = st.vsize_bytes;
    out->max_fds =
        rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    /* The tick counts from boot; the boot's wall-clock time is now's
     * realtime less its boot time (what /proc/stat's btime says). */
    uint64_t tick_ns = NS_PER_S / ticks;
    uint64_t booted_ns = ns_of(&real) - ns_of(&boot);
    uint64_t start_ns = booted_ns + st.start_ticks * tick_ns;
    start_ns = (start_ns + tick_ns / 2) / tick_ns * tick_ns;
    out->start_time_ms = start_ns / NS_PER_MS;
    P2P_ASSERT(out->start_time_ms <= ns_of(&real) / NS_PER_MS + 1000);
    return 0;
}

/* ---- the text ---- */

/* Milliseconds as decimal seconds without trailing zeros. */
static void put_ms_as_seconds(struct p2p_metrics_text *t, uint64_t ms)
{
    p2p_metrics_text_put_u64(t, ms / 1000);
    uint64_t frac = ms % 1000;
    if (frac == 0)
        return;
    char d[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                 (char)('0' + frac % 10)};
    size_t n = 4;
    while (d[n - 1] == '0')
        n--;
    p2p_metrics_text_put(t, d, n);
}

static void put_label(struct p2p_metrics_text *t, const char *name,
                      const char *value, bool first)
{
    p2p_metrics_text_put_str(t, first ? "{" : ",");
    p2p_metrics_text_put_str(t, name);
    p2p_metrics_text_put_str(t, "=\"");
    p2p_metrics_text_put_label_value(t, value);
    p2p_metrics_text_put_str(t, "\"");
}

static void build_info(struct p2p_metrics_text *t,
                       const struct prod_build_info *b)
{
    P2P_ASSERT(b->version != NULL && b->commit != NULL);
    p2p_metrics_text_family(
        t, "p2p_build_info", P2P_METRIC_GAUGE,
        "Always 1: the replica's version, the git commit it was built "
        "from, and the versions of ngtcp2 and GnuTLS it runs with.");
    p2p_metrics_text_put_str(t, "p2p_build_info");
    put_label(t, "version", b->version, true);
    put_label(t, "commit", b->commit, false);
    put_label(t, "ngtcp2", b->ngtcp2, false);
    put_label(t, "gnutls", b->gnutls, false);
    p2p_metrics_text_put_str(t, "} 1\n");
}

static void seconds(struct p2p_metrics_text *t, const char *name,
                    enum p2p_metric_type type, const char *help, uint64_t ms)
{
    p2p_metrics_text_family(t, name, type, help);
    p2p_metrics_text_put_str(t, name);
    p2p_metrics_text_put_str(t, " ");
    put_ms_as_seconds(t, ms);
    p2p_metrics_text_put_str(t, "\n");
}

static void gauge(struct p2p_metrics_text *t, const char *name,
                  const char *help, uint64_t v)
{
    p2p_metrics_text_family(t, name, P2P_METRIC_GAUGE, help);
    p2p_metrics_text_sample(t, name, NULL, NULL, v);
}

void prod_process_metrics_write(struct p2p_metrics_text *t,
                                const struct prod_build_info *b,
                                const struct prod_process_stats *s)
{
    if (b != NULL)
        build_info(t, b);
    if (s == NULL)
        return;
    /* The names, types and help texts of the Prometheus client
     * libraries' process collector, so standard dashboards work. */
    seconds(t, "process_cpu_seconds_total", P2P_METRIC_COUNTER,
            "Total user and system CPU time spent in seconds.", s->cpu_ms);
    gauge(t, "process_open_fds", "Number of open file descriptors.",
          s->open_fds);
    gauge(t, "process_max_fds", "Maximum number of open file descriptors.",
          s->max_fds);
    gauge(t, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          s->virtual_bytes);
    gauge(t, "process_resident_memory_bytes", "Resident memory size in bytes.",
          s->resident_bytes);
    seconds(t, "process_start_time_seconds", P2P_METRIC_GAUGE,
            "Start time of the process since unix epoch in seconds.",
            s->start_time_ms);
}

void prod_process_metrics_write_limits(struct p2p_metrics_text *t,
                                       const struct prod_config *cfg)
{
    const struct {
        const char *name;
        uint64_t value;
    } limits[] = {
        {"artifact_bytes", cfg->artifact_bytes_max},
        {"pool_bytes", cfg->pool_bytes_max},
        {"pool_artifacts", cfg->pool_artifacts_max},
        {"streams", cfg->streams_max},
        {"streams_per_peer", cfg->streams_per_peer_max},
        {"state_bytes", cfg->state_bytes_max},
        {"admin_body", cfg->admin_body_bytes_max},
        {"admin_buffer", cfg->admin_buffered_bytes_max},
    };
    p2p_metrics_text_family(
        t, "p2p_replica_limit", P2P_METRIC_GAUGE,
        "Configured limits by their config key under limits: (bytes or "
        "counts; the defaults when the file sets none). The pool limits "
        "are the validated section's.");
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
        p2p_metrics_text_sample(t, "p2p_replica_limit", "limit", limits[i].name,
                                limits[i].value);
}

void prod_process_metrics_write_self(struct p2p_metrics_text *t,
                                     const struct prod_config *cfg)
{
    struct prod_build_info b;
    prod_build_info_get(&b);
    struct prod_process_stats s;
    bool have = prod_process_metrics_stats_read(&s) == 0;
    build_info(t, &b);
    prod_process_metrics_write_limits(t, cfg);
    if (have)
        prod_process_metrics_write(t, NULL, &s);
}
