/* tls.h -- the GnuTLS side of the signing API's HTTPS: the server certificate and key, the
 * client CA list, both read again when they change on disk, and client certificate checks.
 *
 * libmicrohttpd (GnuTLS on Debian) asks a retrieve callback for the server certificate at
 * every handshake and only *requests* client certificates: Ember verifies them itself, here,
 * against a client CA list it can swap without a restart. */
#ifndef EMBER_TLS_H
#define EMBER_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "decide/caller.h"

#define TLS_MAX_FILE_BYTES (1024 * 1024) /* a certificate, key or CA file; larger is refused */
#define TLS_MAX_CHAIN 16                 /* certificates in a served or a presented chain */
#define TLS_RECHECK_SECONDS 1            /* files are stat()ed at most this often */
#define TLS_PEER_RECHECK_SECONDS                                                                   \
    60 /* a connection's client certificate is verified again                                      \
          after this long (or at once when the CAs change) */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* ---- pure parts: bytes in, objects or a verdict out (no I/O, no logging) ---- */

/* A server certificate chain (leaf first) and its private key, ready for a handshake. */
struct tls_pair;

/* Parses a PEM chain (leaf first, each certificate issued by the next) and a PEM private key
 * (RSA, ECDSA or Ed25519; unencrypted) and checks that the key belongs to the leaf. Returns
 * the pair or NULL (ERR_INVALID naming cert_name or key_name and the problem; the message
 * never quotes the key). Thread-safe. */
struct tls_pair *tls_pair_parse(const char *cert_pem, size_t cert_len, const char *cert_name,
                                const char *key_pem, size_t key_len, const char *key_name,
                                struct err *err) WUR;
/* The leaf's serial number as lowercase hex (borrowed, lives as long as the pair). */
const char *tls_pair_serial(const struct tls_pair *p);
/* The leaf's notAfter. */
time_t tls_pair_not_after(const struct tls_pair *p);
/* The chain and key for gnutls_certificate_retrieve_function2 (borrowed). */
void tls_pair_get(struct tls_pair *p, gnutls_pcert_st **pcert, unsigned *n, gnutls_privkey_t *key);
/* Frees the pair; NULL is a no-op. Only when no handshake can still use it. */
void tls_pair_free(struct tls_pair *p);

/* A list of client CAs (trust anchors). Reference-counted: tls_trust_unref frees it with the
 * last reference. */
struct tls_trust;

/* Parses one or more PEM CA certificates. Returns the list (one reference) or NULL
 * (ERR_INVALID naming name and the problem). Thread-safe. */
struct tls_trust *tls_trust_parse(const char *pem, size_t len, const char *name,
                                  struct err *err) WUR;
/* How many CA certificates the list holds. */
unsigned tls_trust_count(const struct tls_trust *t);
/* Takes one more reference; returns t. Thread-safe. */
struct tls_trust *tls_trust_ref(struct tls_trust *t);
/* Drops a reference; NULL is a no-op. Thread-safe. */
void tls_trust_unref(struct tls_trust *t);

/* Verifies a client's chain (DER, leaf first, as gnutls_certificate_get_peers gives it) against
 * t at the current time, and fills out (tls_peer_free()d first): presented is n >= 1;
 * fingerprint is "sha256:<hex>" of the leaf's DER whenever presented; verified needs a clean
 * chain to a CA of t, every certificate within its validity period and, when the leaf has an
 * extended key usage, clientAuth in it; otherwise why says what failed. The SANs and the CN
 * are filled only for a verified leaf. Thread-safe (t is only read). */
void tls_trust_verify(const struct tls_trust *t, const gnutls_datum_t *chain, unsigned n,
                      struct tls_peer *out);

/* ---- the reloading server side of one HTTPS listener ---- */

struct tls_server;

/* What a listener serves: cert_file and key_file are required, client_ca_file may be "" (no
 * client certificates asked for). */
struct tls_files {
    const char *cert_file;
    const char *key_file;
    const char *client_ca_file;
};

/* Reads the files (at most TLS_MAX_FILE_BYTES each) and parses them. Returns the server or
 * NULL: ERR_INVALID naming the flag, the file and the problem (missing file, not PEM, key not
 * matching the certificate, a client CA file without a certificate...). */
struct tls_server *tls_server_new(const struct tls_files *files, struct err *err) WUR;
/* Frees the server and every pair it kept; NULL is a no-op. Only once its listener is stopped
 * (no handshake or request in flight) and after tls_server_deactivate. */
void tls_server_free(struct tls_server *s);

/* The client CA file's text as read at start (borrowed; NULL without client CAs), for
 * MHD_OPTION_HTTPS_MEM_TRUST: it makes libmicrohttpd request client certificates and names
 * these CAs in the request. Verification uses the current list, not this text. */
const char *tls_server_client_ca_pem(const struct tls_server *s);
/* True when client certificates are asked for (client_ca_file was given). */
bool tls_server_wants_clients(const struct tls_server *s);

/* Looks at the files again when TLS_RECHECK_SECONDS passed since the last look (by any
 * thread): a file whose device, inode, mtime or size changed is read again; a good new pair
 * or CA list replaces the old one (logged at info), a bad one keeps the old and is logged as
 * a warning once per change. Thread-safe: one thread looks while the others go on with what
 * is current. */
void tls_server_refresh(struct tls_server *s);
/* The same, now, whenever the last look was. Thread-safe. */
void tls_server_check_files(struct tls_server *s);
/* How many pairs / CA lists were loaded so far (1 after tls_server_new; the CA count is 0
 * without client CAs). Thread-safe. */
unsigned tls_server_pair_generation(struct tls_server *s);
unsigned tls_server_trust_generation(struct tls_server *s);

/* libmicrohttpd's certificate callback has no closure pointer: this one serves the single
 * active server. Returns 0, or -1 (ERR_INVALID) when another server is active. Thread-safe. */
int tls_server_activate(struct tls_server *s, struct err *err) WUR;
/* Stops serving s from the callback (a no-op when s is not active). Thread-safe. */
void tls_server_deactivate(struct tls_server *s);
/* For MHD_OPTION_HTTPS_CERT_CALLBACK: refreshes the active server (tls_server_refresh) and
 * returns its current chain and key. A replaced pair is kept, unused, for a grace period far
 * longer than any handshake, so a handshake that got it never sees it freed. */
int tls_server_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                             const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                             gnutls_pcert_st **pcert, unsigned int *pcert_length,
                             gnutls_privkey_t *privkey);

/* Per-connection settings, before the handshake. With client CAs, the certificate request
 * names no CA: libmicrohttpd would name those of the file as read at start, and clients such as
 * Go's and GnuTLS's send only a certificate issued by a named CA, so after a rotation their new
 * certificates would never be presented. Thread-safe. */
void tls_server_session_init(const struct tls_server *s, gnutls_session_t session);

/* Verifies a chain as tls_trust_verify does against the server's current client CA list
 * (after tls_server_refresh). Without client CAs: presented as seen, never verified. */
void tls_server_verify_chain(struct tls_server *s, const gnutls_datum_t *chain, unsigned n,
                             struct tls_peer *out);

/* What one TLS connection knows of its client, kept between its requests (keep-alive). */
struct tls_conn {
    struct tls_peer peer;
    unsigned trust_generation; /* of the CA list peer was verified against; 0 = not yet */
    int64_t checked_ms;        /* when, in CLOCK_MONOTONIC milliseconds */
};

/* Returns &c->peer for the connection's session: verified against the current client CA
 * list on the first call, and again when that list changed or TLS_PEER_RECHECK_SECONDS
 * passed. Not thread-safe for one c (a connection's requests are handled one at a time). */
const struct tls_peer *tls_server_peer(struct tls_server *s, gnutls_session_t session,
                                       struct tls_conn *c);
/* Frees what c holds and zeroes it. */
void tls_conn_clear(struct tls_conn *c);

#endif
