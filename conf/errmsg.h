/* Error messages into a caller's buffer: the one way the simulator, the
 * replica and this library write "why it failed" for their callers.
 *
 * Functions that can fail for a reason a person should read take
 * (char *err, size_t err_len): a buffer the caller owns, NULL or 0 long when
 * the caller does not want the text. These helpers write into it, always
 * NUL-terminated and cut to fit (a cut only shortens the message). No
 * state, no allocation. */
#ifndef P2P_CONF_ERRMSG_H
#define P2P_CONF_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

/* printf into err[0..err_len); nothing when err is NULL or err_len is 0. */
#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
void conf_errmsg_set(char *err, size_t err_len, const char *fmt, ...);

/* conf_errmsg_set with a va_list (ap is consumed). */
#ifdef __GNUC__
__attribute__((format(printf, 3, 0)))
#endif
void conf_errmsg_vset(char *err, size_t err_len, const char *fmt, va_list ap);

/* Appends printf output to the message already in err[0..err_len) (which
 * must be NUL-terminated); nothing when err is NULL, err_len is 0 or the
 * buffer is full. */
#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
void conf_errmsg_append(char *err, size_t err_len, const char *fmt, ...);

/* Replaces every control byte (below 0x20, and 0x7f) of the NUL-terminated
 * message in err with '?', so that text quoted from a file or a peer keeps
 * the message on one line. Nothing when err is NULL. */
void conf_errmsg_one_line(char *err);

#endif
