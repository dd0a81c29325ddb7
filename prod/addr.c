/* "host:port" text -> socket addresses. */
#include "prod/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "conf/errmsg.h"
#include "core/err.h"

/* Port "0".."65535": digits only, at most 5. */
static int parse_port(const char *s, uint16_t port_min, uint16_t *out)
{
    uint32_t v = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 5)
        return P2P_ERR_DECODE;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return P2P_ERR_DECODE;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535 || v < port_min)
        return P2P_ERR_DECODE;
    *out = (uint16_t)v;
    return 0;
}

int prod_addr_parse(const char *text, uint16_t port_min,
                    struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *msg, size_t msg_len)
{
    static const char example[] = "expected host:port such as 127.0.0.1:4100 "
                                  "or [::1]:4100";
    char host[PROD_ADDR_TEXT_BYTES];
    const char *port_text;
    size_t len = strlen(text);
    uint16_t port;
    bool v6 = text[0] == '[';
    if (len >= sizeof host) {
        conf_errmsg_set(msg, msg_len, "%s (too long)", example);
        return P2P_ERR_DECODE;
    }
    if (v6) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            conf_errmsg_set(msg, msg_len, "%s", example);
            return P2P_ERR_DECODE;
        }
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            conf_errmsg_set(msg, msg_len, "%s (no port)", example);
            return P2P_ERR_DECODE;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
        if (strchr(host, ':') != NULL) {
            conf_errmsg_set(msg, msg_len,
                            "an IPv6 address needs brackets, e.g. [::1]:4100");
            return P2P_ERR_DECODE;
        }
    }
    if (parse_port(port_text, port_min, &port) != 0) {
        conf_errmsg_set(msg, msg_len, "the port must be a number in %u..65535",
                        (unsigned)port_min);
        return P2P_ERR_DECODE;
    }
    memset(addr, 0, sizeof *addr);
    if (!v6) {
        /* inet_pton, not getaddrinfo: it takes only the dotted quad, not
         * inet_aton's "127.1" or "0x7f000001". */
        struct sockaddr_in *sin = (struct sockaddr_in *)addr;
        const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
        if (inet_pton(AF_INET, h, &sin->sin_addr) != 1) {
            conf_errmsg_set(msg, msg_len,
                            "%s (the host must be an IPv4 or IPv6 address or "
                            "localhost; names are not resolved)",
                            example);
            return P2P_ERR_DECODE;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *addr_len = sizeof *sin;
        return 0;
    }
    /* getaddrinfo for IPv6: it also takes a scope ("fe80::1%eth0"). */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char port_buf[8];
    snprintf(port_buf, sizeof port_buf, "%u", (unsigned)port);
    if (host[0] == '\0' || getaddrinfo(host, port_buf, &hints, &res) != 0 ||
        res == NULL || res->ai_addrlen > sizeof *addr) {
        if (res != NULL)
            freeaddrinfo(res);
        conf_errmsg_set(msg, msg_len,
                        "%s (not an IPv6 address in the brackets)", example);
        return P2P_ERR_DECODE;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

bool prod_addr_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}
