/* vault_int.h -- what the files of the Vault signer share: struct vault (configuration, the
 * cached token and its state), one HTTP answer, one token as a login or renewal got it, and the
 * functions each file offers the others. Private to vault.c (public API: new, check, sign, post,
 * cancel, free), vaulthttp.c (the HTTP exchange with Vault: clients, redirects, errors),
 * vaultlogin.c (the per-method logins and the static token) and vaulttoken.c (the token life
 * cycle: cached token, renewal, num_uses, revoke). */
#ifndef EMBER_VAULT_INT_H
#define EMBER_VAULT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/httpc.h"
#include "signers/vault.h"

/*
 * num_uses: how Vault counts (hashicorp/vault vault/token_store.go, UseToken and handleLookup).
 * Every request made with a token first goes through UseToken, which decrements the stored
 * num_uses, or, on the last use, sets it to -1 ("revocation pending") and revokes the token
 * when the request ends. Only then does the handler run; lookup-self reads the entry with
 * tainted=true, so it reports the count AFTER its own use:
 *   num_uses  0  -> the token is unlimited;
 *   num_uses  N  -> N more requests may be made with it (the lookup already spent one);
 *   num_uses -1  -> the lookup spent the last use: the role hands out single-use tokens.
 * The login answer itself says how many uses the new token has (auth.num_uses, from the role's
 * token_num_uses; hashicorp/vault sdk/logical/translate_response.go HTTPAuth): when it is there
 * the client takes it and makes no lookup; lookup-self is only for answers without it.
 * The client mirrors that count in uses_left (-1 = unlimited), decrements it for every
 * authenticated request it sends (sign, renew-self, lookup-self, revoke-self) and logs in again
 * instead of sending a request when it has reached 0, so it never spends a request on a dead
 * token. When a lookup shows single-use tokens, the client stops calling lookup-self (it would
 * eat the only use) and treats every later token of this role as good for one request.
 */

struct vault {
    char *server; /* no trailing '/' */
    char *path;   /* no leading '/' */
    char *ns;     /* NULL = no X-Vault-Namespace */
    enum vault_auth auth;
    char *login_api; /* "auth/approle/login", "auth/kubernetes/login", ...; NULL for a token */
    char *role_id;   /* AppRole roleId, Kubernetes role, cert role name */
    vault_secret_fn secret_fn;
    void *secret_ud;
    vault_identity_fn identity_fn;
    char *secret_desc; /* names the Secret in messages */
    char *name;
    long total_ms;
    bool https;
    struct httpc *http; /* keeps connections alive between requests */
    bool mtls;          /* http presents a client certificate */
    /* What a login-only client (a cert login with its own identity) is made with. */
    char *ca_pem, *server_name;
    size_t ca_len;
    long connect_ms;

    /* Token state, under mu. busy: one thread is logging in or renewing; others wait on cv when
     * they have no usable token, or keep using the current one. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *token;           /* NULL = none */
    unsigned long gen;     /* bumped for every new token */
    double refresh_at;     /* monotonic seconds; 0 = never */
    double expires_at;     /* monotonic seconds; 0 = never */
    long long login_lease; /* lease of the last login, seconds */
    bool renewable, batch;
    long long uses_left; /* -1 = unlimited */
    bool busy;
    /* What the role's tokens are worth (see the num_uses comment above). */
    bool single_use_role;          /* lookup-self showed single-use tokens: no more lookups */
    bool suspect_single;           /* a token lookup-self called unlimited was refused at once */
    unsigned long probe_unlimited; /* gen whose lookup said unlimited, first use pending */
    unsigned long probe_single;    /* gen presumed single-use on suspicion, first use pending */
    unsigned long login_seq;
    bool login_failed;
    struct err login_err;

    unsigned long round_trips; /* __atomic */
    bool cancelled;            /* __atomic: vault_cancel was called */
};

/* One HTTP answer. */
struct vault_resp {
    long status;
    struct buf body;
};

/* A token as a login or a renewal got it (a renewal fills lease and renewable only). */
struct vault_tok {
    char *token;
    long long lease;
    bool renewable, batch;
    long long uses;        /* -1 = unlimited */
    bool login_uses;       /* the login answer said how many (auth.num_uses): no lookup needed */
    bool looked_unlimited; /* lookup-self said num_uses 0 */
    bool presumed_single;  /* no lookup: taken as single-use on suspicion */
};

/* ---- vaulthttp.c: the HTTP exchange ---- */

/* True when s has no byte that could break a URL or a header line (controls, blanks, non-ASCII,
 * or a byte of forbidden). */
bool vaulthttp_clean(const char *s, const char *forbidden);

/* True when after_scheme (a URL after "http://") starts with a loopback host. */
bool vaulthttp_loopback_host(const char *after_scheme);

/* A new copy of s without its leading and/or trailing '/'. */
char *vaulthttp_strip(const char *s, bool leading, bool trailing);

/* A client for Vault: its scheme, CA bundle, server name and connect timeout, presenting the
 * certificate cert (PEM chain) with its key when cert is not NULL. NULL with err. */
struct httpc *vaulthttp_client(const struct vault *v, const char *cert, size_t cert_len,
                               const char *key, size_t key_len, struct err *err) WUR;

/* Frees r's body, wiped when secret (a login's, lookup's or renewal's answer). */
void vaulthttp_resp_free(struct vault_resp *r, bool secret);

/* httpc's stop poll (ud: the struct vault): true once vault_cancel was called. */
bool vaulthttp_stopped(void *ud);

/* Sends one request (GET when body is NULL, else POST) to /v1/<api_path> through the client
 * via, with token (X-Vault-Token, or none when NULL) and, with with_ns, the namespace header;
 * follows 307/308 from a standby (same method, body and token, same scheme, CA trust and TLS
 * identity) at most VAULT_MAX_REDIRECTS times. Fills r (vaulthttp_resp_free it, also on error).
 * Returns 0 with any HTTP status, or -1 with ERR_TRANSIENT for network errors, timeouts, a too
 * large answer or a bad redirect. Counts round trips. */
int vaulthttp_via(struct vault *v, struct httpc *via, const char *api_path, const char *token,
                  bool with_ns, const char *body, size_t body_len, long total_ms,
                  struct vault_resp *r, struct err *err) WUR;

/* vaulthttp_via through the client every request shares (v->http). */
int vaulthttp_request(struct vault *v, const char *api_path, const char *token, bool with_ns,
                      const char *body, size_t body_len, long total_ms, struct vault_resp *r,
                      struct err *err) WUR;

/* Vault's "errors" of an answer into out, or a note that it has none. */
void vaulthttp_errors(const struct vault_resp *r, char *out, size_t outlen);

/* ---- vaultlogin.c: the login methods and the static token ---- */

/* Checks what cfg's method needs (ERR_INVALID naming the field); *login_api: its login path
 * ("auth/approle/login", ...), NULL for a static token. */
int vaultlogin_setup(const struct vault_config *cfg, char **login_api, struct err *err) WUR;

/* How messages name the method's Secret when cfg gives no secret_name. */
const char *vaultlogin_default_desc(enum vault_auth auth);

/* A new token into t: the method's login, then its use limit (auth.num_uses, or lookup-self
 * unless the role is known or suspected to give single-use tokens); for a static token, the
 * token read from its Secret and looked up. Only the thread that set v->busy calls this (it
 * takes v->mu briefly). Errors: ERR_ISSUER_NOT_READY (refused, Secret), ERR_TRANSIENT. */
int vaultlogin_new_token(struct vault *v, struct vault_tok *t, struct err *err) WUR;

/* ---- vaulttoken.c: the token life cycle ---- */

/* Wipes and frees t's token; zeroes t. */
void vaulttoken_tok_clear(struct vault_tok *t);

/* Wipes and frees *s (a token copy), sets it to NULL. */
void vaulttoken_wipe_str(char **s);

/* Best-effort revoke-self of token (taken and wiped), within VAULT_REVOKE_TIMEOUT_MS. */
void vaulttoken_revoke(struct vault *v, char *token);

/* Gets a token to use: the cached one, or a renewed or new one. With reserve, counts one use
 * of it. *tok (when tok is not NULL) is a copy to wipe with xfree_secret; *gen identifies the
 * token for vaulttoken_drop. Errors of the login (shared with threads that waited for it). */
int vaulttoken_get(struct vault *v, bool reserve, char **tok, unsigned long *gen,
                   struct err *err) WUR;

/* Records how Vault took the first request made with token gen (denied: a 403). */
void vaulttoken_outcome(struct vault *v, unsigned long gen, bool denied);

/* Forgets the token gen after Vault refused it (403), unless a newer one replaced it. Returns
 * the token for the caller to revoke (vaulttoken_revoke), or NULL (a batch or static token). */
char *vaulttoken_drop(struct vault *v, unsigned long gen);

#endif
