/* accept.c -- a listener's accept loop in front of libmicrohttpd: connection caps, 503 over a
 * cap, request deadlines (see accept.h). */
#include "front/accept.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "front/conntab.h"

#define ACCEPT_BACKLOG 1024
#define ACCEPT_BATCH 64            /* connections accepted per wake-up before looking around */
#define ACCEPT_PAUSE_MS 100        /* out of descriptors: accept again after this */
#define ACCEPT_WARN_EVERY_MS 10000 /* refused and cut connections are summed up this often */

struct accept_linger {
    int fd;
    int64_t until_ms;
};

struct accept_loop {
    struct accept_config cfg;
    struct accept_ops ops;
    int listen_fd, wake_fd;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* tab */
    struct conntab *tab;
    /* Only the loop's thread touches these. */
    struct accept_linger linger[ACCEPT_MAX_LINGERING];
    size_t n_linger;
    int64_t pause_until_ms;
    unsigned long refused, cut; /* since the last warning */
    int64_t next_warn_ms;
    int64_t next_poll_warn_ms; /* a failing poll() is logged at most every 10 s */
};

void accept_declare_metrics(struct metrics *m)
{
    metrics_declare(m, "ember_http_connections_rejected_total", "counter",
                    "Connections refused by listener and reason (per-address or total cap, "
                    "answered 503; or unanswered when even that was not possible).");
    metrics_declare(m, "ember_http_requests_timed_out_total", "counter",
                    "Connections closed because their request had not arrived whole by its "
                    "deadline, by listener.");
}

static void accept_count(struct accept_loop *l, const char *name, const char *reason)
{
    if (l->cfg.metrics == NULL)
        return;
    char labels[160];
    int n = reason != NULL ? snprintf(labels, sizeof(labels), "listener=\"%s\",reason=\"%s\"",
                                      l->cfg.name, reason)
                           : snprintf(labels, sizeof(labels), "listener=\"%s\"", l->cfg.name);
    if (n >= (int)sizeof(labels))
        return; /* a series key is never cut (the names are main.c's: it cannot happen) */
    metrics_counter_add(l->cfg.metrics, name, labels, 1);
}

/* An attack would flood the log: one line per ACCEPT_WARN_EVERY_MS says how many. */
static void accept_warn(struct accept_loop *l, int64_t now)
{
    if ((l->refused == 0 && l->cut == 0) || now < l->next_warn_ms)
        return;
    LOG(LOG_WARN, "http", NULL, NULL,
        "%s listener: %lu connection(s) over the caps (%u per address, %u in all) refused (503 "
        "with Retry-After), %lu request(s) cut for not arriving whole in time, in the last %d s",
        l->cfg.name, l->refused, l->cfg.max_per_addr, l->cfg.max_conns, l->cut,
        ACCEPT_WARN_EVERY_MS / 1000);
    l->refused = l->cut = 0;
    l->next_warn_ms = now + ACCEPT_WARN_EVERY_MS;
}

static void accept_addr(const struct sockaddr_storage *ss, struct conntab_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (ss->ss_family == AF_INET) {
        out->b[10] = out->b[11] = 0xff;
        memcpy(&out->b[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    }
}

/* Keeps an answered connection open a little so that the client reads the answer (a close with
 * its request unread would send a reset that can destroy it). */
static void accept_linger_add(struct accept_loop *l, int fd, int64_t now)
{
    if (l->n_linger == ACCEPT_MAX_LINGERING) {
        size_t oldest = 0;
        for (size_t i = 1; i < l->n_linger; i++)
            if (l->linger[i].until_ms < l->linger[oldest].until_ms)
                oldest = i;
        if (l->linger[oldest].fd >= 0)
            close(l->linger[oldest].fd);
        l->linger[oldest] = l->linger[--l->n_linger];
    }
    l->linger[l->n_linger++] = (struct accept_linger){fd, now + ACCEPT_LINGER_MS};
}

static void accept_refuse(struct accept_loop *l, int fd, const struct sockaddr_storage *ss,
                          socklen_t len, enum conntab_verdict v, int64_t now)
{
    const char *reason = v == CONNTAB_OVER_ADDRESS ? "per-address" : "total";
    l->refused++;
    if (l->cfg.reject_response != NULL) {
        /* A few hundred bytes into a fresh socket's buffer: a short write is not worth a wait. */
        ssize_t w = send(fd, l->cfg.reject_response, strlen(l->cfg.reject_response),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        shutdown(fd, SHUT_WR);
        accept_linger_add(l, fd, now);
        accept_count(l, "ember_http_connections_rejected_total", reason);
        return;
    }
    /* HTTPS: only the server can answer through TLS. */
    struct conntab_addr a;
    accept_addr(ss, &a);
    int hold = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int stale = -1, rc = -1;
    if (hold >= 0) {
        pthread_mutex_lock(&l->lock);
        rc = conntab_add(l->tab, fd, hold, &a, true, now, &stale, NULL);
        pthread_mutex_unlock(&l->lock);
    }
    if (stale >= 0)
        close(stale);
    if (rc != 0) {
        if (hold >= 0)
            close(hold);
        close(fd);
        accept_count(l, "ember_http_connections_rejected_total", "unanswered");
        return;
    }
    accept_count(l, "ember_http_connections_rejected_total", reason);
    if (l->ops.handoff(l->ops.ud, fd, (const struct sockaddr *)ss, len) != 0)
        accept_closed(l, fd);
}

static void accept_one(struct accept_loop *l, int fd, const struct sockaddr_storage *ss,
                       socklen_t len, int64_t now)
{
    struct conntab_addr a;
    accept_addr(ss, &a);
    pthread_mutex_lock(&l->lock);
    enum conntab_verdict v = conntab_check(l->tab, &a);
    pthread_mutex_unlock(&l->lock);
    if (v != CONNTAB_ADMIT) {
        accept_refuse(l, fd, ss, len, v, now);
        return;
    }
    /* The loop's own descriptor of the socket: shutting it down cuts the connection, and unlike
     * the server's it cannot be closed and reused under us. */
    int hold = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (hold < 0) {
        close(fd);
        l->pause_until_ms = now + ACCEPT_PAUSE_MS;
        return;
    }
    int stale = -1;
    pthread_mutex_lock(&l->lock);
    int rc = conntab_add(l->tab, fd, hold, &a, false, now, &stale, NULL);
    pthread_mutex_unlock(&l->lock);
    if (stale >= 0)
        close(stale);
    if (rc != 0) { /* only refusing entries can be refused */
        close(hold);
        close(fd);
        return;
    }
    if (l->ops.handoff(l->ops.ud, fd, (const struct sockaddr *)ss, len) != 0)
        accept_closed(l, fd); /* the server closed fd; the hold goes too */
}

static void accept_batch(struct accept_loop *l, int64_t now)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                LOG(LOG_WARN, "http", NULL, strerror(errno),
                    "%s listener: cannot accept a connection", l->cfg.name);
                l->pause_until_ms = now + ACCEPT_PAUSE_MS;
            }
            return; /* EAGAIN, or a connection that went away before it was accepted */
        }
        accept_one(l, fd, &ss, len, now);
        if (l->pause_until_ms > now)
            return;
    }
}

static void accept_sweep(struct accept_loop *l, int64_t now)
{
    struct conntab_sweep s;
    do {
        pthread_mutex_lock(&l->lock);
        conntab_sweep(l->tab, now, &s);
        /* Under the lock: a cut hold stays in the table, and once the lock is released the
         * server's thread may report the connection closed (accept_closed closes the hold and
         * the number can be reused by any other socket). shutdown() does not block. */
        for (size_t i = 0; i < s.n_cut; i++)
            shutdown(s.cut[i], SHUT_RDWR);
        pthread_mutex_unlock(&l->lock);
        for (size_t i = 0; i < s.n_cut; i++)
            accept_count(l, "ember_http_requests_timed_out_total", NULL);
        l->cut += s.n_cut;
        for (size_t i = 0; i < s.n_close; i++)
            close(s.close[i]);
    } while (s.n_cut == CONNTAB_SWEEP_MAX || s.n_close == CONNTAB_SWEEP_MAX);
    for (size_t i = 0; i < l->n_linger;) {
        if (l->linger[i].until_ms <= now) {
            if (l->linger[i].fd >= 0)
                close(l->linger[i].fd);
            l->linger[i] = l->linger[--l->n_linger];
        } else {
            i++;
        }
    }
}

/* Reads and drops what an answered client still sends; closes it at its end. */
static void accept_drain(struct accept_loop *l, size_t i)
{
    char scratch[4096];
    ssize_t r = recv(l->linger[i].fd, scratch, sizeof(scratch), MSG_DONTWAIT);
    if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
        return;
    close(l->linger[i].fd);
    l->linger[i].until_ms = INT64_MIN; /* removed by the next sweep */
    l->linger[i].fd = -1;
}

static void *accept_main(void *arg)
{
    struct accept_loop *l = arg;
    struct pollfd p[2 + ACCEPT_MAX_LINGERING];
    for (;;) {
        int64_t now = clock_mono_ms();
        pthread_mutex_lock(&l->lock);
        int64_t next = conntab_next_deadline(l->tab);
        pthread_mutex_unlock(&l->lock);
        for (size_t i = 0; i < l->n_linger; i++)
            if (l->linger[i].until_ms < next)
                next = l->linger[i].until_ms;
        bool paused = l->pause_until_ms > now;
        if (paused && l->pause_until_ms < next)
            next = l->pause_until_ms;
        if ((l->refused || l->cut) && l->next_warn_ms < next)
            next = l->next_warn_ms;
        int64_t wait_ms = next <= now ? 0 : next - now;
        int timeout = wait_ms > 1000 ? 1000 : (int)wait_ms;
        p[0] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = paused ? -1 : l->listen_fd, .events = POLLIN};
        size_t n_linger = l->n_linger;
        for (size_t i = 0; i < n_linger; i++)
            p[2 + i] = (struct pollfd){.fd = l->linger[i].fd, .events = POLLIN};
        int n = poll(p, 2 + n_linger, timeout);
        if (n < 0 && errno != EINTR) {
            /* ENOMEM and the like pass: keep the listener, never let its thread end silently. */
            if (now >= l->next_poll_warn_ms) {
                LOG(LOG_ERROR, "http", NULL, strerror(errno), "%s listener: poll failed; retrying",
                    l->cfg.name);
                l->next_poll_warn_ms = now + 10000;
            }
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (n > 0 && (p[0].revents & POLLIN))
            return NULL; /* accept_stop */
        now = clock_mono_ms();
        for (size_t i = 0; n > 0 && i < n_linger; i++)
            if (p[2 + i].revents != 0)
                accept_drain(l, i);
        if (n > 0 && (p[1].revents & POLLIN))
            accept_batch(l, now);
        accept_sweep(l, now);
        accept_warn(l, now);
    }
}

/* The caps need two descriptors a connection (the server's and the hold): ask for the hard limit
 * when the soft one is lower than that, as Go's runtime does at start. */
static void accept_raise_nofile(const struct accept_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = 2 * ((rlim_t)cfg->max_conns + ACCEPT_MAX_REFUSING) + ACCEPT_MAX_LINGERING + 256;
    if (rl.rlim_cur >= need)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
    }
    if (rl.rlim_cur < need)
        LOG(LOG_WARN, "http", NULL, NULL,
            "%s listener: the open files limit (%llu) is below the %llu that %u connections "
            "need; connections may be refused before the caps",
            cfg->name, (unsigned long long)rl.rlim_cur, (unsigned long long)need, cfg->max_conns);
}

static WUR int accept_bind(const struct sockaddr *addr, socklen_t len, const char *name,
                           struct err *err)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err_set(err, ERR_TRANSIENT, "%s listener: socket: %s", name, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)); /* IPv4 clients too */
    if (bind(fd, addr, len) != 0 || listen(fd, ACCEPT_BACKLOG) != 0) {
        err_set(err, ERR_TRANSIENT, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct accept_loop *accept_new(const struct sockaddr *addr, socklen_t len,
                               const struct accept_config *cfg, const struct accept_ops *ops,
                               struct err *err)
{
    int fd = accept_bind(addr, len, cfg->name, err);
    if (fd < 0)
        return NULL;
    struct accept_loop *l = xcalloc(1, sizeof(*l));
    l->cfg = *cfg;
    l->ops = *ops;
    l->listen_fd = fd;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&l->lock, NULL);
    struct conntab_limits lim = {
        .max_total = cfg->max_conns,
        .max_per_addr = cfg->max_per_addr,
        .max_refusing = cfg->reject_response == NULL ? ACCEPT_MAX_REFUSING : 0,
        .header_ms = cfg->header_ms,
        .request_ms = cfg->request_ms,
        .idle_ms = cfg->idle_ms,
    };
    l->tab = conntab_new(&lim);
    accept_raise_nofile(cfg);
    return l;
}

int accept_start(struct accept_loop *l, struct err *err)
{
    if (l->wake_fd < 0) {
        err_set(err, ERR_INTERNAL,
                "%s listener: cannot start its accept thread: eventfd failed when it was made",
                l->cfg.name);
        return -1;
    }
    int rc = pthread_create(&l->thread, NULL, accept_main, l);
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "%s listener: cannot start its accept thread: %s", l->cfg.name,
                strerror(rc));
        return -1;
    }
    l->running = true;
    return 0;
}

int accept_port(const struct accept_loop *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(l->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
}

void accept_stop(struct accept_loop *l)
{
    if (l == NULL)
        return;
    if (l->running) {
        uint64_t one = 1;
        ssize_t w = write(l->wake_fd, &one, sizeof(one));
        (void)w;
        pthread_join(l->thread, NULL);
        l->running = false;
    }
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    l->listen_fd = -1;
    for (size_t i = 0; i < l->n_linger; i++)
        if (l->linger[i].fd >= 0)
            close(l->linger[i].fd);
    l->n_linger = 0;
}

void accept_free(struct accept_loop *l)
{
    if (l == NULL)
        return;
    accept_stop(l);
    int hold = conntab_take_any(l->tab);
    while (hold >= 0) {
        close(hold);
        hold = conntab_take_any(l->tab);
    }
    conntab_free(l->tab);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

bool accept_headers(struct accept_loop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    bool refusing = conntab_headers(l->tab, fd);
    pthread_mutex_unlock(&l->lock);
    return refusing;
}

void accept_arrived(struct accept_loop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    conntab_arrived(l->tab, fd);
    pthread_mutex_unlock(&l->lock);
}

void accept_completed(struct accept_loop *l, int fd)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&l->lock);
    conntab_completed(l->tab, fd, now);
    pthread_mutex_unlock(&l->lock);
}

void accept_closed(struct accept_loop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    int hold = conntab_remove(l->tab, fd);
    pthread_mutex_unlock(&l->lock);
    if (hold >= 0)
        close(hold);
}
