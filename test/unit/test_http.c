/* test_http.c -- listener addresses (http_parse_bind): forms, loopback detection, errors. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "front/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void test_ipv4(void **state)
{
    (void)state;
    const struct {
        const char *bind, *addr;
        int port;
        bool loopback;
    } cases[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080, true},   {"127.1.2.3:1", "127.1.2.3", 1, true},
        {"localhost:65535", "127.0.0.1", 65535, true}, {"0.0.0.0:8081", "0.0.0.0", 8081, false},
        {"10.1.2.3:443", "10.1.2.3", 443, false},      {"128.0.0.1:80", "128.0.0.1", 80, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        bool lo = !cases[i].loopback;
        struct err e = {0};
        if (http_parse_bind(cases[i].bind, &ss, &len, &lo, &e) != 0)
            fail_msg("%s: %s", cases[i].bind, e.msg);
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        assert_int_equal(a->sin_family, AF_INET);
        assert_int_equal(len, sizeof(struct sockaddr_in));
        assert_int_equal(ntohs(a->sin_port), cases[i].port);
        char text[INET_ADDRSTRLEN];
        assert_non_null(inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text)));
        assert_string_equal(text, cases[i].addr);
        assert_int_equal(lo, cases[i].loopback);
    }
}

static void test_all_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    bool lo = true;
    struct err e = {0};
    assert_int_equal(http_parse_bind(":8081", &ss, &len, &lo, &e), 0);
    assert_false(lo);
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(a->sin6_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(a->sin6_port), 8081);
    assert_true(IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr));
}

static void test_ipv6(void **state)
{
    (void)state;
    const struct {
        const char *bind;
        int port;
        bool loopback;
    } cases[] = {
        {"[::1]:9000", 9000, true},
        {"[::]:9000", 9000, false},
        {"[2001:db8::1]:443", 443, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        bool lo = !cases[i].loopback;
        struct err e = {0};
        if (http_parse_bind(cases[i].bind, &ss, &len, &lo, &e) != 0)
            fail_msg("%s: %s", cases[i].bind, e.msg);
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        assert_int_equal(a->sin6_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        assert_int_equal(ntohs(a->sin6_port), cases[i].port);
        assert_int_equal(lo, cases[i].loopback);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "8080",            /* no colon */
        "127.0.0.1",       /* no port */
        "127.0.0.1:",      /* empty port */
        "127.0.0.1:0",     /* port 0 */
        "127.0.0.1:65536", /* too big */
        "127.0.0.1:-1",
        "127.0.0.1:80x",
        "127.0.0.1:http",
        "example.com:80", /* names are not resolved */
        "256.0.0.1:80",
        "[::1:80", /* unclosed bracket */
        "[zz::1]:80",
        "::1:80",         /* IPv6 needs brackets */
        "[127.0.0.1]:80", /* IPv4 in brackets */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:"
        "80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        bool lo = false;
        struct err e = {0};
        if (http_parse_bind(bad[i], &ss, &len, &lo, &e) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(e.kind, ERR_INVALID);
        /* the message quotes what was given (cut for long input) */
        char head[16];
        snprintf(head, sizeof(head), "%s", bad[i]);
        if (strstr(e.msg, head) == NULL)
            fail_msg("message \"%s\" does not quote \"%s\"", e.msg, bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_all_addresses),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
