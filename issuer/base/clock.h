/* clock.h -- the one monotonic clock of local timeouts, waits and backoffs (wall-clock time is
 * only for timestamps that go on the wire and for certificate and Lease times). */
#ifndef EMBER_CLOCK_H
#define EMBER_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t clock_mono_ms(void);
/* The same clock in seconds, to the nanosecond: for durations measured into a histogram. */
double clock_mono_seconds(void);
/* Initialises cond so that pthread_cond_timedwait measures its deadline on CLOCK_MONOTONIC
 * (clock_deadline). Returns 0, or the errno value of what failed (cond then unset). */
int clock_cond_init(pthread_cond_t *cond) WUR;
/* The CLOCK_MONOTONIC instant ms from now (ms >= 0), for pthread_cond_timedwait on a condition
 * clock_cond_init set up. */
struct timespec clock_deadline(int64_t ms);

#endif
