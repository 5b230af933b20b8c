/* tls.c -- the GnuTLS side of the signing API's HTTPS: reloadable server pair and client CAs,
 * client certificate verification (see tls.h). */
#include "front/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/b64.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"

/* A replaced pair stays allocated this long. GnuTLS uses the chain and key only while it
 * builds the server's first flight, milliseconds after the retrieve callback returned, and
 * libmicrohttpd drops a connection idle for 30 s: ten minutes is far beyond any handshake. */
#define TLS_PAIR_GRACE_MS (10 * 60 * 1000)
#define TLS_MAX_NAME 2048 /* one SAN or CN of a client certificate; longer ones are dropped */

struct tls_pair {
    gnutls_pcert_st pcert[TLS_MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    char serial[2 * 64 + 1];
    time_t not_after;
    struct tls_pair *next; /* the server's list of replaced pairs */
    int64_t retired_ms;
};

struct tls_trust {
    gnutls_x509_trust_list_t list;
    unsigned count;
    unsigned refs; /* atomic */
};

/* What a file was when it was looked at: a Secret update swaps a symlink, so the inode moves. */
struct tls_sig {
    bool ok; /* false: stat() failed (errno_ says why) */
    int errno_;
    dev_t dev;
    ino_t ino;
    struct timespec mtim;
    off_t size;
};

struct tls_server {
    char *cert_file, *key_file, *ca_file; /* ca_file NULL without client CAs */
    char *ca_pem;                         /* the CA file as read at start */
    pthread_mutex_t lock;                 /* pair, retired, trust, the generations */
    struct tls_pair *pair;
    struct tls_pair *retired; /* replaced pairs, newest first */
    struct tls_trust *trust;
    unsigned pair_gen, trust_gen;
    pthread_mutex_t look_lock; /* one thread looks at the files; guards the sigs */
    struct tls_sig cert_seen, key_seen, ca_seen;       /* of what is loaded */
    struct tls_sig cert_failed, key_failed, ca_failed; /* of what failed to load, warned */
    int64_t next_look_ms;                              /* atomic; CLOCK_MONOTONIC */
};

static struct tls_server *tls_active; /* atomic: what tls_server_retrieve_cert serves */
static pthread_mutex_t tls_active_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the server pair ---- */

/* Imports the PEM chain into p->pcert (p->n certificates, leaf first, each issued by the
 * next). */
static WUR int tls_pair_import_chain(struct tls_pair *p, const char *cert_pem, size_t cert_len,
                                     const char *cert_name, struct err *err)
{
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)cert_len};
    unsigned n = TLS_MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(p->pcert, &n, &cd, GNUTLS_X509_FMT_PEM,
                                               GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED |
                                                   GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
        err_set(err, ERR_INVALID, "%s: more than %d certificates in the chain", cert_name,
                TLS_MAX_CHAIN);
        return -1;
    }
    if (rc == GNUTLS_E_CERTIFICATE_LIST_UNSORTED) {
        err_set(err, ERR_INVALID,
                "%s: the certificates are out of order: the server certificate first, then the "
                "CA that issued it, and so on",
                cert_name);
        return -1;
    }
    if (rc < 0 || n == 0) {
        err_set(err, ERR_INVALID, "%s: not a PEM certificate (chain): %s", cert_name,
                rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
        return -1;
    }
    p->n = n;
    return 0;
}

/* Imports the PEM private key into p->key: unencrypted, RSA, ECDSA or Ed25519. */
static WUR int tls_pair_import_key(struct tls_pair *p, const char *key_pem, size_t key_len,
                                   const char *key_name, struct err *err)
{
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)key_len};
    if (gnutls_privkey_init(&p->key) < 0) {
        err_set(err, ERR_INTERNAL, "gnutls_privkey_init failed");
        return -1;
    }
    int rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        err_set(err, ERR_INVALID, "%s: not an unencrypted PEM private key: %s", key_name,
                gnutls_strerror(rc));
        return -1;
    }
    int alg = gnutls_privkey_get_pk_algorithm(p->key, NULL);
    if (alg != GNUTLS_PK_RSA && alg != GNUTLS_PK_RSA_PSS && alg != GNUTLS_PK_ECDSA &&
        alg != GNUTLS_PK_EDDSA_ED25519) {
        const char *name = alg >= 0 ? gnutls_pk_get_name((gnutls_pk_algorithm_t)alg) : NULL;
        err_set(err, ERR_INVALID, "%s: a %s key: use an ECDSA, RSA or Ed25519 key", key_name,
                name != NULL ? name : "unknown");
        return -1;
    }
    return 0;
}

/* True when p->key is the key of the leaf (a key of another certificate would fail every
 * handshake). */
static bool tls_pair_key_matches(const struct tls_pair *p)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    bool match = gnutls_pubkey_init(&pub) >= 0 &&
                 gnutls_pubkey_import_privkey(pub, p->key, 0, 0) >= 0 &&
                 gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
                 gnutls_pubkey_export2(p->pcert[0].pubkey, GNUTLS_X509_FMT_DER, &b) >= 0 &&
                 a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pub);
    return match;
}

/* The leaf's serial and notAfter, for the logs and tls_pair_serial(). */
static void tls_pair_read_leaf(struct tls_pair *p)
{
    gnutls_x509_crt_t leaf = NULL;
    if (gnutls_x509_crt_init(&leaf) >= 0 &&
        gnutls_x509_crt_import(leaf, &p->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0) {
        unsigned char serial[64];
        size_t len = sizeof(serial);
        if (gnutls_x509_crt_get_serial(leaf, serial, &len) >= 0)
            hex_encode(serial, len, p->serial); /* len <= 64: p->serial holds 128 digits */
        p->not_after = gnutls_x509_crt_get_expiration_time(leaf);
    }
    gnutls_x509_crt_deinit(leaf);
}

struct tls_pair *tls_pair_parse(const char *cert_pem, size_t cert_len, const char *cert_name,
                                const char *key_pem, size_t key_len, const char *key_name,
                                struct err *err)
{
    if (cert_len > TLS_MAX_FILE_BYTES || key_len > TLS_MAX_FILE_BYTES) {
        err_set(err, ERR_INVALID, "%s: larger than the limit of %d bytes",
                cert_len > TLS_MAX_FILE_BYTES ? cert_name : key_name, TLS_MAX_FILE_BYTES);
        return NULL;
    }
    if (cert_len == 0 || key_len == 0) {
        err_set(err, ERR_INVALID, "%s: the file is empty", cert_len == 0 ? cert_name : key_name);
        return NULL;
    }
    struct tls_pair *p = xcalloc(1, sizeof(*p));
    if (tls_pair_import_chain(p, cert_pem, cert_len, cert_name, err) != 0) {
        free(p);
        return NULL;
    }
    if (tls_pair_import_key(p, key_pem, key_len, key_name, err) != 0) {
        tls_pair_free(p);
        return NULL;
    }
    if (!tls_pair_key_matches(p)) {
        err_set(err, ERR_INVALID, "%s is not the key of the first certificate of %s", key_name,
                cert_name);
        tls_pair_free(p);
        return NULL;
    }
    tls_pair_read_leaf(p);
    return p;
}

const char *tls_pair_serial(const struct tls_pair *p)
{
    return p->serial;
}

time_t tls_pair_not_after(const struct tls_pair *p)
{
    return p->not_after;
}

void tls_pair_get(struct tls_pair *p, gnutls_pcert_st **pcert, unsigned *n, gnutls_privkey_t *key)
{
    *pcert = p->pcert;
    *n = p->n;
    *key = p->key;
}

void tls_pair_free(struct tls_pair *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->pcert[i]);
    if (p->key != NULL)
        gnutls_privkey_deinit(p->key);
    free(p);
}

/* ---- client CAs ---- */

struct tls_trust *tls_trust_parse(const char *pem, size_t len, const char *name, struct err *err)
{
    if (len > TLS_MAX_FILE_BYTES) {
        err_set(err, ERR_INVALID, "%s: larger than the limit of %d bytes", name,
                TLS_MAX_FILE_BYTES);
        return NULL;
    }
    if (len == 0) {
        err_set(err, ERR_INVALID, "%s: the file is empty", name);
        return NULL;
    }
    struct tls_trust *t = xcalloc(1, sizeof(*t));
    if (gnutls_x509_trust_list_init(&t->list, 0) < 0) {
        err_set(err, ERR_INTERNAL, "gnutls_x509_trust_list_init failed");
        free(t);
        return NULL;
    }
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    int rc = gnutls_x509_trust_list_add_trust_mem(t->list, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (rc <= 0) {
        err_set(err, ERR_INVALID, "%s: not a list of PEM CA certificates: %s", name,
                rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
        gnutls_x509_trust_list_deinit(t->list, 1);
        free(t);
        return NULL;
    }
    t->count = (unsigned)rc;
    t->refs = 1;
    return t;
}

unsigned tls_trust_count(const struct tls_trust *t)
{
    return t->count;
}

struct tls_trust *tls_trust_ref(struct tls_trust *t)
{
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void tls_trust_unref(struct tls_trust *t)
{
    if (t == NULL || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    gnutls_x509_trust_list_deinit(t->list, 1);
    free(t);
}

/* Why a chain failed, from GnuTLS's status bits: the most telling reason first. */
static void tls_why(unsigned status, gnutls_x509_crt_t leaf, char *why, size_t n)
{
    char when[32];
    time_t now = time(NULL);
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) {
        snprintf(why, n, "the client certificate is not signed by a CA of --api-client-ca-file");
    } else if (status & GNUTLS_CERT_SIGNATURE_FAILURE) {
        snprintf(why, n, "the client certificate's chain has a bad signature");
    } else if (status & GNUTLS_CERT_REVOKED) {
        snprintf(why, n, "the client certificate is revoked");
    } else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
        snprintf(why, n, "the client certificate's chain uses an insecure signature algorithm");
    } else if (status & GNUTLS_CERT_EXPIRED) {
        time_t t = gnutls_x509_crt_get_expiration_time(leaf);
        timefmt_rfc3339(t, when);
        if (t != (time_t)-1 && t < now)
            snprintf(why, n, "the client certificate expired at %s", when);
        else
            snprintf(why, n, "a CA certificate of the client certificate's chain expired");
    } else if (status & GNUTLS_CERT_NOT_ACTIVATED) {
        time_t t = gnutls_x509_crt_get_activation_time(leaf);
        timefmt_rfc3339(t, when);
        if (t != (time_t)-1 && t > now)
            snprintf(why, n, "the client certificate is not valid before %s", when);
        else
            snprintf(why, n, "a CA certificate of the client certificate's chain is not valid yet");
    } else if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
        snprintf(why, n,
                 "the client certificate is not valid for client authentication (its extended "
                 "key usage lacks clientAuth)");
    } else {
        gnutls_datum_t out = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0)
            snprintf(why, n, "the client certificate does not verify: %s", (char *)out.data);
        else
            snprintf(why, n, "the client certificate does not verify (status 0x%x)", status);
        gnutls_free(out.data);
    }
}

/* A NUL-terminated text value of exactly len bytes (no embedded NUL), else NULL. */
static const char *tls_text(const char *buf, size_t len)
{
    return len > 0 && strnlen(buf, len + 1) == len ? buf : NULL;
}

static void tls_fill_names(gnutls_x509_crt_t leaf, struct tls_peer *out)
{
    char *buf = xmalloc(TLS_MAX_NAME + 1);
    for (unsigned i = 0;; i++) {
        size_t size = TLS_MAX_NAME;
        unsigned crit = 0;
        int type = gnutls_x509_crt_get_subject_alt_name(leaf, i, buf, &size, &crit);
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue; /* longer than any name we would match */
        if (type < 0)
            break;
        buf[size < TLS_MAX_NAME ? size : TLS_MAX_NAME] = '\0';
        const char *v = tls_text(buf, size);
        if (v == NULL)
            continue;
        if (type == GNUTLS_SAN_URI && out->uris.n < CALLER_MAX_NAMES)
            strv_push(&out->uris, v);
        else if (type == GNUTLS_SAN_DNSNAME && out->dns_names.n < CALLER_MAX_NAMES)
            strv_push(&out->dns_names, v);
    }
    size_t size = TLS_MAX_NAME;
    if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0) {
        buf[size < TLS_MAX_NAME ? size : TLS_MAX_NAME] = '\0';
        const char *cn = tls_text(buf, size);
        if (cn != NULL)
            out->common_name = xstrdup(cn);
    }
    free(buf);
}

void tls_trust_verify(const struct tls_trust *t, const gnutls_datum_t *chain, unsigned n,
                      struct tls_peer *out)
{
    tls_peer_free(out);
    if (chain == NULL || n == 0)
        return;
    out->presented = true;
    unsigned char digest[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, chain[0].data, chain[0].size, digest) >= 0) {
        memcpy(out->fingerprint, "sha256:", 7);
        hex_encode(digest, sizeof(digest), out->fingerprint + 7);
    }
    if (t == NULL) {
        snprintf(out->why, sizeof(out->why),
                 "client certificates are not checked here: no --api-client-ca-file");
        return;
    }
    if (n > TLS_MAX_CHAIN) {
        snprintf(out->why, sizeof(out->why),
                 "the client certificate chain has more than %d certificates", TLS_MAX_CHAIN);
        return;
    }
    gnutls_x509_crt_t crts[TLS_MAX_CHAIN] = {0};
    unsigned imported = 0;
    for (; imported < n; imported++) {
        int rc = gnutls_x509_crt_init(&crts[imported]);
        if (rc >= 0)
            rc = gnutls_x509_crt_import(crts[imported], &chain[imported], GNUTLS_X509_FMT_DER);
        if (rc < 0) {
            snprintf(out->why, sizeof(out->why),
                     "the client certificate chain cannot be parsed (certificate %u: %s)",
                     imported + 1, gnutls_strerror(rc));
            if (crts[imported] != NULL)
                gnutls_x509_crt_deinit(crts[imported]);
            goto done;
        }
    }
    /* The key purpose is checked only when a certificate has an extended key usage. */
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    unsigned status = 0;
    int rc = gnutls_x509_trust_list_verify_crt2(t->list, crts, n, &purpose, 1, 0, &status, NULL);
    if (rc < 0) {
        snprintf(out->why, sizeof(out->why), "the client certificate cannot be verified: %s",
                 gnutls_strerror(rc));
        goto done;
    }
    if (status != 0) {
        tls_why(status, crts[0], out->why, sizeof(out->why));
        goto done;
    }
    out->verified = true;
    tls_fill_names(crts[0], out);
done:
    for (unsigned i = 0; i < imported; i++)
        gnutls_x509_crt_deinit(crts[i]);
}

/* ---- files ---- */

static void tls_sig_from(const struct stat *st, struct tls_sig *sig)
{
    memset(sig, 0, sizeof(*sig));
    sig->ok = true;
    sig->dev = st->st_dev;
    sig->ino = st->st_ino;
    sig->mtim = st->st_mtim;
    sig->size = st->st_size;
}

static void tls_sig_stat(const char *path, struct tls_sig *sig)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        tls_sig_from(&st, sig);
        return;
    }
    memset(sig, 0, sizeof(*sig));
    sig->errno_ = errno;
}

static bool tls_sig_equal(const struct tls_sig *a, const struct tls_sig *b)
{
    if (!a->ok || !b->ok)
        return a->ok == b->ok && a->errno_ == b->errno_;
    return a->dev == b->dev && a->ino == b->ino && a->mtim.tv_sec == b->mtim.tv_sec &&
           a->mtim.tv_nsec == b->mtim.tv_nsec && a->size == b->size;
}

/* Reads a whole regular file of at most TLS_MAX_FILE_BYTES into out (buf_init'ed here); sig
 * describes what was read. name prefixes the error ("--flag path"). */
static WUR int tls_read_file(const char *path, const char *name, struct buf *out,
                             struct tls_sig *sig, struct err *err)
{
    buf_init(out, TLS_MAX_FILE_BYTES);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err_set(err, ERR_INVALID, "%s: cannot open it: %s", name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(err, ERR_INVALID, "%s: not a regular file", name);
        close(fd);
        return -1;
    }
    if (st.st_size > TLS_MAX_FILE_BYTES) {
        err_set(err, ERR_INVALID, "%s: larger than the limit of %d bytes", name,
                TLS_MAX_FILE_BYTES);
        close(fd);
        return -1;
    }
    tls_sig_from(&st, sig);
    char chunk[8192];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_set(err, ERR_INVALID, "%s: cannot read it: %s", name, strerror(errno));
            break;
        }
        if (r == 0) {
            close(fd);
            explicit_bzero(chunk, sizeof(chunk));
            if (out->data == NULL)
                return buf_append(out, "", 0, err); /* an empty file: "" rather than NULL */
            return 0;
        }
        if (buf_append(out, chunk, (size_t)r, NULL) != 0) {
            err_set(err, ERR_INVALID, "%s: larger than the limit of %d bytes", name,
                    TLS_MAX_FILE_BYTES);
            break;
        }
    }
    close(fd);
    explicit_bzero(chunk, sizeof(chunk));
    buf_free_secret(out);
    return -1;
}

static WUR struct tls_pair *tls_load_pair(const struct tls_server *s, struct tls_sig *cert_sig,
                                          struct tls_sig *key_sig, struct err *err)
{
    char cname[PATH_MAX + 32], kname[PATH_MAX + 32];
    snprintf(cname, sizeof(cname), "--api-tls-cert-file %s", s->cert_file);
    snprintf(kname, sizeof(kname), "--api-tls-key-file %s", s->key_file);
    struct buf cert, key;
    if (tls_read_file(s->cert_file, cname, &cert, cert_sig, err) != 0)
        return NULL;
    if (tls_read_file(s->key_file, kname, &key, key_sig, err) != 0) {
        buf_free(&cert);
        return NULL;
    }
    struct tls_pair *p = tls_pair_parse(cert.data, cert.len, cname, key.data, key.len, kname, err);
    buf_free(&cert);
    buf_free_secret(&key);
    return p;
}

static WUR struct tls_trust *tls_load_trust(const struct tls_server *s, struct tls_sig *sig,
                                            char **pem, struct err *err)
{
    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "--api-client-ca-file %s", s->ca_file);
    struct buf b;
    if (tls_read_file(s->ca_file, name, &b, sig, err) != 0)
        return NULL;
    struct tls_trust *t = tls_trust_parse(b.data, b.len, name, err);
    if (t != NULL && pem != NULL)
        *pem = buf_take(&b, NULL);
    buf_free(&b);
    return t;
}

static void tls_log_pair(const struct tls_server *s, const struct tls_pair *p, const char *what)
{
    char until[32];
    timefmt_rfc3339(p->not_after, until);
    LOG(LOG_INFO, "tls", NULL, NULL,
        "%s the certificate of --api-tls-cert-file %s: serial %s, valid until %s%s", what,
        s->cert_file, p->serial, until, p->not_after < time(NULL) ? " (EXPIRED)" : "");
}

/* ---- the server ---- */

struct tls_server *tls_server_new(const struct tls_files *files, struct err *err)
{
    const char *cert = files->cert_file ? files->cert_file : "";
    const char *key = files->key_file ? files->key_file : "";
    const char *ca = files->client_ca_file ? files->client_ca_file : "";
    if (cert[0] == '\0') {
        err_set(err, ERR_INVALID,
                ca[0] != '\0' ? "--api-client-ca-file needs --api-tls-cert-file"
                              : "--api-tls-key-file needs --api-tls-cert-file");
        return NULL;
    }
    if (key[0] == '\0') {
        err_set(err, ERR_INVALID, "--api-tls-cert-file needs --api-tls-key-file");
        return NULL;
    }
    struct tls_server *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->look_lock, NULL);
    s->cert_file = xstrdup(cert);
    s->key_file = xstrdup(key);
    s->ca_file = ca[0] != '\0' ? xstrdup(ca) : NULL;
    s->pair = tls_load_pair(s, &s->cert_seen, &s->key_seen, err);
    if (s->pair == NULL) {
        tls_server_free(s);
        return NULL;
    }
    s->pair_gen = 1;
    if (s->ca_file != NULL) {
        s->trust = tls_load_trust(s, &s->ca_seen, &s->ca_pem, err);
        if (s->trust == NULL) {
            tls_server_free(s);
            return NULL;
        }
        s->trust_gen = 1;
    }
    s->next_look_ms = clock_mono_ms() + TLS_RECHECK_SECONDS * 1000;
    tls_log_pair(s, s->pair, "serving");
    if (s->trust != NULL)
        LOG(LOG_INFO, "tls", NULL, NULL,
            "asking clients for a certificate issued by one of the %u CA(s) of "
            "--api-client-ca-file %s",
            s->trust->count, s->ca_file);
    return s;
}

void tls_server_free(struct tls_server *s)
{
    if (s == NULL)
        return;
    tls_pair_free(s->pair);
    while (s->retired != NULL) {
        struct tls_pair *next = s->retired->next;
        tls_pair_free(s->retired);
        s->retired = next;
    }
    tls_trust_unref(s->trust);
    free(s->cert_file);
    free(s->key_file);
    free(s->ca_file);
    free(s->ca_pem);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->look_lock);
    free(s);
}

const char *tls_server_client_ca_pem(const struct tls_server *s)
{
    return s->ca_pem;
}

bool tls_server_wants_clients(const struct tls_server *s)
{
    return s->ca_file != NULL;
}

/* Loads the certificate and key again when either changed on disk since they were loaded
 * (unless that change already failed and was warned about); look_lock held. */
static void tls_look_pair(struct tls_server *s)
{
    struct tls_sig cert, key;
    tls_sig_stat(s->cert_file, &cert);
    tls_sig_stat(s->key_file, &key);
    bool changed = !tls_sig_equal(&cert, &s->cert_seen) || !tls_sig_equal(&key, &s->key_seen);
    bool warned = tls_sig_equal(&cert, &s->cert_failed) && tls_sig_equal(&key, &s->key_failed);
    if (!changed || warned)
        return;
    struct tls_sig cert_read, key_read;
    struct err e = {0};
    struct tls_pair *p = tls_load_pair(s, &cert_read, &key_read, &e);
    if (p == NULL) {
        s->cert_failed = cert;
        s->key_failed = key;
        LOG(LOG_WARN, "tls", NULL, e.msg,
            "the server certificate or key changed on disk but cannot be used; still "
            "serving the previous one (serial %s)",
            s->pair->serial);
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct tls_pair *old = s->pair;
    old->retired_ms = clock_mono_ms();
    old->next = s->retired;
    s->retired = old;
    s->pair = p;
    s->pair_gen++;
    pthread_mutex_unlock(&s->lock);
    s->cert_seen = cert_read;
    s->key_seen = key_read;
    memset(&s->cert_failed, 0, sizeof(s->cert_failed));
    memset(&s->key_failed, 0, sizeof(s->key_failed));
    tls_log_pair(s, p, "now serving");
}

/* Loads the client CA file again when it changed on disk (the same way); look_lock held. */
static void tls_look_trust(struct tls_server *s)
{
    struct tls_sig ca;
    tls_sig_stat(s->ca_file, &ca);
    if (tls_sig_equal(&ca, &s->ca_seen) || tls_sig_equal(&ca, &s->ca_failed))
        return;
    struct tls_sig ca_read;
    struct err e = {0};
    struct tls_trust *t = tls_load_trust(s, &ca_read, NULL, &e);
    if (t == NULL) {
        s->ca_failed = ca;
        LOG(LOG_WARN, "tls", NULL, e.msg,
            "the client CA file changed on disk but cannot be used; still checking "
            "client certificates against the previous CAs");
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct tls_trust *old = s->trust;
    s->trust = t;
    s->trust_gen++;
    pthread_mutex_unlock(&s->lock);
    tls_trust_unref(old);
    s->ca_seen = ca_read;
    memset(&s->ca_failed, 0, sizeof(s->ca_failed));
    LOG(LOG_INFO, "tls", NULL, NULL,
        "now checking client certificates against the %u CA(s) of "
        "--api-client-ca-file %s",
        t->count, s->ca_file);
}

/* Frees the pairs replaced long enough ago that no handshake can still hold them. */
static void tls_reap_retired(struct tls_server *s)
{
    int64_t now = clock_mono_ms();
    struct tls_pair *expired = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct tls_pair **pp = &s->retired; *pp != NULL;) {
        if (now - (*pp)->retired_ms > TLS_PAIR_GRACE_MS) {
            struct tls_pair *p = *pp;
            *pp = p->next;
            p->next = expired;
            expired = p;
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    while (expired != NULL) {
        struct tls_pair *next = expired->next;
        tls_pair_free(expired);
        expired = next;
    }
}

/* Looks at the files now; look_lock held. */
static void tls_server_look(struct tls_server *s)
{
    tls_look_pair(s);
    if (s->ca_file != NULL)
        tls_look_trust(s);
    tls_reap_retired(s);
}

void tls_server_refresh(struct tls_server *s)
{
    int64_t now = clock_mono_ms();
    if (now < __atomic_load_n(&s->next_look_ms, __ATOMIC_RELAXED))
        return;
    if (pthread_mutex_trylock(&s->look_lock) != 0)
        return; /* another thread is looking: go on with what is current */
    if (now >= __atomic_load_n(&s->next_look_ms, __ATOMIC_RELAXED)) {
        __atomic_store_n(&s->next_look_ms, now + TLS_RECHECK_SECONDS * 1000, __ATOMIC_RELAXED);
        tls_server_look(s);
    }
    pthread_mutex_unlock(&s->look_lock);
}

void tls_server_check_files(struct tls_server *s)
{
    pthread_mutex_lock(&s->look_lock);
    __atomic_store_n(&s->next_look_ms, clock_mono_ms() + TLS_RECHECK_SECONDS * 1000,
                     __ATOMIC_RELAXED);
    tls_server_look(s);
    pthread_mutex_unlock(&s->look_lock);
}

unsigned tls_server_pair_generation(struct tls_server *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned g = s->pair_gen;
    pthread_mutex_unlock(&s->lock);
    return g;
}

unsigned tls_server_trust_generation(struct tls_server *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned g = s->trust_gen;
    pthread_mutex_unlock(&s->lock);
    return g;
}

int tls_server_activate(struct tls_server *s, struct err *err)
{
    pthread_mutex_lock(&tls_active_lock);
    struct tls_server *cur = __atomic_load_n(&tls_active, __ATOMIC_ACQUIRE);
    if (cur != NULL && cur != s) {
        pthread_mutex_unlock(&tls_active_lock);
        err_set(err, ERR_INVALID, "only one HTTPS listener can run at a time");
        return -1;
    }
    __atomic_store_n(&tls_active, s, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&tls_active_lock);
    return 0;
}

void tls_server_deactivate(struct tls_server *s)
{
    pthread_mutex_lock(&tls_active_lock);
    if (__atomic_load_n(&tls_active, __ATOMIC_ACQUIRE) == s)
        __atomic_store_n(&tls_active, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&tls_active_lock);
}

int tls_server_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                             const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                             gnutls_pcert_st **pcert, unsigned int *pcert_length,
                             gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    /* The listener's daemon is stopped before its server is deactivated and freed, so the
     * server outlives every handshake that found it here. */
    struct tls_server *s = __atomic_load_n(&tls_active, __ATOMIC_ACQUIRE);
    if (s == NULL)
        return -1;
    tls_server_refresh(s);
    pthread_mutex_lock(&s->lock);
    tls_pair_get(s->pair, pcert, pcert_length, privkey);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void tls_server_session_init(const struct tls_server *s, gnutls_session_t session)
{
    if (s->ca_file != NULL && session != NULL)
        gnutls_certificate_send_x509_rdn_sequence(session, 1);
}

/* tls_server_verify_chain, telling which CA list generation it used. */
static void tls_server_verify_gen(struct tls_server *s, const gnutls_datum_t *chain, unsigned n,
                                  struct tls_peer *out, unsigned *generation)
{
    tls_server_refresh(s);
    pthread_mutex_lock(&s->lock);
    struct tls_trust *t = s->trust != NULL ? tls_trust_ref(s->trust) : NULL;
    unsigned gen = s->trust_gen;
    pthread_mutex_unlock(&s->lock);
    tls_trust_verify(t, chain, n, out);
    tls_trust_unref(t);
    if (generation != NULL)
        *generation = gen;
}

void tls_server_verify_chain(struct tls_server *s, const gnutls_datum_t *chain, unsigned n,
                             struct tls_peer *out)
{
    tls_server_verify_gen(s, chain, n, out, NULL);
}

const struct tls_peer *tls_server_peer(struct tls_server *s, gnutls_session_t session,
                                       struct tls_conn *c)
{
    if (s->ca_file == NULL)
        return &c->peer; /* no certificate was asked for: none presented */
    tls_server_refresh(s);
    int64_t now = clock_mono_ms();
    if (c->trust_generation != 0 && c->trust_generation == tls_server_trust_generation(s) &&
        now - c->checked_ms < TLS_PEER_RECHECK_SECONDS * 1000)
        return &c->peer;
    unsigned n = 0;
    const gnutls_datum_t *chain =
        session != NULL ? gnutls_certificate_get_peers(session, &n) : NULL;
    tls_server_verify_gen(s, chain, chain != NULL ? n : 0, &c->peer, &c->trust_generation);
    c->checked_ms = now;
    return &c->peer;
}

void tls_conn_clear(struct tls_conn *c)
{
    tls_peer_free(&c->peer);
    memset(c, 0, sizeof(*c));
}
