/* signer.c -- the signer table, and helpers shared by its rows. */
#include "signers/signer.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonfield.h"
#include "base/mem.h"
#include "signers/localca.h"
#include "signers/secret.h"
#include "signers/vaultspec.h"
#include "x509/chain.h"

/* The table. A new signer: its row here, after the others (their spec keys name the choice in
 * messages in this order). */
static const struct signer_ops *const signer_rows[] = {&localca_row, &vault_row};
_Static_assert(sizeof(signer_rows) / sizeof(*signer_rows) <= SIGNER_MAX_ROWS,
               "SIGNER_MAX_ROWS is too small for the table");

const struct signer_ops *signer_row(size_t i)
{
    return i < sizeof(signer_rows) / sizeof(*signer_rows) ? signer_rows[i] : NULL;
}

void sign_result_free(struct sign_result *r)
{
    if (r == NULL)
        return;
    free(r->chain_pem);
    free(r->ca_pem);
    r->chain_pem = NULL;
    r->ca_pem = NULL;
}

int signer_spec_copy(const cJSON *obj, const char *path, const char *key, char **out,
                     struct err *err)
{
    const char *s;
    if (jsonfield_string(obj, path, key, &s, err) != 0)
        return -1;
    if (s != NULL) {
        free(*out);
        *out = xstrdup(s);
    }
    return 0;
}

int signer_secret_key(const struct signer_env *env, const char *ns, const char *name,
                      const char *key, const char *field, char **out, size_t *len, struct err *err)
{
    cJSON *secret = env->get_secret(env->ud, ns, name, err);
    if (secret == NULL) {
        err_prefix(err, "Secret %s/%s (%s)", ns, name, field);
        return -1;
    }
    int rc = secret_value(secret, key, out, len, err);
    secret_delete(secret);
    if (rc != 0) {
        err_prefix(err, "Secret %s/%s", ns, name);
        err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    if (*out == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "Secret %s/%s (%s) has no key %s", ns, name, field, key);
        return -1;
    }
    return 0;
}

int signer_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* notAfter of the i-th certificate of pem; -1 when there is none or pem is not certificates. */
static int signer_nth_not_after(const char *pem, int i, time_t *out)
{
    if (pem == NULL || pem[0] == '\0')
        return -1;
    STACK_OF(X509) *sk = NULL;
    struct err e = {0};
    if (chain_parse_pem(pem, strlen(pem), "the chain", &sk, &e) != 0)
        return -1;
    int rc =
        i < sk_X509_num(sk) ? signer_asn1_time(X509_get0_notAfter(sk_X509_value(sk, i)), out) : -1;
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

int signer_issuer_not_after(const struct sign_result *r, time_t *out)
{
    if (signer_nth_not_after(r->chain_pem, 1, out) == 0)
        return 0;
    return signer_nth_not_after(r->ca_pem, 0, out);
}
