/* test_k8sname.c -- DNS-1123 labels (namespaces) and subdomains (object names). */
#include "base/k8sname.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

static bool label(const char *s)
{
    return k8sname_is_label(s, strlen(s));
}

static bool subdomain(const char *s)
{
    return k8sname_is_subdomain(s, strlen(s));
}

static void test_labels(void **state)
{
    (void)state;
    assert_true(label("a"));
    assert_true(label("team-a"));
    assert_true(label("0x1"));
    char s[80];
    memset(s, 'n', 63);
    s[63] = '\0';
    assert_true(label(s));
    s[63] = 'n';
    s[64] = '\0';
    assert_false(label(s)); /* 64 bytes */
    const char *const bad[] = {"",       "-a",  "a-",  "Team",    "team.a",
                               "team_a", "a b", "a\n", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (label(bad[i]))
            fail_msg("\"%s\" taken for a label", bad[i]);
    assert_false(k8sname_is_label("a\0b", 3)); /* a NUL inside */
}

static void test_subdomains(void **state)
{
    (void)state;
    assert_true(subdomain("a"));
    assert_true(subdomain("app.team-a.example.com"));
    assert_true(subdomain("api-3f2a1"));
    char s[300];
    memset(s, 'b', sizeof(s));
    s[0] = 'a';
    s[1] = '.';
    s[253] = '\0';
    assert_true(subdomain(s)); /* 253 bytes, a part of 251: only the whole is bounded */
    s[253] = 'b';
    s[254] = '\0';
    assert_false(subdomain(s));
    const char *const bad[] = {"",    ".a",          "a.",  "a..b", "a.-b", "a-.b", "Upper.Case",
                               "a_b", "bad\nname\a", "a/b", "a b",  "-a",   "a:b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (subdomain(bad[i]))
            fail_msg("\"%s\" taken for a subdomain", bad[i]);
    assert_false(k8sname_is_subdomain("a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_subdomains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
