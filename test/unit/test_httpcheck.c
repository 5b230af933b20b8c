/* test_httpcheck.c -- request body framing checks (RFC 9112 sections 3.2, 5.1, 6.1-6.3). */
#include "front/httpcheck.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <string.h>

/* The verdict on "Name: value" lines (NULL-terminated) of a request of version; *msg the why. */
static unsigned verdict(const char *version, const char *const *lines, char *msg, size_t msg_len)
{
    struct httpcheck c;
    httpcheck_init(&c);
    for (size_t i = 0; lines[i] != NULL; i++) {
        const char *colon = strchr(lines[i], ':');
        assert_non_null(colon);
        const char *v = colon + 1;
        httpcheck_header(&c, lines[i], (size_t)(colon - lines[i]), v, strlen(v));
    }
    unsigned s = httpcheck_verdict(&c, version);
    snprintf(msg, msg_len, "%s", c.msg);
    return s;
}

static void expect(const char *version, const char *const *lines, unsigned want,
                   const char *want_in_msg)
{
    char msg[HTTPCHECK_MSG_MAX];
    unsigned got = verdict(version, lines, msg, sizeof(msg));
    if (got != want)
        fail_msg("%s %s...: got %u (%s), want %u", version, lines[0] ? lines[0] : "(none)", got,
                 msg, want);
    if (want_in_msg != NULL && strstr(msg, want_in_msg) == NULL)
        fail_msg("%s %s...: message \"%s\" lacks \"%s\"", version, lines[0], msg, want_in_msg);
    if (want == 0 && msg[0] != '\0')
        fail_msg("a message without a verdict: %s", msg);
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_sound_framing_passes(void **state)
{
    (void)state;
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 12"), 0, NULL);
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked"), 0, NULL);
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding:  Chunked"), 0, NULL);
    expect("HTTP/1.1", LINES("Host: a"), 0, NULL);
    expect("HTTP/1.0", LINES("Content-Length: 3"), 0, NULL); /* Host is optional in 1.0 */
    /* The same length twice is one length (RFC 9110 section 8.6). */
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 7", "content-length: 7"), 0, NULL);
}

static void test_content_length(void **state)
{
    (void)state;
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 0", "Content-Length: 90"), 400,
           "two different Content-Lengths (0 and 90)");
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 5, 5"), 400, "not a byte count");
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: -1"), 400, "not a byte count");
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: "), 400, "not a byte count");
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 0x10"), 400, "not a byte count");
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 99999999999999999999999"), 400,
           "not a byte count");
}

static void test_length_with_encoding(void **state)
{
    (void)state;
    expect("HTTP/1.1", LINES("Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"), 400,
           "Content-Length together with Transfer-Encoding");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"), 400,
           "Content-Length together with Transfer-Encoding");
}

static void test_codings(void **state)
{
    (void)state;
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked, identity"), 400,
           "chunked must be the last coding");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip"),
           400, "chunked must be the last coding");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked, chunked"), 400,
           "chunked must be the last coding");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked;x=1"), 400, "no parameters");
    /* libmicrohttpd decodes chunked only for the value "chunked" itself: a list that names it
     * any other way (a blank after it, empty elements) would be read as a body of unknown
     * length, so it is refused. */
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked "), 400, "exactly");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chunked,"), 400, "exactly");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: ,chunked"), 400, "exactly");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: , chunked,"), 400, "exactly");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: xchunked"), 501,
           "\"xchunked\" is not supported");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: gzip, chunked"), 501,
           "\"gzip\" is not supported");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: ,"), 400, "names no coding");
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: chu nked"), 400, "not a coding name");
    /* A framing error outranks an unknown coding, whatever the order. */
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding: gzip, chunked, gzip"), 400,
           "must be the last");
    expect("HTTP/1.0", LINES("Transfer-Encoding: chunked"), 400, "HTTP/1.0");
}

static void test_names_and_host(void **state)
{
    (void)state;
    expect("HTTP/1.1", LINES("Host: a", "Transfer-Encoding : chunked"), 400,
           "\"Transfer-Encoding \" is not a token");
    expect("HTTP/1.1", LINES("Host: a", "X\tY: 1"), 400, "\"X?Y\" is not a token");
    expect("HTTP/1.1", LINES("Content-Length: 0"), 400, "must have a Host header");
    expect("HTTP/1.1", LINES("Host: a", "host: b"), 400, "2 Host header lines");
    expect("HTTP/1.0", LINES("Host: a", "Host: b"), 400, "2 Host header lines");
}

static void test_echo_is_bounded_and_printable(void **state)
{
    (void)state;
    char name[600];
    memset(name, 'x', sizeof(name));
    name[3] = '\x01';
    struct httpcheck c;
    httpcheck_init(&c);
    httpcheck_header(&c, name, sizeof(name), "", 0);
    httpcheck_header(&c, "Host", 4, "a", 1);
    assert_int_equal(httpcheck_verdict(&c, "HTTP/1.1"), 400);
    assert_true(strlen(c.msg) < HTTPCHECK_MSG_MAX);
    for (const char *p = c.msg; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    assert_non_null(strstr(c.msg, "xxx?xxx"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_framing_passes),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_length_with_encoding),
        cmocka_unit_test(test_codings),
        cmocka_unit_test(test_names_and_host),
        cmocka_unit_test(test_echo_is_bounded_and_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
