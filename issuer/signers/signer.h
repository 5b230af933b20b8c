/* signer.h -- the table of function pointers every signer (local CA, Vault, ...) provides. */
#ifndef EMBER_SIGNER_H
#define EMBER_SIGNER_H

#include <stdbool.h>
#include <time.h>

#include "base/err.h"
#include "x509/csr.h"
#include "x509/usage.h"

/* What to issue. The subject, SANs and public key come from the CSR. */
struct sign_params {
    long long duration_s; /* wanted lifetime, already clamped by policy */
    bool is_ca;
    usage_set usages; /* 0 = cert-manager's default */
    time_t now;
};

/* What was issued, normalised as chain_normalise() says. Both owned by the caller. */
struct sign_result {
    char *chain_pem; /* leaf first, then intermediates, no self-signed root */
    char *ca_pem;    /* trust anchor */
};

void sign_result_free(struct sign_result *r);

struct signer_ops {
    const char *name; /* "ca", "vault" */
    /* Signs; thread-safe. Errors carry the kind that decides retry (transient) or fail. */
    int (*sign)(void *ctx, const struct csr *csr, const struct sign_params *p,
                struct sign_result *out, struct err *err);
    /* Checks the signer can sign now (key matches, CA valid, backend reachable). */
    int (*check)(void *ctx, time_t now, struct err *err);
    void (*free)(void *ctx);
};

struct signer {
    const struct signer_ops *ops;
    void *ctx;
};

#endif
