/* test_base.c -- the small base modules: b64, buf, strv, usage, timefmt, err, utf8. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/b64.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/strv.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "x509/usage.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- b64 ---- */

static void test_b64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10 */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = b64_encode(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        free(e);
        unsigned char *d = NULL;
        size_t n = 99;
        struct err err = {0};
        assert_int_equal(b64_decode(enc[i], strlen(enc[i]), 100, &d, &n, &err), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
        assert_int_equal(d[n], '\0');
        free(d);
    }
}

static void test_b64_binary_round_trip(void **state)
{
    (void)state;
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    for (size_t len = 0; len <= sizeof(bytes); len += 37) {
        char *e = b64_encode(bytes, len);
        assert_int_equal(strlen(e), (len + 2) / 3 * 4);
        unsigned char *d = NULL;
        size_t n = 0;
        assert_int_equal(b64_decode(e, strlen(e), sizeof(bytes), &d, &n, NULL), 0);
        assert_int_equal(n, len);
        assert_memory_equal(d, bytes, len);
        free(d);
        free(e);
    }
}

static void test_b64_strict(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zm9",       /* length not a multiple of 4 */
        "Zm9v\n",    /* whitespace */
        "Zm 9",      /* space */
        "Zm9v Zg==", /* space */
        "Zm9-",      /* URL alphabet */
        "Zm9_",      /* URL alphabet */
        "Z===",      /* too much padding */
        "Zg==Zg==",  /* padding in the middle */
        "Zm=v",      /* padding then data */
        "====",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        unsigned char *d = NULL;
        size_t n = 0;
        struct err err = {0};
        if (b64_decode(bad[i], strlen(bad[i]), 100, &d, &n, &err) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.msg, "base64"));
        assert_null(d);
    }
}

static void test_b64_limit(void **state)
{
    (void)state;
    unsigned char *d = NULL;
    size_t n = 0;
    struct err err = {0};
    assert_int_equal(b64_decode("Zm9vYmFy", 8, 6, &d, &n, &err), 0); /* exactly the limit */
    free(d);
    d = NULL;
    assert_int_equal(b64_decode("Zm9vYmFy", 8, 5, &d, &n, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_null(d);
    assert_int_equal(b64_decode("Zm9vYg==", 8, 4, &d, &n, &err), 0); /* padding counted */
    assert_int_equal(n, 4);
    free(d);
}

/* Every valid input, also with non-zero bits after the last byte, decodes as OpenSSL's
 * EVP_DecodeBlock decodes it; every byte outside the alphabet is refused at its offset. */
static void test_b64_matches_openssl(void **state)
{
    (void)state;
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        char s[64 + 1];
        size_t len = (size_t)(round % 16 + 1) * 4;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alphabet[(seed >> 16) % 64];
        }
        size_t pad = (size_t)(round % 3);
        for (size_t i = 0; i < pad; i++)
            s[len - 1 - i] = '=';
        s[len] = '\0';
        unsigned char want[64];
        int wn = EVP_DecodeBlock(want, (const unsigned char *)s, (int)len);
        assert_int_equal(wn, (int)(len / 4 * 3));
        unsigned char *d = NULL;
        size_t n = 0;
        assert_int_equal(b64_decode(s, len, 100, &d, &n, NULL), 0);
        assert_int_equal(n, len / 4 * 3 - pad);
        assert_memory_equal(d, want, n);
        assert_int_equal(d[n], '\0');
        free(d);
    }
    for (int c = 0; c < 256; c++) {
        if (c != '=' && strchr(alphabet, c) != NULL && c != 0)
            continue;
        char s[] = "QUJDRA==";
        s[2] = (char)c;
        unsigned char *d = NULL;
        size_t n = 0;
        struct err err = {0};
        assert_int_equal(b64_decode(s, 8, 100, &d, &n, &err), -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.msg, "not base64: unexpected character at offset 2");
        assert_null(d);
    }
}

/* ---- buf ---- */

static void test_buf_append_and_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    struct err e = {0};
    assert_int_equal(buf_append(&b, "hello", 5, &e), 0);
    assert_int_equal(buf_append_str(&b, "world", &e), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    /* one more byte passes the cap: refused, buffer unchanged */
    assert_int_equal(buf_append(&b, "!", 1, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_BIG);
    assert_non_null(strstr(e.msg, "10"));
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    /* a huge n does not wrap */
    assert_int_equal(buf_append(&b, "x", SIZE_MAX, &e), -1);
    assert_int_equal(buf_append(&b, "", 0, &e), 0);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
}

static void test_buf_printf_and_take(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    struct err e = {0};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, &e, "%d,", i), 0);
    assert_int_equal(b.len, 3890);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    assert_int_equal(b.data[b.len], '\0');
    size_t len = 0;
    char *s = buf_take(&b, &len);
    assert_int_equal(len, 3890);
    assert_int_equal(strlen(s), 3890);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    /* an empty buffer hands out "" */
    s = buf_take(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    /* printf beyond the cap */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(buf_printf(&small, &e, "%s", "abcd"), 0);
    assert_int_equal(buf_printf(&small, &e, "%d", 5), -1);
    assert_int_equal(e.kind, ERR_TOO_BIG);
    assert_string_equal(small.data, "abcd");
    buf_free_secret(&small);
    assert_null(small.data);
}

/* ---- strv ---- */

static void test_strv(void **state)
{
    (void)state;
    struct strv sv = {0};
    assert_false(strv_contains(&sv, "a"));
    char word[16];
    for (int i = 0; i < 100; i++) {
        snprintf(word, sizeof(word), "w%d", i);
        strv_push(&sv, word);
    }
    word[0] = 'x'; /* strv_push copied */
    assert_int_equal(sv.n, 100);
    assert_string_equal(sv.v[0], "w0");
    assert_string_equal(sv.v[99], "w99");
    assert_true(strv_contains(&sv, "w42"));
    assert_false(strv_contains(&sv, "w100"));
    strv_push_take(&sv, xstrdup("owned"));
    assert_true(strv_contains(&sv, "owned"));
    strv_free(&sv);
    assert_int_equal(sv.n, 0);
    assert_null(sv.v);
    strv_push(&sv, "again"); /* reusable */
    assert_int_equal(sv.n, 1);
    strv_free(&sv);
}

/* ---- usage ---- */

static void test_usage_names(void **state)
{
    (void)state;
    /* every cert-manager name maps to itself (contract §1.1 list) */
    const char *names[] = {"signing",
                           "digital signature",
                           "content commitment",
                           "key encipherment",
                           "key agreement",
                           "data encipherment",
                           "cert sign",
                           "crl sign",
                           "encipher only",
                           "decipher only",
                           "any",
                           "server auth",
                           "client auth",
                           "code signing",
                           "email protection",
                           "s/mime",
                           "ipsec end system",
                           "ipsec tunnel",
                           "ipsec user",
                           "timestamping",
                           "ocsp signing",
                           "microsoft sgc",
                           "netscape sgc"};
    assert_int_equal(sizeof(names) / sizeof(*names), USAGE_COUNT);
    for (size_t i = 0; i < USAGE_COUNT; i++) {
        int u = usage_from_name(names[i]);
        if (u < 0)
            fail_msg("\"%s\" unknown", names[i]);
        assert_string_equal(usage_name((enum usage)u), names[i]);
    }
    assert_int_equal(usage_from_name("Server Auth"), -1);
    assert_int_equal(usage_from_name("serverAuth"), -1);
    assert_int_equal(usage_from_name(""), -1);
    assert_string_equal(usage_name(USAGE_COUNT), "unknown");
}

static void test_usage_x509(void **state)
{
    (void)state;
    struct usage_x509 x;
    usage_to_x509(USAGE_DEFAULT, false, &x);
    assert_int_equal(x.ku, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    assert_int_equal(x.n_eku, 0);

    /* isCA adds cert sign */
    usage_to_x509(USAGE_DEFAULT, true, &x);
    assert_int_equal(x.ku, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_CERT_SIGN);

    /* "email protection" and "s/mime" are the same EKU: listed once */
    usage_to_x509(USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_EMAIL_PROTECTION) |
                      USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_CLIENT_AUTH),
                  false, &x);
    assert_int_equal(x.ku, 0);
    assert_int_equal(x.n_eku, 3);
    assert_int_equal(x.eku[0], NID_server_auth);
    assert_int_equal(x.eku[1], NID_client_auth);
    assert_int_equal(x.eku[2], NID_email_protect);

    /* "signing" and "digital signature" grant the same bit */
    struct usage_x509 a, b;
    usage_to_x509(USAGE_BIT(USAGE_SIGNING), false, &a);
    usage_to_x509(USAGE_BIT(USAGE_DIGITAL_SIGNATURE), false, &b);
    assert_true(usage_x509_equal(&a, &b));
    /* EKU order does not matter; content does */
    a = (struct usage_x509){.ku = 1, .eku = {NID_server_auth, NID_client_auth}, .n_eku = 2};
    b = (struct usage_x509){.ku = 1, .eku = {NID_client_auth, NID_server_auth}, .n_eku = 2};
    assert_true(usage_x509_equal(&a, &b));
    b.eku[1] = NID_code_sign;
    assert_false(usage_x509_equal(&a, &b));
    b = a;
    b.ku = 2;
    assert_false(usage_x509_equal(&a, &b));
}

static void test_usage_format(void **state)
{
    (void)state;
    char out[128];
    usage_format(USAGE_DEFAULT | USAGE_BIT(USAGE_SERVER_AUTH), out, sizeof(out));
    assert_string_equal(out, "digital signature, key encipherment, server auth");
    usage_format(0, out, sizeof(out));
    assert_string_equal(out, "");
    char small[12];
    usage_format(USAGE_DEFAULT, small, sizeof(small));
    assert_true(strlen(small) < sizeof(small)); /* bounded, terminated */
}

/* ---- timefmt ---- */

static void test_timefmt_format(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    timefmt_rfc3339(1735689600 + 3661, out);
    assert_string_equal(out, "2025-01-01T01:01:01Z");
}

static void test_timefmt_parse(void **state)
{
    (void)state;
    const struct {
        const char *s;
        time_t t;
    } ok[] = {
        {"2025-01-01T00:00:00Z", 1735689600},
        {"2025-01-01T00:00:00.123456Z", 1735689600},
        {"2025-01-01T02:00:00+02:00", 1735689600},
        {"2024-12-31T23:00:00-01:00", 1735689600},
        {"1970-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        time_t t = -1;
        if (timefmt_parse_rfc3339(ok[i].s, &t) != 0)
            fail_msg("\"%s\" refused", ok[i].s);
        assert_true(t == ok[i].t);
    }
    const char *bad[] = {"",
                         "2025-01-01",
                         "2025-01-01T00:00:00",
                         "2025-01-01T00:00:00Zjunk",
                         "2025-01-01 00:00:00Z",
                         "2025-01-01T00:00:00+0200",
                         "yesterday"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        time_t t = 0;
        if (timefmt_parse_rfc3339(bad[i], &t) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    /* round trip */
    char out[TIMEFMT_LEN];
    timefmt_rfc3339(1700000000, out);
    time_t t = 0;
    assert_int_equal(timefmt_parse_rfc3339(out, &t), 0);
    assert_true(t == 1700000000);
}

/* ---- err ---- */

static void test_err(void **state)
{
    (void)state;
    err_set(NULL, ERR_INVALID, "ignored %d", 1);
    err_prefix(NULL, "x");
    err_clear(NULL);

    struct err e = {0};
    err_set(&e, ERR_TRANSIENT, "vault %s: %d", "sealed", 503);
    assert_int_equal(e.kind, ERR_TRANSIENT);
    assert_string_equal(e.msg, "vault sealed: 503");
    err_prefix(&e, "Issuer/%s", "a");
    assert_int_equal(e.kind, ERR_TRANSIENT);
    assert_string_equal(e.msg, "Issuer/a: vault sealed: 503");
    err_clear(&e);
    assert_int_equal(e.kind, ERR_NONE);
    assert_string_equal(e.msg, "");

    /* long messages are cut to the buffer */
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, ERR_INVALID, "%s", big);
    assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
    /* a prefix that makes it too long: cut, and it says so */
    err_prefix(&e, "file.yaml");
    assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
    assert_int_equal(strncmp(e.msg, "file.yaml: ", 11), 0);
    assert_string_equal(e.msg + ERR_MSG_MAX - 4, "...");

    const enum err_kind kinds[] = {ERR_NONE,      ERR_INVALID, ERR_TOO_BIG,          ERR_PERMANENT,
                                   ERR_TRANSIENT, ERR_PENDING, ERR_ISSUER_NOT_READY, ERR_INTERNAL};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
        const char *n = err_kind_name(kinds[i]);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(n, err_kind_name(kinds[j]));
    }
    assert_string_equal(err_kind_name(ERR_INVALID), "invalid");
    assert_string_equal(err_kind_name(ERR_TRANSIENT), "transient");
}

static void test_err_openssl(void **state)
{
    (void)state;
    struct err e = {0};
    err_set(&e, ERR_INVALID, "tls.key");
    ERR_clear_error();
    err_append_openssl(&e); /* empty queue: unchanged */
    assert_string_equal(e.msg, "tls.key");
    /* provoke an OpenSSL error */
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "NO-SUCH-ALGORITHM");
    assert_null(k);
    assert_int_not_equal(ERR_peek_error(), 0);
    err_append_openssl(&e);
    assert_int_equal(strncmp(e.msg, "tls.key: ", 9), 0);
    assert_true(strlen(e.msg) > 9);
    assert_int_equal(ERR_peek_error(), 0); /* queue cleared */
}

static void test_utf8_seq_len(void **state)
{
    (void)state;
    struct {
        const char *s;
        size_t avail, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},         /* e acute */
        {"\xe2\x82\xac", 3, 3},     /* euro sign */
        {"\xf0\x9f\x94\x91", 4, 4}, /* U+1F511 */
        {"\xf0\x9f\x94\x91", 3, 0}, /* cut short */
        {"\x80", 1, 0},             /* stray continuation byte */
        {"\xc0\xaf", 2, 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0}, /* invalid lead byte */
        {"\xc3\x28", 2, 0},         /* bad continuation */
        {"\xc3", 2, 0},             /* the NUL after it is not a continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(utf8_seq_len((const unsigned char *)cases[i].s, cases[i].avail),
                         cases[i].want);
}

static void test_utf8_escape(void **state)
{
    (void)state;
    char out[UTF8_ESCAPE_SIZE(8)];
    utf8_escape("a\"b\\c", 8, true, out, sizeof(out));
    assert_string_equal(out, "\"a\\\"b\\\\c\"");
    utf8_escape("\x01\x7f\xff\xc3\xa9", 8, false, out, sizeof(out));
    assert_string_equal(out, "\\x01\\x7f\\xff\xc3\xa9");
    /* cut after 8 bytes of input, marked "..."; a character cut there is escaped bytewise */
    utf8_escape("abcdefg\xc3\xa9z", 8, true, out, sizeof(out));
    assert_string_equal(out, "\"abcdefg\\xc3...\"");
    utf8_escape("abcdefgh", 8, false, out, sizeof(out));
    assert_string_equal(out, "abcdefgh");
    /* a small buffer keeps whole escapes and stays terminated */
    char small[8];
    utf8_escape("\x01\x02\x03", 8, false, small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    utf8_escape("x", 8, false, small, 0); /* no room at all: nothing written */
}

/* clock_deadline is ms after now on CLOCK_MONOTONIC, normalised; a condition set up by
 * clock_cond_init times out there, not on the wall clock. */
static void test_clock_deadline(void **state)
{
    (void)state;
    int64_t ms[] = {0, 1, 999, 1000, 1001, 2500, 86400000, -5};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        struct timespec d = clock_deadline(ms[i]);
        clock_gettime(CLOCK_MONOTONIC, &after);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
        int64_t want = ms[i] < 0 ? 0 : ms[i];
        int64_t d_ns = (int64_t)d.tv_sec * 1000000000 + d.tv_nsec;
        int64_t lo = (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + want * 1000000;
        int64_t hi = (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + want * 1000000;
        assert_true(d_ns >= lo && d_ns <= hi);
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    assert_int_equal(clock_cond_init(&cond), 0);
    int64_t t0 = clock_mono_ms();
    struct timespec until = clock_deadline(50);
    pthread_mutex_lock(&mu);
    int rc;
    while ((rc = pthread_cond_timedwait(&cond, &mu, &until)) == 0)
        ;
    pthread_mutex_unlock(&mu);
    int64_t waited = clock_mono_ms() - t0;
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(waited >= 49 && waited < 10000); /* a wall-clock wait would end at once */
    pthread_cond_destroy(&cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_deadline),
        cmocka_unit_test(test_b64_vectors),
        cmocka_unit_test(test_b64_binary_round_trip),
        cmocka_unit_test(test_b64_strict),
        cmocka_unit_test(test_b64_limit),
        cmocka_unit_test(test_b64_matches_openssl),
        cmocka_unit_test(test_buf_append_and_cap),
        cmocka_unit_test(test_buf_printf_and_take),
        cmocka_unit_test(test_strv),
        cmocka_unit_test(test_usage_names),
        cmocka_unit_test(test_usage_x509),
        cmocka_unit_test(test_usage_format),
        cmocka_unit_test(test_timefmt_format),
        cmocka_unit_test(test_timefmt_parse),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_err_openssl),
        cmocka_unit_test(test_utf8_seq_len),
        cmocka_unit_test(test_utf8_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
