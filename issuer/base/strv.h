/* strv.h -- a growable list of owned strings. */
#ifndef EMBER_STRV_H
#define EMBER_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct strv {
    char **v;
    size_t n;
    size_t cap;
};

/* Appends a copy of s. Not thread-safe. */
void strv_push(struct strv *sv, const char *s);
/* Appends s, taking ownership of it. */
void strv_push_take(struct strv *sv, char *s);
bool strv_contains(const struct strv *sv, const char *s);
/* Frees every string and the array; sv is left empty and reusable. */
void strv_free(struct strv *sv);

#endif
