/* test_cidr.c -- IP addresses and CIDR ranges: parsing and membership. */
#include "base/cidr.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <string.h>

static bool inside(const char *range, const char *ip)
{
    struct cidr c;
    if (cidr_parse(range, &c) != 0)
        fail_msg("%s does not parse", range);
    unsigned char addr[16];
    int fam = cidr_parse_ip(ip, addr);
    if (fam == 0)
        fail_msg("%s is not an address", ip);
    return cidr_contains(&c, fam, addr);
}

static void test_parse(void **state)
{
    (void)state;
    struct cidr c;
    assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 32);
    /* a lone address is a /32 or a /128 */
    assert_int_equal(cidr_parse("192.168.1.7", &c), 0);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
    assert_int_equal(c.prefix, 0);
    /* host bits are cleared, as Go's net.ParseCIDR does */
    assert_int_equal(cidr_parse("10.1.2.3/8", &c), 0);
    static const unsigned char ten[4] = {10, 0, 0, 0};
    assert_memory_equal(c.addr, ten, 4);

    const char *const bad[] = {"",         "/8",          "10.0.0.0/",   "10.0.0.0/33",
                               "::/129",   "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/8/8",
                               "10.0.0/8", "example.com", "10.0.0.0/ 8", "10.0.0.0/1000",
                               "1.2.3.4 ", "fe80::1%eth0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (cidr_parse(bad[i], &c) == 0)
            fail_msg("\"%s\" parsed", bad[i]);
    char longer[128];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(cidr_parse(longer, &c), -1);
}

static void test_contains(void **state)
{
    (void)state;
    assert_true(inside("10.0.0.0/8", "10.255.1.2"));
    assert_false(inside("10.0.0.0/8", "11.0.0.1"));
    assert_true(inside("192.168.1.0/25", "192.168.1.127"));
    assert_false(inside("192.168.1.0/25", "192.168.1.128"));
    assert_true(inside("192.168.1.7", "192.168.1.7"));
    assert_false(inside("192.168.1.7", "192.168.1.8"));
    assert_true(inside("0.0.0.0/0", "8.8.8.8"));
    assert_true(inside("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(inside("2001:db8::/32", "2001:db9::1"));
    assert_true(inside("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(inside("2001:db8::/33", "2001:db8:8000::1"));
    /* families never mix: ::ffff:10.0.0.1 is an IPv6 address */
    assert_false(inside("10.0.0.0/8", "::ffff:10.0.0.1"));
    assert_false(inside("::/0", "10.0.0.1"));
    unsigned char addr[16];
    assert_int_equal(cidr_parse_ip("not-an-ip", addr), 0);
    assert_int_equal(cidr_parse_ip("10.0.0.0/8", addr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_contains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
