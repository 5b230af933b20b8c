/* vaultspec.h -- the Vault signer's row of the signer table: spec.vault as cert-manager's Vault
 * issuer spells it, the client it loads (vault.h), the notAfter of the CA Vault signs with. */
#ifndef EMBER_VAULTSPEC_H
#define EMBER_VAULTSPEC_H

#include <stddef.h>

#include "signers/signer.h"
#include "signers/subcaspec.h"
#include "signers/vaultauth.h"

#define VAULTSPEC_MAX_CA_BUNDLE (1024 * 1024) /* decoded spec.vault.caBundle */

/* spec.vault, field names as cert-manager's Vault issuer. */
struct vault_spec {
    char *server, *path, *namespace;
    unsigned char *ca_bundle; /* decoded spec.vault.caBundle (PEM), or NULL */
    size_t ca_bundle_len;
    char *ca_bundle_secret_name, *ca_bundle_secret_key; /* caBundleSecretRef; key: ca.crt */
    char *server_name;                                  /* spec.vault.serverName or NULL */
    struct vaultauth_spec auth; /* spec.vault.auth, clientCertSecretRef, clientKeySecretRef */
    struct subca_spec *subca;   /* spec.vault.subCA when enabled (signers/subcaspec.h) */
};

/* The Vault row: name "vault" (the metrics label), spec key "vault".
 * parse: each object of spec.vault checked with base/jsonfield (unknown, repeated and
 * wrong-type members, in its message shape; null is absent), then cert-manager's Vault issuer
 * messages where they apply ("Vault server and path are required fields"; the auth rules:
 * signers/vaultauth.h), serverName a host name. load: reads caBundleSecretRef and the mTLS
 * identity now (Pending with a message naming the Secret when it cannot), makes the client
 * (no I/O; Failed when vault_new refuses the spec); the method's secret (AppRole secret_id,
 * static token, Kubernetes JWT, cert login identity) is read again through the env at each
 * login. check and recheck: vault_check (the controller re-checks in place, keeping the
 * cached token). expiry: the notAfter of the CA that issued the last certificate Vault signed
 * through this signer (Vault is not asked for its CA otherwise), 0 until the first one.
 * With spec.vault.subCA enabled (spec.vault.path then optional and unused) load also starts the
 * sub-CA signer (signers/subca.h) and sign, check, recheck, expiry, the Ready message and the
 * metrics are its own; Vault is asked only for the sub-CA. */
extern const struct signer_ops vault_row;

#endif
