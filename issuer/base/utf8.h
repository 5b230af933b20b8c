/* utf8.h -- UTF-8 validation for everything that echoes untrusted bytes (logs, the audit log,
 * policy messages, metric labels). Pure. */
#ifndef EMBER_UTF8_H
#define EMBER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence that starts at s, reading at most avail bytes
 * (avail >= 1), or 0 when it is invalid: a stray continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF or a sequence cut short. ASCII is 1. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* Copies at most max bytes of src into dst (cap bytes, always NUL-terminated), cut on a
 * character boundary, control characters replaced by '?': text from the network made safe
 * for logs, messages and conditions. */
void utf8_copy_printable(char *dst, size_t cap, const char *src, size_t max);

/* Bytes utf8_escape needs to write all of at most cut bytes of input, quotes and "..." too. */
#define UTF8_ESCAPE_SIZE(cut) ((cut)*4 + 8)

/* Writes s into out (outlen bytes, always NUL-terminated), escaping '"', '\\', control bytes
 * and invalid UTF-8 (as \xNN), reading at most cut bytes of s and marking a cut with "...",
 * in double quotes when quote is set: text from the network quoted in a message. The result
 * is complete when outlen >= UTF8_ESCAPE_SIZE(cut). */
void utf8_escape(const char *s, size_t cut, bool quote, char *out, size_t outlen);

#endif
