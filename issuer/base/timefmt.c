/* timefmt.c -- RFC 3339 UTC timestamps. */
#include "base/timefmt.h"

#include <stdio.h>
#include <string.h>

void timefmt_rfc3339(time_t t, char out[TIMEFMT_LEN])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, TIMEFMT_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int timefmt_parse_rfc3339(const char *s, time_t *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* Exactly "+hh:mm": sscanf would also take "+1:2" and we would step past the end. */
        for (int i = 1; i <= 5; i++)
            if (i == 3 ? p[i] != ':' : (p[i] < '0' || p[i] > '9'))
                return -1;
        int hh = (p[1] - '0') * 10 + (p[2] - '0');
        int mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh > 23 || mm > 59)
            return -1;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *t = timegm(&tm) - offset;
    return 0;
}
