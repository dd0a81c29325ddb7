/* Hexadecimal text <-> bytes. */
#include "conf/hex.h"

#include "core/assert.h"
#include "core/err.h"

int conf_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int conf_hex_decode(const char *text, size_t text_len, uint8_t *out,
                    size_t out_len, size_t *bad_at)
{
    P2P_ASSERT(text != NULL || text_len == 0);
    P2P_ASSERT(out != NULL || out_len == 0);
    if (out_len > SIZE_MAX / 2 || text_len != 2 * out_len) {
        if (bad_at != NULL)
            *bad_at = text_len;
        return P2P_ERR_DECODE;
    }
    /* Check every digit first: out is written only on success. */
    for (size_t i = 0; i < text_len; i++) {
        if (conf_hex_digit(text[i]) < 0) {
            if (bad_at != NULL)
                *bad_at = i;
            return P2P_ERR_DECODE;
        }
    }
    for (size_t i = 0; i < out_len; i++)
        out[i] = (uint8_t)(conf_hex_digit(text[2 * i]) << 4 |
                           conf_hex_digit(text[2 * i + 1]));
    return 0;
}

int conf_hex_decode_canonical(const char *text, size_t text_len, uint8_t *out,
                              size_t out_len)
{
    P2P_ASSERT(text != NULL || text_len == 0);
    for (size_t i = 0; i < text_len; i++)
        if (text[i] >= 'A' && text[i] <= 'F')
            return P2P_ERR_DECODE;
    return conf_hex_decode(text, text_len, out, out_len, NULL);
}

void conf_hex_encode(const uint8_t *bytes, size_t len, char *out,
                     size_t out_len)
{
    static const char digits[] = "0123456789abcdef";
    P2P_ASSERT(bytes != NULL || len == 0);
    P2P_ASSERT(out != NULL && len < SIZE_MAX / 2 && out_len >= 2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}
