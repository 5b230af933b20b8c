/* subca.c -- the Vault sub-CA signer: key in memory, Vault signs it, leaves signed locally. */
#include "signers/subca.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/duration.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timefmt.h"
#include "signers/localca.h"
#include "signers/vaultmsg.h"
#include "x509/chain.h"

static int subca_heap = 0;          /* __atomic; what CRYPTO_secure_malloc_init said */
static size_t subca_heap_bytes = 0; /* __atomic; the size asked for */

int subca_heap_init(size_t bytes)
{
    int rc = CRYPTO_secure_malloc_init(bytes, SUBCA_HEAP_MIN);
    __atomic_store_n(&subca_heap_bytes, bytes, __ATOMIC_RELEASE);
    __atomic_store_n(&subca_heap, rc, __ATOMIC_RELEASE);
    return rc;
}

size_t subca_heap_size(void)
{
    return __atomic_load_n(&subca_heap_bytes, __ATOMIC_ACQUIRE);
}

int subca_heap_state(void)
{
    return __atomic_load_n(&subca_heap, __ATOMIC_ACQUIRE);
}

/* One sub-CA Vault signed: in use while current, or while signings that took it are in flight. */
struct subca_gen {
    struct localca *ca; /* holds the key; checks leaves against the chain's name constraints */
    time_t not_after;   /* the earliest notAfter of its chain */
    char serial[128];   /* hex (BN_bn2hex) */
    char subject[160];
    int users;    /* signings in flight, under the signer's mu */
    bool retired; /* replaced: freed by the last user */
};

struct subca {
    struct subca_spec *spec;
    struct vault *client;    /* borrowed */
    STACK_OF(X509) * extra;  /* caBundleSecretRef's certificates, or NULL */
    STACK_OF(X509) * pinned; /* without extra: the first sub-CA's root (renewal thread) */
    char *ref;
    char host[64];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct subca_gen *cur;
    bool stop;
    bool failing;               /* the last attempt failed */
    bool warned_short;          /* the sub-CA lives less than renewBefore: said once */
    char last_err[ERR_MSG_MAX]; /* why, or "" */
    unsigned long renew_ok, renew_err, truncated; /* renew_ok: sub-CAs made so far */
    unsigned long pub_ok, pub_err, pub_trunc;     /* what publish_metrics reported */
    pthread_t thread;                             /* started by subca_new, which fails without it */
};

static void subca_gen_free(struct subca_gen *g)
{
    if (g == NULL)
        return;
    localca_free(g->ca); /* EVP_PKEY_free wipes the key */
    free(g);
}

/* ---- one sub-CA from Vault ---- */

/* The error for a sign-intermediate answer that is not 2xx. */
static void subca_http_error(const struct subca *s, long status, const char *body, size_t len,
                             struct err *err)
{
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    if (vaultmsg_errors(body, len, msg, sizeof(msg)) == 0)
        snprintf(msg, sizeof(msg), "no error message in the answer");
    const char *path = s->spec->path;
    if (status == 400 && strstr(msg, "max path length of zero") != NULL)
        err_set(err, ERR_ISSUER_NOT_READY,
                "the Vault issuer cannot sign intermediates (pathLen 0): %s; use a Vault issuer "
                "whose certificate has no pathLen or pathLen 1 or more",
                msg);
    else if (status == 403)
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused POST /v1/%s (HTTP 403: %s): the token's policy needs the "
                "\"update\" capability on %s",
                path, msg, path);
    else if (status == 404 || status == 405)
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault has no %s (HTTP %ld: %s): check spec.vault.subCA.path", path, status, msg);
    else if (status == 429 || status >= 500 || status == 412)
        err_set(err, ERR_TRANSIENT,
                "Vault failed to sign the sub-CA (HTTP %ld from POST /v1/%s): %s", status, path,
                msg);
    else
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused to sign the sub-CA (HTTP %ld from POST /v1/%s): %s", status, path,
                msg);
}

/* The trust anchors for an answer: caBundleSecretRef's certificates when set (never Vault's own
 * roots); else the root of the first sub-CA, pinned; else (the first) the roots Vault sent. */
static STACK_OF(X509) * subca_anchors(const struct subca *s, const struct subcaspec_answer *a)
{
    if (s->extra != NULL)
        return s->extra;
    return s->pinned != NULL ? s->pinned : a->roots;
}

/* The message of a sub-CA that does not verify to the anchors subca_anchors chose. */
static void subca_anchor_error(const struct subca *s, struct err *err)
{
    char why[ERR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err->msg);
    if (s->extra != NULL)
        err_set(err, ERR_ISSUER_NOT_READY,
                "%s: the sub-CA does not chain to a certificate of "
                "spec.vault.subCA.caBundleSecretRef (the only trust anchors when it is set); does "
                "the Vault issuer chain to another root?",
                why);
    else
        err_set(err, ERR_ISSUER_NOT_READY,
                "%s: the Vault issuer's root changed since the first sub-CA (its root is pinned); "
                "set spec.vault.subCA.caBundleSecretRef to the new root, or restart Ember, to "
                "accept it",
                why);
}

/* Vault's answer checked and made into a signer, anchored as subca_anchors says. Runs on the
 * renewal thread only (which alone writes s->pinned). */
static struct subca_gen *subca_gen_from_answer(struct subca *s, struct subcaspec_answer *a,
                                               EVP_PKEY *key, time_t now, struct err *err)
{
    time_t not_after = 0;
    STACK_OF(X509) *chain = NULL;
    if (subcaspec_check_constraints(a->cert, s->spec->domains, s->spec->n_domains, err) != 0)
        return NULL;
    if (subcaspec_verify(a->cert, a->upstream, subca_anchors(s, a), key, now, s->spec->max_leaf_s,
                         &not_after, &chain, err) != 0) {
        if (err != NULL && strstr(err->msg, "does not verify to the trust anchor") != NULL &&
            (s->extra != NULL || s->pinned != NULL))
            subca_anchor_error(s, err);
        return NULL;
    }
    /* chain: the sub-CA, the upstream intermediates, the anchor. */
    X509 *anchor = sk_X509_pop(chain);
    X509_free(sk_X509_shift(chain));
    STACK_OF(X509) *roots = sk_X509_new_null();
    struct localca *ca = NULL;
    if (roots != NULL && sk_X509_push(roots, anchor) > 0) {
        anchor = NULL;
        ca = localca_from_parts(a->cert, chain, key, roots, now, err);
    } else {
        err_set(err, ERR_INTERNAL, "out of memory");
    }
    if (ca != NULL && s->extra == NULL && s->pinned == NULL) {
        s->pinned = roots; /* the first sub-CA's root: later ones must chain to it */
        roots = NULL;
    }
    X509_free(anchor);
    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(chain, X509_free);
    if (ca == NULL)
        return NULL;
    struct subca_gen *g = xcalloc(1, sizeof(*g));
    g->ca = ca;
    g->not_after = not_after;
    snprintf(g->subject, sizeof(g->subject), "%s", localca_subject(ca));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(a->cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    snprintf(g->serial, sizeof(g->serial), "%s", hex != NULL ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    return g;
}

/* A key generation failed: when the secure heap is (nearly) full, says so and what to do. */
static void subca_heap_full_hint(struct err *err)
{
    size_t size = subca_heap_size();
    if (err == NULL || size == 0 || CRYPTO_secure_malloc_initialized() != 1)
        return;
    size_t used = CRYPTO_secure_used();
    /* An RSA-4096 key takes about 2 KiB of it while being made; fragments leave a little more. */
    if (used + SUBCA_HEAP_FULL_MARGIN < size)
        return;
    char why[ERR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err->msg);
    err_set(err, ERR_INTERNAL,
            "the secure heap (%zu bytes, %zu in use) is full: raise --secure-heap-bytes (%s)", size,
            used, why);
}

/* Asks Vault for sub-CA number n: a new key, its CSR, sign-intermediate, the checks. */
static struct subca_gen *subca_fetch(struct subca *s, unsigned long n, struct err *err)
{
    EVP_PKEY *key = subcaspec_keygen(s->spec->key_alg, err);
    if (key == NULL) {
        subca_heap_full_hint(err);
        return NULL;
    }
    char cn[SUBCASPEC_CN_MAX + 1];
    subcaspec_common_name(s->spec->cn_prefix, s->host, n, cn, sizeof(cn));
    char *csr = subcaspec_csr_pem(s->spec, key, cn, err);
    struct subca_gen *g = NULL;
    char *resp = NULL;
    size_t resp_len = 0;
    long status = 0;
    if (csr == NULL)
        goto out;
    char *body = subcaspec_request_body(s->spec, csr, cn);
    int rc = vault_post(s->client, s->spec->path, body, &status, &resp, &resp_len, err);
    free(body);
    if (rc != 0) {
        err_prefix(err, "asking Vault to sign the sub-CA");
        goto out;
    }
    if (status < 200 || status > 299) {
        subca_http_error(s, status, resp, resp_len, err);
        goto out;
    }
    struct subcaspec_answer a;
    if (subcaspec_read_answer(resp, resp_len, &a, err) == 0)
        g = subca_gen_from_answer(s, &a, key, time(NULL), err);
    if (g != NULL && a.warnings[0] != '\0')
        LOG(LOG_INFO, "subca", s->ref, NULL, "Vault's warnings on the sub-CA: %s", a.warnings);
    subcaspec_answer_free(&a);
out:
    free(csr);
    free(resp);
    EVP_PKEY_free(key); /* the signer holds its own reference */
    return g;
}

/* ---- the renewal thread ---- */

/* A random offset in [-span, span] seconds. */
static long long subca_jitter(long long span)
{
    unsigned int r = 0;
    if (span <= 0 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        return 0;
    return (long long)(r % (unsigned int)(2 * span + 1)) - span;
}

static long long subca_backoff_min(const struct subca *s)
{
    long long quarter = s->spec->renew_before_s / 4;
    long long b = quarter < SUBCA_BACKOFF_MIN_S ? quarter : SUBCA_BACKOFF_MIN_S;
    return b > 0 ? b : 1;
}

/* Installs g (mu held) and returns when to renew it (wall-clock seconds). */
static time_t subca_install(struct subca *s, struct subca_gen *g, time_t now)
{
    struct subca_gen *old = s->cur;
    s->cur = g;
    if (old != NULL) {
        old->retired = true;
        if (old->users == 0)
            subca_gen_free(old);
    }
    s->failing = false;
    s->last_err[0] = '\0';
    s->renew_ok++;
    long long rb = s->spec->renew_before_s;
    bool shortened = false;
    time_t at = subcaspec_renew_at(g->not_after, now, rb, s->spec->max_leaf_s,
                                   subca_jitter(rb / 10), subca_backoff_min(s), &shortened);
    if (shortened && !s->warned_short) {
        char when[TIMEFMT_LEN];
        timefmt_rfc3339(g->not_after, when);
        LOG(LOG_WARN, "subca", s->ref, NULL,
            "Vault signed a sub-CA usable only until %s (%llds), less than renewBefore (%llds): "
            "the Vault mount's max_lease_ttl or the parent issuer's expiry is the likely cause; "
            "renewing it in %llds, halfway to where leaves would be cut short",
            when, (long long)(g->not_after - now), rb, (long long)(at - now));
    }
    s->warned_short = shortened;
    return at;
}

/* When the renewal thread next asks Vault: a wall-clock time read from the certificate, or, for
 * a retry, a deadline on base/clock's monotonic clock (a wall-clock step moves no backoff). */
struct subca_due {
    time_t wall;     /* 0: none, mono_ms counts */
    int64_t mono_ms; /* clock_mono_ms() time */
};

/* Milliseconds until due (<= 0: due). */
static int64_t subca_due_in_ms(const struct subca_due *d)
{
    if (d->wall != 0)
        return ((int64_t)d->wall - (int64_t)time(NULL)) * 1000;
    return d->mono_ms - clock_mono_ms();
}

/* Frees the current sub-CA once it has expired (mu held): its key leaves the secure heap. */
static void subca_retire_expired(struct subca *s)
{
    struct subca_gen *g = s->cur;
    if (g == NULL || time(NULL) < g->not_after)
        return;
    LOG(LOG_WARN, "subca", s->ref, NULL,
        "sub-CA (serial %s) expired without a renewal: its key is freed", g->serial);
    s->cur = NULL;
    g->retired = true;
    if (g->users == 0)
        subca_gen_free(g);
}

/* Records a failure (mu held) and returns when to try again. */
static struct subca_due subca_failed(struct subca *s, const struct err *e, long long *backoff,
                                     time_t now)
{
    s->failing = true;
    snprintf(s->last_err, sizeof(s->last_err), "%s", e->msg);
    s->renew_err++;
    long long wait = *backoff + subca_jitter(*backoff / 5);
    *backoff = *backoff * 2 > SUBCA_BACKOFF_MAX_S ? SUBCA_BACKOFF_MAX_S : *backoff * 2;
    /* While the current sub-CA lasts, try at least four times in what is left of it. */
    if (s->cur != NULL && s->cur->not_after > now && wait > (s->cur->not_after - now) / 4)
        wait = (s->cur->not_after - now) / 4;
    struct subca_due d = {0, clock_mono_ms() + (int64_t)(wait > 0 ? wait : 1) * 1000};
    return d;
}

/* One attempt, mu not held; then records it (mu held on return). */
static struct subca_due subca_attempt(struct subca *s, long long *backoff)
{
    unsigned long n = s->renew_ok + 1; /* subca_install counts it */
    pthread_mutex_unlock(&s->mu);
    struct err e = {0};
    struct subca_gen *g = subca_fetch(s, n, &e);
    time_t now = time(NULL);
    if (g != NULL) {
        char when[TIMEFMT_LEN];
        timefmt_rfc3339(g->not_after, when);
        LOG(LOG_INFO, "subca", s->ref, NULL, "Vault signed sub-CA %s (serial %s), usable until %s",
            g->subject, g->serial, when);
    } else {
        LOG(LOG_WARN, "subca", s->ref, e.msg, "getting a sub-CA from Vault failed; retrying");
    }
    pthread_mutex_lock(&s->mu);
    if (g == NULL)
        return subca_failed(s, &e, backoff, now);
    *backoff = subca_backoff_min(s);
    struct subca_due d = {subca_install(s, g, now), 0};
    return d;
}

static void *subca_thread(void *arg)
{
    struct subca *s = arg;
    long long backoff = subca_backoff_min(s);
    struct subca_due next = {0, clock_mono_ms()}; /* at once */
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        subca_retire_expired(s);
        int64_t wait_ms = subca_due_in_ms(&next);
        if (wait_ms > 0) {
            /* At most SUBCA_WAIT_MAX_S: a wall-clock renewal time is looked at again. */
            if (wait_ms > SUBCA_WAIT_MAX_S * 1000)
                wait_ms = SUBCA_WAIT_MAX_S * 1000;
            struct timespec until = clock_deadline(wait_ms);
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
            continue;
        }
        next = subca_attempt(s, &backoff);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the signer ---- */

/* caBundleSecretRef's certificates into s->extra. */
static int subca_read_bundle(struct subca *s, const struct signer_env *env, const char *ns,
                             struct err *err)
{
    char *pem = NULL;
    size_t len = 0;
    if (s->spec->bundle_name == NULL)
        return 0;
    if (signer_secret_key(env, ns, s->spec->bundle_name, s->spec->bundle_key,
                          "spec.vault.subCA.caBundleSecretRef", &pem, &len, err) != 0) {
        if (err != NULL && err->kind == ERR_PERMANENT)
            err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    int rc = chain_parse_pem(pem, len, "spec.vault.subCA.caBundleSecretRef", &s->extra, err);
    xfree_secret(pem, len);
    if (rc != 0 && err != NULL)
        err->kind = ERR_ISSUER_NOT_READY;
    return rc;
}

/* The replica's name in the sub-CA's common name: $HOSTNAME (a pod's name), else the host's. */
static void subca_host(char *out, size_t outlen)
{
    const char *h = getenv("HOSTNAME");
    if (h != NULL && h[0] != '\0')
        snprintf(out, outlen, "%s", h);
    else if (gethostname(out, outlen) != 0)
        snprintf(out, outlen, "ember");
    out[outlen - 1] = '\0';
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '_';
}

struct subca *subca_new(const struct subca_spec *spec, struct vault *client,
                        const struct signer_env *env, const char *ns, const char *ref,
                        struct err *err)
{
    if (spec->require_locked && subca_heap_state() != 1) {
        char need[64] = "twice --secure-heap-bytes";
        if (subca_heap_size() > 0)
            snprintf(need, sizeof(need), "%zu bytes", subca_heap_size() * 2);
        err_set(err, ERR_ISSUER_NOT_READY,
                "spec.vault.subCA.requireLockedMemory: the memory for the sub-CA key could not be "
                "locked (OpenSSL's secure heap %s): raise RLIMIT_MEMLOCK to at least %s (ulimit "
                "-l, the container runtime's LimitMEMLOCK) or grant CAP_IPC_LOCK, or set "
                "requireLockedMemory: false",
                subca_heap_state() == 2 ? "is not locked" : "is not set up", need);
        return NULL;
    }
    struct subca *s = xcalloc(1, sizeof(*s));
    s->spec = subcaspec_dup(spec);
    s->client = client;
    s->ref = xstrdup(ref);
    subca_host(s->host, sizeof(s->host));
    pthread_mutex_init(&s->mu, NULL);
    int crc = clock_cond_init(&s->cv);
    if (crc == 0 && subca_read_bundle(s, env, ns, err) == 0) {
        if (pthread_create(&s->thread, NULL, subca_thread, s) == 0)
            return s;
        err_set(err, ERR_INTERNAL, "cannot start the sub-CA renewal thread");
    } else if (crc != 0) {
        err_set(err, ERR_INTERNAL, "cannot set up the sub-CA renewal thread's clock");
    }
    if (crc == 0)
        pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    sk_X509_pop_free(s->extra, X509_free);
    subcaspec_free(s->spec);
    free(s->ref);
    free(s);
    return NULL;
}

/* "sub-CA pending: <why>" (mu held). */
static void subca_pending(const struct subca *s, struct err *err)
{
    err_set(err, ERR_TRANSIENT, "sub-CA pending: %s",
            s->last_err[0] != '\0' ? s->last_err
                                   : "Vault has not signed this replica's sub-CA yet");
}

/* The current sub-CA with one more user, or NULL (mu taken and released). */
static struct subca_gen *subca_take(struct subca *s, time_t now, struct err *err)
{
    pthread_mutex_lock(&s->mu);
    struct subca_gen *g = s->cur;
    if (g != NULL && now < g->not_after)
        g->users++;
    else
        g = NULL;
    if (g == NULL)
        subca_pending(s, err);
    pthread_mutex_unlock(&s->mu);
    return g;
}

static void subca_give(struct subca *s, struct subca_gen *g)
{
    pthread_mutex_lock(&s->mu);
    bool last = --g->users == 0 && g->retired;
    pthread_mutex_unlock(&s->mu);
    if (last)
        subca_gen_free(g);
}

/* Refuses a leaf cut (to maxLeafDuration or the sub-CA's notAfter) below the policy's
 * spec.validity.min; localca_sign would refuse it too, without naming why. */
static WUR int subca_check_min(const struct subca *s, const struct sign_params *p,
                               const struct sign_params *q, time_t ca_not_after, struct err *err)
{
    if (p->min_duration_s <= 0 || q->duration_s >= p->min_duration_s)
        return 0;
    char got[32], want[32], when[TIMEFMT_LEN];
    duration_format_go(q->duration_s, got, sizeof(got));
    duration_format_go(p->min_duration_s, want, sizeof(want));
    timefmt_rfc3339(ca_not_after, when);
    bool by_max =
        s->spec->max_leaf_s < p->duration_s && q->now + (time_t)s->spec->max_leaf_s <= ca_not_after;
    if (by_max)
        err_set(err, ERR_PERMANENT,
                "the certificate would live only %s (spec.vault.subCA.maxLeafDuration), less "
                "than the policy's spec.validity.min %s; raise maxLeafDuration or lower "
                "spec.validity.min",
                got, want);
    else
        err_set(err, ERR_PERMANENT,
                "the certificate would live only %s, less than the policy's spec.validity.min "
                "%s: the sub-CA expires at %s (its notAfter) and no certificate it signs can "
                "outlive it; the sub-CA's renewal is late (see spec.vault.subCA)",
                got, want, when);
    return -1;
}

int subca_sign(struct subca *s, const struct csr *csr, const struct sign_params *p,
               struct sign_result *out, struct err *err)
{
    out->chain_pem = out->ca_pem = NULL;
    if (p->is_ca) {
        err_set(err, ERR_PERMANENT,
                "this issuer signs with a Vault sub-CA of pathLen 0 (spec.vault.subCA), which "
                "cannot issue CA certificates (isCA: true); use an issuer without subCA");
        return -1;
    }
    for (size_t i = 0; i < csr->dns_names.n; i++) {
        if (!subcaspec_dns_permitted(s->spec->domains, s->spec->n_domains, csr->dns_names.v[i])) {
            err_set(err, ERR_PERMANENT,
                    "the DNS name %.256s is outside the sub-CA's name constraints "
                    "(spec.vault.subCA.permittedDNSDomains): no client would accept the "
                    "certificate",
                    csr->dns_names.v[i]);
            return -1;
        }
    }
    struct sign_params q = *p;
    if (q.now == 0)
        q.now = time(NULL);
    struct subca_gen *g = subca_take(s, q.now, err);
    if (g == NULL)
        return -1;
    bool cut = false;
    q.duration_s =
        subcaspec_leaf_duration(p->duration_s, q.now, s->spec->max_leaf_s, g->not_after, &cut);
    long long capped = p->duration_s < s->spec->max_leaf_s ? p->duration_s : s->spec->max_leaf_s;
    if (q.now + (time_t)capped > g->not_after)
        LOG(LOG_WARN, "subca", s->ref, NULL,
            "a leaf is cut short to the sub-CA's notAfter (%llds): the sub-CA's renewal is late",
            q.duration_s);
    int rc = subca_check_min(s, p, &q, g->not_after, err) != 0
                 ? -1
                 : localca_sign(g->ca, csr, &q, out, err);
    subca_give(s, g);
    if (cut && rc == 0) {
        LOG(LOG_DEBUG, "subca", s->ref, NULL, "leaf lifetime cut from %llds to %llds",
            p->duration_s, q.duration_s);
        __atomic_fetch_add(&s->truncated, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

int subca_check(struct subca *s, time_t now, struct err *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    const struct subca_gen *g = s->cur;
    if (g == NULL || now >= g->not_after) {
        subca_pending(s, err);
        rc = -1;
    } else if (s->failing && g->not_after - now < (time_t)s->spec->max_leaf_s) {
        char when[TIMEFMT_LEN];
        timefmt_rfc3339(g->not_after, when);
        err_set(err, ERR_TRANSIENT,
                "sub-CA pending: the sub-CA (serial %s) is usable only until %s, less than "
                "maxLeafDuration, and its renewal fails: %s",
                g->serial, when, s->last_err);
        rc = -1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void subca_ready_message(struct subca *s, char *out, size_t outlen)
{
    pthread_mutex_lock(&s->mu);
    if (s->cur != NULL) {
        char when[TIMEFMT_LEN];
        timefmt_rfc3339(s->cur->not_after, when);
        snprintf(out, outlen, "Signing with sub-CA %s (serial %s) until %s, signed by Vault at %s",
                 s->cur->subject, s->cur->serial, when, s->spec->path);
    } else {
        snprintf(out, outlen, "sub-CA pending");
    }
    pthread_mutex_unlock(&s->mu);
}

time_t subca_expiry(struct subca *s)
{
    pthread_mutex_lock(&s->mu);
    time_t t = s->cur != NULL ? s->cur->not_after : 0;
    pthread_mutex_unlock(&s->mu);
    return t;
}

void subca_declare_metrics(struct metrics *m)
{
    metrics_declare(m, "ember_subca_ready", "gauge",
                    "1 when this replica holds a valid Vault-signed sub-CA for the issuer.");
    metrics_declare(m, "ember_subca_renewals_total", "counter",
                    "Sub-CAs requested from Vault by this replica, by result (ok, error).");
    metrics_declare(m, "ember_subca_leaf_truncations_total", "counter",
                    "Leaves whose lifetime was cut to maxLeafDuration or the sub-CA's notAfter.");
}

void subca_publish_metrics(struct subca *s, struct metrics *m, const char *labels)
{
    char l[1024];
    time_t now = time(NULL);
    pthread_mutex_lock(&s->mu);
    bool ready = s->cur != NULL && now < s->cur->not_after;
    unsigned long ok = s->renew_ok - s->pub_ok, bad = s->renew_err - s->pub_err;
    s->pub_ok = s->renew_ok;
    s->pub_err = s->renew_err;
    unsigned long trunc = __atomic_load_n(&s->truncated, __ATOMIC_RELAXED);
    unsigned long dtrunc = trunc - s->pub_trunc;
    s->pub_trunc = trunc;
    pthread_mutex_unlock(&s->mu);
    metrics_gauge_set(m, "ember_subca_ready", labels, ready ? 1 : 0);
    snprintf(l, sizeof(l), "%s,result=\"ok\"", labels);
    metrics_counter_add(m, "ember_subca_renewals_total", l, (double)ok);
    snprintf(l, sizeof(l), "%s,result=\"error\"", labels);
    metrics_counter_add(m, "ember_subca_renewals_total", l, (double)bad);
    metrics_counter_add(m, "ember_subca_leaf_truncations_total", labels, (double)dtrunc);
}

void subca_free(struct subca *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* A renewal may be inside a Vault request (a login and a POST of up to 30 s each): end it
     * now, so shutdown or replacing the issuer waits about a second, not the Vault timeout. */
    vault_cancel(s->client);
    pthread_join(s->thread, NULL);
    subca_gen_free(s->cur);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    sk_X509_pop_free(s->extra, X509_free);
    sk_X509_pop_free(s->pinned, X509_free);
    subcaspec_free(s->spec);
    free(s->ref);
    free(s);
}
