/* libFuzzer harness for the trace filter (sim/trace_filter.h).
 *
 * The input is a trace file. It is streamed through a filter that keeps
 * everything and through one that keeps a narrow selection; per line, the
 * everything-filter must keep every line the narrow one accepts as well
 * formed, both must agree on which lines are malformed, and an error must
 * come with a message naming the input. Any failed check aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/trace_filter.h"
#include "fuzz_check.h"

static void narrow(struct sim_trace_filter *f)
{
    sim_trace_filter_init(f);
    f->nodes[f->nodes_count++] = 3;
    f->peers[f->peers_count++] = -1;
    f->peers[f->peers_count++] = 5;
    strcpy(f->kinds[f->kinds_count++], "send");
    strcpy(f->artifacts[f->artifacts_count++], "6a66");
    f->has_from = f->has_to = true;
    f->from_ns = 1000000000;
    f->to_ns = 2000000001;
}

/* Each line on its own: both filters agree on whether it is well formed. */
static void check_lines(const struct sim_trace_filter *all,
                        const struct sim_trace_filter *some,
                        const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char msg_all[256] = "", msg_some[256] = "";
        bool keep_all = false, keep_some = false;
        int rc_all = sim_trace_filter_match_line(all, p, len, &keep_all,
                                                 msg_all, sizeof(msg_all));
        int rc_some = sim_trace_filter_match_line(some, p, len, &keep_some,
                                                  msg_some, sizeof(msg_some));
        FUZZ_CHECK(rc_all == rc_some);
        FUZZ_CHECK(rc_all == 0 || rc_all == P2P_ERR_DECODE);
        if (rc_all == 0) {
            FUZZ_CHECK(keep_all);
        } else {
            FUZZ_CHECK(!keep_all && !keep_some); /* untouched */
            FUZZ_CHECK(msg_all[0] != '\0' && strcmp(msg_all, msg_some) == 0);
        }
        p += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_trace_filter all, some;
    struct sim_trace_filter_stats st_all, st_some;
    char msg_all[512] = "", msg_some[512] = "";
    sim_trace_filter_init(&all);
    narrow(&some);
    check_lines(&all, &some, data, size);

    if (size == 0)
        return 0; /* fmemopen wants a buffer */
    char *out_buf = NULL;
    size_t out_len = 0;
    FILE *in = fmemopen((void *)data, size, "r");
    FILE *out = open_memstream(&out_buf, &out_len);
    FUZZ_CHECK(in != NULL && out != NULL);
    int rc_all = sim_trace_filter_stream(&all, in, "F", out, &st_all, msg_all,
                                         sizeof(msg_all));
    size_t written = out_len; /* the stream flushed out */
    rewind(in);
    int rc_some = sim_trace_filter_stream(&some, in, "F", out, &st_some,
                                          msg_some, sizeof(msg_some));
    FUZZ_CHECK(rc_all == rc_some && st_all.lines == st_some.lines);
    FUZZ_CHECK(st_some.matched <= st_all.matched);
    if (rc_all == 0) {
        /* Everything kept, byte for byte. */
        FUZZ_CHECK(st_all.matched == st_all.lines);
        FUZZ_CHECK(written == size && memcmp(out_buf, data, size) == 0);
    } else {
        FUZZ_CHECK(strncmp(msg_all, "F:", 2) == 0);
        FUZZ_CHECK(strcmp(msg_all, msg_some) == 0);
    }
    fclose(in);
    fclose(out);
    free(out_buf);
    return 0;
}
