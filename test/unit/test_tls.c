/* test_tls.c -- tls.c: loading server pairs and client CAs (good and bad PEM), client
 * certificate verification outcomes, reloading files changed on disk, the certificate callback.
 * Certificates are made in-process with OpenSSL and written to a temporary directory. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "front/tls.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "testpki.h"

static time_t NOW;
static char DIR_[64];
static int log_fd = -1; /* tls.c's log lines go to DIR/log */
static long next_serial = 100;

/* ---- certificates ---- */

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

/* A leaf valid from now+nb to now+na seconds, with an optional EKU and SAN (OpenSSL conf
 * syntax), signed by issuer/ikey (self-signed when issuer is NULL). */
static X509 *make_leaf(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long nb,
                       long na, const char *eku, const char *san)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), next_serial++);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, nb, &NOW);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, na, &NOW);
    X509_set_pubkey(x, key);
    X509 *signer = issuer ? issuer : x;
    add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (issuer != NULL)
        add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
    if (eku != NULL)
        add_ext(x, signer, NID_ext_key_usage, eku);
    if (san != NULL)
        add_ext(x, signer, NID_subject_alt_name, san);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

/* A leaf valid for a day around now. */
static X509 *leaf(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, const char *eku,
                  const char *san)
{
    return make_leaf(cn, key, issuer, ikey, -3600, 86400, eku, san);
}

struct der {
    unsigned char *p;
    int len;
};

static struct der der_of(X509 *x)
{
    struct der d = {NULL, i2d_X509(x, NULL)};
    assert_true(d.len > 0);
    unsigned char *q = d.p = xmalloc((size_t)d.len);
    assert_int_equal(i2d_X509(x, &q), d.len);
    return d;
}

/* Verifies the chain xs[0..n) against t into *out. */
static void verify(const struct tls_trust *t, X509 **xs, unsigned n, struct tls_peer *out)
{
    struct der d[4];
    gnutls_datum_t chain[4];
    assert_true(n <= 4);
    for (unsigned i = 0; i < n; i++) {
        d[i] = der_of(xs[i]);
        chain[i].data = d[i].p;
        chain[i].size = (unsigned)d[i].len;
    }
    tls_trust_verify(t, chain, n, out);
    for (unsigned i = 0; i < n; i++)
        free(d[i].p);
}

/* ---- files ---- */

static char *path_of(const char *name)
{
    return xasprintf("%s/%s", DIR_, name);
}

/* Writes text to DIR/name through a temporary file renamed over it, as a Secret update swaps
 * files: a new inode each time. */
static void put(const char *name, const char *text)
{
    char *tmp = xasprintf("%s/.tmp.%s", DIR_, name);
    char *dst = path_of(name);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, dst), 0);
    free(tmp);
    free(dst);
}

static void put_pair(const char *cert_name, X509 *x, X509 *issuer, const char *key_name,
                     EVP_PKEY *k)
{
    char *c = cert_pem(x);
    if (issuer != NULL) {
        char *ca = cert_pem(issuer);
        char *both = xasprintf("%s%s", c, ca);
        free(c);
        free(ca);
        c = both;
    }
    put(cert_name, c);
    free(c);
    char *kp = key_pem(k);
    put(key_name, kp);
    xfree_secret(kp, strlen(kp));
}

static void put_cert(const char *name, X509 *x)
{
    char *c = cert_pem(x);
    put(name, c);
    free(c);
}

/* The PEM text of files given, for tls_pair_parse. */
static char *slurp(const char *name)
{
    char *p = path_of(name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char *buf = xcalloc(1, 1 << 21);
    size_t n = fread(buf, 1, (1 << 21) - 1, f);
    buf[n] = '\0';
    fclose(f);
    free(p);
    return buf;
}

/* How many lines of the log so far contain text. */
static int log_count(const char *text)
{
    char *p = path_of("log");
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[LOG_LINE_MAX];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, text) != NULL;
    fclose(f);
    free(p);
    return n;
}

/* The log holds no line of the PEM key k's base64 body, and no PEM key label. */
static void expect_key_not_logged(EVP_PKEY *k)
{
    char *pem = key_pem(k);
    char *log = slurp("log");
    assert_null(strstr(log, "PRIVATE KEY"));
    for (char *line = pem; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        if (len > 16 && line[0] != '-') {
            char *body = xstrndup(line, len);
            if (strstr(log, body) != NULL)
                fail_msg("a line of the key is in the log");
            xfree_secret(body, len);
        }
        line += len + (nl != NULL);
    }
    free(log);
    xfree_secret(pem, strlen(pem));
}

/* The PKI every test uses: two unrelated roots, an intermediate under the first, keys. */
static EVP_PKEY *root_key, *other_key, *inter_key, *srv_key, *srv2_key, *rsa_key, *cli_key;
static X509 *root, *other_root, *inter;

static int setup(void **state)
{
    (void)state;
    NOW = time(NULL);
    testpki_now = &NOW;
    snprintf(DIR_, sizeof(DIR_), "/tmp/ember-test-tls.XXXXXX");
    assert_non_null(mkdtemp(DIR_));
    char *log = xasprintf("%s/log", DIR_);
    log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(log_fd >= 0);
    free(log);
    log_init(LOG_FORMAT_JSON, LOG_INFO, log_fd);
    root_key = ec_key();
    other_key = ec_key();
    inter_key = ec_key();
    srv_key = ec_key();
    srv2_key = ec_key();
    cli_key = ec_key();
    rsa_key = EVP_RSA_gen(2048);
    assert_non_null(rsa_key);
    root = make_ca_cert("Client Root", root_key, NULL, NULL, "critical,CA:TRUE", 1);
    other_root = make_ca_cert("Other Root", other_key, NULL, NULL, "critical,CA:TRUE", 2);
    inter = make_ca_cert("Client Intermediate", inter_key, root, root_key, "critical,CA:TRUE", 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_init(LOG_FORMAT_JSON, LOG_INFO, 2);
    close(log_fd);
    char *cmd = xasprintf("rm -rf '%s'", DIR_);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    EVP_PKEY *keys[] = {root_key, other_key, inter_key, srv_key, srv2_key, rsa_key, cli_key};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        EVP_PKEY_free(keys[i]);
    X509_free(root);
    X509_free(other_root);
    X509_free(inter);
    return 0;
}

/* ---- server pairs ---- */

static struct tls_pair *parse_files(const char *cert, const char *key, struct err *e)
{
    char *c = slurp(cert), *k = slurp(key);
    struct tls_pair *p = tls_pair_parse(c, strlen(c), "CERTFILE", k, strlen(k), "KEYFILE", e);
    free(c);
    xfree_secret(k, strlen(k));
    return p;
}

static void test_pair_ecdsa_and_rsa(void **state)
{
    (void)state;
    X509 *ec = leaf("localhost", srv_key, root, root_key, "serverAuth", "DNS:localhost");
    X509 *rsa = leaf("localhost", rsa_key, root, root_key, "serverAuth", "DNS:localhost");
    put_pair("ec.crt", ec, root, "ec.key", srv_key);
    put_pair("rsa.crt", rsa, NULL, "rsa.key", rsa_key);
    struct err e = {0};

    struct tls_pair *p = parse_files("ec.crt", "ec.key", &e);
    if (p == NULL)
        fail_msg("%s", e.msg);
    gnutls_pcert_st *pc;
    unsigned n;
    gnutls_privkey_t k;
    tls_pair_get(p, &pc, &n, &k);
    assert_int_equal(n, 2); /* the chain is served whole */
    assert_non_null(k);
    struct der d = der_of(ec);
    assert_int_equal(pc[0].cert.size, d.len);
    assert_memory_equal(pc[0].cert.data, d.p, (size_t)d.len);
    free(d.p);
    char want[32];
    snprintf(want, sizeof(want), "%02lx", ASN1_INTEGER_get(X509_get_serialNumber(ec)));
    assert_string_equal(tls_pair_serial(p), want);
    assert_true(tls_pair_not_after(p) > NOW);
    tls_pair_free(p);

    p = parse_files("rsa.crt", "rsa.key", &e);
    if (p == NULL)
        fail_msg("%s", e.msg);
    tls_pair_get(p, &pc, &n, &k);
    assert_int_equal(n, 1);
    assert_int_equal(gnutls_privkey_get_pk_algorithm(k, NULL), GNUTLS_PK_RSA);
    tls_pair_free(p);
    tls_pair_free(NULL);
    X509_free(ec);
    X509_free(rsa);
}

static void expect_pair_error(const char *cert, size_t clen, const char *key, size_t klen,
                              const char *name, const char *text)
{
    struct err e = {0};
    struct tls_pair *p = tls_pair_parse(cert, clen, "CERTFILE", key, klen, "KEYFILE", &e);
    if (p != NULL)
        fail_msg("accepted, expected \"%s\"", text);
    assert_int_equal(e.kind, ERR_INVALID);
    if (strstr(e.msg, name) == NULL || strstr(e.msg, text) == NULL)
        fail_msg("\"%s\" lacks \"%s\" or \"%s\"", e.msg, name, text);
}

static void test_pair_bad(void **state)
{
    (void)state;
    X509 *x = leaf("localhost", srv_key, root, root_key, "serverAuth", NULL);
    char *c = cert_pem(x), *k = key_pem(srv_key), *k2 = key_pem(srv2_key), *ca = cert_pem(root);
    size_t cl = strlen(c), kl = strlen(k);

    expect_pair_error("", 0, k, kl, "CERTFILE", "empty");
    expect_pair_error(c, cl, "", 0, "KEYFILE", "empty");
    expect_pair_error("not a certificate\n", 18, k, kl, "CERTFILE", "not a PEM certificate");
    expect_pair_error(c, cl, "not a key\n", 10, "KEYFILE", "not an unencrypted PEM private key");
    /* A key file holding only a certificate, and a certificate file holding only a key. */
    expect_pair_error(c, cl, c, cl, "KEYFILE", "not an unencrypted PEM private key");
    expect_pair_error(k, kl, k, kl, "CERTFILE", "not a PEM certificate");
    expect_pair_error(c, cl, k2, strlen(k2), "KEYFILE", "is not the key of the first certificate");

    /* The CA before the leaf. */
    char *wrong_order = xasprintf("%s%s", ca, c);
    expect_pair_error(wrong_order, strlen(wrong_order), k, kl, "CERTFILE", "out of order");
    free(wrong_order);

    /* More certificates than TLS_MAX_CHAIN. */
    struct buf many;
    buf_init(&many, 4 * 1024 * 1024);
    for (int i = 0; i <= TLS_MAX_CHAIN; i++)
        assert_int_equal(buf_append_str(&many, c, NULL), 0);
    expect_pair_error(many.data, many.len, k, kl, "CERTFILE", "more than 16 certificates");
    buf_free(&many);

    /* An encrypted key. */
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, srv_key, EVP_aes_256_cbc(), NULL, 0, NULL,
                                                   (void *)"secret"),
                     1);
    char *enc = bio_take(b);
    expect_pair_error(c, cl, enc, strlen(enc), "KEYFILE", "not an unencrypted PEM private key");
    free(enc);

    /* Larger than the limit, before any parsing. */
    expect_pair_error(c, TLS_MAX_FILE_BYTES + 1, k, kl, "CERTFILE", "larger than the limit");

    free(c);
    free(ca);
    xfree_secret(k, kl);
    xfree_secret(k2, strlen(k2));
    X509_free(x);
}

/* ---- client CAs and verification ---- */

static struct tls_trust *trust_of(X509 *a, X509 *b)
{
    char *pa = cert_pem(a);
    char *pb = b != NULL ? cert_pem(b) : xstrdup("");
    char *both = xasprintf("%s%s", pa, pb);
    struct err e = {0};
    struct tls_trust *t = tls_trust_parse(both, strlen(both), "CAFILE", &e);
    if (t == NULL)
        fail_msg("%s", e.msg);
    free(pa);
    free(pb);
    free(both);
    return t;
}

static void test_trust_parse(void **state)
{
    (void)state;
    struct tls_trust *t = trust_of(root, other_root);
    assert_int_equal(tls_trust_count(t), 2);
    assert_ptr_equal(tls_trust_ref(t), t);
    tls_trust_unref(t);
    tls_trust_unref(t);
    tls_trust_unref(NULL);

    struct err e = {0};
    assert_null(tls_trust_parse("", 0, "CAFILE", &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_non_null(strstr(e.msg, "CAFILE: the file is empty"));
    assert_null(tls_trust_parse("hello\n", 6, "CAFILE", &e));
    assert_non_null(strstr(e.msg, "CAFILE: not a list of PEM CA certificates"));
    char *k = key_pem(cli_key);
    assert_null(tls_trust_parse(k, strlen(k), "CAFILE", &e));
    assert_non_null(strstr(e.msg, "CAFILE: not a list of PEM CA certificates"));
    xfree_secret(k, strlen(k));
}

static void test_verify_trusted(void **state)
{
    (void)state;
    struct tls_trust *t = trust_of(root, NULL);
    X509 *x = leaf("client-a", cli_key, root, root_key, "clientAuth",
                   "URI:spiffe://cluster.local/ns/team-a/sa/builder,DNS:builder.team-a,"
                   "DNS:b.example.com,email:a@example.com");
    struct tls_peer p = {0};
    verify(t, &x, 1, &p);
    if (!p.verified)
        fail_msg("not verified: %s", p.why);
    assert_true(p.presented);
    assert_string_equal(p.why, "");
    assert_int_equal(p.uris.n, 1);
    assert_string_equal(p.uris.v[0], "spiffe://cluster.local/ns/team-a/sa/builder");
    assert_int_equal(p.dns_names.n, 2);
    assert_string_equal(p.dns_names.v[0], "builder.team-a");
    assert_string_equal(p.dns_names.v[1], "b.example.com");
    assert_string_equal(p.common_name, "client-a");

    /* fingerprint = sha256 of the leaf's DER */
    struct der d = der_of(x);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(d.p, (size_t)d.len, md);
    char want[80] = "sha256:";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(p.fingerprint, want);
    free(d.p);

    /* Verifying again into the same peer frees what it held first. */
    verify(t, &x, 1, &p);
    assert_true(p.verified);
    assert_int_equal(p.uris.n, 1);
    tls_peer_free(&p);
    X509_free(x);

    /* No EKU at all: any purpose, so clientAuth too. No SAN: only the CN. */
    x = leaf("plain", cli_key, root, root_key, NULL, NULL);
    verify(t, &x, 1, &p);
    if (!p.verified)
        fail_msg("no EKU: %s", p.why);
    assert_int_equal(p.uris.n + p.dns_names.n, 0);
    assert_string_equal(p.common_name, "plain");
    tls_peer_free(&p);
    X509_free(x);

    /* Through an intermediate the client sends, to a root in the CA file. */
    x = leaf("via-inter", cli_key, inter, inter_key, "clientAuth,serverAuth", NULL);
    X509 *chain[2] = {x, inter};
    verify(t, chain, 2, &p);
    if (!p.verified)
        fail_msg("intermediate: %s", p.why);
    tls_peer_free(&p);
    /* ... but not without it. */
    verify(t, &x, 1, &p);
    assert_true(p.presented);
    assert_false(p.verified);
    assert_non_null(strstr(p.why, "not signed by a CA of --api-client-ca-file"));
    tls_peer_free(&p);
    X509_free(x);
    tls_trust_unref(t);
}

static void expect_refused(struct tls_trust *t, X509 *x, const char *why)
{
    struct tls_peer p = {0};
    verify(t, &x, 1, &p);
    assert_true(p.presented);
    if (p.verified)
        fail_msg("verified, expected \"%s\"", why);
    if (strstr(p.why, why) == NULL)
        fail_msg("why \"%s\" lacks \"%s\"", p.why, why);
    assert_int_equal(strncmp(p.fingerprint, "sha256:", 7), 0);
    assert_int_equal(strlen(p.fingerprint), 7 + 64);
    /* Nothing of an unverified certificate is offered as an identity. */
    assert_int_equal(p.uris.n + p.dns_names.n, 0);
    assert_null(p.common_name);
    tls_peer_free(&p);
    X509_free(x);
}

static void test_verify_refused(void **state)
{
    (void)state;
    struct tls_trust *t = trust_of(root, NULL);
    const char *san = "URI:spiffe://cluster.local/ns/x/sa/y";
    expect_refused(t, leaf("self", cli_key, NULL, NULL, "clientAuth", san),
                   "the client certificate is not signed by a CA of --api-client-ca-file");
    expect_refused(t, leaf("other", cli_key, other_root, other_key, "clientAuth", san),
                   "the client certificate is not signed by a CA of --api-client-ca-file");
    expect_refused(t, make_leaf("old", cli_key, root, root_key, -86400, -3600, "clientAuth", san),
                   "the client certificate expired at ");
    expect_refused(t, make_leaf("early", cli_key, root, root_key, 3600, 86400, "clientAuth", san),
                   "the client certificate is not valid before ");
    expect_refused(t, leaf("server", cli_key, root, root_key, "serverAuth", san),
                   "the client certificate is not valid for client authentication");
    /* Signed by the root's name but not its key. */
    expect_refused(t, leaf("forged", cli_key, root, other_key, "clientAuth", san),
                   "the client certificate");

    /* Garbage instead of DER. */
    struct tls_peer p = {0};
    gnutls_datum_t junk = {(unsigned char *)"junk", 4};
    tls_trust_verify(t, &junk, 1, &p);
    assert_true(p.presented);
    assert_false(p.verified);
    assert_non_null(strstr(p.why, "cannot be parsed"));

    /* Nothing presented. */
    tls_trust_verify(t, NULL, 0, &p);
    assert_false(p.presented);
    assert_false(p.verified);
    assert_string_equal(p.fingerprint, "");

    /* No client CA list: presented, never verified. */
    X509 *x = leaf("client-a", cli_key, root, root_key, "clientAuth", san);
    verify(NULL, &x, 1, &p);
    assert_true(p.presented);
    assert_false(p.verified);
    tls_peer_free(&p);
    X509_free(x);
    tls_trust_unref(t);
}

/* ---- the server: files, reloading, the callback ---- */

static struct tls_server *server_files(const char *cert, const char *key, const char *ca,
                                       struct err *e)
{
    char *c = path_of(cert), *k = path_of(key), *a = ca ? path_of(ca) : xstrdup("");
    struct tls_files f = {c, k, a};
    struct tls_server *s = tls_server_new(&f, e);
    free(c);
    free(k);
    free(a);
    return s;
}

static struct tls_server *server(const char *ca, struct err *e)
{
    return server_files("srv.crt", "srv.key", ca, e);
}

static void expect_server_error(const char *cert, const char *key, const char *ca, const char *text)
{
    struct tls_files f = {cert, key, ca};
    struct err e = {0};
    struct tls_server *s = tls_server_new(&f, &e);
    if (s != NULL)
        fail_msg("started, expected \"%s\"", text);
    assert_int_equal(e.kind, ERR_INVALID);
    if (strstr(e.msg, text) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", e.msg, text);
}

static void test_server_errors(void **state)
{
    (void)state;
    X509 *x = leaf("localhost", srv_key, root, root_key, "serverAuth", NULL);
    put_pair("srv.crt", x, NULL, "srv.key", srv_key);
    put("junk.pem", "junk\n");
    char *crt = path_of("srv.crt"), *key = path_of("srv.key"), *junk = path_of("junk.pem");
    char *missing = path_of("missing.pem");

    expect_server_error("", "", crt, "--api-client-ca-file needs --api-tls-cert-file");
    expect_server_error("", key, "", "--api-tls-key-file needs --api-tls-cert-file");
    expect_server_error(crt, "", "", "--api-tls-cert-file needs --api-tls-key-file");
    char *want = xasprintf("--api-tls-cert-file %s: cannot open it: No such file", missing);
    expect_server_error(missing, key, "", want);
    free(want);
    want = xasprintf("--api-tls-key-file %s: not an unencrypted PEM private key", junk);
    expect_server_error(crt, junk, "", want);
    free(want);
    want = xasprintf("--api-client-ca-file %s: not a list of PEM CA certificates", junk);
    expect_server_error(crt, key, junk, want);
    free(want);
    want = xasprintf("--api-tls-cert-file %s: not a regular file", DIR_);
    expect_server_error(DIR_, key, "", want);
    free(want);

    /* A file over TLS_MAX_FILE_BYTES is refused without reading it whole. */
    char *big = xcalloc(1, TLS_MAX_FILE_BYTES + 2);
    memset(big, 'A', TLS_MAX_FILE_BYTES + 1);
    put("big.pem", big);
    free(big);
    char *bigp = path_of("big.pem");
    want = xasprintf("--api-client-ca-file %s: larger than the limit of 1048576 bytes", bigp);
    expect_server_error(crt, key, bigp, want);
    free(want);
    free(bigp);

    free(crt);
    free(key);
    free(junk);
    free(missing);
    X509_free(x);
}

/* The leaf DER the certificate callback serves now. */
static void expect_served(X509 *want)
{
    gnutls_pcert_st *pc = NULL;
    unsigned n = 0;
    gnutls_privkey_t k = NULL;
    assert_int_equal(tls_server_retrieve_cert(NULL, NULL, 0, NULL, 0, &pc, &n, &k), 0);
    assert_true(n >= 1);
    assert_non_null(k);
    struct der d = der_of(want);
    if (pc[0].cert.size != (unsigned)d.len || memcmp(pc[0].cert.data, d.p, (size_t)d.len) != 0)
        fail_msg("the callback serves another certificate");
    free(d.p);
}

static void test_server_reload_pair(void **state)
{
    (void)state;
    X509 *a = leaf("localhost", srv_key, root, root_key, "serverAuth", NULL);
    X509 *b = leaf("localhost", srv2_key, root, root_key, "serverAuth", NULL);
    X509 *c = leaf("localhost", rsa_key, root, root_key, "serverAuth", NULL);
    put_pair("srv.crt", a, root, "srv.key", srv_key);
    struct err e = {0};
    struct tls_server *s = server(NULL, &e);
    if (s == NULL)
        fail_msg("%s", e.msg);
    assert_false(tls_server_wants_clients(s));
    assert_null(tls_server_client_ca_pem(s));
    assert_int_equal(tls_server_pair_generation(s), 1);
    assert_int_equal(tls_server_trust_generation(s), 0);

    /* Nothing active: the callback fails the handshake. */
    gnutls_pcert_st *pc;
    unsigned n;
    gnutls_privkey_t k;
    assert_int_equal(tls_server_retrieve_cert(NULL, NULL, 0, NULL, 0, &pc, &n, &k), -1);
    assert_int_equal(tls_server_activate(s, &e), 0);
    assert_int_equal(tls_server_activate(s, &e), 0); /* again: the same server */
    expect_served(a);

    /* Unchanged files: nothing reloaded. */
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 1);

    /* A renewed pair, swapped in: served at the next handshake. */
    put_pair("srv.crt", b, root, "srv.key", srv2_key);
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 2);
    expect_served(b);

    /* A new certificate with the old key: refused, the previous pair stays, one warning. */
    const char *warning = "the server certificate or key changed on disk but cannot be used";
    int warned = log_count(warning);
    put_pair("srv.crt", c, NULL, "tmp.key", rsa_key);
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 2);
    expect_served(b);
    assert_int_equal(log_count(warning), warned + 1);
    assert_int_equal(log_count("is not the key of the first certificate"), 1);
    /* ... and is not retried (nor warned about again) until a file changes again. */
    tls_server_check_files(s);
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 2);
    assert_int_equal(log_count(warning), warned + 1);
    /* The key follows: now the pair is whole. */
    char *k_pem = key_pem(rsa_key);
    put("srv.key", k_pem);
    xfree_secret(k_pem, strlen(k_pem));
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 3);
    expect_served(c);

    /* A garbage certificate or a missing one: the previous pair stays. */
    put("srv.crt", "garbage\n");
    tls_server_check_files(s);
    expect_served(c);
    char *crt = path_of("srv.crt");
    assert_int_equal(unlink(crt), 0);
    tls_server_check_files(s);
    expect_served(c);
    assert_int_equal(tls_server_pair_generation(s), 3);
    assert_int_equal(log_count(warning), warned + 3);
    free(crt);
    /* Keys are never logged, whatever happened. */
    expect_key_not_logged(srv_key);
    expect_key_not_logged(srv2_key);
    expect_key_not_logged(rsa_key);

    /* tls_server_refresh looks at most once per TLS_RECHECK_SECONDS. */
    put_pair("srv.crt", a, root, "srv.key", srv_key);
    tls_server_check_files(s);
    assert_int_equal(tls_server_pair_generation(s), 4);
    put_pair("srv.crt", b, root, "srv.key", srv2_key);
    tls_server_refresh(s);
    assert_int_equal(tls_server_pair_generation(s), 4);
    expect_served(a);
    struct timespec wait = {TLS_RECHECK_SECONDS, 200 * 1000 * 1000};
    nanosleep(&wait, NULL);
    expect_served(b); /* the callback refreshes */
    assert_int_equal(tls_server_pair_generation(s), 5);

    /* One active server at a time. */
    put_pair("srv2.crt", a, root, "srv2.key", srv_key);
    struct tls_server *s2 = server_files("srv2.crt", "srv2.key", NULL, &e);
    assert_non_null(s2);
    assert_int_equal(tls_server_activate(s2, &e), -1);
    assert_non_null(strstr(e.msg, "only one HTTPS listener"));
    tls_server_deactivate(s2); /* not active: a no-op */
    expect_served(b);
    tls_server_deactivate(s);
    assert_int_equal(tls_server_activate(s2, &e), 0);
    expect_served(a);
    tls_server_deactivate(s2);
    tls_server_free(s2);
    tls_server_free(s);
    tls_server_free(NULL);
    X509_free(a);
    X509_free(b);
    X509_free(c);
}

static void test_server_reload_client_ca(void **state)
{
    (void)state;
    X509 *srv = leaf("localhost", srv_key, root, root_key, "serverAuth", NULL);
    put_pair("srv.crt", srv, NULL, "srv.key", srv_key);
    put_cert("ca.pem", root);
    struct err e = {0};
    struct tls_server *s = server("ca.pem", &e);
    if (s == NULL)
        fail_msg("%s", e.msg);
    assert_true(tls_server_wants_clients(s));
    char *root_pem = cert_pem(root);
    assert_string_equal(tls_server_client_ca_pem(s), root_pem);
    assert_int_equal(tls_server_trust_generation(s), 1);

    X509 *from_root = leaf("a", cli_key, root, root_key, "clientAuth", "URI:spiffe://x/a");
    X509 *from_other = leaf("b", cli_key, other_root, other_key, "clientAuth", "URI:spiffe://x/b");
    struct der dr = der_of(from_root), dot = der_of(from_other);
    gnutls_datum_t cr = {dr.p, (unsigned)dr.len}, co = {dot.p, (unsigned)dot.len};
    struct tls_peer p = {0};
    tls_server_verify_chain(s, &cr, 1, &p);
    assert_true(p.verified);
    tls_server_verify_chain(s, &co, 1, &p);
    assert_false(p.verified);

    /* A connection remembers its verdict until the CA list changes. */
    struct tls_conn conn = {0};
    const struct tls_peer *cp = tls_server_peer(s, NULL, &conn);
    assert_ptr_equal(cp, &conn.peer);
    assert_false(cp->presented);
    assert_int_equal(conn.trust_generation, 1);

    /* The CA rotated: the other root only. */
    put_cert("ca.pem", other_root);
    tls_server_check_files(s);
    assert_int_equal(tls_server_trust_generation(s), 2);
    tls_server_verify_chain(s, &cr, 1, &p);
    assert_false(p.verified);
    assert_non_null(strstr(p.why, "not signed by a CA of --api-client-ca-file"));
    tls_server_verify_chain(s, &co, 1, &p);
    assert_true(p.verified);
    assert_string_equal(p.uris.v[0], "spiffe://x/b");
    tls_server_peer(s, NULL, &conn);
    assert_int_equal(conn.trust_generation, 2); /* verified again */
    /* What libmicrohttpd was given at start does not change. */
    assert_string_equal(tls_server_client_ca_pem(s), root_pem);

    /* A bad CA file keeps the previous list. */
    put("ca.pem", "not a CA\n");
    tls_server_check_files(s);
    assert_int_equal(tls_server_trust_generation(s), 2);
    tls_server_verify_chain(s, &co, 1, &p);
    assert_true(p.verified);

    /* Both roots. */
    char *other_pem = cert_pem(other_root);
    char *both = xasprintf("%s%s", root_pem, other_pem);
    put("ca.pem", both);
    free(both);
    free(other_pem);
    tls_server_check_files(s);
    assert_int_equal(tls_server_trust_generation(s), 3);
    tls_server_verify_chain(s, &cr, 1, &p);
    assert_true(p.verified);

    tls_peer_free(&p);
    tls_conn_clear(&conn);
    free(root_pem);
    free(dr.p);
    free(dot.p);
    X509_free(from_root);
    X509_free(from_other);
    X509_free(srv);
    tls_server_free(s);
}

/* Handshakes take the current pair while another thread swaps it: no pair a handshake got may
 * be freed under it (AddressSanitizer builds catch a use after free). */
struct hammer {
    int stop; /* atomic */
    unsigned long calls, bad;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
        gnutls_pcert_st *pc;
        unsigned n;
        gnutls_privkey_t k;
        if (tls_server_retrieve_cert(NULL, NULL, 0, NULL, 0, &pc, &n, &k) != 0)
            continue;
        unsigned sum = 0;
        for (unsigned i = 0; i < pc[0].cert.size; i++)
            sum += pc[0].cert.data[i];
        if (sum == 0 || n < 1)
            h->bad++; /* cmocka's asserts are for the main thread only */
        h->calls++;
    }
    return NULL;
}

static void test_server_swap_under_load(void **state)
{
    (void)state;
    X509 *a = leaf("localhost", srv_key, root, root_key, "serverAuth", NULL);
    X509 *b = leaf("localhost", srv2_key, root, root_key, "serverAuth", NULL);
    put_pair("srv.crt", a, NULL, "srv.key", srv_key);
    struct err e = {0};
    struct tls_server *s = server(NULL, &e);
    assert_non_null(s);
    assert_int_equal(tls_server_activate(s, &e), 0);
    struct hammer h[3] = {0};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    for (int i = 0; i < 20; i++) {
        if (i % 2 == 0)
            put_pair("srv.crt", b, NULL, "srv.key", srv2_key);
        else
            put_pair("srv.crt", a, NULL, "srv.key", srv_key);
        tls_server_check_files(s);
    }
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&h[i].stop, 1, __ATOMIC_RELAXED);
        pthread_join(t[i], NULL);
        assert_true(h[i].calls > 0);
        assert_int_equal(h[i].bad, 0);
    }
    assert_int_equal(tls_server_pair_generation(s), 21);
    expect_served(a);
    tls_server_deactivate(s);
    tls_server_free(s);
    X509_free(a);
    X509_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_ecdsa_and_rsa),
        cmocka_unit_test(test_pair_bad),
        cmocka_unit_test(test_trust_parse),
        cmocka_unit_test(test_verify_trusted),
        cmocka_unit_test(test_verify_refused),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_server_reload_pair),
        cmocka_unit_test(test_server_reload_client_ca),
        cmocka_unit_test(test_server_swap_under_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
