/* test_audit.c -- unit tests for audit.c: the lines written for issued, denied and invalid
 * requests read back from a file and parsed, include_certificate on and off, nothing secret
 * echoed, bounded fields, whole lines from concurrent writers, and open errors. A real CA
 * signs real CSRs in-process. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/b64.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "decide/audit.h"
#include "decide/caller.h"
#include "signers/localca.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static time_t NOW;

#include "testpki.h"

/* ---- fixtures: a CA, CSRs, an issued chain ---- */

static struct localca *ca;
static EVP_PKEY *leaf_key;
static char *csr_b64;      /* P-256 CSR with DNS, IP, URI and email SANs (leaf_key) */
static char *chain_b64;    /* the chain issued for it (leaf first), base64 as status.certificate */
static char *leaf_pem;     /* the leaf alone */
static char *want_spki;    /* hex SHA-256 of leaf_key's SubjectPublicKeyInfo */
static char *want_serial;  /* hex serial of the leaf */
static char *want_after;   /* notAfter of the leaf, RFC 3339 */
static char *key_pem_b64;  /* base64 of a PEM private key, as if pasted into spec.request */
static char *key_pem_text; /* that PEM */
static char dir[64];
static char *big_chain_b64; /* a leaf with 100 long DNS SANs: lines well past PIPE_BUF */
static char *big_leaf_pem;

static char *hex_of(const unsigned char *p, size_t n)
{
    char *s = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    return s;
}

static char *spki_sha256(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    return hex_of(md, mdlen);
}

static int group_setup(void **state)
{
    (void)state;
    NOW = time(NULL);
    testpki_now = &NOW;
    EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *root = make_ca_cert("Audit Root", root_key, NULL, NULL, "critical,CA:TRUE", 1);
    X509 *inter = make_ca_cert("Audit Intermediate", int_key, root, root_key,
                               "critical,CA:TRUE,pathlen:0", 2);
    char *root_pem = cert_pem(root), *int_pem = cert_pem(inter), *int_key_pem = key_pem(int_key);
    struct err e = {0};
    ca = localca_load(int_pem, strlen(int_pem), int_key_pem, strlen(int_key_pem), root_pem,
                      strlen(root_pem), NOW, &e);
    if (ca == NULL)
        fail_msg("localca_load: %s", e.msg);

    leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    csr_b64 = testpki_csr_b64(leaf_key, "app.example.com",
                              "DNS:app.example.com,DNS:www.example.com,IP:10.0.0.1,IP:2001:db8::1,"
                              "URI:spiffe://cluster.local/ns/a/sa/b,email:ops@example.com,"
                              "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ops@example.com");
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(b64_decode(csr_b64, strlen(csr_b64), 1 << 20, &pem, &pem_len, &e), 0);
    struct csr *csr = csr_parse(pem, pem_len, &e);
    free(pem);
    if (csr == NULL)
        fail_msg("csr_parse: %s", e.msg);
    struct sign_params p = {.duration_s = 3600, .now = NOW};
    struct sign_result out = {0};
    if (localca_sign(ca, csr, &p, &out, &e) != 0)
        fail_msg("localca_sign: %s", e.msg);
    csr_free(csr);
    chain_b64 = b64_encode(out.chain_pem, strlen(out.chain_pem));
    BIO *b = BIO_new_mem_buf(out.chain_pem, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(leaf);
    leaf_pem = cert_pem(leaf);
    const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
    want_serial = hex_of(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn));
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm), 1);
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(timegm(&tm), ts);
    want_after = xstrdup(ts);
    X509_free(leaf);
    sign_result_free(&out);
    want_spki = spki_sha256(leaf_key);

    key_pem_text = key_pem(leaf_key);
    key_pem_b64 = b64_encode(key_pem_text, strlen(key_pem_text));

    X509_free(root);
    X509_free(inter);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    free(root_pem);
    free(int_pem);
    free(int_key_pem);

    snprintf(dir, sizeof(dir), "/tmp/test_audit.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    localca_free(ca);
    EVP_PKEY_free(leaf_key);
    free(csr_b64);
    free(chain_b64);
    free(leaf_pem);
    free(want_spki);
    free(want_serial);
    free(want_after);
    free(key_pem_b64);
    free(key_pem_text);
    free(big_chain_b64);
    free(big_leaf_pem);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static int file_no;

/* A fresh path in the test directory. */
static void new_path(char *out, size_t len)
{
    snprintf(out, len, "%s/audit-%d.log", dir, ++file_no);
}

static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *s = xmalloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 4096) {
            cap *= 2;
            s = xrealloc(s, cap);
        }
    }
    fclose(f);
    s[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return s;
}

/* True when s[0..n) is valid UTF-8 (what a strict JSON reader requires). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        if (c >= 0x80 && (c < 0xc2 || c > 0xf4))
            return false;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Writes r to a new file and returns its one line, parsed (checked: exactly one line, valid
 * UTF-8, a JSON object). *raw gets the line text when raw is not NULL. */
static cJSON *record_one(bool include_cert, const struct audit_record *r, char **raw)
{
    char path[128];
    new_path(path, sizeof(path));
    struct err e = {0};
    struct audit *a = audit_open(path, include_cert, &e);
    if (a == NULL)
        fail_msg("audit_open: %s", e.msg);
    audit_record(a, r);
    audit_close(a);
    size_t len = 0;
    char *text = slurp(path, &len);
    assert_true(len > 2);
    assert_int_equal(text[len - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + len - 1); /* one line */
    assert_true(utf8_ok((const unsigned char *)text, len));
    cJSON *obj = cJSON_ParseWithLength(text, len);
    assert_non_null(obj);
    assert_true(cJSON_IsObject(obj));
    if (raw != NULL)
        *raw = text;
    else
        free(text);
    return obj;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The array o[k] joined with ",", or NULL when absent. Static buffer. */
static const char *list(const cJSON *o, const char *k)
{
    static char buf[4096];
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsArray(arr))
        return NULL;
    buf[0] = '\0';
    size_t len = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        assert_true(cJSON_IsString(v));
        len +=
            (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? "," : "", v->valuestring);
    }
    return buf;
}

static const cJSON *obj_at(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static struct caller cm_caller(void)
{
    struct caller c = {.method = CALLER_CERT_MANAGER};
    c.username = xstrdup("system:serviceaccount:cert-manager:cert-manager");
    strv_push(&c.groups, "system:serviceaccounts");
    strv_push(&c.groups, "system:authenticated");
    return c;
}

/* ---- tests ---- */

static void test_issued_from_leaf(void **state)
{
    (void)state;
    struct caller who = cm_caller();
    struct audit_record r = {
        .front_door = "controller",
        .caller = &who,
        .policy = "web",
        .issuer = "ClusterIssuer/test-ca",
        .ns = "default",
        .name = "ok",
        .uid = "6f1c2c1e-8d0b-4b7e-9a51-0f3f0e6c2d11",
        .csr_b64 = csr_b64,
        .certificate_b64 = chain_b64,
        .outcome = "issued",
        .reason = "Succeeded signing the CertificateRequest",
    };
    cJSON *o = record_one(false, &r, NULL);
    /* ts: RFC 3339 with a fraction, close to now. */
    const char *ts = str(o, "ts");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2025-01-02T03:04:05.123456Z"));
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[26], 'Z');
    time_t t = 0;
    assert_int_equal(timefmt_parse_rfc3339(ts, &t), 0);
    assert_true(t >= NOW - 5 && t <= time(NULL) + 5);
    assert_string_equal(str(o, "log"), "audit");
    assert_string_equal(str(o, "front_door"), "controller");
    const cJSON *c = obj_at(o, "caller");
    assert_string_equal(str(c, "method"), "cert-manager");
    assert_string_equal(str(c, "username"), "system:serviceaccount:cert-manager:cert-manager");
    assert_string_equal(list(c, "groups"), "system:serviceaccounts,system:authenticated");
    assert_null(obj_at(c, "uris")); /* mTLS only */
    assert_null(obj_at(c, "common_name"));
    assert_string_equal(str(o, "policy"), "web");
    assert_string_equal(str(o, "issuer"), "ClusterIssuer/test-ca");
    assert_string_equal(str(o, "namespace"), "default");
    assert_string_equal(str(o, "name"), "ok");
    assert_string_equal(str(o, "uid"), "6f1c2c1e-8d0b-4b7e-9a51-0f3f0e6c2d11");
    assert_string_equal(str(o, "public_key_sha256"), want_spki);
    assert_string_equal(str(o, "serial"), want_serial);
    assert_string_equal(str(o, "not_after"), want_after);
    const cJSON *s = obj_at(o, "sans");
    assert_string_equal(list(s, "dns"), "app.example.com,www.example.com");
    assert_string_equal(list(s, "ip"), "10.0.0.1,2001:db8::1");
    assert_string_equal(list(s, "uri"), "spiffe://cluster.local/ns/a/sa/b");
    assert_string_equal(list(s, "email"), "ops@example.com");
    assert_string_equal(list(s, "other"), "1.3.6.1.4.1.311.20.2.3;UTF8:ops@example.com");
    assert_null(obj_at(o, "sans_truncated"));
    assert_string_equal(str(o, "outcome"), "issued");
    assert_string_equal(str(o, "reason"), "Succeeded signing the CertificateRequest");
    assert_null(obj_at(o, "certificate")); /* include_certificate off */
    assert_null(obj_at(o, "csr"));
    assert_null(obj_at(o, "request"));
    cJSON_Delete(o);
    caller_free(&who);
}

static void test_include_certificate(void **state)
{
    (void)state;
    struct audit_record r = {
        .front_door = "api", .certificate_b64 = chain_b64, .outcome = "issued"};
    cJSON *o = record_one(true, &r, NULL);
    /* The leaf alone, as PEM: not the chain. */
    assert_string_equal(str(o, "certificate"), leaf_pem);
    assert_string_equal(str(o, "serial"), want_serial);
    cJSON_Delete(o);

    /* Nothing to include when nothing was issued. */
    struct audit_record d = {.front_door = "api", .csr_b64 = csr_b64, .outcome = "denied"};
    o = record_one(true, &d, NULL);
    assert_null(obj_at(o, "certificate"));
    cJSON_Delete(o);
}

static void test_denied_from_csr(void **state)
{
    (void)state;
    struct caller who = {.method = CALLER_TOKEN};
    who.username = xstrdup("system:serviceaccount:team-a:builder");
    strv_push(&who.groups, "system:serviceaccounts:team-a");
    struct audit_record r = {
        .front_door = "api",
        .caller = &who,
        .policy = "web",
        .issuer = "Issuer/team-a/ca",
        .csr_b64 = csr_b64,
        .outcome = "forbidden",
        .reason = "policy \"web\" does not admit system:serviceaccount:team-a:builder",
    };
    cJSON *o = record_one(false, &r, NULL);
    assert_string_equal(str(obj_at(o, "caller"), "method"), "token");
    assert_string_equal(list(obj_at(o, "caller"), "groups"), "system:serviceaccounts:team-a");
    /* The same key as the issued leaf's: the hash links a request to its certificate. */
    assert_string_equal(str(o, "public_key_sha256"), want_spki);
    const cJSON *s = obj_at(o, "sans");
    assert_string_equal(list(s, "dns"), "app.example.com,www.example.com");
    assert_string_equal(list(s, "ip"), "10.0.0.1,2001:db8::1");
    assert_string_equal(list(s, "uri"), "spiffe://cluster.local/ns/a/sa/b");
    assert_string_equal(list(s, "email"), "ops@example.com");
    assert_string_equal(list(s, "other"), "1.3.6.1.4.1.311.20.2.3;UTF8:ops@example.com");
    assert_null(obj_at(o, "serial"));
    assert_null(obj_at(o, "not_after"));
    assert_null(obj_at(o, "namespace")); /* Firefly shape: no request name */
    assert_null(obj_at(o, "name"));
    assert_string_equal(str(o, "outcome"), "forbidden");
    cJSON_Delete(o);
    caller_free(&who);
}

static void test_mtls_and_null_caller(void **state)
{
    (void)state;
    struct tls_peer p = {.presented = true, .verified = true};
    strv_push(&p.uris, "spiffe://example.org/client");
    strv_push(&p.dns_names, "client.example.org");
    p.common_name = xstrdup("client");
    struct caller who;
    caller_from_peer(&who, &p);
    struct audit_record r = {.front_door = "api", .caller = &who, .outcome = "issued"};
    cJSON *o = record_one(false, &r, NULL);
    const cJSON *c = obj_at(o, "caller");
    assert_string_equal(str(c, "method"), "mtls");
    assert_string_equal(str(c, "username"), "spiffe://example.org/client");
    assert_string_equal(str(c, "identity"), "spiffe://example.org/client");
    assert_string_equal(list(c, "uris"), "spiffe://example.org/client");
    assert_string_equal(list(c, "dns_names"), "client.example.org");
    assert_string_equal(str(c, "common_name"), "client");
    cJSON_Delete(o);
    caller_free(&who);
    tls_peer_free(&p);

    /* No caller, nothing else: still a line, the caller named "none". */
    struct audit_record u = {.front_door = "api", .outcome = "unauthenticated"};
    o = record_one(false, &u, NULL);
    assert_string_equal(str(obj_at(o, "caller"), "method"), "none");
    assert_null(str(obj_at(o, "caller"), "username"));
    assert_null(obj_at(o, "policy"));
    assert_null(obj_at(o, "public_key_sha256"));
    assert_null(obj_at(o, "sans"));
    assert_string_equal(str(o, "outcome"), "unauthenticated");
    cJSON_Delete(o);
}

/* Bad CSRs of every kind: the derived fields are left out, the line is still written. */
static void test_invalid_csr(void **state)
{
    (void)state;
    char *garbage = b64_encode("not a csr", 9);
    /* A CSR whose signature does not verify: the last signature byte flipped. */
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(csr_b64, strlen(csr_b64), 1 << 20, &pem, &pem_len, &e), 0);
    BIO *b = BIO_new_mem_buf(pem, (int)pem_len);
    X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    free(pem);
    assert_non_null(req);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    X509_REQ_free(req);
    assert_true(n > 10);
    der[n - 1] ^= 0x01;
    char *bad_sig = b64_encode(der, (size_t)n);
    OPENSSL_free(der);
    const char *inputs[] = {"!!! not base64 !!!", garbage, bad_sig, key_pem_b64, ""};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct audit_record r = {
            .front_door = "controller",
            .ns = "default",
            .name = "bad",
            .csr_b64 = inputs[i],
            .certificate_b64 = i == 1 ? garbage : NULL, /* not a certificate either */
            .outcome = "invalid",
            .reason = "spec.request: CSR does not decode",
        };
        char *raw = NULL;
        cJSON *o = record_one(true, &r, &raw);
        assert_null(obj_at(o, "public_key_sha256"));
        assert_null(obj_at(o, "sans"));
        assert_null(obj_at(o, "serial"));
        assert_null(obj_at(o, "certificate"));
        assert_string_equal(str(o, "outcome"), "invalid");
        assert_string_equal(str(o, "name"), "bad");
        /* The raw field is never echoed. */
        if (inputs[i][0] != '\0')
            assert_null(strstr(raw, inputs[i]));
        assert_null(strstr(raw, "PRIVATE KEY"));
        cJSON_Delete(o);
        free(raw);
    }
    free(garbage);
    free(bad_sig);
}

/* Key material, tokens and whole CSRs that reach a reason are not written. */
static void test_no_secrets(void **state)
{
    (void)state;
    /* A JWT-shaped token (base64url parts joined by dots), well past the run limit. */
    char token[700];
    memcpy(token, "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.", 37);
    for (size_t i = 37; i < sizeof(token) - 1; i++)
        token[i] = i == 400
                       ? '.'
                       : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[i % 64];
    token[sizeof(token) - 1] = '\0';
    char *reason =
        xasprintf("token %s rejected; request %s; key follows: %s", token, csr_b64, key_pem_text);
    struct caller who = cm_caller();
    struct audit_record r = {
        .front_door = "api",
        .caller = &who,
        .csr_b64 = key_pem_b64, /* a private key pasted where the CSR goes */
        .outcome = "invalid",
        .reason = reason,
    };
    char *raw = NULL;
    cJSON *o = record_one(true, &r, &raw);
    assert_null(strstr(raw, "PRIVATE KEY"));
    assert_null(strstr(raw, "BEGIN"));
    assert_null(strstr(raw, token + 37));
    assert_null(strstr(raw, csr_b64));
    assert_null(strstr(raw, key_pem_b64));
    /* No line of the key's PEM body either. */
    char *body = xstrdup(key_pem_text);
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] != '-' && strlen(line) > 16)
            assert_null(strstr(raw, line));
    }
    free(body);
    const char *rs = str(o, "reason");
    assert_non_null(rs);
    assert_non_null(strstr(rs, "[redacted]"));
    assert_non_null(strstr(rs, "[PEM block removed]"));
    assert_non_null(strstr(rs, "rejected; request"));
    cJSON_Delete(o);
    free(raw);

    /* The PEM label as named by "you pasted a key" messages is written in lower case. */
    struct audit_record l = {
        .outcome = "invalid",
        .reason = "CSR: the PEM block holds a private key (EC PRIVATE KEY), not a CSR"};
    o = record_one(false, &l, &raw);
    assert_null(strstr(raw, "PRIVATE KEY"));
    assert_string_equal(str(o, "reason"),
                        "CSR: the PEM block holds a private key (EC private key), not a CSR");
    cJSON_Delete(o);
    free(raw);
    free(reason);
    caller_free(&who);
}

/* Long and hostile strings are cut, invalid UTF-8 replaced, SAN lists capped. */
static void test_bounds(void **state)
{
    (void)state;
    size_t big = 100000;
    char *reason = xmalloc(big + 1);
    for (size_t i = 0; i < big; i++)
        reason[i] = "word "[i % 5];
    reason[big] = '\0';
    char *user = xmalloc(5000);
    memset(user, 'u', 4999);
    user[4999] = '\0';
    user[10] = (char)0xff; /* invalid UTF-8 */
    user[11] = (char)0xc3; /* a lone lead byte */
    struct caller who = {.method = CALLER_CERT_MANAGER, .username = user};
    for (int i = 0; i < CALLER_MAX_NAMES + 20; i++) {
        char g[32];
        snprintf(g, sizeof(g), "group-%d", i);
        strv_push(&who.groups, g);
    }
    /* 150 DNS SANs: more than AUDIT_MAX_SANS. */
    size_t cap = 150 * 32, len = 0;
    char *sans = xmalloc(cap);
    for (int i = 0; i < 150; i++)
        len += (size_t)snprintf(sans + len, cap - len, "%sDNS:h%d.example.com", i ? "," : "", i);
    char *many = testpki_csr_b64(leaf_key, "many.example.com", sans);
    free(sans);
    struct audit_record r = {
        .front_door = "controller",
        .caller = &who,
        .csr_b64 = many,
        .outcome = "denied",
        .reason = reason,
    };
    char *raw = NULL;
    cJSON *o = record_one(false, &r, &raw);
    const char *rs = str(o, "reason");
    assert_true(strlen(rs) <= AUDIT_REASON_MAX + 3);
    assert_string_equal(rs + strlen(rs) - 3, "...");
    const char *u = str(obj_at(o, "caller"), "username");
    assert_true(strlen(u) <= AUDIT_FIELD_MAX + 3);
    assert_memory_equal(u + 10, "\xef\xbf\xbd\xef\xbf\xbd", 6);
    assert_int_equal(cJSON_GetArraySize(obj_at(obj_at(o, "caller"), "groups")), CALLER_MAX_NAMES);
    assert_int_equal(cJSON_GetArraySize(obj_at(obj_at(o, "sans"), "dns")), AUDIT_MAX_SANS);
    assert_true(cJSON_IsTrue(obj_at(o, "sans_truncated")));
    assert_string_equal(str(o, "public_key_sha256"), want_spki);
    assert_true(strlen(raw) < 32 * 1024);
    cJSON_Delete(o);
    free(raw);
    free(many);
    free(reason);
    caller_free(&who);
}

/* ---- concurrency ---- */

#define THREADS 8
#define PER_THREAD 150

struct writer {
    struct audit *a;
    int id;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    /* Longer than AUDIT_REASON_MAX, in words (a long single word would be redacted). */
    char name[32], reason[3000];
    for (size_t i = 0; i < sizeof(reason) - 1; i++)
        reason[i] = i % 2 ? ' ' : (char)('a' + w->id);
    reason[sizeof(reason) - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(name, sizeof(name), "t%d-%d", w->id, i);
        struct audit_record r = {
            .front_door = "api",
            .name = name,
            .certificate_b64 = big_chain_b64,
            .outcome = "issued",
            .reason = reason,
        };
        audit_record(w->a, &r);
    }
    return NULL;
}

/* Issues the big leaf once. */
static void make_big_chain(void)
{
    if (big_chain_b64 != NULL)
        return;
    size_t cap = 100 * 96, len = 0;
    char *sans = xmalloc(cap);
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(sans + len, cap - len,
                                "%sDNS:host-%03d.a-rather-long-subdomain-name.team-a.example.com",
                                i ? "," : "", i);
    char *b64 = testpki_csr_b64(leaf_key, "big.example.com", sans);
    free(sans);
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &pem, &pem_len, &e), 0);
    free(b64);
    struct csr *csr = csr_parse(pem, pem_len, &e);
    free(pem);
    assert_non_null(csr);
    struct sign_params p = {.duration_s = 3600, .now = NOW};
    struct sign_result out = {0};
    if (localca_sign(ca, csr, &p, &out, &e) != 0)
        fail_msg("localca_sign: %s", e.msg);
    csr_free(csr);
    big_chain_b64 = b64_encode(out.chain_pem, strlen(out.chain_pem));
    BIO *b = BIO_new_mem_buf(out.chain_pem, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    big_leaf_pem = cert_pem(leaf);
    X509_free(leaf);
    sign_result_free(&out);
}

struct drain {
    int fd;
    char *buf;
    size_t len, cap;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    for (;;) {
        if (d->cap - d->len < 65536) {
            d->cap = d->cap ? d->cap * 2 : 1 << 20;
            d->buf = xrealloc(d->buf, d->cap);
        }
        ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len - 1);
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    d->buf[d->len] = '\0';
    return NULL;
}

/* THREADS writers on one audit appending to path; returns what the file holds. */
static char *run_writers(const char *path)
{
    struct err e = {0};
    struct audit *a = audit_open(path, true, &e); /* long lines: the certificate included */
    if (a == NULL)
        fail_msg("audit_open: %s", e.msg);
    pthread_t th[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){a, i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    audit_close(a);
    return slurp(path, NULL);
}

static void check_lines(char *text)
{
    int seen[THREADS][PER_THREAD];
    memset(seen, 0, sizeof(seen));
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lines++;
        assert_true(strlen(line) > 4096); /* past PIPE_BUF: the lock, not the kernel, keeps
                                             lines whole */
        cJSON *o = cJSON_Parse(line);
        if (o == NULL)
            fail_msg("line %d is not JSON (interleaved?): %.80s", lines, line);
        int t = -1, i = -1;
        assert_int_equal(sscanf(str(o, "name"), "t%d-%d", &t, &i), 2);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD);
        seen[t][i]++;
        /* The reason is the writer's own letter only. */
        const char *rs = str(o, "reason");
        assert_true(strlen(rs) > 1000);
        for (const char *p = rs; *p; p++)
            assert_true(*p == 'a' + t || *p == ' ' || *p == '.');
        assert_string_equal(str(o, "certificate"), big_leaf_pem);
        assert_int_equal(cJSON_GetArraySize(obj_at(obj_at(o, "sans"), "dns")), 100);
        cJSON_Delete(o);
    }
    assert_int_equal(lines, THREADS * PER_THREAD);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            assert_int_equal(seen[t][i], 1);
}

static void test_concurrent_whole_lines_file(void **state)
{
    (void)state;
    make_big_chain();
    char path[128];
    new_path(path, sizeof(path));
    char *text = run_writers(path);
    check_lines(text);
    free(text);
}

/* A pipe (a log collector's FIFO): writes past PIPE_BUF may be split by the kernel, so only
 * the lock keeps lines whole. */
static void test_concurrent_whole_lines_pipe(void **state)
{
    (void)state;
    make_big_chain();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    /* The smallest pipe buffer: every line fills it, so each write blocks part way. */
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[1]);
    struct drain d = {.fd = fds[0]};
    pthread_t rt;
    assert_int_equal(pthread_create(&rt, NULL, drain_main, &d), 0);
    struct err e = {0};
    struct audit *a = audit_open(path, true, &e);
    if (a == NULL)
        fail_msg("audit_open: %s", e.msg);
    close(fds[1]); /* the audit holds its own descriptor of the pipe now */
    pthread_t th[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){a, i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    audit_close(a); /* the reader sees EOF */
    pthread_join(rt, NULL);
    close(fds[0]);
    check_lines(d.buf);
    free(d.buf);
}

/* ---- opening ---- */

static void test_open_errors(void **state)
{
    (void)state;
    struct err e = {0};
    char path[160];
    snprintf(path, sizeof(path), "%s/no-such-dir/audit.log", dir);
    assert_null(audit_open(path, false, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "No such file"));

    err_clear(&e);
    assert_null(audit_open(dir, false, &e)); /* a directory */
    assert_int_equal(e.kind, ERR_INVALID);
    assert_non_null(strstr(e.msg, dir));

    /* A FIFO nobody reads: refused at once, not a start-up that hangs. */
    err_clear(&e);
    char fifo[160];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(audit_open(fifo, false, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_non_null(strstr(e.msg, fifo));

    err_clear(&e);
    assert_null(audit_open("", false, &e));
    assert_int_equal(e.kind, ERR_INVALID);

    audit_close(NULL);        /* no-op */
    audit_record(NULL, NULL); /* no-op */
}

static void test_open_makes_0600_and_appends(void **state)
{
    (void)state;
    char path[128];
    new_path(path, sizeof(path));
    mode_t old = umask(0);
    struct err e = {0};
    struct audit *a = audit_open(path, false, &e);
    umask(old);
    assert_non_null(a);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct audit_record r = {.front_door = "api", .name = "first", .outcome = "issued"};
    audit_record(a, &r);
    audit_close(a);
    assert_int_equal(chmod(path, 0644), 0); /* an existing file, readable by all */
    a = audit_open(path, false, &e);
    assert_non_null(a);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    r.name = "second";
    audit_record(a, &r);
    audit_close(a);
    char *text = slurp(path, NULL);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_non_null(strstr(text, "\"name\":\"first\""));
    assert_non_null(strstr(nl, "\"name\":\"second\""));
    assert_ptr_equal(strchr(nl + 1, '\n'), text + strlen(text) - 1);
    free(text);
}

/* "-" is stderr: the line arrives on fd 2, which audit_close leaves open. */
static void test_stderr(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fds[1], 2), 2);
    struct err e = {0};
    struct audit *a = audit_open("-", false, &e);
    assert_non_null(a);
    struct audit_record r = {.front_door = "controller", .name = "on-stderr", .outcome = "denied"};
    audit_record(a, &r);
    audit_close(a);
    assert_true(fcntl(2, F_GETFD) != -1); /* still open */
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(buf[n - 1], '\n');
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    assert_string_equal(str(o, "name"), "on-stderr");
    cJSON_Delete(o);
}

/* A full disk: the failure is logged once, not once per line. */
static void test_write_failure_logged_once(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) {
        print_message("# skip: /dev/full is not writable here\n");
        skip();
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    log_init(LOG_FORMAT_JSON, LOG_INFO, fds[1]);
    struct err e = {0};
    struct audit *a = audit_open("/dev/full", false, &e);
    assert_non_null(a);
    struct audit_record r = {.front_door = "api", .outcome = "issued"};
    for (int i = 0; i < 5; i++)
        audit_record(a, &r);
    audit_close(a);
    log_init(LOG_FORMAT_JSON, LOG_INFO, 2);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    close(fds[1]);
    assert_true(n > 0);
    buf[n] = '\0';
    int lines = 0;
    for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 1);
    assert_non_null(strstr(buf, "/dev/full"));
    assert_non_null(strstr(buf, "No space left"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issued_from_leaf),
        cmocka_unit_test(test_include_certificate),
        cmocka_unit_test(test_denied_from_csr),
        cmocka_unit_test(test_mtls_and_null_caller),
        cmocka_unit_test(test_invalid_csr),
        cmocka_unit_test(test_no_secrets),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_concurrent_whole_lines_file),
        cmocka_unit_test(test_concurrent_whole_lines_pipe),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_makes_0600_and_appends),
        cmocka_unit_test(test_stderr),
        cmocka_unit_test(test_write_failure_logged_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
