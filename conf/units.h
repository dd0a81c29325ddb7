/* Parsers for the units of the simulator's scenario files and the
 * replica's configuration: durations, sizes, bandwidths, percentages, ppm
 * and event rates.
 *
 * Integer arithmetic only (no strtod), so a value parses to the same number
 * on every machine. A value is "<digits>[.<digits>]" followed by optional
 * spaces and a unit; at most 9 significant decimal places are accepted and the
 * result must be a whole number of the base unit ("1.5s" is fine, "1.5ns" is
 * not). A bare "0" needs no unit (except for rates). Leading '+', leading '.',
 * a trailing '.', unknown units and any trailing junk are errors; so is a
 * result that does not fit the output type.
 *
 * Every parser takes a NUL-terminated string (borrowed), writes the result
 * only on success, and returns 0 or P2P_ERR_DECODE (core/err.h). On error it
 * writes a one-line reason (without the key name; the caller adds context)
 * to msg[0..msg_len) when msg is not NULL. No state, no allocation. */
#ifndef P2P_CONF_UNITS_H
#define P2P_CONF_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Most decimal places a value may carry (after trailing zeros are dropped). */
#define CONF_UNITS_DECIMALS_MAX 9

/* A plain decimal count (a seed, a number of seeds): digits only, no sign,
 * no unit, fits in 64 bits. 0, or P2P_ERR_DECODE when it is not one (no
 * message: the caller names the flag or key). */
int conf_units_parse_u64(const char *s, uint64_t *out);

/* Duration with unit ns, us, ms, s, m (minutes) or h -> nanoseconds.
 * Negative values are errors. "0" is allowed. */
int conf_units_parse_duration(const char *s, uint64_t *out_ns, char *msg,
                              size_t msg_len);

/* Signed duration (a clock offset, e.g. "-2s") -> nanoseconds; the magnitude
 * must be <= INT64_MAX. */
int conf_units_parse_offset(const char *s, int64_t *out_ns, char *msg,
                            size_t msg_len);

/* Size with unit B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of
 * 1000) -> bytes. */
int conf_units_parse_size(const char *s, uint64_t *out_bytes, char *msg,
                          size_t msg_len);

/* Bandwidth with unit bit, kbit (or Kbit), Mbit, Gbit (powers of 1000) ->
 * bits per second. */
int conf_units_parse_bandwidth(const char *s, uint64_t *out_bps, char *msg,
                               size_t msg_len);

/* Percentage "0.5%" -> parts per million, 0..1,000,000 (0%..100%). */
int conf_units_parse_percent(const char *s, uint32_t *out_ppm, char *msg,
                             size_t msg_len);

/* Signed parts per million "100ppm" or "-50ppm" -> ppm; whole ppm only. */
int conf_units_parse_ppm(const char *s, int64_t *out_ppm, char *msg,
                         size_t msg_len);

/* Rate "100/s" or "6/m" (events per second or per minute, decimals allowed,
 * e.g. "0.5/s") -> the interval between events in nanoseconds, rounded down:
 * 1e9 / rate for "/s". The rate must be > 0 and the interval >= 1 ns. */
int conf_units_parse_rate(const char *s, uint64_t *out_interval_ns, char *msg,
                          size_t msg_len);

/* Writes ns as the largest unit that represents it exactly ("1500ms", "2s",
 * "0s") into buf[0..len); the text parses back to ns. Truncates to fit. */
void conf_units_format_duration(uint64_t ns, char *buf, size_t len);

/* Writes bytes as the largest binary unit that represents it exactly
 * ("4MiB", "1536B", "0B") into buf[0..len); the text parses back. */
void conf_units_format_size(uint64_t bytes, char *buf, size_t len);

#endif
