/* utf8.h -- UTF-8 validation for everything that echoes untrusted bytes (logs, the audit log,
 * policy messages, metric labels). Pure. */
#ifndef EMBER_UTF8_H
#define EMBER_UTF8_H

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence that starts at s, reading at most avail bytes
 * (avail >= 1), or 0 when it is invalid: a stray continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF or a sequence cut short. ASCII is 1. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* Copies at most max bytes of src into dst (cap bytes, always NUL-terminated), cut on a
 * character boundary, control characters replaced by '?': text from the network made safe
 * for logs, messages and conditions. */
void utf8_copy_printable(char *dst, size_t cap, const char *src, size_t max);

#endif
