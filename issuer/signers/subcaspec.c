/* subcaspec.c -- the Vault sub-CA's pure parts: spec, key, CSR, request, answer, checks. */
#include "signers/subcaspec.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/duration.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "signers/signer.h"
#include "x509/chain.h"

#define SUBCASPEC_PATH "spec.vault.subCA"
#define SUBCASPEC_SUBJECT "spec.vault.subCA.subject"
#define SUBCASPEC_BUNDLE_REF "spec.vault.subCA.caBundleSecretRef"
#define SUBCASPEC_SUFFIX "/sign-intermediate"

static const char *const subcaspec_algs[] = {"ECDSAP256", "ECDSAP384", "RSA2048", "RSA3072",
                                             "RSA4096",   "Ed25519",   NULL};

static const struct jsonfield subcaspec_fields[] = {
    {.name = "enabled", .type = JSONFIELD_BOOL},
    {.name = "path", .type = JSONFIELD_STRING},
    {.name = "keyAlgorithm", .type = JSONFIELD_STRING, .choices = subcaspec_algs},
    {.name = "duration", .type = JSONFIELD_STRING},
    {.name = "renewBefore", .type = JSONFIELD_STRING},
    {.name = "maxLeafDuration", .type = JSONFIELD_STRING},
    {.name = "commonNamePrefix", .type = JSONFIELD_STRING},
    {.name = "subject", .type = JSONFIELD_OBJECT},
    {.name = "permittedDNSDomains", .type = JSONFIELD_STRINGS},
    {.name = "caBundleSecretRef", .type = JSONFIELD_OBJECT},
    {.name = "requireLockedMemory", .type = JSONFIELD_BOOL},
    {0},
};
static const struct jsonfield subcaspec_subject_fields[] = {
    {.name = "organizations", .type = JSONFIELD_STRINGS},
    {.name = "organizationalUnits", .type = JSONFIELD_STRINGS},
    {0},
};
static const struct jsonfield subcaspec_bundle_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING, .required = true},
    {.name = "key", .type = JSONFIELD_STRING},
    {0},
};

const char *subcaspec_alg_name(int alg)
{
    return alg >= 0 && alg <= SUBCASPEC_ED25519 ? subcaspec_algs[alg] : "?";
}

static void subcaspec_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void subcaspec_free(struct subca_spec *s)
{
    if (s == NULL)
        return;
    free(s->path);
    free(s->duration_text);
    free(s->cn_prefix);
    subcaspec_free_strv(s->orgs, s->n_orgs);
    subcaspec_free_strv(s->ous, s->n_ous);
    subcaspec_free_strv(s->domains, s->n_domains);
    free(s->bundle_name);
    free(s->bundle_key);
    free(s);
}

static char **subcaspec_dup_strv(char *const *v, size_t n)
{
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static char *subcaspec_dup_opt(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

struct subca_spec *subcaspec_dup(const struct subca_spec *s)
{
    struct subca_spec *d = xcalloc(1, sizeof(*d));
    *d = *s;
    d->path = xstrdup(s->path);
    d->duration_text = xstrdup(s->duration_text);
    d->cn_prefix = xstrdup(s->cn_prefix);
    d->orgs = subcaspec_dup_strv(s->orgs, s->n_orgs);
    d->ous = subcaspec_dup_strv(s->ous, s->n_ous);
    d->domains = subcaspec_dup_strv(s->domains, s->n_domains);
    d->bundle_name = subcaspec_dup_opt(s->bundle_name);
    d->bundle_key = subcaspec_dup_opt(s->bundle_key);
    return d;
}

/* A list of strings of obj into *out (NULL-terminated, possibly empty). */
static int subcaspec_strings(const cJSON *obj, const char *path, const char *key, size_t max_n,
                             size_t max_len, char ***out, size_t *n, struct err *err)
{
    const cJSON *list;
    if (jsonfield_strings(obj, path, key, max_n, max_len, &list, err) != 0)
        return -1;
    *n = 0;
    *out = xcalloc((size_t)(list != NULL ? cJSON_GetArraySize(list) : 0) + 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        if (it->valuestring[0] == '\0') {
            err_set(err, ERR_INVALID, "%s.%s[%zu]: empty (expected a non-empty string)", path, key,
                    *n);
            return -1;
        }
        (*out)[(*n)++] = xstrdup(it->valuestring);
    }
    return 0;
}

/* A Go duration member into *secs (left alone when absent); *text copied when given. */
static int subcaspec_duration(const cJSON *obj, const char *key, long long *secs, char **text,
                              struct err *err)
{
    const char *s;
    if (jsonfield_string(obj, SUBCASPEC_PATH, key, &s, err) != 0)
        return -1;
    if (s == NULL)
        return 0;
    if (duration_parse_go(s, secs, err) != 0) {
        err_prefix(err, SUBCASPEC_PATH ".%s", key);
        return -1;
    }
    if (*secs <= 0) {
        err_set(err, ERR_INVALID, SUBCASPEC_PATH ".%s: must be positive, got \"%.64s\"", key, s);
        return -1;
    }
    if (text != NULL) {
        free(*text);
        *text = xstrdup(s);
    }
    return 0;
}

/* duration, renewBefore, maxLeafDuration, their defaults and their rules. */
static int subcaspec_read_times(struct subca_spec *s, const cJSON *obj, struct err *err)
{
    s->duration_s = 168 * 3600;
    s->duration_text = xstrdup("168h");
    s->max_leaf_s = 24 * 3600;
    s->renew_before_s = 0;
    if (subcaspec_duration(obj, "duration", &s->duration_s, &s->duration_text, err) != 0 ||
        subcaspec_duration(obj, "maxLeafDuration", &s->max_leaf_s, NULL, err) != 0 ||
        subcaspec_duration(obj, "renewBefore", &s->renew_before_s, NULL, err) != 0)
        return -1;
    if (s->max_leaf_s >= s->duration_s) {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH ".maxLeafDuration (%llds) must be shorter than duration (%llds): "
                               "leaves never outlive the sub-CA that signs them",
                s->max_leaf_s, s->duration_s);
        return -1;
    }
    if (s->renew_before_s == 0) {
        long long third = s->duration_s / 3, mid = (s->duration_s + s->max_leaf_s) / 2;
        long long margin = s->max_leaf_s + 3600 < mid ? s->max_leaf_s + 3600 : mid;
        s->renew_before_s = third > margin ? third : margin;
    }
    if (s->renew_before_s >= s->duration_s) {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH ".renewBefore (%llds) must be shorter than duration (%llds)",
                s->renew_before_s, s->duration_s);
        return -1;
    }
    if (s->renew_before_s < s->max_leaf_s) {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH ".renewBefore (%llds) must be at least maxLeafDuration (%llds), so "
                               "a new sub-CA is there before a leaf would have to be cut short",
                s->renew_before_s, s->max_leaf_s);
        return -1;
    }
    return 0;
}

/* path: required, relative, ending in /sign-intermediate. */
static int subcaspec_read_path(struct subca_spec *s, const cJSON *obj, struct err *err)
{
    if (signer_spec_copy(obj, SUBCASPEC_PATH, "path", &s->path, err) != 0)
        return -1;
    if (s->path == NULL || s->path[0] == '\0') {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH
                ".path: missing (expected a Vault API path ending in "
                "/sign-intermediate, such as pki_int/issuer/ember/sign-intermediate)");
        return -1;
    }
    size_t n = strlen(s->path), k = strlen(SUBCASPEC_SUFFIX);
    if (s->path[0] == '/') {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH
                ".path is used after /v1/: write \"pki_int/root/sign-intermediate\", "
                "not \"%.200s\"",
                s->path);
        return -1;
    }
    if (n <= k || strcmp(s->path + n - k, SUBCASPEC_SUFFIX) != 0) {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH ".path \"%.200s\" must end in /sign-intermediate (e.g. "
                               "pki_int/issuer/ember/sign-intermediate or "
                               "pki_int/root/sign-intermediate)",
                s->path);
        return -1;
    }
    return 0;
}

static bool subcaspec_dns_ok(const char *d)
{
    if (*d == '.')
        d++;
    if (*d == '\0' || *d == '.' || *d == '-')
        return false;
    for (const char *p = d; *p != '\0'; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && *p != '-' && *p != '.')
            return false;
        if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
            return false;
    }
    return true;
}

/* commonNamePrefix, subject and permittedDNSDomains. */
static int subcaspec_read_names(struct subca_spec *s, const cJSON *obj, struct err *err)
{
    const cJSON *subject;
    if (signer_spec_copy(obj, SUBCASPEC_PATH, "commonNamePrefix", &s->cn_prefix, err) != 0 ||
        jsonfield_object(obj, SUBCASPEC_PATH, "subject", &subject, err) != 0)
        return -1;
    if (s->cn_prefix == NULL)
        s->cn_prefix = xstrdup("Ember sub-CA");
    size_t plen = strlen(s->cn_prefix);
    bool printable = plen > 0 && plen <= SUBCASPEC_MAX_PREFIX;
    for (size_t i = 0; printable && i < plen; i++)
        printable = (unsigned char)s->cn_prefix[i] >= 0x20 && (unsigned char)s->cn_prefix[i] < 0x7f;
    if (!printable) {
        err_set(err, ERR_INVALID,
                SUBCASPEC_PATH ".commonNamePrefix: expected 1 to %d printable ASCII characters",
                SUBCASPEC_MAX_PREFIX);
        return -1;
    }
    if (subject != NULL &&
        (jsonfield_check(subject, SUBCASPEC_SUBJECT, subcaspec_subject_fields, 0, err) != 0 ||
         subcaspec_strings(subject, SUBCASPEC_SUBJECT, "organizations", SUBCASPEC_MAX_NAMES,
                           SUBCASPEC_MAX_NAME_LEN, &s->orgs, &s->n_orgs, err) != 0 ||
         subcaspec_strings(subject, SUBCASPEC_SUBJECT, "organizationalUnits", SUBCASPEC_MAX_NAMES,
                           SUBCASPEC_MAX_NAME_LEN, &s->ous, &s->n_ous, err) != 0))
        return -1;
    for (size_t i = 0; i < s->n_orgs + s->n_ous; i++) {
        const char *v = i < s->n_orgs ? s->orgs[i] : s->ous[i - s->n_orgs];
        if (strchr(v, ',') != NULL) {
            err_set(err, ERR_INVALID,
                    SUBCASPEC_SUBJECT ".%s: \"%.64s\" has a comma, which Vault's comma-separated "
                                      "organization and ou parameters cannot carry",
                    i < s->n_orgs ? "organizations" : "organizationalUnits", v);
            return -1;
        }
    }
    if (s->orgs == NULL)
        s->orgs = xcalloc(1, sizeof(char *));
    if (s->ous == NULL)
        s->ous = xcalloc(1, sizeof(char *));
    if (subcaspec_strings(obj, SUBCASPEC_PATH, "permittedDNSDomains", SUBCASPEC_MAX_DOMAINS,
                          SUBCASPEC_MAX_DOMAIN_LEN, &s->domains, &s->n_domains, err) != 0)
        return -1;
    for (size_t i = 0; i < s->n_domains; i++) {
        if (!subcaspec_dns_ok(s->domains[i])) {
            err_set(err, ERR_INVALID,
                    SUBCASPEC_PATH ".permittedDNSDomains[%zu]: \"%.64s\" is not a DNS name (a "
                                   "leading '.' means subdomains only)",
                    i, s->domains[i]);
            return -1;
        }
    }
    return 0;
}

/* caBundleSecretRef and requireLockedMemory. */
static int subcaspec_read_rest(struct subca_spec *s, const cJSON *obj, struct err *err)
{
    const cJSON *bref;
    if (jsonfield_object(obj, SUBCASPEC_PATH, "caBundleSecretRef", &bref, err) != 0 ||
        jsonfield_bool(obj, SUBCASPEC_PATH, "requireLockedMemory", &s->require_locked, err) != 0)
        return -1;
    if (bref == NULL)
        return 0;
    if (jsonfield_check(bref, SUBCASPEC_BUNDLE_REF, subcaspec_bundle_fields, 0, err) != 0 ||
        signer_spec_copy(bref, SUBCASPEC_BUNDLE_REF, "name", &s->bundle_name, err) != 0 ||
        signer_spec_copy(bref, SUBCASPEC_BUNDLE_REF, "key", &s->bundle_key, err) != 0)
        return -1;
    if (s->bundle_key == NULL || s->bundle_key[0] == '\0') {
        free(s->bundle_key);
        s->bundle_key = xstrdup("ca.crt");
    }
    return 0;
}

int subcaspec_parse(const cJSON *obj, struct subca_spec **out, struct err *err)
{
    *out = NULL;
    bool enabled = true;
    int alg = SUBCASPEC_ECDSA_P256;
    if (jsonfield_check(obj, SUBCASPEC_PATH, subcaspec_fields, 0, err) != 0 ||
        jsonfield_bool(obj, SUBCASPEC_PATH, "enabled", &enabled, err) != 0 ||
        jsonfield_choice(obj, SUBCASPEC_PATH, "keyAlgorithm", subcaspec_algs, &alg, err) != 0)
        return -1;
    if (!enabled)
        return 0;
    struct subca_spec *s = xcalloc(1, sizeof(*s));
    s->key_alg = alg < 0 ? SUBCASPEC_ECDSA_P256 : alg;
    if (subcaspec_read_path(s, obj, err) != 0 || subcaspec_read_times(s, obj, err) != 0 ||
        subcaspec_read_names(s, obj, err) != 0 || subcaspec_read_rest(s, obj, err) != 0) {
        subcaspec_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* ---- key, CSR, request ---- */

EVP_PKEY *subcaspec_keygen(int alg, struct err *err)
{
    EVP_PKEY *k = NULL;
    switch (alg) {
    case SUBCASPEC_ECDSA_P256: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
    case SUBCASPEC_ECDSA_P384: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
    case SUBCASPEC_RSA2048: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); break;
    case SUBCASPEC_RSA3072: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072); break;
    case SUBCASPEC_RSA4096: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096); break;
    case SUBCASPEC_ED25519: k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    default: break;
    }
    if (k == NULL) {
        err_set(err, ERR_INTERNAL, "cannot generate a %s key for the sub-CA",
                subcaspec_alg_name(alg));
        err_append_openssl(err);
    }
    return k;
}

void subcaspec_common_name(const char *prefix, const char *host, unsigned long n, char *out,
                           size_t outlen)
{
    char tail[32];
    snprintf(tail, sizeof(tail), "-%lu", n);
    size_t room = SUBCASPEC_CN_MAX - strlen(prefix) - 1 - strlen(tail);
    snprintf(out, outlen, "%s %.*s%s", prefix, (int)room, host, tail);
}

static int subcaspec_add_rdn(X509_NAME *name, int nid, const char *v)
{
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
                                      0) == 1
               ? 0
               : -1;
}

static const EVP_MD *subcaspec_md(EVP_PKEY *key)
{
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
        return NULL;
    return EVP_PKEY_get_bits(key) == 384 ? EVP_sha384() : EVP_sha256();
}

char *subcaspec_csr_pem(const struct subca_spec *s, EVP_PKEY *key, const char *cn, struct err *err)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    int ok = req != NULL && name != NULL && b != NULL;
    for (size_t i = 0; ok && i < s->n_orgs; i++)
        ok = subcaspec_add_rdn(name, NID_organizationName, s->orgs[i]) == 0;
    for (size_t i = 0; ok && i < s->n_ous; i++)
        ok = subcaspec_add_rdn(name, NID_organizationalUnitName, s->ous[i]) == 0;
    ok = ok && subcaspec_add_rdn(name, NID_commonName, cn) == 0 &&
         X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 &&
         X509_REQ_set_subject_name(req, name) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
         X509_REQ_sign(req, key, subcaspec_md(key)) > 0 && PEM_write_bio_X509_REQ(b, req) == 1;
    if (ok) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        pem = xstrndup(p != NULL ? p : "", n > 0 ? (size_t)n : 0);
    } else {
        err_set(err, ERR_INTERNAL, "cannot make the sub-CA's CSR");
        err_append_openssl(err);
    }
    ERR_clear_error();
    BIO_free(b);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return pem;
}

/* Member key of o: v's n strings joined with ',' (none when n is 0). */
static void subcaspec_add_list(cJSON *o, const char *key, char *const *v, size_t n)
{
    if (n == 0)
        return;
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *list = xcalloc(1, len);
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(list + used, len - used, "%s%s", i > 0 ? "," : "", v[i]);
    cJSON_AddStringToObject(o, key, list);
    free(list);
}

char *subcaspec_request_body(const struct subca_spec *s, const char *csr_pem, const char *cn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "csr", csr_pem);
    cJSON_AddStringToObject(o, "common_name", cn);
    cJSON_AddStringToObject(o, "ttl", s->duration_text);
    cJSON_AddStringToObject(o, "max_path_length", "0");
    cJSON_AddStringToObject(o, "exclude_cn_from_sans", "true");
    cJSON_AddStringToObject(o, "format", "pem");
    cJSON_AddStringToObject(o, "use_csr_values", "false");
    /* Vault takes the subject from these, not from the CSR (use_csr_values false). */
    subcaspec_add_list(o, "organization", s->orgs, s->n_orgs);
    subcaspec_add_list(o, "ou", s->ous, s->n_ous);
    subcaspec_add_list(o, "permitted_dns_domains", s->domains, s->n_domains);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL)
        abort(); /* cJSON fails only when out of memory; the allocators abort then too */
    char *copy = xstrdup(body);
    cJSON_free(body);
    return copy;
}

/* ---- the answer ---- */

void subcaspec_answer_free(struct subcaspec_answer *a)
{
    X509_free(a->cert);
    sk_X509_pop_free(a->upstream, X509_free);
    sk_X509_pop_free(a->roots, X509_free);
    a->cert = NULL;
    a->upstream = a->roots = NULL;
}

/* Adds the certificates of one PEM string to a's pools (dropping duplicates and a->cert). */
static int subcaspec_add_pem(struct subcaspec_answer *a, const char *pem, const char *what,
                             struct err *err)
{
    STACK_OF(X509) *sk = NULL;
    if (chain_parse_pem(pem, strlen(pem), what, &sk, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < sk_X509_num(sk) && rc == 0; i++) {
        X509 *x = sk_X509_value(sk, i);
        bool dup = X509_cmp(x, a->cert) == 0;
        for (int j = 0; !dup && j < sk_X509_num(a->upstream); j++)
            dup = X509_cmp(x, sk_X509_value(a->upstream, j)) == 0;
        for (int j = 0; !dup && j < sk_X509_num(a->roots); j++)
            dup = X509_cmp(x, sk_X509_value(a->roots, j)) == 0;
        if (dup)
            continue;
        if (sk_X509_num(a->upstream) + sk_X509_num(a->roots) >= SUBCASPEC_MAX_CHAIN) {
            err_set(err, ERR_TOO_BIG, "Vault's answer has more than %d CA certificates",
                    SUBCASPEC_MAX_CHAIN);
            rc = -1;
        } else if (X509_up_ref(x) != 1 ||
                   sk_X509_push(chain_issued_by(x, x) ? a->roots : a->upstream, x) <= 0) {
            err_set(err, ERR_INTERNAL, "out of memory");
            rc = -1;
        }
    }
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

/* data.certificate, the new sub-CA. */
static int subcaspec_read_cert(struct subcaspec_answer *a, const cJSON *data, struct err *err)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(data, "certificate");
    STACK_OF(X509) *sk = NULL;
    if (!cJSON_IsString(c) || c->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault's answer has no data.certificate");
        return -1;
    }
    if (chain_parse_pem(c->valuestring, strlen(c->valuestring), "data.certificate", &sk, err) != 0)
        return -1;
    a->cert = sk_X509_shift(sk);
    int extra = sk_X509_num(sk);
    sk_X509_pop_free(sk, X509_free);
    if (extra != 0) {
        err_set(err, ERR_INVALID,
                "Vault's data.certificate holds %d certificates, expected 1 (is format \"pem\"?)",
                extra + 1);
        return -1;
    }
    return 0;
}

/* Vault's warnings, joined. */
static void subcaspec_read_warnings(struct subcaspec_answer *a, const cJSON *root)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "warnings"), *it;
    const cJSON *list = cJSON_IsArray(w) ? w : NULL;
    size_t used = 0;
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it) || used + 3 >= sizeof(a->warnings))
            continue;
        int n = snprintf(a->warnings + used, sizeof(a->warnings) - used, "%s%s",
                         used > 0 ? "; " : "", it->valuestring);
        used = n > 0 ? used + (size_t)n : used;
        used = used < sizeof(a->warnings) ? used : sizeof(a->warnings) - 1;
    }
}

int subcaspec_read_answer(const char *body, size_t len, struct subcaspec_answer *a, struct err *err)
{
    memset(a, 0, sizeof(*a));
    a->upstream = sk_X509_new_null();
    a->roots = sk_X509_new_null();
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    int rc = -1;
    if (a->upstream == NULL || a->roots == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (!cJSON_IsObject(data)) {
        err_set(err, ERR_INVALID, "Vault's answer is not JSON with a data object");
        goto out;
    }
    if (subcaspec_read_cert(a, data, err) != 0)
        goto out;
    const cJSON *issuing = cJSON_GetObjectItemCaseSensitive(data, "issuing_ca");
    if (cJSON_IsString(issuing) && issuing->valuestring[0] != '\0' &&
        subcaspec_add_pem(a, issuing->valuestring, "data.issuing_ca", err) != 0)
        goto out;
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(data, "ca_chain"), *it;
    if (chain != NULL && !cJSON_IsArray(chain) && !cJSON_IsNull(chain)) {
        err_set(err, ERR_INVALID, "Vault's data.ca_chain is not a list");
        goto out;
    }
    const cJSON *list = cJSON_IsArray(chain) ? chain : NULL;
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it) ||
            subcaspec_add_pem(a, it->valuestring, "data.ca_chain", err) != 0) {
            if (!cJSON_IsString(it))
                err_set(err, ERR_INVALID,
                        "Vault's data.ca_chain has an entry that is not a string");
            goto out;
        }
    }
    subcaspec_read_warnings(a, root);
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- the checks ---- */

/* CA:TRUE, pathLen 0, keyCertSign, well-formed, our key. */
static int subcaspec_check_cert(X509 *cert, EVP_PKEY *key, struct err *err)
{
    uint32_t flags = X509_get_extension_flags(cert);
    if (flags & EXFLAG_INVALID) {
        err_set(err, ERR_INVALID, "the sub-CA certificate Vault returned has malformed extensions");
        return -1;
    }
    if (!(flags & EXFLAG_CA)) {
        err_set(err, ERR_INVALID,
                "the certificate Vault returned is not a CA (no basicConstraints CA:TRUE): is "
                "spec.vault.subCA.path a sign-intermediate endpoint?");
        return -1;
    }
    long pathlen = X509_get_pathlen(cert);
    if (pathlen != 0) {
        err_set(err, ERR_INVALID,
                "the sub-CA certificate Vault returned has %s, but Ember asked for "
                "max_path_length 0",
                pathlen < 0 ? "no pathLen limit" : "a pathLen above 0");
        return -1;
    }
    if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN)) {
        err_set(err, ERR_INVALID,
                "the sub-CA certificate Vault returned lacks keyUsage keyCertSign");
        return -1;
    }
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
        ERR_clear_error();
        err_set(err, ERR_INVALID,
                "the sub-CA certificate Vault returned is not for the key Ember sent in its CSR");
        return -1;
    }
    return 0;
}

/* X509_verify_cert of cert through upstream to anchors at now, strict. */
static int subcaspec_verify_chain(X509 *cert, STACK_OF(X509) * upstream, STACK_OF(X509) * anchors,
                                  time_t now, STACK_OF(X509) * *chain, struct err *err)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    bool ok = store != NULL && ctx != NULL;
    for (int i = 0; ok && i < sk_X509_num(anchors); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(anchors, i)) == 1;
    if (!ok || X509_STORE_CTX_init(ctx, store, cert, upstream) != 1) {
        err_set(err, ERR_INTERNAL, "cannot set up the verification of the sub-CA");
        goto out;
    }
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT | X509_V_FLAG_USE_CHECK_TIME);
    X509_VERIFY_PARAM_set_time(vp, now);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        err_set(err, ERR_INVALID,
                "the sub-CA certificate Vault returned does not verify to the trust anchor "
                "(%s, at depth %d)",
                X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
        goto out;
    }
    if (chain != NULL)
        *chain = X509_STORE_CTX_get1_chain(ctx);
    rc = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

int subcaspec_verify(X509 *cert, STACK_OF(X509) * upstream, STACK_OF(X509) * anchors, EVP_PKEY *key,
                     time_t now, long long max_leaf_s, time_t *not_after, STACK_OF(X509) * *chain,
                     struct err *err)
{
    STACK_OF(X509) *got = NULL;
    if (chain != NULL)
        *chain = NULL;
    if (subcaspec_check_cert(cert, key, err) != 0)
        return -1;
    if (sk_X509_num(anchors) <= 0) {
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault's answer has no root CA to verify the sub-CA against (its ca_chain stops "
                "below the root): set spec.vault.subCA.caBundleSecretRef to a Secret holding the "
                "root");
        return -1;
    }
    if (subcaspec_verify_chain(cert, upstream, anchors, now, &got, err) != 0)
        return -1;
    time_t least = 0;
    for (int i = 0; i < sk_X509_num(got); i++) {
        time_t t;
        if (signer_asn1_time(X509_get0_notAfter(sk_X509_value(got, i)), &t) == 0 &&
            (least == 0 || t < least))
            least = t;
    }
    if (least - now <= max_leaf_s) {
        char when[TIMEFMT_LEN];
        timefmt_rfc3339(least, when);
        err_set(err, ERR_INVALID,
                "the sub-CA Vault signed can be used only until %s (the earliest notAfter of its "
                "chain), %llds from now, not more than maxLeafDuration (%llds): raise the Vault "
                "mount's max_lease_ttl, or renew the Vault issuer",
                when, (long long)(least - now), max_leaf_s);
        sk_X509_pop_free(got, X509_free);
        return -1;
    }
    *not_after = least;
    if (chain != NULL)
        *chain = got;
    else
        sk_X509_pop_free(got, X509_free);
    return 0;
}

/* Whether the GENERAL_NAME is a DNS name equal (case-insensitive) to one of the n domains. */
static bool subcaspec_nc_dns_in(const GENERAL_NAME *g, char *const *domains, size_t n)
{
    if (g->type != GEN_DNS)
        return false;
    const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
    int len = ASN1_STRING_length(g->d.dNSName);
    for (size_t i = 0; i < n; i++)
        if ((size_t)len == strlen(domains[i]) && memchr(p, '\0', (size_t)len) == NULL &&
            strncasecmp((const char *)p, domains[i], (size_t)len) == 0)
            return true;
    return false;
}

/* Whether every one of the n domains is among the permitted subtrees. */
static bool subcaspec_nc_covers(const NAME_CONSTRAINTS *nc, char *const *domains, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (int j = 0; !found && j < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); j++)
            found = subcaspec_nc_dns_in(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, j)->base,
                                        &domains[i], 1);
        if (!found)
            return false;
    }
    return true;
}

int subcaspec_check_constraints(X509 *cert, char *const *domains, size_t n, struct err *err)
{
    if (n == 0)
        return 0;
    int crit = -1;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(cert, NID_name_constraints, &crit, NULL);
    const char *bad = NULL;
    if (nc == NULL)
        bad = "has no nameConstraints";
    else if (crit != 1)
        bad = "has nameConstraints that are not critical";
    else if (sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) > 0)
        bad = "has excluded name constraints Ember did not ask for";
    for (int j = 0; bad == NULL && j < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); j++) {
        const GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, j);
        if (!subcaspec_nc_dns_in(t->base, domains, n) || t->minimum != NULL || t->maximum != NULL)
            bad = "permits names outside spec.vault.subCA.permittedDNSDomains";
    }
    if (bad == NULL && !subcaspec_nc_covers(nc, domains, n))
        bad = "lacks some of spec.vault.subCA.permittedDNSDomains in its name constraints";
    NAME_CONSTRAINTS_free(nc);
    ERR_clear_error();
    if (bad == NULL)
        return 0;
    err_set(
        err, ERR_INVALID,
        "the sub-CA certificate Vault returned %s: Ember asked for exactly permitted_dns_domains "
        "%s%s (does a policy or Vault version drop the parameter?)",
        bad, domains[0], n > 1 ? ",..." : "");
    return -1;
}

long long subcaspec_leaf_duration(long long want_s, time_t now, long long max_leaf_s,
                                  time_t not_after, bool *cut)
{
    long long d = want_s;
    *cut = false;
    if (d > max_leaf_s) {
        d = max_leaf_s;
        *cut = true;
    }
    if (now + (time_t)d > not_after) {
        d = (long long)(not_after - now);
        *cut = true;
    }
    return d;
}

time_t subcaspec_renew_at(time_t not_after, time_t now, long long renew_before_s,
                          long long max_leaf_s, long long jitter_s, long long min_wait_s,
                          bool *shortened)
{
    time_t last = not_after - (time_t)max_leaf_s; /* leaves are cut short after this */
    time_t at = not_after - (time_t)renew_before_s + (time_t)jitter_s;
    if (at > last)
        at = last;
    *shortened = at <= now;
    if (!*shortened)
        return at;
    long long half = (long long)(last - now) / 2;
    return now + (time_t)(half > min_wait_s ? half : min_wait_s);
}

bool subcaspec_dns_permitted(char *const *domains, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++) {
        const char *d = domains[i];
        size_t dl = strlen(d);
        if (d[0] == '.') {
            if (nl > dl && strcasecmp(name + nl - dl, d) == 0)
                return true;
        } else if (nl == dl ? strcasecmp(name, d) == 0
                            : nl > dl && name[nl - dl - 1] == '.' &&
                                  strcasecmp(name + nl - dl, d) == 0) {
            return true;
        }
    }
    return n == 0;
}
