/* fuzz_csr.c -- csr_parse on arbitrary bytes: a clear error or a csr within its limits. */
#include "base/cidr.h"
#include "x509/csr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_allowed_algs[] = {"EC_P256", "EC_P384", "EC_P521", "EC_ED25519"};

static void fuzz_check_alg(const struct csr *c)
{
    for (size_t i = 0; i < sizeof(fuzz_allowed_algs) / sizeof(fuzz_allowed_algs[0]); i++)
        if (strcmp(c->key_alg, fuzz_allowed_algs[i]) == 0)
            return;
    /* RSA_<bits> with at least 2048 bits. */
    if (strncmp(c->key_alg, "RSA_", 4) == 0 && c->key_type == CSR_KEY_RSA &&
        strtol(c->key_alg + 4, NULL, 10) >= 2048 && c->key_bits >= 2048)
        return;
    abort();
}

static void fuzz_check_strv(const struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->v[i] == NULL || strlen(sv->v[i]) > CSR_MAX_NAME)
            abort();
}

/* The recorded nameConstraints subtrees: none without the extension, within the limits, IP
 * ranges in CIDR text that parses back. */
static void fuzz_check_subtrees(const struct csr *c)
{
    const struct csr_subtrees *t[2] = {&c->nc_permitted, &c->nc_excluded};
    size_t total = 0;
    for (int i = 0; i < 2; i++) {
        const struct strv *kinds[] = {&t[i]->dns, &t[i]->ip, &t[i]->email, &t[i]->uri};
        for (size_t k = 0; k < 4; k++) {
            fuzz_check_strv(kinds[k]);
            total += kinds[k]->n;
        }
        for (size_t j = 0; j < t[i]->ip.n; j++) {
            struct cidr r;
            if (cidr_parse(t[i]->ip.v[j], &r) != 0)
                abort();
        }
    }
    if (total > CSR_MAX_SANS || (!c->has_name_constraints && total > 0) ||
        (c->has_name_constraints && total == 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err = {0};
    struct csr *c = csr_parse(data, size, &err);
    if (c == NULL) {
        if (err.kind == ERR_NONE || err.msg[0] == '\0')
            abort();
        return 0;
    }
    fuzz_check_alg(c);
    if (c->req == NULL || c->pkey == NULL)
        abort();
    size_t sans = c->dns_names.n + c->ip_addresses.n + c->uris.n + c->email_addresses.n +
                  c->other_name_oids.n;
    if (sans > CSR_MAX_SANS || c->n_ext_key_usage > USAGE_COUNT)
        abort();
    /* OIDs and values of otherNames and other subject attributes go in pairs. */
    if (c->other_name_oids.n != c->other_name_values.n ||
        c->other_subject_oids.n != c->other_subject_values.n)
        abort();
    const struct strv *all[] = {&c->common_name,
                                &c->organization,
                                &c->organizational_unit,
                                &c->country,
                                &c->province,
                                &c->locality,
                                &c->street_address,
                                &c->postal_code,
                                &c->serial_number,
                                &c->other_subject_oids,
                                &c->other_subject_values,
                                &c->dns_names,
                                &c->ip_addresses,
                                &c->uris,
                                &c->email_addresses,
                                &c->other_name_oids,
                                &c->other_name_values};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        fuzz_check_strv(all[i]);
    fuzz_check_subtrees(c);
    struct err cerr = {0};
    if (csr_check_request(c, false, 0, &cerr) != 0 && (cerr.kind == ERR_NONE || !cerr.msg[0]))
        abort();
    csr_free(c);
    return 0;
}
