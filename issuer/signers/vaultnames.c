/* vaultnames.c -- a Vault issuer and the names of a CSR it cannot honour or did not honour. */
#include "signers/vaultnames.h"

#include "base/mem.h"
#include "base/utf8.h"

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define VAULTNAMES_ECHO 200 /* bytes of a value Vault added, in a message */

int vaultnames_refuse(const struct csr *csr, struct err *err)
{
    if (csr->other_subject_oids.n == 0)
        return 0;
    const char *oid = csr->other_subject_oids.v[0];
    int nid = OBJ_txt2nid(oid);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    ERR_clear_error();
    err_set(err, ERR_PERMANENT,
            "the CSR's subject holds %s%s%s%s, which a Vault issuer cannot honour (Vault builds "
            "the subject from its role, the common name and the serialNumber); use an issuer "
            "with spec.ca, or remove it from the subject",
            oid, sn != NULL ? " (" : "", sn != NULL ? sn : "", sn != NULL ? ")" : "");
    return -1;
}

/* True when gens holds the otherName oid with the UTF8String value v. */
static bool vaultnames_has_other_name(const GENERAL_NAMES *gens, const char *oid, const char *v)
{
    size_t vl = strlen(v);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char got[80];
        if (g->type != GEN_OTHERNAME || g->d.otherName->value == NULL ||
            g->d.otherName->value->type != V_ASN1_UTF8STRING ||
            OBJ_obj2txt(got, (int)sizeof(got), g->d.otherName->type_id, 1) <= 0 ||
            strcmp(got, oid) != 0)
            continue;
        const ASN1_STRING *s = g->d.otherName->value->value.utf8string;
        if ((size_t)ASN1_STRING_length(s) == vl && memcmp(ASN1_STRING_get0_data(s), v, vl) == 0)
            return true;
    }
    return false;
}

/* True when name holds an attribute nid whose value, as UTF-8, is v. */
static bool vaultnames_has_attr(const X509_NAME *name, int nid, const char *v)
{
    for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(name, nid, i)) {
        unsigned char *u = NULL;
        int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
        bool same = n >= 0 && (size_t)n == strlen(v) && memcmp(u, v, (size_t)n) == 0;
        OPENSSL_free(u);
        if (same)
            return true;
    }
    return false;
}

/* -1 naming the first of the CSR's subject values (CN, O, OU, C, ST, L, street, postalCode,
 * serialNumber) missing from name, else 0. An empty value (Istio's "O=") is no value: Vault
 * drops it, and nothing was asked. */
static WUR int vaultnames_check_subject(const X509_NAME *name, const struct csr *csr,
                                        struct err *err)
{
    const struct {
        int nid;
        const struct strv *vals;
        const char *what, *where;
    } want[] = {
        {NID_commonName, &csr->common_name, "commonName",
         "the CSR when its role's use_csr_common_name is true"},
        {NID_organizationName, &csr->organization, "organization", "its role's organization"},
        {NID_organizationalUnitName, &csr->organizational_unit, "organizationalUnit",
         "its role's ou"},
        {NID_countryName, &csr->country, "country", "its role's country"},
        {NID_stateOrProvinceName, &csr->province, "province", "its role's province"},
        {NID_localityName, &csr->locality, "locality", "its role's locality"},
        {NID_streetAddress, &csr->street_address, "streetAddress", "its role's street_address"},
        {NID_postalCode, &csr->postal_code, "postalCode", "its role's postal_code"},
        {NID_serialNumber, &csr->serial_number, "serialNumber",
         "the CSR, within its role's allowed_serial_numbers"},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        for (size_t i = 0; i < want[k].vals->n; i++) {
            if (want[k].vals->v[i][0] == '\0' ||
                vaultnames_has_attr(name, want[k].nid, want[k].vals->v[i]))
                continue;
            err_set(err, ERR_PERMANENT,
                    "Vault issued a certificate whose subject lacks the requested %s \"%.200s\" "
                    "(Vault takes it from %s); refusing it rather than issuing less than was "
                    "approved",
                    want[k].what, want[k].vals->v[i], want[k].where);
            return -1;
        }
    }
    return 0;
}

/* One subject attribute as (OID text, UTF-8 value); false when it cannot be read. */
static bool vaultnames_entry(const X509_NAME_ENTRY *e, char oid[80], unsigned char **val, int *n)
{
    *val = NULL;
    if (OBJ_obj2txt(oid, 80, X509_NAME_ENTRY_get_object(e), 1) <= 0)
        return false;
    *n = ASN1_STRING_to_UTF8(val, X509_NAME_ENTRY_get_data(e));
    return *n >= 0;
}

/* Where Vault takes a subject attribute from and how to stop it adding one. */
static void vaultnames_source(int nid, const char **from, const char **fix)
{
    static const struct {
        int nid;
        const char *from, *fix;
    } src[] = {
        {NID_organizationName, "the role's organization", "clear the role's organization"},
        {NID_organizationalUnitName, "the role's ou", "clear the role's ou"},
        {NID_countryName, "the role's country", "clear the role's country"},
        {NID_stateOrProvinceName, "the role's province", "clear the role's province"},
        {NID_localityName, "the role's locality", "clear the role's locality"},
        {NID_streetAddress, "the role's street_address", "clear the role's street_address"},
        {NID_postalCode, "the role's postal_code", "clear the role's postal_code"},
        {NID_serialNumber, "the role's serial_number", "clear the role's serial_number"},
        {NID_commonName, "the role has use_csr_common_name false",
         "set the role's use_csr_common_name"},
    };
    for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
        if (src[i].nid == nid) {
            *from = src[i].from;
            *fix = src[i].fix;
            return;
        }
    }
    *from = "the role";
    *fix = "change the role";
}

/* Index in the CSR's subject of an unused attribute with this OID and value, or -1. */
static int vaultnames_find_unused(const X509_NAME *req, const char *oid, const unsigned char *v,
                                  int vn, const bool *used)
{
    for (int j = 0; j < X509_NAME_entry_count(req); j++) {
        char o[80];
        unsigned char *u = NULL;
        int un = 0;
        bool same = !used[j] && vaultnames_entry(X509_NAME_get_entry(req, j), o, &u, &un) &&
                    strcmp(o, oid) == 0 && un == vn && memcmp(u, v, (size_t)vn) == 0;
        OPENSSL_free(u);
        if (same)
            return j;
    }
    return -1;
}

/* -1 naming the first attribute value of name the CSR's subject does not have (as a multiset
 * of (OID, value)): Vault builds O, OU, C, ST, L, street and postalCode from its role, which
 * the policy never saw. An empty CN (a CSR without one) is no value. */
static WUR int vaultnames_check_extra(const X509_NAME *name, const struct csr *csr, struct err *err)
{
    const X509_NAME *req = X509_REQ_get_subject_name(csr->req);
    int nreq = req != NULL ? X509_NAME_entry_count(req) : 0;
    bool *used = xcalloc((size_t)nreq + 1, sizeof(*used));
    int rc = 0;
    for (int i = 0; i < X509_NAME_entry_count(name) && rc == 0; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        char oid[80];
        unsigned char *v = NULL;
        int vn = 0;
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        if (!vaultnames_entry(e, oid, &v, &vn)) {
            err_set(err, ERR_PERMANENT, "cannot read the subject of the certificate Vault issued");
            rc = -1;
        } else if (!(nid == NID_commonName && vn == 0)) {
            int j = req != NULL ? vaultnames_find_unused(req, oid, v, vn, used) : -1;
            if (j >= 0) {
                used[j] = true;
            } else {
                const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : oid;
                const char *from = NULL, *fix = NULL;
                vaultnames_source(nid, &from, &fix);
                char q[UTF8_ESCAPE_SIZE(VAULTNAMES_ECHO)];
                utf8_escape((const char *)v, VAULTNAMES_ECHO, true, q, sizeof(q));
                err_set(err, ERR_PERMANENT,
                        "Vault added subject %s %s that the request did not ask for (%s); the "
                        "policy never approved it: %s or request it",
                        sn, q, from, fix);
                rc = -1;
            }
        }
        OPENSSL_free(v);
    }
    free(used);
    return rc;
}

int vaultnames_check_leaf(X509 *leaf, const struct csr *csr, struct err *err)
{
    int rc = 0;
    if (csr->other_name_oids.n > 0) {
        GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
        for (size_t i = 0; i < csr->other_name_oids.n && rc == 0; i++) {
            if (vaultnames_has_other_name(gens, csr->other_name_oids.v[i],
                                          csr->other_name_values.v[i]))
                continue;
            err_set(err, ERR_PERMANENT,
                    "Vault issued a certificate without the requested otherName SAN %s "
                    "\"%.200s\" (Vault takes otherNames from the CSR or other_sans, within its "
                    "role's allowed_other_sans); refusing it rather than issuing less than was "
                    "approved",
                    csr->other_name_oids.v[i], csr->other_name_values.v[i]);
            rc = -1;
        }
        GENERAL_NAMES_free(gens);
    }
    if (rc == 0)
        rc = vaultnames_check_subject(X509_get_subject_name(leaf), csr, err);
    if (rc == 0)
        rc = vaultnames_check_extra(X509_get_subject_name(leaf), csr, err);
    ERR_clear_error();
    return rc;
}
