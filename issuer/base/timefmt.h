/* timefmt.h -- RFC 3339 UTC timestamps as Kubernetes writes them. Pure. */
#ifndef EMBER_TIMEFMT_H
#define EMBER_TIMEFMT_H

#include <stddef.h>
#include <time.h>

#include "base/err.h"

#define TIMEFMT_LEN 32

/* Writes "2025-01-02T03:04:05Z" into out (at least TIMEFMT_LEN bytes). */
void timefmt_rfc3339(time_t t, char out[TIMEFMT_LEN]);
/* Parses "2025-01-02T03:04:05Z" or with fractional seconds / a numeric offset.
 * Returns 0 and *t, or -1. */
int timefmt_parse_rfc3339(const char *s, time_t *t) WUR;

#endif
