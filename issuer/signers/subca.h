/* subca.h -- the Vault sub-CA signer: a key made in memory, signed by Vault as an intermediate
 * (sign-intermediate), verified, then used to sign leaves locally (localca), renewed in the
 * background before it expires. One per loaded Issuer and replica: nothing is shared. */
#ifndef EMBER_SUBCA_H
#define EMBER_SUBCA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "signers/signer.h"
#include "signers/subcaspec.h"
#include "signers/vault.h"

#define SUBCA_HEAP_MIN 16
#define SUBCA_HEAP_FULL_MARGIN 8192 /* less free than this when a key cannot be made: "full" */
#define SUBCA_BACKOFF_MIN_S 5       /* first retry after a failed signing (renewBefore/4 if less) */
#define SUBCA_BACKOFF_MAX_S                                                                        \
    300 /* doubling up to this; at most a quarter of the current sub-CA's rest */
#define SUBCA_WAIT_MAX_S 30 /* the renewal thread's longest sleep before it looks again */

struct subca;
struct metrics;

/* Sets up OpenSSL's secure heap of bytes (a power of two; CRYPTO_secure_malloc_init(bytes,
 * SUBCA_HEAP_MIN)), where the sub-CA keys' secret numbers then live; once, at start-up, before
 * any thread.
 * Returns OpenSSL's answer: 1 heap locked in memory (mlock) and out of core dumps, 2 usable but
 * not fully protected (mlock refused: RLIMIT_MEMLOCK, CAP_IPC_LOCK), 0 failed. */
int subca_heap_init(size_t bytes);
/* What subca_heap_init returned (0 before it ran). Thread-safe. */
int subca_heap_state(void);
/* The secure heap's size as subca_heap_init was asked for (0 before it ran), whether or not
 * OpenSSL could set it up. Thread-safe. */
size_t subca_heap_size(void);

/* A new sub-CA signer for spec (copied), requesting through client (borrowed: it must outlive
 * the signer; its token machinery is used as is), for the issuer named ref (messages, logs).
 * Reads spec's caBundleSecretRef through env in ns now (ERR_ISSUER_NOT_READY naming the Secret
 * when it cannot). requireLockedMemory with the secure heap not locked: NULL with
 * ERR_ISSUER_NOT_READY saying how to fix it. Starts the renewal thread, whose first request to
 * Vault is sent at once; the signer is pending until Vault's answer passed the checks. */
struct subca *subca_new(const struct subca_spec *spec, struct vault *client,
                        const struct signer_env *env, const char *ns, const char *ref,
                        struct err *err) WUR;

/* Signs csr with the current sub-CA (thread-safe; no Vault round trip): leaves' notAfter at most
 * now + maxLeafDuration and the sub-CA chain's notAfter (cut short otherwise, counted). While
 * there is no valid sub-CA: ERR_TRANSIENT "sub-CA pending: <why>". A CA request (isCA):
 * ERR_PERMANENT (the sub-CA has pathLen 0). Otherwise localca_sign's errors. */
int subca_sign(struct subca *s, const struct csr *csr, const struct sign_params *p,
               struct sign_result *out, struct err *err) WUR;

/* 0 when a valid sub-CA is there, and either its renewal is not failing or it has more than
 * maxLeafDuration to live; else ERR_TRANSIENT "sub-CA pending: <why>". Thread-safe. */
int subca_check(struct subca *s, time_t now, struct err *err) WUR;

/* The Ready message: the sub-CA's subject, serial and notAfter. Thread-safe. */
void subca_ready_message(struct subca *s, char *out, size_t outlen);

/* The usable notAfter of the current sub-CA (the earliest of its chain), 0 while none. */
time_t subca_expiry(struct subca *s);

/* Declares the sub-CA metrics: ember_subca_ready, ember_subca_renewals_total,
 * ember_subca_leaf_truncations_total. */
void subca_declare_metrics(struct metrics *m);
#define SUBCA_GAUGES "ember_subca_ready"
/* Publishes this signer's metrics with labels (issuer="..."); SUBCA_GAUGES names its gauges
 * (signer_ops.gauges). Thread-safe. */
void subca_publish_metrics(struct subca *s, struct metrics *m, const char *labels);

/* Stops and joins the renewal thread, frees the keys (EVP_PKEY_free wipes them). NULL no-op.
 * No signing may be in flight. */
void subca_free(struct subca *s);

#endif
