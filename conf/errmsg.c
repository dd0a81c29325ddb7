/* Error messages into a caller's buffer. */
#include "conf/errmsg.h"

#include <stdio.h>
#include <string.h>

void conf_errmsg_vset(char *err, size_t err_len, const char *fmt, va_list ap)
{
    if (err == NULL || err_len == 0)
        return;
    if (vsnprintf(err, err_len, fmt, ap) < 0)
        err[0] = '\0';
}

void conf_errmsg_set(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_errmsg_vset(err, err_len, fmt, ap);
    va_end(ap);
}

void conf_errmsg_append(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    size_t used = strnlen(err, err_len);
    if (used + 1 >= err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    conf_errmsg_vset(err + used, err_len - used, fmt, ap);
    va_end(ap);
}

void conf_errmsg_one_line(char *err)
{
    for (char *p = err; p != NULL && *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}
