/* caller.h -- who sent a request: what the TLS layer saw of a client certificate, and the
 * identity an authenticator (mTLS, TokenReview) or cert-manager's webhook (spec.username and
 * spec.groups of a CertificateRequest) settled on. IssuancePolicy.spec.selector.requesters
 * matches a struct caller. */
#ifndef EMBER_CALLER_H
#define EMBER_CALLER_H

#include <stdbool.h>

#include "base/strv.h"

#define CALLER_MAX_NAMES 64 /* SANs, groups kept of one caller; more are dropped */

/* A client certificate as the signing API's TLS layer saw it. */
struct tls_peer {
    bool presented;        /* the client sent a certificate */
    bool verified;         /* it chains to --api-client-ca-file, is in its validity period and
                              allows clientAuth */
    char why[256];         /* presented but not verified: why, for the 401 and the log */
    struct strv uris;      /* URI SANs of the leaf (verified only) */
    struct strv dns_names; /* DNS SANs of the leaf (verified only) */
    char *common_name;     /* subject CN of the leaf, or NULL (verified only) */
    char fingerprint[72];  /* "sha256:<hex>" of the leaf's DER, "" when none */
};

enum caller_method {
    CALLER_NONE,         /* not authenticated (yet) */
    CALLER_ANONYMOUS,    /* no authentication configured (loopback development mode) */
    CALLER_MTLS,         /* a verified client certificate */
    CALLER_TOKEN,        /* a Kubernetes token checked with a TokenReview */
    CALLER_CERT_MANAGER, /* a CertificateRequest's spec.username / spec.groups */
};

struct caller {
    enum caller_method method;
    char *username;        /* TOKEN and CERT_MANAGER: the user ("system:serviceaccount:NS:NAME"
                              for service accounts); MTLS: the first URI SAN, else DNS SAN, else
                              the CN; ANONYMOUS: "anonymous". NULL when none */
    struct strv groups;    /* TOKEN, CERT_MANAGER */
    struct strv uris;      /* MTLS: every URI SAN */
    struct strv dns_names; /* MTLS: every DNS SAN */
    char *common_name;     /* MTLS: the subject CN or NULL */
};

/* Which of a client certificate's names is its one identity (struct caller's username). */
enum caller_identity {
    CALLER_ID_NONE, /* not MTLS, or a certificate without names */
    CALLER_ID_URI,  /* the first URI SAN */
    CALLER_ID_DNS,  /* else the first DNS SAN */
    CALLER_ID_CN,   /* else the subject CN */
};

/* "mtls", "token", "cert-manager", "anonymous" or "none". */
const char *caller_method_name(enum caller_method m);
/* Which name of an MTLS caller is its identity; CALLER_ID_NONE for other callers. */
enum caller_identity caller_mtls_identity(const struct caller *c);
/* For a TOKEN or CERT_MANAGER caller named system:serviceaccount:NS:NAME (NS and NAME not
 * empty, no further ':'), true with NS copied into ns and *name borrowed from c->username; false
 * for any other caller or name, or when NS does not fit nslen (a namespace has at most 63
 * bytes). A certificate never names a service account, however it reads. */
bool caller_service_account(const struct caller *c, char *ns, size_t nslen, const char **name);
/* Fills c (zeroed first) from a verified peer: method MTLS, username as above. */
void caller_from_peer(struct caller *c, const struct tls_peer *p);
/* A deep copy of src into dst (zeroed first). */
void caller_copy(struct caller *dst, const struct caller *src);
/* Frees what c owns and zeroes it; safe on a zeroed caller. */
void caller_free(struct caller *c);
/* Frees what p owns and zeroes it; safe on a zeroed peer. */
void tls_peer_free(struct tls_peer *p);

#endif
