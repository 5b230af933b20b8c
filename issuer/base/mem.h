/* mem.h -- allocation wrappers that abort on out-of-memory. */
#ifndef EMBER_MEM_H
#define EMBER_MEM_H

#include <stddef.h>

/* Each returns a valid pointer or aborts the process with a message on stderr.
 * Thread-safe. Free with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies at most n bytes of s and always NUL-terminates. */
char *xstrndup(const char *s, size_t n);
/* Like asprintf, aborting on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipes n bytes at p (OPENSSL_cleanse) and frees p; p may be NULL. For keys, tokens. */
void xfree_secret(void *p, size_t n);

#endif
