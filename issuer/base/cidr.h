/* cidr.h -- IP addresses and CIDR ranges (IPv4 and IPv6) in text form, and membership. Pure. */
#ifndef EMBER_CIDR_H
#define EMBER_CIDR_H

#include <stdbool.h>

#include "base/err.h"

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
};

/* Parses an IPv4 or IPv6 address in text form into addr (4 or 16 bytes used). Returns AF_INET
 * or AF_INET6, or 0 when s is not an address. */
int cidr_parse_ip(const char *s, unsigned char addr[16]);

/* Parses "ADDR/PREFIX" or a lone ADDR (a /32 or /128) into out: the prefix in decimal without
 * leading zeros, at most the address's bits. Host bits are cleared, as Go's net.ParseCIDR
 * does. Returns 0, or -1 when s is not one. */
int cidr_parse(const char *s, struct cidr *out) WUR;

/* True when the address (family, addr as cidr_parse_ip wrote it) is inside c. */
bool cidr_contains(const struct cidr *c, int family, const unsigned char *addr);

#endif
