/* cidr.c -- IP addresses and CIDR ranges (see cidr.h). */
#include "base/cidr.h"

#include <arpa/inet.h>
#include <string.h>

int cidr_parse_ip(const char *s, unsigned char addr[16])
{
    if (inet_pton(AF_INET, s, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, addr) == 1)
        return AF_INET6;
    return 0;
}

/* The decimal prefix after the '/': 0..maxp, no leading zeros; -1 when it is not one. */
static int cidr_parse_prefix(const char *d, unsigned maxp)
{
    size_t dn = strlen(d);
    if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < dn; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(d[i] - '0');
    }
    return v > maxp ? -1 : (int)v;
}

int cidr_parse(const char *s, struct cidr *out)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    out->family = cidr_parse_ip(addr, out->addr);
    if (out->family == 0)
        return -1;
    unsigned maxp = out->family == AF_INET ? 32 : 128;
    out->prefix = maxp;
    if (slash != NULL) {
        int v = cidr_parse_prefix(slash + 1, maxp);
        if (v < 0)
            return -1;
        out->prefix = (unsigned)v;
    }
    for (unsigned bit = out->prefix; bit < maxp; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
}

bool cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (addr[full] & mask) == (c->addr[full] & mask);
}
