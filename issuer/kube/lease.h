/* lease.h -- leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection
 * does it (contract §5.8): one thread acquires, renews and on shutdown releases the Lease; the
 * pure parts (MicroTime, the record <-> JSON mapping, the acquire/renew decision) are exposed
 * for the unit tests. */
#ifndef EMBER_LEASE_H
#define EMBER_LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "kube/kube.h"

/* Named limits. */
#define LEASE_MICROTIME_LEN 40           /* buffer for "2006-01-02T15:04:05.000000Z" */
#define LEASE_IDENTITY_MAX 512           /* holderIdentity bytes, NUL included */
#define LEASE_RV_MAX 128                 /* metadata.resourceVersion bytes, NUL included */
#define LEASE_MAX_BODY_BYTES (64 * 1024) /* a Lease object as the API server returns it */
#define LEASE_JITTER_FACTOR 1.2          /* client-go's JitterFactor */

struct lease_config {
    struct kube *kube;     /* borrowed */
    const char *ns, *name; /* the Lease: --leader-election-namespace, "ember-issuer-leader" */
    const char *identity;  /* "<hostname>_<random>" */
    long lease_duration_s, renew_deadline_s, retry_period_s; /* 60/40/15 by default */
    void (*on_change)(void *ud, bool leader); /* called from the lease thread on every change */
    void *ud;
};

struct lease; /* opaque */

/* Checks the invariants lease_duration > renew_deadline > 1.2 * retry_period, retry_period >= 1,
 * lease_duration an int32, that kube is set, ns and name are DNS names (lowercase letters,
 * digits, '-', '.', at most 253) and identity is non-empty and shorter than LEASE_IDENTITY_MAX.
 * Returns 0, or -1 with ERR_INVALID naming the flag. Pure. */
int lease_config_check(const struct lease_config *cfg, struct err *err) WUR;

/* Checks cfg (lease_config_check), copies it (strings copied, kube and ud borrowed) and starts
 * the election thread, which tries to acquire at once. Returns NULL with an error when cfg is
 * invalid (ERR_INVALID) or the thread cannot start (ERR_INTERNAL). */
struct lease *lease_start(const struct lease_config *cfg, struct err *err) WUR;
/* True while this replica leads: it acquired or renewed the Lease less than renew_deadline ago
 * (so it turns false by itself when a renewal hangs, before on_change(false) is called).
 * Thread-safe. */
bool lease_is_leader(struct lease *l);
/* Stops the thread (waiting for an API request in flight: a GET is cancelled, a PUT runs to the
 * client's request timeout). If leading: calls on_change(false) from the lease thread, then
 * releases the Lease (PUT holderIdentity "" and leaseDurationSeconds 1, client-go's
 * ReleaseOnCancel) so another replica takes over at once. Frees l; NULL is a no-op. */
void lease_stop(struct lease *l);

/* ---- Pure parts, exposed for tests. ---- */

/* Writes unix_us (microseconds since 1970, years 1970..9999) as a Kubernetes MicroTime
 * "2006-01-02T15:04:05.000000Z". */
void lease_format_microtime(long long unix_us, char out[LEASE_MICROTIME_LEN]);
/* Parses "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm)" (RFC 3339, as Go's MicroTime
 * decoder accepts it) into microseconds since 1970 (fraction beyond 6 digits truncated).
 * Returns 0, or -1 when s is malformed or longer than LEASE_MICROTIME_LEN. */
int lease_parse_microtime(const char *s, long long *unix_us) WUR;

/* The Lease spec fields leader election uses. Times are kept as received (validated MicroTime)
 * so a renewal writes back acquireTime byte for byte; "" = absent. */
struct lease_record {
    char holder[LEASE_IDENTITY_MAX]; /* "" = nobody (never acquired or released) */
    long duration_s;                 /* leaseDurationSeconds, 0 when absent */
    char acquire_time[LEASE_MICROTIME_LEN];
    char renew_time[LEASE_MICROTIME_LEN];
    long transitions; /* leaseTransitions, 0 when absent */
};

/* True when a and b hold the same values (client-go compares the raw record). */
bool lease_record_equal(const struct lease_record *a, const struct lease_record *b);

/* Parses a Lease object (len bytes, at most LEASE_MAX_BODY_BYTES) into *rec and its
 * metadata.resourceVersion into rv. Returns 0, or -1 with ERR_INVALID (not a Lease, a field of
 * the wrong type or a bad MicroTime, naming the field) or ERR_TOO_BIG (the body, holderIdentity
 * or resourceVersion past its limit). */
int lease_record_parse(const char *body, size_t len, struct lease_record *rec,
                       char rv[LEASE_RV_MAX], struct err *err) WUR;
/* The Lease object to POST (rv NULL or "") or PUT (rv = the last resourceVersion seen) for
 * namespace ns and name. Returns a new string (free() it). */
char *lease_record_json(const char *ns, const char *name, const char *rv,
                        const struct lease_record *rec);

/* What tryAcquireOrRenew does with the record it observed. */
enum lease_decision {
    LEASE_HELD_ELSEWHERE, /* another non-empty holder whose lease has not expired: give up */
    LEASE_RENEW,          /* mine: write it again, keeping acquireTime and leaseTransitions */
    LEASE_TAKEOVER,       /* nobody's or expired: take it, leaseTransitions + 1 */
};
/* Decides from the record observed (first seen in this exact form at local monotonic time
 * observed_ms) at monotonic time now_ms: the holder's lease is valid while
 * observed_ms + leaseDurationSeconds * 1000 > now_ms. The record's renewTime is deliberately
 * ignored (clocks of other nodes may be skewed). */
enum lease_decision lease_decide(const struct lease_record *observed, long long observed_ms,
                                 long long now_ms, const char *identity);
/* The record to write after decision d (not LEASE_HELD_ELSEWHERE): holder identity, duration_s,
 * renewTime now; RENEW keeps acquireTime (now when absent) and leaseTransitions, TAKEOVER sets
 * acquireTime now and leaseTransitions + 1. */
void lease_record_next(const struct lease_record *observed, enum lease_decision d,
                       const char *identity, long duration_s, const char *now,
                       struct lease_record *out);
/* The wait before the next acquire attempt: period_s plus up to factor * period_s, u in [0,1)
 * the random draw (client-go's wait.Jitter). In milliseconds. */
long long lease_jitter_ms(long period_s, double factor, double u);

#endif
