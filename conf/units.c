/* Unit parsers for configuration and scenario files: integer arithmetic
 * only. */
#include "conf/units.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/errmsg.h"
#include "core/assert.h"
#include "core/err.h"

struct unit {
    const char *name;
    uint64_t mult; /* base units per one of this unit */
};

/* One family of units: what the base unit is called and which units exist. */
struct family {
    const char *what;     /* "duration", for messages */
    const char *base;     /* "nanoseconds", for "not a whole number of" */
    const char *expected; /* the unit list, for messages */
    const struct unit *units;
    size_t units_count;
};

static const struct unit duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
};
static const struct family duration_family = {
    "duration", "nanoseconds", "ns, us, ms, s, m, h", duration_units,
    sizeof duration_units / sizeof duration_units[0]};

static const struct unit size_units[] = {
    {"B", 1ULL},           {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},   {"KB", 1000ULL},     {"MB", 1000000ULL},
    {"GB", 1000000000ULL},
};
static const struct family size_family = {
    "size", "bytes", "B, KiB, MiB, GiB, KB, MB, GB", size_units,
    sizeof size_units / sizeof size_units[0]};

static const struct unit bandwidth_units[] = {
    {"bit", 1ULL},        {"kbit", 1000ULL},       {"Kbit", 1000ULL},
    {"Mbit", 1000000ULL}, {"Gbit", 1000000000ULL},
};
static const struct family bandwidth_family = {
    "bandwidth", "bits per second", "bit, kbit, Mbit, Gbit", bandwidth_units,
    sizeof bandwidth_units / sizeof bandwidth_units[0]};

static const struct unit percent_units[] = {{"%", 10000ULL}};
static const struct family percent_family = {"percentage", "ppm", "%",
                                             percent_units, 1};

static const struct unit ppm_units[] = {{"ppm", 1ULL}};
static const struct family ppm_family = {"ppm value", "ppm", "ppm", ppm_units,
                                         1};

static const struct unit rate_units[] = {
    {"/s", 1000000000ULL},
    {"/m", 60ULL * 1000000000ULL},
};
static const struct family rate_family = {
    "rate", "events", "/s, /m", rate_units,
    sizeof rate_units / sizeof rate_units[0]};

/* "<digits>[.<digits>]" split into its parts; value = ip + frac / pow. */
struct decimal {
    bool negative;
    uint64_t ip;      /* integer part */
    uint64_t frac;    /* fractional digits without trailing zeros */
    uint64_t pow;     /* 10^(number of those digits); 1 when there are none */
    const char *unit; /* what follows the number and any spaces; borrowed */
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static bool add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b > UINT64_MAX - a)
        return false;
    *out = a + b;
    return true;
}

static int parse_decimal(const char *s, bool allow_negative,
                         const struct family *fam, struct decimal *d, char *msg,
                         size_t msg_len)
{
    const char *p = s;
    memset(d, 0, sizeof *d);
    d->pow = 1;
    if (*p == '\0') {
        conf_errmsg_set(msg, msg_len,
                        "empty %s (expected a number and one of %s)", fam->what,
                        fam->expected);
        return P2P_ERR_DECODE;
    }
    if (*p == '-') {
        if (!allow_negative) {
            conf_errmsg_set(msg, msg_len, "negative %s '%.40s' is not allowed",
                            fam->what, s);
            return P2P_ERR_DECODE;
        }
        d->negative = true;
        p++;
    }
    if (!is_digit(*p)) {
        conf_errmsg_set(msg, msg_len,
                        "'%.40s' is not a %s (expected a number and one of %s)",
                        s, fam->what, fam->expected);
        return P2P_ERR_DECODE;
    }
    for (; is_digit(*p); p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (d->ip > (UINT64_MAX - digit) / 10) {
            conf_errmsg_set(msg, msg_len, "%s '%.40s' is too large", fam->what,
                            s);
            return P2P_ERR_DECODE;
        }
        d->ip = d->ip * 10 + digit;
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            conf_errmsg_set(msg, msg_len, "'%.40s': expected digits after '.'",
                            s);
            return P2P_ERR_DECODE;
        }
        const char *start = p;
        while (is_digit(*p))
            p++;
        const char *end = p;
        while (end > start && end[-1] == '0')
            end--;
        if (end - start > CONF_UNITS_DECIMALS_MAX) {
            conf_errmsg_set(msg, msg_len,
                            "'%.40s' has more than %d decimal places", s,
                            CONF_UNITS_DECIMALS_MAX);
            return P2P_ERR_DECODE;
        }
        for (const char *q = start; q < end; q++) {
            d->frac = d->frac * 10 + (uint64_t)(*q - '0');
            d->pow *= 10;
        }
    }
    while (*p == ' ')
        p++;
    d->unit = p;
    P2P_ASSERT(d->frac < d->pow);
    return 0;
}

static bool decimal_is_zero(const struct decimal *d)
{
    return d->ip == 0 && d->frac == 0;
}

/* Finds d's unit in fam; a bare zero (no unit) gives mult = 0 when
 * zero_needs_no_unit. */
static int find_unit(const char *s, const struct decimal *d,
                     const struct family *fam, bool zero_needs_no_unit,
                     uint64_t *mult, char *msg, size_t msg_len)
{
    if (d->unit[0] == '\0') {
        if (zero_needs_no_unit && decimal_is_zero(d)) {
            *mult = 0;
            return 0;
        }
        conf_errmsg_set(msg, msg_len,
                        "missing unit in '%.40s' (expected one of %s)", s,
                        fam->expected);
        return P2P_ERR_DECODE;
    }
    for (size_t i = 0; i < fam->units_count; i++) {
        if (strcmp(d->unit, fam->units[i].name) == 0) {
            *mult = fam->units[i].mult;
            return 0;
        }
    }
    conf_errmsg_set(msg, msg_len,
                    "unknown unit '%.24s' in '%.40s' (expected one of %s)",
                    d->unit, s, fam->expected);
    return P2P_ERR_DECODE;
}

/* out = d * mult exactly (ignoring the sign); fails on overflow or when the
 * result is not a whole number of base units. */
static int scale(const char *s, const struct decimal *d,
                 const struct family *fam, uint64_t mult, uint64_t *out,
                 char *msg, size_t msg_len)
{
    uint64_t whole, q = mult / d->pow, r = mult % d->pow;
    if (!mul_u64(d->ip, mult, &whole)) {
        conf_errmsg_set(msg, msg_len, "%s '%.40s' is too large", fam->what, s);
        return P2P_ERR_DECODE;
    }
    /* frac < pow <= 1e9 and r < pow, so neither product overflows. */
    uint64_t part = d->frac * q;
    uint64_t rest = d->frac * r;
    if (rest % d->pow != 0) {
        conf_errmsg_set(msg, msg_len, "'%.40s' is not a whole number of %s", s,
                        fam->base);
        return P2P_ERR_DECODE;
    }
    uint64_t sum;
    if (!add_u64(whole, part, &sum) || !add_u64(sum, rest / d->pow, &sum)) {
        conf_errmsg_set(msg, msg_len, "%s '%.40s' is too large", fam->what, s);
        return P2P_ERR_DECODE;
    }
    *out = sum;
    return 0;
}

/* s as a number of fam's base units, sign aside (*d says it). */
static int parse_magnitude(const char *s, bool allow_negative,
                           const struct family *fam, struct decimal *d,
                           uint64_t *out, char *msg, size_t msg_len)
{
    uint64_t mult;
    P2P_ASSERT(s != NULL);
    if (parse_decimal(s, allow_negative, fam, d, msg, msg_len) != 0 ||
        find_unit(s, d, fam, true, &mult, msg, msg_len) != 0 ||
        scale(s, d, fam, mult, out, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    return 0;
}

static int parse_unsigned(const char *s, const struct family *fam,
                          uint64_t *out, char *msg, size_t msg_len)
{
    struct decimal d;
    uint64_t v;
    if (parse_magnitude(s, false, fam, &d, &v, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    *out = v;
    return 0;
}

static int parse_signed(const char *s, const struct family *fam, int64_t *out,
                        char *msg, size_t msg_len)
{
    struct decimal d;
    uint64_t v;
    if (parse_magnitude(s, true, fam, &d, &v, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    if (v > (uint64_t)INT64_MAX) {
        conf_errmsg_set(msg, msg_len, "%s '%.40s' is too large", fam->what, s);
        return P2P_ERR_DECODE;
    }
    *out = d.negative ? -(int64_t)v : (int64_t)v;
    return 0;
}

int conf_units_parse_duration(const char *s, uint64_t *out_ns, char *msg,
                              size_t msg_len)
{
    return parse_unsigned(s, &duration_family, out_ns, msg, msg_len);
}

int conf_units_parse_offset(const char *s, int64_t *out_ns, char *msg,
                            size_t msg_len)
{
    return parse_signed(s, &duration_family, out_ns, msg, msg_len);
}

int conf_units_parse_size(const char *s, uint64_t *out_bytes, char *msg,
                          size_t msg_len)
{
    return parse_unsigned(s, &size_family, out_bytes, msg, msg_len);
}

int conf_units_parse_bandwidth(const char *s, uint64_t *out_bps, char *msg,
                               size_t msg_len)
{
    return parse_unsigned(s, &bandwidth_family, out_bps, msg, msg_len);
}

int conf_units_parse_percent(const char *s, uint32_t *out_ppm, char *msg,
                             size_t msg_len)
{
    uint64_t v;
    if (parse_unsigned(s, &percent_family, &v, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    if (v > 1000000) {
        conf_errmsg_set(msg, msg_len, "percentage '%.40s' is more than 100%%",
                        s);
        return P2P_ERR_DECODE;
    }
    *out_ppm = (uint32_t)v;
    return 0;
}

int conf_units_parse_ppm(const char *s, int64_t *out_ppm, char *msg,
                         size_t msg_len)
{
    return parse_signed(s, &ppm_family, out_ppm, msg, msg_len);
}

int conf_units_parse_rate(const char *s, uint64_t *out_interval_ns, char *msg,
                          size_t msg_len)
{
    struct decimal d;
    uint64_t unit_ns, events, span;
    P2P_ASSERT(s != NULL);
    if (parse_decimal(s, false, &rate_family, &d, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    if (find_unit(s, &d, &rate_family, false, &unit_ns, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    /* rate = (ip * pow + frac) / pow events per unit, so the interval is
     * unit_ns * pow / (ip * pow + frac). */
    if (!mul_u64(d.ip, d.pow, &events) || !add_u64(events, d.frac, &events)) {
        conf_errmsg_set(msg, msg_len, "rate '%.40s' is too large", s);
        return P2P_ERR_DECODE;
    }
    if (events == 0) {
        conf_errmsg_set(msg, msg_len, "rate '%.40s' must be greater than 0", s);
        return P2P_ERR_DECODE;
    }
    if (!mul_u64(unit_ns, d.pow, &span)) {
        conf_errmsg_set(msg, msg_len,
                        "rate '%.40s' has too many decimal places", s);
        return P2P_ERR_DECODE;
    }
    if (span / events == 0) {
        conf_errmsg_set(
            msg, msg_len,
            "rate '%.40s' is too high (events would be less than 1 ns apart)",
            s);
        return P2P_ERR_DECODE;
    }
    *out_interval_ns = span / events;
    return 0;
}

/* Writes v (> 0) in the largest of units[] (ascending mult) dividing it. */
static void format_exact(uint64_t v, const struct unit *units, size_t count,
                         char *buf, size_t len)
{
    size_t best = 0;
    P2P_ASSERT(v > 0 && count > 0);
    for (size_t i = 0; i < count; i++) {
        if (v % units[i].mult == 0 && units[i].mult >= units[best].mult)
            best = i;
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)(v / units[best].mult),
             units[best].name);
}

void conf_units_format_duration(uint64_t ns, char *buf, size_t len)
{
    P2P_ASSERT(buf != NULL && len > 0);
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    format_exact(ns, duration_units,
                 sizeof duration_units / sizeof duration_units[0], buf, len);
}

void conf_units_format_size(uint64_t bytes, char *buf, size_t len)
{
    P2P_ASSERT(buf != NULL && len > 0);
    if (bytes == 0) {
        snprintf(buf, len, "0B");
        return;
    }
    /* Binary units only: B, KiB, MiB, GiB are the first four entries. */
    format_exact(bytes, size_units, 4, buf, len);
}

int conf_units_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return P2P_ERR_DECODE;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return P2P_ERR_DECODE;
    *out = v;
    return 0;
}
