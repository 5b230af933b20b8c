/* devca.h -- a throwaway development CA, written as a kubernetes.io/tls Secret manifest. */
#ifndef EMBER_DEVCA_H
#define EMBER_DEVCA_H

#include "base/err.h"

#include <time.h>

/* Names in the manifest: Kubernetes' limits (RFC 1123 label / subdomain). */
#define DEVCA_MAX_NAMESPACE 63
#define DEVCA_MAX_NAME 253

#define DEVCA_ROOT_CN "Ember development root"
#define DEVCA_SUB_CN "Ember development sub-CA"
#define DEVCA_ROOT_DAYS 3650 /* 10 years */
#define DEVCA_SUB_DAYS 365   /* 1 year */

/* Generates a new EC P-256 self-signed root (DEVCA_ROOT_CN, DEVCA_ROOT_DAYS) and an EC P-256
 * sub-CA it issues (DEVCA_SUB_CN, DEVCA_SUB_DAYS, pathlen:0, keyCertSign + cRLSign), both
 * valid from an hour before now (clock skew), and writes into *yaml a new NUL-terminated
 * YAML manifest (free() it; it holds a private key) of a Secret namespace/name of type
 * kubernetes.io/tls with data tls.crt (sub-CA PEM), tls.key (sub-CA key, PKCS#8 PEM) and
 * ca.crt (root PEM), base64-encoded, under a comment saying it is not for production. The
 * root key is discarded. ERR_INVALID for a namespace/name Kubernetes would refuse;
 * ERR_INTERNAL when OpenSSL fails. Thread-safe. */
int devca_generate(const char *namespace, const char *name, time_t now, char **yaml,
                   struct err *err) WUR;

#endif
