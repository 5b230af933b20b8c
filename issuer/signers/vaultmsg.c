/* vaultmsg.c -- Vault request bodies and response parsing; pure, so it can be fuzzed. */
#include "signers/vaultmsg.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/buf.h"
#include "base/duration.h"
#include "base/mem.h"

/* ---- login body ---- */

static bool vaultmsg_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Narrows [*p, *p + *n) to its part without surrounding white space (Go's strings.TrimSpace
 * for ASCII, as cert-manager trims the role_id and the Secret value). */
static void vaultmsg_trim(const char **p, size_t *n)
{
    while (*n > 0 && vaultmsg_is_space((*p)[0])) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && vaultmsg_is_space((*p)[*n - 1]))
        (*n)--;
}

/* Bytes s takes as the inside of a JSON string. */
static size_t vaultmsg_json_len(const char *s, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            out += 2;
        else if (c < 0x20)
            out += 6;
        else
            out += 1;
    }
    return out;
}

/* {"<ka>":"<a>","<kb>":"<b>"} (keys plain ASCII, values escaped) in one allocation of its exact
 * size: growing a buffer would leave copies of the secret in freed memory that nobody wipes. */
static void vaultmsg_pair(const char *ka, const char *a, size_t an, const char *kb, const char *b,
                          size_t bn, char **json, size_t *len)
{
    size_t total = strlen("{\"\":\"\",\"\":\"\"}") + strlen(ka) + strlen(kb) +
                   vaultmsg_json_len(a, an) + vaultmsg_json_len(b, bn);
    char *out = xmalloc(total + 1);
    char *p = out;
    *p++ = '{';
    *p++ = '"';
    p = stpcpy(p, ka);
    p = stpcpy(p, "\":\"");
    p = json_escape_into(p, a, an);
    p = stpcpy(p, "\",\"");
    p = stpcpy(p, kb);
    p = stpcpy(p, "\":\"");
    p = json_escape_into(p, b, bn);
    p = stpcpy(p, "\"}");
    *json = out;
    *len = total;
}

int vaultmsg_login_body(const char *role_id, const char *secret_id, size_t secret_len, char **json,
                        size_t *len, struct err *err)
{
    *json = NULL;
    *len = 0;
    const char *r = role_id != NULL ? role_id : "";
    size_t rn = strlen(r);
    const char *s = secret_id != NULL ? secret_id : "";
    size_t sn = secret_id != NULL ? secret_len : 0;
    vaultmsg_trim(&r, &rn);
    vaultmsg_trim(&s, &sn);
    if (rn == 0) {
        err_set(err, ERR_INVALID, "auth.appRole.roleId is empty");
        return -1;
    }
    if (rn > VAULTMSG_MAX_ROLE_ID) {
        err_set(err, ERR_TOO_BIG, "auth.appRole.roleId is longer than %d bytes",
                VAULTMSG_MAX_ROLE_ID);
        return -1;
    }
    if (sn == 0) {
        err_set(err, ERR_INVALID, "the AppRole secret_id is empty");
        return -1;
    }
    if (sn > VAULTMSG_MAX_SECRET_ID) {
        err_set(err, ERR_TOO_BIG, "the AppRole secret_id is longer than %d bytes",
                VAULTMSG_MAX_SECRET_ID);
        return -1;
    }
    if (memchr(s, '\0', sn) != NULL) {
        err_set(err, ERR_INVALID, "the AppRole secret_id contains a NUL byte");
        return -1;
    }
    vaultmsg_pair("role_id", r, rn, "secret_id", s, sn, json, len);
    return 0;
}

int vaultmsg_kubernetes_login_body(const char *role, const char *jwt, size_t jwt_len, char **json,
                                   size_t *len, struct err *err)
{
    *json = NULL;
    *len = 0;
    const char *r = role != NULL ? role : "";
    size_t rn = strlen(r);
    const char *j = jwt != NULL ? jwt : "";
    size_t jn = jwt != NULL ? jwt_len : 0;
    vaultmsg_trim(&j, &jn);
    if (rn == 0) {
        err_set(err, ERR_INVALID, "Vault Kubernetes auth requires a role to be set");
        return -1;
    }
    if (rn > VAULTMSG_MAX_ROLE_ID) {
        err_set(err, ERR_TOO_BIG, "auth.kubernetes.role is longer than %d bytes",
                VAULTMSG_MAX_ROLE_ID);
        return -1;
    }
    if (jn == 0) {
        err_set(err, ERR_INVALID, "the service account token (JWT) is empty");
        return -1;
    }
    if (jn > VAULTMSG_MAX_JWT) {
        err_set(err, ERR_TOO_BIG, "the service account token (JWT) is longer than %d bytes",
                VAULTMSG_MAX_JWT);
        return -1;
    }
    if (memchr(j, '\0', jn) != NULL) {
        err_set(err, ERR_INVALID, "the service account token (JWT) contains a NUL byte");
        return -1;
    }
    vaultmsg_pair("role", r, rn, "jwt", j, jn, json, len);
    return 0;
}

int vaultmsg_cert_login_body(const char *name, char **json, size_t *len, struct err *err)
{
    *json = NULL;
    *len = 0;
    size_t n = name != NULL ? strlen(name) : 0;
    if (n > VAULTMSG_MAX_ROLE_ID) {
        err_set(err, ERR_TOO_BIG, "auth.clientCertificate.name is longer than %d bytes",
                VAULTMSG_MAX_ROLE_ID);
        return -1;
    }
    if (n == 0) {
        /* Vault's cert auth then tries every role whose CA trusts the certificate. */
        *json = xstrdup("{}");
        *len = 2;
        return 0;
    }
    size_t total = strlen("{\"name\":\"\"}") + vaultmsg_json_len(name, n);
    char *p = *json = xmalloc(total + 1);
    p = stpcpy(p, "{\"name\":\"");
    p = json_escape_into(p, name, n);
    stpcpy(p, "\"}");
    *len = total;
    return 0;
}

/* ---- response parsing helpers ---- */

/* Parses body as a JSON object. ERR_TOO_BIG past VAULTMSG_MAX_BODY, ERR_TRANSIENT when it is not
 * JSON (a proxy's HTML page, a cut connection), ERR_INVALID when it is JSON but not an object.
 * what names the answer in messages. */
static cJSON *vaultmsg_parse_object(const char *body, size_t len, const char *what, struct err *err)
{
    if (len > VAULTMSG_MAX_BODY) {
        err_set(err, ERR_TOO_BIG, "Vault's %s answer is larger than %d bytes", what,
                VAULTMSG_MAX_BODY);
        return NULL;
    }
    if (body == NULL || len == 0) {
        err_set(err, ERR_TRANSIENT, "Vault's %s answer is empty", what);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        err_set(err, ERR_TRANSIENT, "Vault's %s answer is not JSON", what);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, ERR_INVALID, "Vault's %s answer is not a JSON object", what);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Reads an optional integer member: absent or null leaves *out alone and returns 0; a number
 * that is not a whole value in [min, max] is ERR_INVALID naming field. */
static int vaultmsg_get_int(const cJSON *obj, const char *key, const char *field, long long min,
                            long long max, long long *out, struct err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (j == NULL || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsNumber(j)) {
        err_set(err, ERR_INVALID, "Vault's %s is not a number", field);
        return -1;
    }
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max) {
        err_set(err, ERR_INVALID, "Vault's %s is not a whole number between %lld and %lld", field,
                min, max);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

/* Wipes the string value of obj[key] if there is one (a token copy cJSON made). */
static void vaultmsg_wipe_string(cJSON *obj, const char *key)
{
    cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(j) && j->valuestring != NULL)
        OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
}

/* ---- login / renew-self ---- */

void vaultmsg_login_clear(struct vaultmsg_login *l)
{
    if (l == NULL)
        return;
    if (l->client_token != NULL)
        xfree_secret(l->client_token, strlen(l->client_token));
    memset(l, 0, sizeof(*l));
}

static int vaultmsg_login_fill(cJSON *root, struct vaultmsg_login *out, struct err *err)
{
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(root, "auth");
    if (auth == NULL || cJSON_IsNull(auth)) {
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "wrap_info")))
            err_set(err, ERR_INVALID,
                    "Vault answered with a response-wrapped token, which is not supported");
        else
            err_set(err, ERR_INVALID, "Vault's answer has no \"auth\" block");
        return -1;
    }
    if (!cJSON_IsObject(auth)) {
        err_set(err, ERR_INVALID, "Vault's auth is not an object");
        return -1;
    }
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(auth, "client_token");
    if (tok == NULL || cJSON_IsNull(tok)) {
        err_set(err, ERR_INVALID, "no token returned: Vault's auth.client_token is missing");
        return -1;
    }
    if (!cJSON_IsString(tok) || tok->valuestring == NULL) {
        err_set(err, ERR_INVALID, "Vault's auth.client_token is not a string");
        return -1;
    }
    size_t n = strlen(tok->valuestring);
    if (n == 0) {
        err_set(err, ERR_INVALID, "no token returned: Vault's auth.client_token is empty");
        return -1;
    }
    if (n > VAULTMSG_MAX_TOKEN) {
        err_set(err, ERR_TOO_BIG, "Vault's auth.client_token is longer than %d bytes",
                VAULTMSG_MAX_TOKEN);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tok->valuestring[i];
        /* It goes into the X-Vault-Token header: no spaces, controls or non-ASCII. */
        if (c <= 0x20 || c >= 0x7f) {
            err_set(err, ERR_INVALID,
                    "Vault's auth.client_token contains a byte that is not printable ASCII");
            return -1;
        }
    }
    long long lease = 0;
    if (vaultmsg_get_int(auth, "lease_duration", "auth.lease_duration", 0, DURATION_MAX_SECONDS,
                         &lease, err) != 0)
        return -1;
    const cJSON *ren = cJSON_GetObjectItemCaseSensitive(auth, "renewable");
    if (ren != NULL && !cJSON_IsNull(ren) && !cJSON_IsBool(ren)) {
        err_set(err, ERR_INVALID, "Vault's auth.renewable is not a boolean");
        return -1;
    }
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(auth, "token_type");
    if (tt != NULL && !cJSON_IsNull(tt)) {
        if (!cJSON_IsString(tt) || tt->valuestring == NULL) {
            err_set(err, ERR_INVALID, "Vault's auth.token_type is not a string");
            return -1;
        }
        if (strcmp(tt->valuestring, "service") != 0 && strcmp(tt->valuestring, "batch") != 0) {
            err_set(err, ERR_INVALID,
                    "Vault's auth.token_type is neither \"service\" nor \"batch\"");
            return -1;
        }
        snprintf(out->token_type, sizeof(out->token_type), "%s", tt->valuestring);
    }
    const cJSON *nu = cJSON_GetObjectItemCaseSensitive(auth, "num_uses");
    long long num_uses = 0;
    bool has_num_uses = nu != NULL && !cJSON_IsNull(nu);
    if (has_num_uses &&
        vaultmsg_get_int(auth, "num_uses", "auth.num_uses", 0, 1LL << 40, &num_uses, err) != 0)
        return -1;
    out->client_token = xstrndup(tok->valuestring, n);
    out->num_uses = num_uses;
    out->has_num_uses = has_num_uses;
    out->lease_duration = lease;
    out->renewable = cJSON_IsTrue(ren);
    return 0;
}

int vaultmsg_parse_login(const char *body, size_t len, struct vaultmsg_login *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = vaultmsg_parse_object(body, len, "login", err);
    if (root == NULL)
        return -1;
    int rc = vaultmsg_login_fill(root, out, err);
    cJSON *auth = cJSON_GetObjectItemCaseSensitive(root, "auth");
    if (cJSON_IsObject(auth))
        vaultmsg_wipe_string(auth, "client_token");
    cJSON_Delete(root);
    if (rc != 0)
        vaultmsg_login_clear(out);
    return rc;
}

/* ---- lookup-self ---- */

int vaultmsg_parse_lookup(const char *body, size_t len, struct vaultmsg_lookup *out,
                          struct err *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = vaultmsg_parse_object(body, len, "lookup-self", err);
    if (root == NULL)
        return -1;
    int rc = -1;
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(data)) {
        err_set(err, ERR_INVALID, "Vault's lookup-self answer has no \"data\" object");
        goto out;
    }
    vaultmsg_wipe_string(data, "id");
    const cJSON *nu = cJSON_GetObjectItemCaseSensitive(data, "num_uses");
    if (nu == NULL || cJSON_IsNull(nu)) {
        err_set(err, ERR_INVALID, "Vault's lookup-self answer has no data.num_uses");
        goto out;
    }
    long long num_uses = 0, ttl = 0;
    if (vaultmsg_get_int(data, "num_uses", "data.num_uses", -1, 1LL << 40, &num_uses, err) != 0 ||
        vaultmsg_get_int(data, "ttl", "data.ttl", 0, DURATION_MAX_SECONDS, &ttl, err) != 0)
        goto out;
    const cJSON *ren = cJSON_GetObjectItemCaseSensitive(data, "renewable");
    if (ren != NULL && !cJSON_IsNull(ren) && !cJSON_IsBool(ren)) {
        err_set(err, ERR_INVALID, "Vault's data.renewable is not a boolean");
        goto out;
    }
    out->num_uses = num_uses;
    out->ttl = ttl;
    out->renewable = cJSON_IsTrue(ren);
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- sign body ---- */

/* Joins sv with commas into a new string; ERR_INVALID when a value holds a comma. */
static int vaultmsg_join(const struct strv *sv, const char *field, char **out, struct err *err)
{
    struct buf b;
    buf_init(&b, (size_t)CSR_MAX_SANS * (CSR_MAX_NAME + 1) + 1);
    for (size_t i = 0; i < sv->n; i++) {
        if (strchr(sv->v[i], ',') != NULL) {
            err_set(err, ERR_INVALID,
                    "%s \"%.200s\" contains a comma, which Vault's comma-separated %s would "
                    "split into other names",
                    field, sv->v[i], field);
            buf_free(&b);
            return -1;
        }
        if ((i > 0 && buf_append(&b, ",", 1, err) != 0) || buf_append_str(&b, sv->v[i], err) != 0) {
            buf_free(&b);
            return -1;
        }
    }
    *out = buf_take(&b, NULL);
    return 0;
}

static char *vaultmsg_csr_pem(const struct csr *csr, struct err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509_REQ(bio, csr->req) != 1) {
        err_set(err, ERR_INTERNAL, "cannot write the CSR as PEM");
        err_append_openssl(err);
        BIO_free(bio);
        return NULL;
    }
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    char *s = xstrndup(p, n > 0 ? (size_t)n : 0);
    BIO_free(bio);
    return s;
}

/* other_sans: the CSR's otherNames as Vault writes them, "<oid>;UTF8:<value>", in a JSON list
 * (a value may hold commas, which Vault's comma-separated string form would split). */
static int vaultmsg_other_sans(cJSON *root, const struct csr *csr)
{
    cJSON *list = cJSON_AddArrayToObject(root, "other_sans");
    if (list == NULL)
        return -1;
    for (size_t i = 0; i < csr->other_name_oids.n; i++) {
        const char *oid = csr->other_name_oids.v[i], *v = csr->other_name_values.v[i];
        size_t n = strlen(oid) + strlen(v) + sizeof(";UTF8:");
        char *s = xmalloc(n);
        snprintf(s, n, "%s;UTF8:%s", oid, v);
        cJSON *item = cJSON_CreateString(s);
        free(s);
        if (item == NULL || !cJSON_AddItemToArray(list, item))
            return -1;
    }
    return 0;
}

int vaultmsg_sign_body(const struct csr *csr, long long ttl_s, char **json, struct err *err)
{
    *json = NULL;
    if (ttl_s <= 0 || ttl_s > DURATION_MAX_SECONDS) {
        err_set(err, ERR_INVALID, "the requested duration (%lld s) must be between 1 s and %lld s",
                ttl_s, (long long)DURATION_MAX_SECONDS);
        return -1;
    }
    char *alt = NULL, *ips = NULL, *uris = NULL, *pem = NULL;
    int rc = -1;
    cJSON *root = NULL;
    if (vaultmsg_join(&csr->dns_names, "alt_names", &alt, err) != 0 ||
        vaultmsg_join(&csr->ip_addresses, "ip_sans", &ips, err) != 0 ||
        vaultmsg_join(&csr->uris, "uri_sans", &uris, err) != 0)
        goto out;
    pem = vaultmsg_csr_pem(csr, err);
    if (pem == NULL)
        goto out;
    char ttl[48];
    duration_format_go(ttl_s, ttl, sizeof(ttl));
    root = cJSON_CreateObject();
    const char *cn = csr->common_name.n > 0 ? csr->common_name.v[0] : "";
    if (root == NULL || cJSON_AddStringToObject(root, "csr", pem) == NULL ||
        cJSON_AddStringToObject(root, "common_name", cn) == NULL ||
        cJSON_AddStringToObject(root, "alt_names", alt) == NULL ||
        cJSON_AddStringToObject(root, "ip_sans", ips) == NULL ||
        cJSON_AddStringToObject(root, "uri_sans", uris) == NULL ||
        cJSON_AddStringToObject(root, "ttl", ttl) == NULL ||
        cJSON_AddStringToObject(root, "exclude_cn_from_sans", "true") == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory building the Vault sign request");
        goto out;
    }
    if (csr->other_name_oids.n > 0 && vaultmsg_other_sans(root, csr) != 0) {
        err_set(err, ERR_INTERNAL, "out of memory building the Vault sign request");
        goto out;
    }
    char *printed = cJSON_PrintUnformatted(root);
    if (printed == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory printing the Vault sign request");
        goto out;
    }
    *json = xstrdup(printed);
    cJSON_free(printed);
    rc = 0;
out:
    cJSON_Delete(root);
    free(alt);
    free(ips);
    free(uris);
    free(pem);
    return rc;
}

/* ---- sign answer ---- */

static int vaultmsg_add_pem(struct buf *b, const cJSON *j, const char *field, bool required,
                            struct err *err)
{
    if (j == NULL || cJSON_IsNull(j)) {
        if (required) {
            err_set(err, ERR_INVALID, "Vault's sign answer has no %s", field);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(j) || j->valuestring == NULL) {
        err_set(err, ERR_INVALID, "Vault's %s is not a string", field);
        return -1;
    }
    const char *s = j->valuestring;
    if (s[0] == '\0') {
        if (required) {
            err_set(err, ERR_INVALID, "Vault's %s is empty", field);
            return -1;
        }
        return 0;
    }
    if (strstr(s, "-----BEGIN ") == NULL) {
        err_set(err, ERR_INVALID,
                "Vault's %s is not PEM (does the request or role ask for format der?)", field);
        return -1;
    }
    if (buf_append_str(b, s, err) != 0 || buf_append(b, "\n", 1, err) != 0) {
        err_prefix(err, "Vault's sign answer");
        return -1;
    }
    return 0;
}

int vaultmsg_parse_sign(const char *body, size_t len, char **pem, struct err *err)
{
    *pem = NULL;
    cJSON *root = vaultmsg_parse_object(body, len, "sign", err);
    if (root == NULL)
        return -1;
    struct buf b;
    /* Strings never grow when unescaped; the newlines added are bounded by the entries. */
    buf_init(&b, (size_t)VAULTMSG_MAX_BODY + VAULTMSG_MAX_CHAIN + 2);
    int rc = -1;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(data)) {
        err_set(err, ERR_INVALID, "Vault's sign answer has no \"data\" object");
        goto out;
    }
    if (vaultmsg_add_pem(&b, cJSON_GetObjectItemCaseSensitive(data, "certificate"),
                         "data.certificate", true, err) != 0 ||
        vaultmsg_add_pem(&b, cJSON_GetObjectItemCaseSensitive(data, "issuing_ca"),
                         "data.issuing_ca", false, err) != 0)
        goto out;
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(data, "ca_chain");
    if (chain != NULL && !cJSON_IsNull(chain)) {
        if (!cJSON_IsArray(chain)) {
            err_set(err, ERR_INVALID, "Vault's data.ca_chain is not an array");
            goto out;
        }
        int n = cJSON_GetArraySize(chain);
        if (n > VAULTMSG_MAX_CHAIN) {
            err_set(err, ERR_TOO_BIG, "Vault's data.ca_chain has more than %d entries",
                    VAULTMSG_MAX_CHAIN);
            goto out;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, chain)
        {
            if (vaultmsg_add_pem(&b, e, "data.ca_chain entry", false, err) != 0)
                goto out;
        }
    }
    *pem = buf_take(&b, NULL);
    rc = 0;
out:
    buf_free(&b);
    cJSON_Delete(root);
    return rc;
}

/* ---- errors ---- */

/* Appends s to out[*pos..cap) with control and non-ASCII bytes escaped; returns false once it
 * ran out of room (leaving room for the cut marker). */
static bool vaultmsg_put_escaped(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    /* Vault's multi-error text ("2 errors occurred:\n\t* permission denied\n\t* invalid
     * token\n\n") reads as one line: each run of blanks, tabs and line breaks is one space, none
     * at either end. */
    size_t start = *pos;
    bool blank = false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[5];
        size_t n = 0;
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            blank = true;
            continue;
        }
        if (blank && *pos > start)
            tmp[n++] = ' ';
        blank = false;
        if (c < 0x20 || c >= 0x7f) {
            tmp[n++] = '\\';
            tmp[n++] = 'x';
            tmp[n++] = hex[c >> 4];
            tmp[n++] = hex[c & 0xf];
        } else {
            tmp[n++] = (char)c;
        }
        /* Keep 4 bytes for "..." and the NUL. */
        if (*pos + n + 4 > cap)
            return false;
        memcpy(out + *pos, tmp, n);
        *pos += n;
    }
    return true;
}

size_t vaultmsg_errors(const char *body, size_t len, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return 0;
    out[0] = '\0';
    if (body == NULL || len == 0 || len > VAULTMSG_MAX_BODY)
        return 0;
    size_t cap = outlen < VAULTMSG_MAX_ERROR_TEXT ? outlen : VAULTMSG_MAX_ERROR_TEXT;
    if (cap < 8)
        return 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *errs =
        cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "errors") : NULL;
    size_t count = 0, pos = 0;
    bool cut = false;
    if (cJSON_IsArray(errs)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, errs)
        {
            if (!cJSON_IsString(e) || e->valuestring == NULL || e->valuestring[0] == '\0')
                continue;
            if (count == VAULTMSG_MAX_ERRORS) {
                cut = true;
                break;
            }
            if (count > 0 && pos + 2 + 4 > cap) { /* "; ", keeping room for "..." */
                cut = true;
                break;
            }
            if (count > 0) {
                memcpy(out + pos, "; ", 2);
                pos += 2;
            }
            count++;
            if (!vaultmsg_put_escaped(out, cap, &pos, e->valuestring)) {
                cut = true;
                break;
            }
        }
    }
    if (cut) {
        memcpy(out + pos, "...", 3);
        pos += 3;
    }
    out[pos] = '\0';
    cJSON_Delete(root);
    return count;
}
