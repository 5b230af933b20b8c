/* tokenrequest.c -- service account tokens made by the API server's TokenRequest (see
 * tokenrequest.h). */
#include "kube/tokenrequest.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "base/k8sname.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "kube/kube.h"

int tokenrequest_path(const char *ns, const char *name, char *out, size_t cap, struct err *err)
{
    if (!ns || !k8sname_is_label(ns, strlen(ns))) {
        err_set(err, ERR_INVALID, "the namespace of the service account is not a valid namespace");
        return -1;
    }
    if (!name || !k8sname_is_subdomain(name, strlen(name))) {
        err_set(err, ERR_INVALID,
                "the service account name is not a valid Kubernetes name (DNS-1123 subdomain)");
        return -1;
    }
    int n = snprintf(out, cap, "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, name);
    if (n < 0 || (size_t)n >= cap) {
        err_set(err, ERR_TOO_BIG, "the TokenRequest path is longer than %zu bytes", cap);
        return -1;
    }
    return 0;
}

/* Whether a is an audience the body may carry. */
static bool tokenrequest_audience_ok(const char *a)
{
    size_t n = a ? strnlen(a, TOKENREQUEST_MAX_AUDIENCE_BYTES + 1) : 0;
    if (n == 0 || n > TOKENREQUEST_MAX_AUDIENCE_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f)
            return false;
    return true;
}

char *tokenrequest_body(const char *const *audiences, size_t n_audiences, long expiration_s,
                        struct err *err)
{
    if (n_audiences == 0 || n_audiences > TOKENREQUEST_MAX_AUDIENCES) {
        err_set(err, ERR_INVALID, "a TokenRequest needs 1 to %d audiences, not %zu",
                TOKENREQUEST_MAX_AUDIENCES, n_audiences);
        return NULL;
    }
    for (size_t i = 0; i < n_audiences; i++) {
        if (!tokenrequest_audience_ok(audiences[i])) {
            err_set(err, ERR_INVALID,
                    "audience %zu of the TokenRequest is empty, longer than %d bytes or holds a "
                    "control character",
                    i + 1, TOKENREQUEST_MAX_AUDIENCE_BYTES);
            return NULL;
        }
    }
    if (expiration_s < TOKENREQUEST_MIN_EXPIRATION_S ||
        (long long)expiration_s > TOKENREQUEST_MAX_EXPIRATION_S) {
        err_set(err, ERR_INVALID,
                "a TokenRequest's expirationSeconds must be %d to %lld (the API server's "
                "bounds), not %ld",
                TOKENREQUEST_MIN_EXPIRATION_S, TOKENREQUEST_MAX_EXPIRATION_S, expiration_s);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "apiVersion", "authentication.k8s.io/v1");
    cJSON_AddStringToObject(root, "kind", "TokenRequest");
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    cJSON *list = cJSON_AddArrayToObject(spec, "audiences");
    for (size_t i = 0; i < n_audiences; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(audiences[i]));
    cJSON_AddNumberToObject(spec, "expirationSeconds", (double)expiration_s);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!out)
        abort(); /* cJSON fails only when out of memory: as xmalloc does */
    return out;
}

/* The token of status.token, checked, as a new string; NULL with err. */
static WUR char *tokenrequest_read_token(const cJSON *root, struct err *err)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(st, "token");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "TokenRequest") != 0) {
        err_set(err, ERR_TRANSIENT, "the answer to the TokenRequest is not a TokenRequest");
        return NULL;
    }
    if (!cJSON_IsString(tok) || !tok->valuestring[0]) {
        err_set(err, ERR_TRANSIENT, "the TokenRequest answer has no status.token");
        return NULL;
    }
    size_t n = strnlen(tok->valuestring, KUBE_MAX_TOKEN_BYTES + 1);
    if (n > KUBE_MAX_TOKEN_BYTES) {
        err_set(err, ERR_TRANSIENT, "the token in the TokenRequest answer is longer than %d bytes",
                KUBE_MAX_TOKEN_BYTES);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tok->valuestring[i];
        if (c < 0x21 || c > 0x7e) {
            err_set(err, ERR_TRANSIENT,
                    "the token in the TokenRequest answer holds a space, a control character or "
                    "a non-ASCII byte");
            return NULL;
        }
    }
    return xstrndup(tok->valuestring, n);
}

int tokenrequest_parse(const char *body, size_t len, char **token, struct err *err)
{
    *token = NULL;
    if (len > TOKENREQUEST_MAX_ANSWER_BYTES) {
        err_set(err, ERR_TRANSIENT, "the TokenRequest answer is longer than %u bytes",
                TOKENREQUEST_MAX_ANSWER_BYTES);
        return -1;
    }
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root)) {
        err_set(err, ERR_TRANSIENT, "the TokenRequest answer is not a JSON object");
        cJSON_Delete(root);
        return -1;
    }
    *token = tokenrequest_read_token(root, err);
    /* the parsed tree holds a copy of the token: wiped before it is freed */
    const cJSON *tok =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "status"), "token");
    if (cJSON_IsString(tok))
        OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
    cJSON_Delete(root);
    return *token ? 0 : -1;
}

void tokenrequest_answer_error(const struct kube_response *r, const char *ns, const char *name,
                               struct err *err)
{
    char msg[TOKENREQUEST_MAX_QUOTE_BYTES + 1];
    utf8_copy_printable(msg, sizeof msg, r->status.message[0] ? r->status.message : "no message",
                        TOKENREQUEST_MAX_QUOTE_BYTES);
    const char *reason = r->status.reason[0] ? r->status.reason : "";
    if (r->code == 403)
        err_set(err, ERR_ISSUER_NOT_READY,
                "Ember may not request tokens of service account %s/%s (403 Forbidden: %s): grant "
                "Ember's service account the verb create on the resource serviceaccounts/token "
                "in namespace %s (a Role and RoleBinding there; resourceNames may list %s)",
                ns, name, msg, ns, name);
    else if (r->code == 404)
        err_set(err, ERR_ISSUER_NOT_READY,
                "the service account %s/%s does not exist (404 NotFound: %s): create it in "
                "namespace %s, or name an existing one in serviceAccountRef.name",
                ns, name, msg, ns);
    else if (r->code == 400 || r->code == 422)
        err_set(err, ERR_ISSUER_NOT_READY,
                "the API server refused the TokenRequest for service account %s/%s (HTTP %ld "
                "%s): %s",
                ns, name, r->code, reason, msg);
    else if (r->code == 401)
        err_set(err, ERR_TRANSIENT,
                "the API server refused Ember's own credentials for the TokenRequest of service "
                "account %s/%s (401 Unauthorized): %s",
                ns, name, msg);
    else
        err_set(err, ERR_TRANSIENT,
                "the API server could not make a token for service account %s/%s: HTTP %ld %s: %s",
                ns, name, r->code, reason, msg);
}

int tokenrequest_create(tokenrequest_post_fn post, void *ud, const char *ns, const char *name,
                        const char *const *audiences, size_t n_audiences, long expiration_s,
                        char **token, struct err *err)
{
    *token = NULL;
    char path[KUBE_MAX_PATH_BYTES];
    if (tokenrequest_path(ns, name, path, sizeof path, err) < 0) {
        if (err) /* the names are not quoted: they are not valid ones */
            err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    char *body = tokenrequest_body(audiences, n_audiences, expiration_s, err);
    if (!body) {
        err_prefix(err, "no token for service account %s/%s", ns, name);
        if (err)
            err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    struct kube_response r;
    memset(&r, 0, sizeof r);
    struct err e = {0};
    int rc = post(ud, path, body, strlen(body), &r, &e);
    free(body);
    if (rc < 0) {
        char why[ERR_MSG_MAX - 128];
        utf8_copy_printable(why, sizeof why, e.msg, sizeof why - 1);
        err_set(&e, ERR_TRANSIENT,
                "the TokenRequest for service account %s/%s could not be sent: %s", ns, name, why);
    } else if (r.code == 200 || r.code == 201) {
        rc = tokenrequest_parse(r.body, r.len, token, &e);
        if (rc < 0)
            err_prefix(&e, "service account %s/%s", ns, name);
    } else {
        tokenrequest_answer_error(&r, ns, name, &e);
        rc = -1;
    }
    if (r.body)
        OPENSSL_cleanse(r.body, r.len);
    kube_response_free(&r);
    if (rc < 0 && err)
        *err = e;
    return rc;
}
