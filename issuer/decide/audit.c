/* audit.c -- the audit log: one JSON line per issuance decision (see audit.h). */
#include "decide/audit.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/b64.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "x509/chain.h"
#include "x509/csr.h"

#define AUDIT_CUT_MARK "..."
/* A run this long of base64/base64url/JWT characters in a reason is taken for a token or key
 * material pasted somewhere it should not be, and replaced (the longest DNS name is 253). */
#define AUDIT_TOKEN_RUN 256
#define AUDIT_REDACTED "[redacted]"
#define AUDIT_PEM_REMOVED "[PEM block removed]"

struct audit {
    int fd;
    bool owns_fd; /* false for stderr */
    bool include_certificate;
    pthread_mutex_t lock; /* one line at a time; guards failing */
    bool failing;         /* the last write failed (reported once until one succeeds) */
    char *path;
};

struct audit *audit_open(const char *path, bool include_certificate, struct err *err)
{
    if (path == NULL || path[0] == '\0') {
        err_set(err, ERR_INVALID, "audit log: no path given");
        return NULL;
    }
    int fd = 2;
    bool owns = false;
    if (strcmp(path, "-") != 0) {
        /* O_NONBLOCK only for the open: a FIFO nobody reads fails (ENXIO) instead of hanging
         * the start; the writes themselves block, so no line is dropped half written. */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0) {
            err_set(err, ERR_INVALID, "audit log %.900s: %s", path, strerror(errno));
            return NULL;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
            err_set(err, ERR_INVALID, "audit log %.900s: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        struct stat st;
        if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) ||
                                     S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode))) {
            err_set(err, ERR_INVALID, "audit log %.900s: not a file", path);
            close(fd);
            return NULL;
        }
        /* O_CREAT's mode applies to a new file only: an existing one is made private too. */
        if (S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
            err_set(err, ERR_INVALID,
                    "audit log %.900s: it is mode %04o and cannot be made 0600 (%s): make this "
                    "user its owner, or remove it",
                    path, (unsigned)(st.st_mode & 07777), strerror(errno));
            close(fd);
            return NULL;
        }
        owns = true;
    }
    struct audit *a = xcalloc(1, sizeof(*a));
    a->fd = fd;
    a->owns_fd = owns;
    a->include_certificate = include_certificate;
    a->path = xstrdup(path);
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    if (a->owns_fd)
        close(a->fd);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

/* ---- strings: valid UTF-8, capped, never a NUL inside ------------------------------------ */

/* A new string of in[0..n): invalid UTF-8 and NUL bytes become U+FFFD (cJSON writes bytes as
 * they are, and a consumer must be able to parse every line), cut on a character boundary
 * so that at most max bytes are kept, then AUDIT_CUT_MARK. */
static char *audit_clean(const char *in, size_t n, size_t max)
{
    static const char repl[] = "\xef\xbf\xbd";
    char *out = xmalloc(max + sizeof(AUDIT_CUT_MARK));
    const unsigned char *s = (const unsigned char *)in;
    size_t len = 0, i = 0;
    while (i < n) {
        size_t adv = s[i] == 0 ? 0 : utf8_seq_len(s + i, n - i);
        const char *piece = adv ? in + i : repl;
        size_t plen = adv ? adv : sizeof(repl) - 1;
        if (len + plen > max) {
            memcpy(out + len, AUDIT_CUT_MARK, sizeof(AUDIT_CUT_MARK));
            return out;
        }
        memcpy(out + len, piece, plen);
        len += plen;
        i += adv ? adv : 1;
    }
    out[len] = '\0';
    return out;
}

/* Adds key: the cleaned string s, unless s is NULL or "". */
static void audit_add_str(cJSON *obj, const char *key, const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0')
        return;
    char *c = audit_clean(s, strlen(s), max);
    cJSON_AddStringToObject(obj, key, c);
    free(c);
}

static void audit_push(cJSON *arr, const char *s, size_t n)
{
    char *c = audit_clean(s, n, AUDIT_FIELD_MAX);
    cJSON_AddItemToArray(arr, cJSON_CreateString(c));
    free(c);
}

static bool audit_token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=' || c == '_' || c == '-' || c == '.';
}

/* The reason as written: nothing from a PEM header on (a key or CSR pasted into a field and
 * echoed by an error message), long token-like runs replaced, the label "PRIVATE KEY" (named
 * by "you pasted a key" messages) in lower case so that no line matches the scanners that
 * look for key material, capped. A new string. */
static char *audit_scrub_reason(const char *reason)
{
    size_t n = strlen(reason);
    const char *pem = strstr(reason, "-----BEGIN");
    if (pem != NULL)
        n = (size_t)(pem - reason);
    size_t cap = n + sizeof(AUDIT_PEM_REMOVED) + 1;
    char *buf = xmalloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && audit_token_char((unsigned char)reason[j]))
            j++;
        if (j - i >= AUDIT_TOKEN_RUN) {
            /* Shorter than the run it replaces, so it fits. */
            memcpy(buf + len, AUDIT_REDACTED, sizeof(AUDIT_REDACTED) - 1);
            len += sizeof(AUDIT_REDACTED) - 1;
            i = j;
        } else if (j > i) {
            memcpy(buf + len, reason + i, j - i);
            len += j - i;
            i = j;
        } else {
            buf[len++] = reason[i++];
        }
    }
    if (pem != NULL) {
        memcpy(buf + len, AUDIT_PEM_REMOVED, sizeof(AUDIT_PEM_REMOVED) - 1);
        len += sizeof(AUDIT_PEM_REMOVED) - 1;
    }
    buf[len] = '\0';
    for (char *k = strstr(buf, "PRIVATE KEY"); k != NULL; k = strstr(k, "PRIVATE KEY"))
        memcpy(k, "private key", 11);
    char *out = audit_clean(buf, len, AUDIT_REASON_MAX);
    free(buf);
    return out;
}

/* ---- what is derived from the certificate or the CSR ------------------------------------- */

/* "public_key_sha256": hex SHA-256 of the SubjectPublicKeyInfo DER. */
static void audit_add_spki(cJSON *obj, const X509_PUBKEY *pk)
{
    unsigned char *der = NULL;
    int n = pk != NULL ? i2d_X509_PUBKEY(pk, &der) : -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        hex_encode(md, mdlen, hex);
        cJSON_AddStringToObject(obj, "public_key_sha256", hex);
    }
    OPENSSL_free(der);
}

/* The SAN lists, AUDIT_MAX_SANS entries at most in all. */
struct audit_sans {
    cJSON *obj, *dns, *ip, *uri, *email, *other;
    size_t n;
    bool truncated;
};

static void audit_sans_init(struct audit_sans *s)
{
    s->obj = cJSON_CreateObject();
    s->dns = cJSON_AddArrayToObject(s->obj, "dns");
    s->ip = cJSON_AddArrayToObject(s->obj, "ip");
    s->uri = cJSON_AddArrayToObject(s->obj, "uri");
    s->email = cJSON_AddArrayToObject(s->obj, "email");
    s->other = cJSON_AddArrayToObject(s->obj, "other");
    s->n = 0;
    s->truncated = false;
}

static void audit_sans_add(struct audit_sans *s, cJSON *arr, const char *v, size_t n)
{
    if (s->n >= AUDIT_MAX_SANS) {
        s->truncated = true;
        return;
    }
    s->n++;
    audit_push(arr, v, n);
}

static void audit_sans_finish(struct audit_sans *s, cJSON *obj)
{
    cJSON_AddItemToObject(obj, "sans", s->obj);
    if (s->truncated)
        cJSON_AddTrueToObject(obj, "sans_truncated");
}

static void audit_sans_strv(struct audit_sans *s, cJSON *arr, const struct strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        audit_sans_add(s, arr, v->v[i], strlen(v->v[i]));
}

/* An otherName as "<oid>;UTF8:<value>" (Vault's other_sans form); value n bytes. */
static void audit_sans_other(struct audit_sans *s, const char *oid, const char *v, size_t n)
{
    char buf[80 + 6 + CSR_MAX_NAME + 1];
    int k = snprintf(buf, sizeof(buf), "%s;UTF8:", oid);
    if (k < 0 || (size_t)k + n >= sizeof(buf))
        return;
    memcpy(buf + k, v, n);
    audit_sans_add(s, s->other, buf, (size_t)k + n);
}

/* The bytes of a PEM given as it is (pem) or in base64 (b64), at most max, in *out (free()
 * it); false when there are none. */
static bool audit_pem(const char *pem, const char *b64, size_t max, unsigned char **out,
                      size_t *len)
{
    struct err e = {0};
    if (pem != NULL && pem[0] != '\0') {
        *len = strlen(pem);
        *out = *len <= max ? (unsigned char *)xstrndup(pem, *len) : NULL;
        return *out != NULL;
    }
    return b64 != NULL && b64[0] != '\0' && b64_decode(b64, strlen(b64), max, out, len, &e) == 0;
}

/* The leaf's SANs into obj's "sans". */
static void audit_sans_of_leaf(cJSON *obj, X509 *leaf)
{
    struct audit_sans s;
    audit_sans_init(&s);
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char oid[80];
        if (g->type == GEN_OTHERNAME && g->d.otherName->value != NULL &&
            g->d.otherName->value->type == V_ASN1_UTF8STRING &&
            OBJ_obj2txt(oid, (int)sizeof(oid), g->d.otherName->type_id, 1) > 0) {
            const ASN1_STRING *u = g->d.otherName->value->value.utf8string;
            audit_sans_other(&s, oid, (const char *)ASN1_STRING_get0_data(u),
                             (size_t)ASN1_STRING_length(u));
            continue;
        }
        int type = 0;
        const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
        if (v == NULL)
            continue;
        const char *data = (const char *)ASN1_STRING_get0_data(v);
        size_t len = (size_t)ASN1_STRING_length(v);
        if (type == GEN_DNS) {
            audit_sans_add(&s, s.dns, data, len);
        } else if (type == GEN_URI) {
            audit_sans_add(&s, s.uri, data, len);
        } else if (type == GEN_EMAIL) {
            audit_sans_add(&s, s.email, data, len);
        } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
            char ip[INET6_ADDRSTRLEN];
            if (inet_ntop(len == 4 ? AF_INET : AF_INET6, data, ip, sizeof(ip)) != NULL)
                audit_sans_add(&s, s.ip, ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(gens);
    audit_sans_finish(&s, obj);
}

/* The leaf's fields; false when r holds no certificate. */
static bool audit_from_certificate(struct audit *a, cJSON *obj, const struct audit_record *r)
{
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    struct err e = {0};
    if (!audit_pem(r->chain_pem, r->certificate_b64, CHAIN_MAX_BYTES, &pem, &pem_len))
        return false;
    STACK_OF(X509) *certs = NULL;
    int rc = chain_parse_pem((const char *)pem, pem_len, "status.certificate", &certs, &e);
    free(pem);
    if (rc != 0 || sk_X509_num(certs) < 1) {
        sk_X509_pop_free(certs, X509_free);
        return false;
    }
    X509 *leaf = sk_X509_value(certs, 0);
    audit_add_spki(obj, X509_get_X509_PUBKEY(leaf));

    const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
    int slen = serial != NULL ? ASN1_STRING_length(serial) : 0;
    if (slen > 0 && slen <= 64) {
        char hex[129];
        hex_encode(ASN1_STRING_get0_data(serial), (size_t)slen, hex);
        cJSON_AddStringToObject(obj, "serial", hex);
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1) {
        char ts[TIMEFMT_LEN];
        timefmt_rfc3339(timegm(&tm), ts);
        cJSON_AddStringToObject(obj, "not_after", ts);
    }

    audit_sans_of_leaf(obj, leaf);

    if (a->include_certificate) {
        BIO *b = BIO_new(BIO_s_mem());
        char *p = NULL;
        long n = 0;
        if (b != NULL && PEM_write_bio_X509(b, leaf) == 1)
            n = BIO_get_mem_data(b, &p);
        if (n > 0 && n <= AUDIT_CERT_MAX) {
            char *c = xstrndup(p, (size_t)n);
            cJSON_AddStringToObject(obj, "certificate", c);
            free(c);
        }
        BIO_free(b);
    }
    sk_X509_pop_free(certs, X509_free);
    return true;
}

/* The CSR's fields (no serial or notAfter); nothing when it is not a valid CSR. */
static void audit_from_csr(cJSON *obj, const struct audit_record *r)
{
    unsigned char *der = NULL;
    size_t len = 0;
    struct err e = {0};
    if (!audit_pem(r->csr_pem, r->csr_b64, CSR_MAX_BYTES, &der, &len))
        return;
    struct csr *csr = csr_parse(der, len, &e);
    free(der);
    if (csr == NULL)
        return;
    audit_add_spki(obj, X509_REQ_get_X509_PUBKEY(csr->req));
    struct audit_sans s;
    audit_sans_init(&s);
    audit_sans_strv(&s, s.dns, &csr->dns_names);
    audit_sans_strv(&s, s.ip, &csr->ip_addresses);
    audit_sans_strv(&s, s.uri, &csr->uris);
    audit_sans_strv(&s, s.email, &csr->email_addresses);
    for (size_t i = 0; i < csr->other_name_oids.n; i++)
        audit_sans_other(&s, csr->other_name_oids.v[i], csr->other_name_values.v[i],
                         strlen(csr->other_name_values.v[i]));
    audit_sans_finish(&s, obj);
    csr_free(csr);
}

/* ---- the line ---------------------------------------------------------------------------- */

static void audit_add_list(cJSON *obj, const char *key, const struct strv *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    for (size_t i = 0; i < v->n && i < CALLER_MAX_NAMES; i++)
        audit_push(arr, v->v[i], strlen(v->v[i]));
}

static void audit_add_caller(cJSON *obj, const struct caller *c)
{
    cJSON *o = cJSON_AddObjectToObject(obj, "caller");
    cJSON_AddStringToObject(o, "method", caller_method_name(c ? c->method : CALLER_NONE));
    if (c == NULL)
        return;
    audit_add_str(o, "username", c->username, AUDIT_FIELD_MAX);
    audit_add_list(o, "groups", &c->groups);
    if (c->method == CALLER_MTLS) {
        /* The one name matched against requesters.certificates; the others are context. */
        audit_add_str(o, "identity", c->username, AUDIT_FIELD_MAX);
        audit_add_list(o, "uris", &c->uris);
        audit_add_list(o, "dns_names", &c->dns_names);
        audit_add_str(o, "common_name", c->common_name, AUDIT_FIELD_MAX);
    }
}

static void audit_now(char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%06ldZ", date, ts.tv_nsec / 1000);
}

/* Writes line whole, under the lock; reports the first of a run of failures. */
static void audit_emit(struct audit *a, const char *line, size_t len)
{
    pthread_mutex_lock(&a->lock);
    int err = 0;
    while (len > 0) {
        ssize_t w = write(a->fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        line += w;
        len -= (size_t)w;
    }
    bool report = err != 0 && !a->failing;
    a->failing = err != 0;
    pthread_mutex_unlock(&a->lock);
    if (report)
        LOG(LOG_ERROR, "audit", NULL, strerror(err), "cannot write to the audit log %s", a->path);
}

void audit_record(struct audit *a, const struct audit_record *r)
{
    if (a == NULL || r == NULL)
        return;
    cJSON *obj = cJSON_CreateObject();
    char ts[64];
    audit_now(ts, sizeof(ts));
    cJSON_AddStringToObject(obj, "ts", ts);
    cJSON_AddStringToObject(obj, "log", "audit");
    audit_add_str(obj, "front_door", r->front_door, AUDIT_FIELD_MAX);
    audit_add_caller(obj, r->caller);
    audit_add_str(obj, "policy", r->policy, AUDIT_FIELD_MAX);
    audit_add_str(obj, "issuer", r->issuer, AUDIT_FIELD_MAX);
    audit_add_str(obj, "namespace", r->ns, AUDIT_FIELD_MAX);
    audit_add_str(obj, "name", r->name, AUDIT_FIELD_MAX);
    audit_add_str(obj, "uid", r->uid, AUDIT_FIELD_MAX);
    if (!audit_from_certificate(a, obj, r))
        audit_from_csr(obj, r);
    audit_add_str(obj, "outcome", r->outcome, AUDIT_FIELD_MAX);
    if (r->reason != NULL && r->reason[0] != '\0') {
        char *reason = audit_scrub_reason(r->reason);
        cJSON_AddStringToObject(obj, "reason", reason);
        free(reason);
    }
    /* The certificate goes last, so the short fields lead the line for people reading it. */
    cJSON *cert = cJSON_DetachItemFromObjectCaseSensitive(obj, "certificate");
    if (cert != NULL)
        cJSON_AddItemToObject(obj, "certificate", cert);
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (text == NULL)
        return; /* out of memory inside cJSON: nothing sensible left to write */
    size_t len = strlen(text);
    char *line = xmalloc(len + 2);
    memcpy(line, text, len);
    line[len] = '\n';
    line[len + 1] = '\0';
    free(text);
    audit_emit(a, line, len + 1);
    free(line);
}

void audit_request(struct audit *a, const char *front_door, const struct caller *caller,
                   const struct cr *cr, const char *policy, const char *outcome, const char *reason)
{
    if (a == NULL)
        return;
    char issuer[CR_ISSUER_REF_MAX] = "";
    if (cr != NULL) /* a name longer than Kubernetes allows is recorded cut short */
        (void)cr_issuer_ref(cr->issuer_kind, cr->namespace, cr->issuer_name, issuer,
                            sizeof(issuer));
    struct audit_record r = {
        .front_door = front_door,
        .caller = caller,
        .policy = policy,
        .issuer = cr != NULL ? issuer : NULL,
        .ns = cr != NULL ? cr->namespace : NULL,
        .name = cr != NULL ? cr->name : NULL,
        .uid = cr != NULL ? cr->uid : NULL,
        .csr_b64 = cr != NULL ? cr->request_b64 : NULL,
        .csr_pem = cr != NULL ? cr->request_pem : NULL,
        .certificate_b64 = cr != NULL && strcmp(outcome, "issued") == 0 ? cr->certificate : NULL,
        .chain_pem = cr != NULL && strcmp(outcome, "issued") == 0 ? cr->chain_pem : NULL,
        .outcome = outcome,
        .reason = reason,
    };
    audit_record(a, &r);
}
