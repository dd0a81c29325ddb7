/* Hexadecimal text <-> bytes, for ids and keys in files, flags, logs and
 * URLs (node ids, artifact ids, key ids).
 *
 * Decoding takes either case and an exact length: 2 * bytes_len digits, no
 * prefix, no spaces; it writes the bytes only on success. Encoding writes
 * lowercase. No state, no allocation. */
#ifndef P2P_CONF_HEX_H
#define P2P_CONF_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (0..15), or -1 when c is not one. */
int conf_hex_digit(char c);

/* Decodes text[0..text_len) (borrowed; need not be NUL-terminated) into
 * out[0..out_len). Returns 0, or P2P_ERR_DECODE when text_len is not
 * exactly 2 * out_len (an odd length included) or a character is not a hex
 * digit; then *bad_at (when not NULL) is the 0-based index of the first
 * such character, or text_len for a wrong length. out is untouched on
 * error. */
int conf_hex_decode(const char *text, size_t text_len, uint8_t *out,
                    size_t out_len, size_t *bad_at);

/* conf_hex_decode for names this project writes (file names): lowercase
 * digits only, as conf_hex_encode writes them; uppercase is refused
 * (P2P_ERR_DECODE). */
int conf_hex_decode_canonical(const char *text, size_t text_len, uint8_t *out,
                              size_t out_len);

/* Writes bytes[0..len) as 2 * len lowercase digits and a NUL into
 * out[0..out_len); out_len must be at least 2 * len + 1 (asserted). */
void conf_hex_encode(const uint8_t *bytes, size_t len, char *out,
                     size_t out_len);

#endif
