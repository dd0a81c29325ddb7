/* The process's own Prometheus families for /metrics: p2p_build_info
 * (version, commit and the libraries' versions as labels, value 1), the
 * configured limits (p2p_replica_limit{limit=...}, what alerts compare
 * the pool and the admin buffer with) and the standard process_* families
 * every Prometheus client library serves (CPU seconds, resident and
 * virtual memory, start time, open and maximum file descriptors), read
 * from /proc/self. Written after the replica's other families. */
#ifndef P2P_PROD_PROCESS_METRICS_H
#define P2P_PROD_PROCESS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics_registry.h"
#include "prod/build_info.h"
#include "prod/config.h"

/* The fields of /proc/self/stat this module reads (proc(5)). */
struct prod_proc_stat {
    uint64_t utime_ticks; /* user CPU, clock ticks */
    uint64_t stime_ticks; /* system CPU, clock ticks */
    uint64_t start_ticks; /* start, clock ticks after boot */
    uint64_t vsize_bytes; /* virtual memory */
    uint64_t rss_pages;   /* resident set */
};

/* Parses the text of /proc/PID/stat (text[0..len), borrowed; no NUL
 * needed) into *out. The command name may hold spaces and parentheses:
 * fields are counted from its last ')'. Returns 0, or P2P_ERR_DECODE
 * when a field is missing or not a number (*out is then unspecified). */
int prod_process_metrics_stat_parse(const char *text, size_t len,
                                    struct prod_proc_stat *out);

/* The process_* values, in the units the families are written in. */
struct prod_process_stats {
    uint64_t cpu_ms; /* user + system CPU time */
    uint64_t resident_bytes;
    uint64_t virtual_bytes;
    uint64_t start_time_ms; /* since the Unix epoch */
    uint64_t open_fds;      /* entries of /proc/self/fd */
    uint64_t max_fds;       /* RLIMIT_NOFILE's soft limit */
};

/* Reads the calling process's values: /proc/self/stat, /proc/self/fd,
 * getrlimit, the clock tick and page sizes. The start time is the
 * realtime clock minus the boot-time clock plus the start in ticks, so
 * /proc/stat is not needed (systemd's ProcSubset=pid hides it); it is
 * rounded to the tick. Returns 0, or P2P_ERR_READ when /proc/self cannot
 * be read or parsed (*out is then unspecified). */
int prod_process_metrics_stats_read(struct prod_process_stats *out);

/* Appends, when b is not NULL, p2p_build_info with *b's labels (version,
 * commit, ngtcp2, gnutls; values escaped) and, when s is not NULL, the
 * six process_* families of *s (both borrowed). Seconds are written with up to three
 * decimals. Like every p2p_metrics_text writer, a too-small buffer only
 * makes p2p_metrics_text_finish report the size needed. */
void prod_process_metrics_write(struct p2p_metrics_text *t,
                                const struct prod_build_info *b,
                                const struct prod_process_stats *s);

/* Appends p2p_replica_limit, one sample per limit of *cfg (borrowed),
 * zeroes included, labelled limit= with the config file's key under
 * limits: (artifact_bytes, pool_bytes, pool_artifacts, streams,
 * streams_per_peer, state_bytes, admin_body, admin_buffer). */
void prod_process_metrics_write_limits(struct p2p_metrics_text *t,
                                       const struct prod_config *cfg);

/* What /metrics calls: p2p_build_info with this binary's build info,
 * p2p_replica_limit of *cfg (borrowed), then the process_* families of
 * this process (left out when /proc/self cannot be read). */
void prod_process_metrics_write_self(struct p2p_metrics_text *t,
                                     const struct prod_config *cfg);

#endif
