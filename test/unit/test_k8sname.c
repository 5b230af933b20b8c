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

/* Label keys and values as Kubernetes validates them (IsQualifiedName, IsValidLabelValue). */
static void test_label_keys_and_values(void **state)
{
    (void)state;
    char n63[64], n64[65];
    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';
    const char *const keys[] = {"a", "Team", "a_b.c-d", "ember.issuer.dev/certs", "x/Y", n63};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        if (!k8sname_is_label_key(keys[i]))
            fail_msg("\"%s\" refused as a label key", keys[i]);
    const char *const bad_keys[] = {
        "",     "team=a",           "-a", "a-", "a b", "/", "a/", "/a", "Ex.com/team", "a/b/c", n64,
        "a\nb", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(*bad_keys); i++)
        if (k8sname_is_label_key(bad_keys[i]))
            fail_msg("\"%s\" taken for a label key", bad_keys[i]);
    const char *const values[] = {"", "a", "X_y.z-1", n63};
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++)
        if (!k8sname_is_label_value(values[i]))
            fail_msg("\"%s\" refused as a label value", values[i]);
    const char *const bad_values[] = {"a=b", "a b", "-a", "a.", "a/b", n64, "a\tb"};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(*bad_values); i++)
        if (k8sname_is_label_value(bad_values[i]))
            fail_msg("\"%s\" taken for a label value", bad_values[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_subdomains),
        cmocka_unit_test(test_label_keys_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
