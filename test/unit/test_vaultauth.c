/* test_vaultauth.c -- spec.vault.auth and the mTLS references: cert-manager's rules and
 * messages for every method, their defaults, and what a load reads through the injected env
 * (Secrets, service account tokens and their audiences, the mTLS identity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/mem.h"
#include "signers/secret.h"
#include "signers/vaultauth.h"
#include "signers/vaultspec.h"

#include "testpki.h"

/* A spec.vault object with the given auth (and other members before it). */
#define V(extra, auth)                                                                             \
    "{\"server\":\"https://v:8200\",\"path\":\"pki/sign/r\"," extra "\"auth\":" auth "}"
#define TLS_REFS "\"clientCertSecretRef\":{\"name\":\"c\"},\"clientKeySecretRef\":{\"name\":\"k\"},"

/* Parses spec.vault json through the row; the spec or NULL with *err. */
static struct vault_spec *parse(const char *json, struct err *err)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    void *spec = NULL;
    int rc = vault_row.parse(o, &spec, err);
    cJSON_Delete(o);
    assert_int_equal(rc == 0, spec != NULL);
    return spec;
}

static void test_methods_and_defaults(void **state)
{
    (void)state;
    struct err err = {0};
    struct vault_spec *v = parse(V("", "{\"tokenSecretRef\":{\"name\":\"t\"}}"), &err);
    assert_non_null(v);
    assert_int_equal(v->auth.method, VAULT_AUTH_TOKEN);
    assert_string_equal(v->auth.secret.name, "t");
    assert_string_equal(v->auth.secret.key, "token"); /* cert-manager's default */
    vault_row.free_spec(v);

    v = parse(V("\"serverName\":\"vault.internal\"," TLS_REFS, "{\"clientCertificate\":{}}"), &err);
    assert_non_null(v);
    assert_int_equal(v->auth.method, VAULT_AUTH_CERT);
    assert_string_equal(v->server_name, "vault.internal");
    assert_string_equal(v->auth.mount, "auth/cert"); /* /v1/auth/cert */
    assert_null(v->auth.cert_secret);
    assert_string_equal(v->auth.role, "");
    assert_string_equal(v->auth.client_cert.key, "tls.crt");
    assert_string_equal(v->auth.client_key.key, "tls.key");
    vault_row.free_spec(v);

    v = parse(V("", "{\"clientCertificate\":{\"mountPath\":\"/v1/auth/certs/\",\"secretName\":"
                    "\"login\",\"name\":\"web\"}}"),
              &err);
    assert_non_null(v);
    assert_string_equal(v->auth.mount, "auth/certs");
    assert_string_equal(v->auth.cert_secret, "login");
    assert_string_equal(v->auth.role, "web");
    vault_row.free_spec(v);

    v = parse(V("", "{\"kubernetes\":{\"role\":\"ember\",\"secretRef\":{\"name\":\"jwt\"}}}"),
              &err);
    assert_non_null(v);
    assert_int_equal(v->auth.method, VAULT_AUTH_KUBERNETES);
    assert_string_equal(v->auth.mount, "auth/kubernetes");
    assert_string_equal(v->auth.secret.key, "token");
    assert_null(v->auth.sa_name);
    vault_row.free_spec(v);

    v = parse(V("", "{\"kubernetes\":{\"role\":\"ember\",\"mountPath\":\"/v1/auth/k8s-east\","
                    "\"serviceAccountRef\":{\"name\":\"ember\",\"audiences\":[\"a1\",\"a2\"]}}}"),
              &err);
    assert_non_null(v);
    assert_string_equal(v->auth.mount, "auth/k8s-east");
    assert_string_equal(v->auth.sa_name, "ember");
    assert_int_equal(v->auth.n_audiences, 2);
    assert_string_equal(v->auth.audiences[1], "a2");
    assert_null(v->auth.secret.name);
    vault_row.free_spec(v);
}

static void test_refusals(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {V("", "{}"),
         "Vault tokenSecretRef, appRole, clientCertificate, or kubernetes is required"},
        {"{\"server\":\"https://v\",\"path\":\"p\"}",
         "Vault tokenSecretRef, appRole, clientCertificate, or kubernetes is required"},
        {V("", "{\"tokenSecretRef\":{\"name\":\"t\"},\"kubernetes\":{\"role\":\"r\"}}"),
         "Multiple auth methods cannot be set on the same Vault issuer"},
        {V("", "{\"appRole\":{\"roleId\":\"r\"},\"aws\":{}}"),
         "Multiple auth methods cannot be set on the same Vault issuer"},
        {V("", "{\"aws\":{\"role\":\"r\"}}"),
         "spec.vault.auth.aws: Vault's AWS IAM auth is out of scope for Ember (OpenBao's core has "
         "no AWS auth method); use kubernetes, appRole, clientCertificate or tokenSecretRef"},
        {V("", "{\"gcp\":{}}"), "spec.vault.auth.gcp: unknown field (known: tokenSecretRef, "
                                "appRole, clientCertificate, kubernetes, aws)"},
        {V("", "{\"tokenSecretRef\":{\"key\":\"t\"}}"),
         "Vault Token auth requires tokenSecretRef.name"},
        {V("", "{\"tokenSecretRef\":{\"name\":\"t\",\"namespace\":\"x\"}}"),
         "spec.vault.auth.tokenSecretRef.namespace: unknown field (known: name, key)"},
        {V("", "{\"kubernetes\":{\"secretRef\":{\"name\":\"s\"}}}"),
         "Vault Kubernetes auth requires a role to be set"},
        {V("", "{\"kubernetes\":{\"role\":\"r\"}}"),
         "Vault Kubernetes auth requires either secretRef.name or serviceAccountRef.name to be "
         "set"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"secretRef\":{\"name\":\"s\"},"
               "\"serviceAccountRef\":{\"name\":\"sa\"}}}"),
         "Vault Kubernetes auth cannot be used with both secretRef.name and "
         "serviceAccountRef.name"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{}}}"),
         "spec.vault.auth.kubernetes.serviceAccountRef.name: missing (expected a string)"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{\"name\":\"sa\","
               "\"audiences\":[1]}}}"),
         "spec.vault.auth.kubernetes.serviceAccountRef.audiences[0]: expected a string, got a "
         "number"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{\"name\":\"sa\","
               "\"audiences\":[\"a\",\"\"]}}}"),
         "spec.vault.auth.kubernetes.serviceAccountRef.audiences[1]: empty (an audience is a "
         "non-empty string)"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{\"name\":\"sa\","
               "\"audiences\":[\"a\\nb\"]}}}"),
         "spec.vault.auth.kubernetes.serviceAccountRef.audiences[0]: has a control character"},
        /* A TokenRequest carries at most 16 audiences and Ember adds two: 15 are refused. */
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{\"name\":\"sa\","
               "\"audiences\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
               "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\"]}}}"),
         "spec.vault.auth.kubernetes.serviceAccountRef.audiences"},
        {V("", "{\"kubernetes\":{\"role\":\"r\",\"mountPath\":\"auth/kubernetes\","
               "\"secretRef\":{\"name\":\"s\"}}}"),
         "spec.vault.auth.kubernetes.mountPath must be a path starting with \"/v1/\" as in "
         "cert-manager (it posts to <mountPath>/login), such as \"/v1/auth/kubernetes\", not "
         "\"auth/kubernetes\""},
        {V("", "{\"clientCertificate\":{\"secretName\":\"s\",\"mountPath\":\"/v1/auth/../sys\"}}"),
         "spec.vault.auth.clientCertificate.mountPath must be a path starting with \"/v1/\""},
        {V("", "{\"clientCertificate\":{\"name\":\"web\"}}"),
         "Vault clientCertificate auth needs a certificate to log in with: set "
         "spec.vault.auth.clientCertificate.secretName (a kubernetes.io/tls Secret), or "
         "spec.vault.clientCertSecretRef and clientKeySecretRef"},
        {V("", "{\"clientCertificate\":{\"secretName\":\"s\",\"role\":\"x\"}}"),
         "spec.vault.auth.clientCertificate.role: unknown field (known: mountPath, secretName, "
         "name)"},
        {V("\"clientCertSecretRef\":{\"name\":\"c\"},", "{\"tokenSecretRef\":{\"name\":\"t\"}}"),
         "spec.vault.clientCertSecretRef and clientKeySecretRef go together (the client "
         "certificate and its key for mTLS to Vault): clientKeySecretRef is missing"},
        {V("\"clientCertSecretRef\":{\"key\":\"c\"},\"clientKeySecretRef\":{\"name\":\"k\"},",
           "{\"tokenSecretRef\":{\"name\":\"t\"}}"),
         "spec.vault.clientCertSecretRef.name is required"},
        {V("\"serverName\":\"a b\",", "{\"tokenSecretRef\":{\"name\":\"t\"}}"),
         "spec.vault.serverName must be a host name such as \"vault.internal\", not \"a b\""},
        {"{\"server\":\"http://127.0.0.1:1\",\"path\":\"p\",\"serverName\":\"v\",\"auth\":{"
         "\"tokenSecretRef\":{\"name\":\"t\"}}}",
         "spec.vault.serverName needs an https:// spec.vault.server"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct err err = {0};
        struct vault_spec *v = parse(cases[i][0], &err);
        if (v != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i][0]);
        assert_int_equal(err.kind, ERR_INVALID);
        if (strncmp(err.msg, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("case %zu: got \"%s\"\nwant \"%s\"", i, err.msg, cases[i][1]);
    }
}

/* ---- load ---- */

static cJSON *secrets;  /* name -> stringData */
static char asked[256]; /* the last get_token call, as "ns/sa exp aud1,aud2" */

static cJSON *fake_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    (void)ud;
    assert_string_equal(ns, "team");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(secrets, name);
    if (d == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "not found");
        return NULL;
    }
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "stringData", cJSON_Duplicate(d, 1));
    return s;
}

static int fake_get_token(void *ud, const char *ns, const char *sa, const char *const *aud,
                          size_t n, long exp, char **token, struct err *err)
{
    (void)ud, (void)err;
    int off = snprintf(asked, sizeof(asked), "%s/%s %ld ", ns, sa, exp);
    for (size_t i = 0; i < n; i++)
        off += snprintf(asked + off, sizeof(asked) - (size_t)off, "%s%s", i ? "," : "", aud[i]);
    *token = xstrdup("eyJ.jwt.sig");
    return 0;
}

static void add_secret(const char *name, const char *key, const char *value)
{
    cJSON *d = cJSON_GetObjectItemCaseSensitive(secrets, name);
    if (d == NULL)
        d = cJSON_AddObjectToObject(secrets, name);
    cJSON_AddStringToObject(d, key, value);
}

static struct vault_spec *cur; /* the spec cfg's strings point into, until the next load */

/* Parses json and loads its auth for Issuer team/v (or ClusterIssuer v with cluster). */
static int load(const char *json, bool with_token, bool cluster, struct vault_config *cfg,
                struct vaultauth **l, struct err *err)
{
    struct err perr = {0};
    struct vault_spec *v = parse(json, &perr);
    if (v == NULL)
        fail_msg("%s", perr.msg);
    struct signer_env env = {.get_secret = fake_get_secret,
                             .get_token = with_token ? fake_get_token : NULL};
    struct signer_where where = {.ns = "team",
                                 .ref = "Issuer/team/v",
                                 .issuer_ns = cluster ? "" : "team",
                                 .issuer_name = "v"};
    memset(cfg, 0, sizeof(*cfg));
    vault_row.free_spec(cur);
    cur = v;
    return vaultauth_load(&v->auth, &env, &where, v->server, cfg, l, err);
}

static void test_load_secrets_and_tokens(void **state)
{
    (void)state;
    secrets = cJSON_CreateObject();
    add_secret("tok", "token", "hvs.static\n");
    struct vault_config cfg;
    struct vaultauth *l = NULL;
    struct err err = {0};
    assert_int_equal(
        load(V("", "{\"tokenSecretRef\":{\"name\":\"tok\"}}"), false, false, &cfg, &l, &err), 0);
    assert_int_equal(cfg.auth, VAULT_AUTH_TOKEN);
    assert_string_equal(cfg.secret_name, "Secret team/tok key token");
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(cfg.secret_id(cfg.secret_ud, &out, &len, &err), 0);
    assert_string_equal(out, "hvs.static"); /* the newline trimmed */
    xfree_secret(out, len);
    vaultauth_free(l);

    /* A missing key is said at the login, naming the Secret, never its value. */
    assert_int_equal(load(V("", "{\"tokenSecretRef\":{\"name\":\"tok\",\"key\":\"other\"}}"), false,
                          false, &cfg, &l, &err),
                     0);
    assert_int_equal(cfg.secret_id(cfg.secret_ud, &out, &len, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_non_null(strstr(err.msg, "team/tok"));
    assert_null(strstr(err.msg, "hvs."));
    vaultauth_free(l);

    /* serviceAccountRef: a fresh token per call, 600 s, cert-manager's audiences. */
    const char *sa = V("", "{\"kubernetes\":{\"role\":\"r\",\"serviceAccountRef\":{\"name\":"
                           "\"ember\",\"audiences\":[\"extra\"]}}}");
    assert_int_equal(load(sa, true, false, &cfg, &l, &err), 0);
    assert_int_equal(cfg.secret_id(cfg.secret_ud, &out, &len, &err), 0);
    assert_string_equal(out, "eyJ.jwt.sig");
    xfree_secret(out, len);
    assert_string_equal(asked, "team/ember 600 extra,vault://team/v,https://v:8200");
    assert_string_equal(cfg.secret_name, "a token of service account team/ember");
    vaultauth_free(l);
    assert_int_equal(load(sa, true, true, &cfg, &l, &err), 0);
    assert_int_equal(cfg.secret_id(cfg.secret_ud, &out, &len, &err), 0);
    xfree_secret(out, len);
    assert_string_equal(asked, "team/ember 600 extra,vault://v,https://v:8200");
    vaultauth_free(l);

    /* Standalone: no token source. */
    l = NULL;
    assert_int_equal(load(sa, false, false, &cfg, &l, &err), -1);
    assert_null(l);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.msg,
                        "spec.vault.auth.kubernetes.serviceAccountRef needs the Kubernetes API (a "
                        "TokenRequest for service account team/ember): not available in "
                        "standalone mode; use spec.vault.auth.kubernetes.secretRef");
    cJSON_Delete(secrets);
}

static void test_load_tls_identities(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
    X509 *x = make_bare_cert("ember", k, NULL, NULL, 0);
    char *crt = cert_pem(x), *key = key_pem(k), *okey = key_pem(other);
    secrets = cJSON_CreateObject();
    add_secret("c", "tls.crt", crt);
    add_secret("k", "tls.key", key);
    add_secret("login", "tls.crt", crt);
    add_secret("login", "tls.key", key);
    add_secret("bad", "tls.key", okey);
    struct vault_config cfg;
    struct vaultauth *l = NULL;
    struct err err = {0};
    /* The mTLS identity is read at load; cert auth without secretName logs in with it. */
    assert_int_equal(load(V(TLS_REFS, "{\"clientCertificate\":{}}"), false, false, &cfg, &l, &err),
                     0);
    assert_string_equal(cfg.client_cert_pem, crt);
    assert_string_equal(cfg.client_key_pem, key);
    assert_null(cfg.identity);
    assert_string_equal(cfg.mount_path, "auth/cert");
    vaultauth_drop_identity(l);
    vaultauth_free(l);
    /* A key that is not the certificate's: Pending, naming both Secrets. */
    assert_int_equal(load(V("\"clientCertSecretRef\":{\"name\":\"c\"},\"clientKeySecretRef\":{"
                            "\"name\":\"bad\"},",
                            "{\"tokenSecretRef\":{\"name\":\"t\"}}"),
                          false, false, &cfg, &l, &err),
                     -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_string_equal(err.msg, "Secrets team/c and team/bad (spec.vault.clientCertSecretRef, "
                                 "clientKeySecretRef): the private key does not match the "
                                 "certificate");
    /* cert auth with secretName: its tls.crt and tls.key at each login. */
    assert_int_equal(load(V("", "{\"clientCertificate\":{\"secretName\":\"login\"}}"), false, false,
                          &cfg, &l, &err),
                     0);
    assert_null(cfg.client_cert_pem);
    assert_non_null(cfg.identity);
    char *c = NULL, *kk = NULL;
    size_t clen = 0, klen = 0;
    assert_int_equal(cfg.identity(cfg.secret_ud, &c, &clen, &kk, &klen, &err), 0);
    assert_string_equal(c, crt);
    assert_string_equal(kk, key);
    free(c);
    xfree_secret(kk, klen);
    vaultauth_free(l);
    cJSON_Delete(secrets);
    free(crt), free(key), free(okey);
    X509_free(x);
    EVP_PKEY_free(k), EVP_PKEY_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_and_defaults),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_load_secrets_and_tokens),
        cmocka_unit_test(test_load_tls_identities),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vault_row.free_spec(cur);
    return rc;
}
