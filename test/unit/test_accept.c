/* test_accept.c -- the accept loop on loopback with a stand-in server: admitted sockets handed
 * off, 503 over a cap, late requests cut, answered ones kept, HTTPS refusals handed off marked. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "front/accept.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define REJECT "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n"

/* The stand-in server: keeps what it is handed, or refuses (closes) when told to. */
struct server {
    pthread_mutex_t lock;
    int fds[16];
    size_t n;
    bool refuse;
};

static int server_handoff(void *ud, int fd, const struct sockaddr *addr, socklen_t len)
{
    struct server *s = ud;
    (void)addr;
    (void)len;
    pthread_mutex_lock(&s->lock);
    bool refuse = s->refuse || s->n == 16;
    if (!refuse)
        s->fds[s->n++] = fd;
    pthread_mutex_unlock(&s->lock);
    if (refuse)
        close(fd);
    return refuse ? -1 : 0;
}

/* Waits up to 2 s for the server to hold n sockets; returns the last one. */
static int server_wait(struct server *s, size_t n)
{
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&s->lock);
        int fd = s->n >= n ? s->fds[n - 1] : -1;
        pthread_mutex_unlock(&s->lock);
        if (fd >= 0)
            return fd;
        usleep(10000);
    }
    fail_msg("the server never got %zu sockets", n);
    return -1;
}

static struct accept_loop *start(struct server *s, const char *reject, int64_t header_ms)
{
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct accept_config cfg = {
        .name = "test",
        .max_conns = 3,
        .max_per_addr = 2,
        .header_ms = header_ms,
        .request_ms = header_ms,
        .idle_ms = header_ms,
        .reject_response = reject,
    };
    struct accept_ops ops = {.handoff = server_handoff, .ud = s};
    struct err e = {0};
    struct accept_loop *l = accept_new((struct sockaddr *)&a, sizeof(a), &cfg, &ops, &e);
    if (l == NULL)
        fail_msg("accept_new: %s", e.msg);
    if (accept_start(l, &e) != 0)
        fail_msg("accept_start: %s", e.msg);
    return l;
}

static void stop(struct accept_loop *l, struct server *s)
{
    accept_stop(l);
    for (size_t i = 0; i < s->n; i++) {
        accept_closed(l, s->fds[i]);
        close(s->fds[i]);
    }
    accept_free(l);
    pthread_mutex_destroy(&s->lock);
}

/* A client from 127.0.0.<last>. */
static int client(const struct accept_loop *l, int last)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | last)};
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)accept_port(l)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
    return fd;
}

/* What the client reads until the server's end or ms pass: returns the bytes read (-1: the
 * connection is still open after ms). */
static ssize_t read_to_end(int fd, char *buf, size_t n, int ms)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            return -1;
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r <= 0) {
            buf[got] = '\0';
            return (ssize_t)got;
        }
        got += (size_t)r;
    }
}

static void test_caps_and_503(void **state)
{
    (void)state;
    struct server s = {0};
    struct accept_loop *l = start(&s, REJECT, 60000);
    int c1 = client(l, 2), c2 = client(l, 2);
    server_wait(&s, 2);
    /* The third from that address is answered 503, and closed. */
    int c3 = client(l, 2);
    char buf[256];
    assert_int_equal(read_to_end(c3, buf, sizeof(buf), 2000), (ssize_t)strlen(REJECT));
    assert_string_equal(buf, REJECT);
    /* Another address gets the third place in all; a fourth client is over the total. */
    int c4 = client(l, 3);
    server_wait(&s, 3);
    int c5 = client(l, 4);
    assert_int_equal(read_to_end(c5, buf, sizeof(buf), 2000), (ssize_t)strlen(REJECT));
    /* A connection the server closes frees its place. */
    accept_closed(l, s.fds[0]);
    close(s.fds[0]);
    s.fds[0] = s.fds[--s.n];
    int c6 = client(l, 4);
    server_wait(&s, 3);
    const int clients[] = {c1, c2, c3, c4, c5, c6};
    for (size_t i = 0; i < sizeof(clients) / sizeof(*clients); i++)
        close(clients[i]);
    stop(l, &s);
}

static void test_deadline(void **state)
{
    (void)state;
    struct server s = {0};
    struct accept_loop *l = start(&s, REJECT, 300);
    int slow = client(l, 2);
    int sfd = server_wait(&s, 1);
    int quick = client(l, 3);
    int qfd = server_wait(&s, 2);
    assert_false(accept_headers(l, qfd));
    accept_arrived(l, qfd); /* in whole: answered however long it takes */
    char buf[64];
    /* The slow one is cut: its client sees the end, the server's socket reads EOF too. */
    assert_int_equal(read_to_end(slow, buf, sizeof(buf), 2000), 0);
    assert_int_equal(read_to_end(sfd, buf, sizeof(buf), 2000), 0);
    assert_int_equal(read_to_end(quick, buf, sizeof(buf), 500), -1);
    /* Answered: the next request has its own deadline. */
    accept_completed(l, qfd);
    assert_int_equal(read_to_end(quick, buf, sizeof(buf), 2000), 0);
    close(slow);
    close(quick);
    stop(l, &s);
}

static void test_refused_by_server(void **state)
{
    (void)state;
    struct server s = {.refuse = true};
    struct accept_loop *l = start(&s, REJECT, 60000);
    char buf[64];
    /* The server closes what it refuses, and the place is not kept. */
    for (int i = 0; i < 3; i++) {
        int c = client(l, 2);
        assert_int_equal(read_to_end(c, buf, sizeof(buf), 2000), 0);
        close(c);
    }
    pthread_mutex_lock(&s.lock);
    s.refuse = false;
    pthread_mutex_unlock(&s.lock);
    int c = client(l, 2);
    server_wait(&s, 1);
    close(c);
    stop(l, &s);
}

static void test_https_refusal_handed_off(void **state)
{
    (void)state;
    struct server s = {0};
    struct accept_loop *l = start(&s, NULL, 60000);
    int c1 = client(l, 2), c2 = client(l, 2);
    int f1 = server_wait(&s, 2);
    int c3 = client(l, 2);
    int f3 = server_wait(&s, 3);
    assert_false(accept_headers(l, f1));
    assert_true(accept_headers(l, f3)); /* the server answers it 503 through TLS */
    /* ACCEPT_MAX_REFUSING refusals at once; beyond, closed unanswered. */
    int extra[ACCEPT_MAX_REFUSING];
    for (int i = 0; i < ACCEPT_MAX_REFUSING; i++)
        extra[i] = client(l, 2);
    char buf[64];
    assert_int_equal(read_to_end(extra[ACCEPT_MAX_REFUSING - 1], buf, sizeof(buf), 2000), 0);
    for (int i = 0; i < ACCEPT_MAX_REFUSING; i++)
        close(extra[i]);
    close(c1);
    close(c2);
    close(c3);
    stop(l, &s);
}

static void test_bind_error(void **state)
{
    (void)state;
    struct server s = {0};
    struct accept_loop *l = start(&s, REJECT, 1000);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)accept_port(l)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct accept_config cfg = {.name = "again", .max_conns = 1, .max_per_addr = 1};
    struct accept_ops ops = {.handoff = server_handoff, .ud = &s};
    struct err e = {0};
    assert_null(accept_new((struct sockaddr *)&a, sizeof(a), &cfg, &ops, &e));
    assert_int_equal(e.kind, ERR_TRANSIENT);
    assert_non_null(strstr(e.msg, "in use"));
    stop(l, &s);
    accept_stop(NULL);
    accept_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_and_503),      cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_refused_by_server), cmocka_unit_test(test_https_refusal_handed_off),
        cmocka_unit_test(test_bind_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
