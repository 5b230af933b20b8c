/* accept.h -- a listener's own accept loop in front of libmicrohttpd: caps connections per
 * client address and in all, answers a connection over a cap with 503 and Retry-After, and cuts
 * a request that has not arrived whole by its deadline.
 *
 * libmicrohttpd 0.9.75 has only an idle timeout (one byte every 29 s keeps a request alive for
 * ever), calls the handler only once the headers are in, and closes connections over its limits
 * without a word. So the loop accepts itself, hands admitted sockets to the server
 * (MHD_add_connection, through accept_ops), keeps a duplicate of each socket, and shuts that
 * duplicate down when the request is late: the server then sees the connection end and closes
 * it. The duplicate is the loop's own descriptor, so it can never name another file. */
#ifndef EMBER_ACCEPT_H
#define EMBER_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/metrics.h"

#define ACCEPT_LINGER_MS                                                                           \
    2000 /* a connection answered 503 is read and dropped this long at most                        \
          */
#define ACCEPT_MAX_LINGERING 256 /* such connections at once; beyond, the oldest is closed */
#define ACCEPT_MAX_REFUSING 64   /* HTTPS connections over a cap kept to answer 503 over TLS */

struct accept_config {
    const char *name;      /* the listener's name: logs and metric labels (borrowed) */
    unsigned max_conns;    /* in all */
    unsigned max_per_addr; /* from one client address */
    int64_t header_ms;     /* request line and headers must arrive within this */
    int64_t request_ms;    /* the whole request, body too */
    int64_t idle_ms;       /* the server's idle timeout (kept-alive connections between requests) */
    /* Over a cap: with a response, these bytes (a whole HTTP response) are written and the
     * connection closed; with NULL (HTTPS, where it must go through TLS), the connection is
     * handed to the server all the same, marked refusing (accept_headers returns true), up to
     * ACCEPT_MAX_REFUSING at once; beyond, it is closed. */
    const char *reject_response;
    struct metrics *metrics; /* counts refused and cut connections; NULL: not counted */
};

/* The server the loop feeds. */
struct accept_ops {
    /* Takes fd (a connected, non-blocking socket) and its peer address. Returns 0, or -1 when it
     * refused the socket, which it then closed. Called on the loop's thread. */
    int (*handoff)(void *ud, int fd, const struct sockaddr *addr, socklen_t len);
    void *ud;
};

struct accept_loop;

/* Declares the metrics the loop counts. */
void accept_declare_metrics(struct metrics *m);

/* Binds and listens on addr (an unspecified IPv6 address takes IPv4 too) and raises the open
 * files soft limit to what the caps need when the hard limit allows; accepts nothing before
 * accept_start (clients wait in the backlog). Returns the loop or NULL: ERR_TRANSIENT when the
 * address cannot be bound (the message says why). The config is copied (not the strings: name
 * and reject_response must outlive the loop). */
struct accept_loop *accept_new(const struct sockaddr *addr, socklen_t len,
                               const struct accept_config *cfg, const struct accept_ops *ops,
                               struct err *err) WUR;
/* Starts the loop's thread: from then on ops.handoff is called, and the server's events may
 * come. Returns 0, or -1 (ERR_INTERNAL) when the thread cannot start. */
int accept_start(struct accept_loop *l, struct err *err) WUR;
/* The port the loop listens on (the one the kernel chose for port 0). */
int accept_port(const struct accept_loop *l);
/* Stops accepting: ends the thread and closes the listening socket. Connections handed off stay
 * the server's; the events below still work until accept_free. NULL is a no-op. */
void accept_stop(struct accept_loop *l);
/* Frees the loop (stopping it first when it runs), once the server has stopped (no event can
 * come). NULL is a no-op. */
void accept_free(struct accept_loop *l);

/* Events from the server, each by the descriptor the connection was handed off with. All are
 * thread-safe and ignore a descriptor the loop does not know. */
/* The request's headers are in. Returns true when the connection is over a cap (answer 503). */
bool accept_headers(struct accept_loop *l, int fd) WUR;
/* The request is in whole (no deadline while it is answered). */
void accept_arrived(struct accept_loop *l, int fd);
/* The request was answered; the next one on the connection starts now. */
void accept_completed(struct accept_loop *l, int fd);
/* The server is about to close fd: forget it. */
void accept_closed(struct accept_loop *l, int fd);

#endif
