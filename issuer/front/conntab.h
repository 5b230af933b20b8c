/* conntab.h -- a listener's open connections: the caps per address and in all, and the deadline
 * by which each request must have arrived whole. Pure: no I/O, no clock, no locks (accept.c
 * holds a lock around it and brings the time). */
#ifndef EMBER_CONNTAB_H
#define EMBER_CONNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CONNTAB_REAP_GRACE_MS                                                                      \
    5000 /* a cut connection the server never reported closed is                                   \
            forgotten (its held descriptor closed) after this */

struct conntab_limits {
    unsigned max_total;    /* connections served at once, in all */
    unsigned max_per_addr; /* connections served at once from one client address */
    unsigned max_refusing; /* connections over a cap kept only to answer 503 (HTTPS) */
    int64_t header_ms;     /* a request's line and headers must be in by this long */
    int64_t request_ms;    /* the whole request, body too (>= header_ms) */
    int64_t idle_ms;       /* after a request on a kept-alive connection, the next one gets
                              at least this long (the server's idle timeout) */
};

/* A client address: IPv4 as IPv4-mapped IPv6, so both forms of one client count as one. */
struct conntab_addr {
    unsigned char b[16];
};

enum conntab_verdict {
    CONNTAB_ADMIT,        /* under both caps */
    CONNTAB_OVER_ADDRESS, /* the address has max_per_addr connections */
    CONNTAB_OVER_TOTAL,   /* the listener has max_total connections */
};

struct conntab;

/* Returns an empty table for these limits (copied). Never NULL (allocation aborts). */
struct conntab *conntab_new(const struct conntab_limits *lim);
/* Frees the table; NULL is a no-op. The held descriptors are the caller's to close first
 * (conntab_take_any). */
void conntab_free(struct conntab *t);

/* Whether a new connection from addr is under the caps (refusing connections do not count). */
enum conntab_verdict conntab_check(const struct conntab *t, const struct conntab_addr *addr);
/* Records a connection: key is the server's descriptor for it, hold a descriptor the caller
 * keeps to cut it (both >= 0); refusing: over a cap, kept only to answer 503. At now its request
 * starts. Returns 0; -1 (ERR_TOO_BIG) when refusing and max_refusing are already kept. A stale
 * entry with the same key (its server closed that descriptor without telling) is dropped and its
 * hold returned in *stale (else -1) for the caller to close. */
int conntab_add(struct conntab *t, int key, int hold, const struct conntab_addr *addr,
                bool refusing, int64_t now, int *stale, struct err *err) WUR;
/* The request's headers are in: its deadline becomes the whole request's. Returns true when the
 * connection is a refusing one (answer 503); false too for an unknown key. */
bool conntab_headers(struct conntab *t, int key) WUR;
/* The request is in whole: no deadline while it is answered. */
void conntab_arrived(struct conntab *t, int key);
/* The request was answered at now: the next one on the connection starts. */
void conntab_completed(struct conntab *t, int key, int64_t now);
/* Forgets the connection. Returns its hold (the caller closes it), or -1 for an unknown key. */
int conntab_remove(struct conntab *t, int key) WUR;
/* Forgets any one connection and returns its hold, or -1 when the table is empty. */
int conntab_take_any(struct conntab *t) WUR;

/* What a sweep at one moment found: holds to cut now (shutdown: the request is late), and
 * holds to close (connections cut CONNTAB_REAP_GRACE_MS ago that their server never reported
 * closed; they are forgotten). At most CONNTAB_SWEEP_MAX of each; sweep again when full. */
#define CONNTAB_SWEEP_MAX 256
struct conntab_sweep {
    int cut[CONNTAB_SWEEP_MAX];
    size_t n_cut;
    int close[CONNTAB_SWEEP_MAX];
    size_t n_close;
};
/* Fills out for the time now; each late connection is reported in cut once. */
void conntab_sweep(struct conntab *t, int64_t now, struct conntab_sweep *out);
/* The earliest moment a sweep has something to do, or INT64_MAX. */
int64_t conntab_next_deadline(const struct conntab *t);

/* Connections recorded (refusing ones too), and those from addr (refusing ones not). */
size_t conntab_count(const struct conntab *t);
size_t conntab_count_addr(const struct conntab *t, const struct conntab_addr *addr);

#endif
