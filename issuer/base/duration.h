/* duration.h -- Go duration strings ("2160h0m0s") and ISO-8601 periods ("P7D", "PT1H"). Pure. */
#ifndef EMBER_DURATION_H
#define EMBER_DURATION_H

#include <stddef.h>

#include "base/err.h"

/* Largest duration accepted anywhere: 100 years, in seconds. */
#define DURATION_MAX_SECONDS (100LL * 365 * 24 * 3600)

/* Parses a Go duration (time.ParseDuration syntax: "1h30m", "90s", "1.5h", "300ms";
 * units ns us µs ms s m h). Sub-second remainders are truncated to whole seconds.
 * Negative, empty, or > DURATION_MAX_SECONDS: ERR_INVALID. */
int duration_parse_go(const char *s, long long *seconds, struct err *err) WUR;
/* Parses an ISO-8601 duration as Firefly uses: PnYnMnWnDTnHnMnS (Y = 365 d, M = 30 d). */
int duration_parse_iso8601(const char *s, long long *seconds, struct err *err) WUR;
/* Formats seconds as Go does ("1h0m0s", "2160h0m0s", "45s"). */
void duration_format_go(long long seconds, char *out, size_t outlen);

#endif
