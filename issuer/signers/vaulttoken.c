/* vaulttoken.c -- the Vault signer's token life cycle: the cached token handed out to every
 * signing thread, renewed (renew-self) or replaced by a new login by one thread at a time, its
 * uses counted (see the num_uses comment in vault_int.h), dropped after a 403 and revoked. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "signers/vault_int.h"
#include "signers/vaultmsg.h"

/* revoke-self at shutdown or for a replaced token must not hold anything up. */
#define VAULT_REVOKE_TIMEOUT_MS 2000
/* After a failed renewal or login while the old token still works, wait this long before
 * trying again. */
#define VAULT_REFRESH_RETRY_S 10.0
/* A token is not used in the last 10% of its lifetime (at most this many seconds). */
#define VAULT_EXPIRY_MARGIN_S 30.0

void vaulttoken_tok_clear(struct vault_tok *t)
{
    if (t->token != NULL)
        xfree_secret(t->token, strlen(t->token));
    memset(t, 0, sizeof(*t));
}

void vaulttoken_wipe_str(char **s)
{
    if (*s != NULL)
        xfree_secret(*s, strlen(*s));
    *s = NULL;
}

/* Best-effort revoke-self of token (taken and wiped). */
void vaulttoken_revoke(struct vault *v, char *token)
{
    struct vault_resp r;
    struct err e = {0};
    if (vaulthttp_request(v, "auth/token/revoke-self", token, true, "{}", 2,
                          VAULT_REVOKE_TIMEOUT_MS, &r, &e) != 0)
        LOG(LOG_DEBUG, "vault", v->name, e.msg, "revoke-self of the old Vault token failed");
    else if (r.status != 200 && r.status != 204)
        LOG(LOG_DEBUG, "vault", v->name, NULL, "revoke-self of the old Vault token: HTTP %ld",
            r.status);
    vaulthttp_resp_free(&r, true);
    xfree_secret(token, strlen(token));
}

/* renew-self of token; fills t's lease and renewable (not the token). */
static int vaulttoken_renew(struct vault *v, const char *token, struct vault_tok *t,
                            struct err *err)
{
    struct vault_resp r;
    if (vaulthttp_request(v, "auth/token/renew-self", token, true, "{}", 2, v->total_ms, &r, err) !=
        0) {
        vaulthttp_resp_free(&r, true);
        return -1;
    }
    int rc = -1;
    if (r.status != 200) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vaulthttp_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_TRANSIENT, "renew-self answered HTTP %ld: %s", r.status, msg);
    } else {
        struct vaultmsg_login lg;
        if (vaultmsg_parse_login(r.body.data, r.body.len, &lg, err) == 0) {
            t->lease = lg.lease_duration;
            t->renewable = lg.renewable;
            vaultmsg_login_clear(&lg);
            rc = 0;
        }
    }
    vaulthttp_resp_free(&r, true);
    return rc;
}

static void vaulttoken_set_times(struct vault *v, double t0, long long lease)
{
    if (lease <= 0) {
        v->refresh_at = 0;
        v->expires_at = 0;
        return;
    }
    double l = (double)lease;
    v->refresh_at = t0 + l * 2.0 / 3.0;
    v->expires_at = t0 + l - fmin(l / 10.0, VAULT_EXPIRY_MARGIN_S);
}

/* Called with mu held. */
static bool vaulttoken_usable(const struct vault *v, double now)
{
    return v->token != NULL && v->uses_left != 0 && (v->expires_at == 0 || now < v->expires_at);
}

/* One renewal or login, made by the thread that set busy: what it started from and got. */
struct vaulttoken_refresh {
    double now;            /* when the thread found the token due or unusable */
    bool usable;           /* the cached token could still be used then */
    bool renew;            /* try renew-self of old first */
    char *old;             /* copy of the cached token (NULL when not usable); wiped */
    unsigned long old_gen; /* its generation */
    double t0;             /* when the request that gave t was sent */
    bool renewed;          /* t is old, renewed */
    int rc;                /* 0: t holds the new lease (and token, unless renewed) */
    struct vault_tok t;
    struct err e;
};

/* Hands out the cached token (mu held): counts one use with reserve, copies it to *tok and its
 * generation to *gen (either may be NULL). */
static void vaulttoken_take(struct vault *v, bool reserve, char **tok, unsigned long *gen)
{
    if (reserve && v->uses_left > 0)
        v->uses_left--;
    if (tok != NULL)
        *tok = xstrdup(v->token);
    if (gen != NULL)
        *gen = v->gen;
}

/* Renews f->old when f->renew, else (or when that fails) logs in; mu not held. */
static void vaulttoken_refresh_run(struct vault *v, struct vaulttoken_refresh *f)
{
    f->t0 = clock_mono_seconds();
    f->rc = -1;
    if (f->renew) {
        f->rc = vaulttoken_renew(v, f->old, &f->t, &f->e);
        f->renewed = f->rc == 0;
        if (f->rc != 0)
            LOG(LOG_INFO, "vault", v->name, f->e.msg,
                "renewing the Vault token failed; logging in again");
        else
            LOG(LOG_DEBUG, "vault", v->name, NULL, "renewed the Vault token (lease %llds)",
                f->t.lease);
    }
    if (f->rc != 0) {
        err_clear(&f->e);
        f->t0 = clock_mono_seconds();
        f->rc = vaultlogin_new_token(v, &f->t, &f->e);
    }
}

/* Stores what vaulttoken_refresh_run got (mu held): the renewed lease, or the new token (taken from
 * f->t), or the failure. Returns the token it replaced while still valid, for the caller to
 * revoke, else NULL. */
static char *vaulttoken_refresh_store(struct vault *v, struct vaulttoken_refresh *f)
{
    char *revoke = NULL;
    if (f->rc == 0 && f->renewed) {
        if (v->token != NULL && v->gen == f->old_gen) {
            vaulttoken_set_times(v, f->t0, f->t.lease);
            /* Close to the role's max TTL, Vault renews for less and less: then log in. */
            v->renewable = f->t.renewable && f->t.lease * 3 >= v->login_lease;
        }
        v->login_failed = false;
    } else if (f->rc == 0) {
        if (v->token != NULL) {
            if (f->usable && v->gen == f->old_gen && v->uses_left != 0 && !v->batch &&
                v->auth != VAULT_AUTH_TOKEN)
                revoke = v->token; /* replaced while still valid: revoke it below */
            else
                xfree_secret(v->token, strlen(v->token));
        }
        v->token = f->t.token;
        f->t.token = NULL;
        v->gen++;
        v->login_lease = f->t.lease;
        vaulttoken_set_times(v, f->t0, f->t.lease);
        v->renewable = f->t.renewable;
        v->batch = f->t.batch;
        v->uses_left = f->t.uses;
        v->probe_unlimited = f->t.looked_unlimited ? v->gen : 0;
        v->probe_single = f->t.presumed_single ? v->gen : 0;
        v->login_failed = false;
    } else {
        v->login_failed = true;
        v->login_err = f->e;
        if (f->usable && v->token != NULL && v->gen == f->old_gen)
            v->refresh_at = f->now + VAULT_REFRESH_RETRY_S;
    }
    return revoke;
}

/* Gets a token to use: the cached one, or a renewed or new one. With reserve, counts one use
 * of it. *tok (when tok is not NULL) is a copy to wipe with xfree_secret; *gen identifies the
 * token for vaulttoken_drop. */
int vaulttoken_get(struct vault *v, bool reserve, char **tok, unsigned long *gen, struct err *err)
{
    pthread_mutex_lock(&v->mu);
    unsigned long seen = v->login_seq;
    bool waited = false;
    for (;;) {
        struct vaulttoken_refresh f = {.now = clock_mono_seconds()};
        f.usable = vaulttoken_usable(v, f.now);
        bool due = f.usable && v->refresh_at > 0 && f.now >= v->refresh_at;
        if (f.usable && (!due || v->busy)) {
            vaulttoken_take(v, reserve, tok, gen);
            pthread_mutex_unlock(&v->mu);
            return 0;
        }
        if (v->busy) {
            waited = true;
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        if (waited && v->login_seq != seen && v->login_failed) {
            /* The login this thread waited for failed: share its error instead of sending
             * Vault one more login per waiting thread. */
            if (err != NULL)
                *err = v->login_err;
            pthread_mutex_unlock(&v->mu);
            return -1;
        }
        v->busy = true;
        f.renew = f.usable && v->renewable && !v->batch && (v->uses_left < 0 || v->uses_left > 1);
        f.old = f.usable ? xstrdup(v->token) : NULL;
        f.old_gen = v->gen;
        if (f.renew && v->uses_left > 0)
            v->uses_left--;
        pthread_mutex_unlock(&v->mu);

        vaulttoken_refresh_run(v, &f);

        pthread_mutex_lock(&v->mu);
        v->busy = false;
        v->login_seq++;
        seen = v->login_seq;
        char *revoke = vaulttoken_refresh_store(v, &f);
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&v->mu);

        vaulttoken_tok_clear(&f.t);
        vaulttoken_wipe_str(&f.old);
        if (revoke != NULL)
            vaulttoken_revoke(v, revoke);
        pthread_mutex_lock(&v->mu);
        if (f.rc != 0 && !vaulttoken_usable(v, clock_mono_seconds())) {
            if (err != NULL)
                *err = f.e;
            pthread_mutex_unlock(&v->mu);
            return -1;
        }
        if (f.rc != 0)
            LOG(LOG_WARN, "vault", v->name, f.e.msg,
                "refreshing the Vault token failed; using the current token while it lasts");
        waited = false;
    }
}

/* Records how Vault took the first request made with token gen (denied: a 403). Some servers
 * (and fakes) report a single-use token as num_uses 0 after lookup-self spent its only use,
 * which reads as "unlimited"; a 403 on the first request after such a lookup makes the next
 * token be taken as single-use without a lookup, and if that one works the role is single-use.
 * A 403 on that one too means the policy is the problem: lookups resume. */
void vaulttoken_outcome(struct vault *v, unsigned long gen, bool denied)
{
    pthread_mutex_lock(&v->mu);
    if (gen != 0 && gen == v->probe_unlimited) {
        v->probe_unlimited = 0;
        if (denied)
            v->suspect_single = true;
    }
    if (gen != 0 && gen == v->probe_single) {
        v->probe_single = 0;
        if (!denied && v->suspect_single) {
            v->single_use_role = true;
            LOG(LOG_INFO, "vault", v->name, NULL,
                "the Vault role gives single-use tokens: every request needs a new login");
        }
        v->suspect_single = false;
    }
    pthread_mutex_unlock(&v->mu);
}

/* Forgets the token gen after Vault refused it (403), unless a newer one replaced it. Returns
 * the token unless it is a batch token: it may still be alive (refused for its policy, and then
 * our use count means nothing), so the caller revokes it, best effort, so that refused tokens
 * do not pile up as leases; else NULL. */
char *vaulttoken_drop(struct vault *v, unsigned long gen)
{
    char *revoke = NULL;
    pthread_mutex_lock(&v->mu);
    if (v->token != NULL && v->gen == gen) {
        if (!v->batch && v->auth != VAULT_AUTH_TOKEN)
            revoke = v->token;
        else
            xfree_secret(v->token, strlen(v->token));
        v->token = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    return revoke;
}
