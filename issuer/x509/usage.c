/* usage.c -- cert-manager key usage names and their X.509 meaning. */
#include "x509/usage.h"

#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* ku: KeyUsage bit, or 0; eku: ExtKeyUsage NID, or NID_undef. Order follows enum usage. */
static const struct {
    const char *name;
    uint32_t ku;
    int eku;
} usage_table[USAGE_COUNT] = {
    [USAGE_SIGNING] = {"signing", KU_DIGITAL_SIGNATURE, NID_undef},
    [USAGE_DIGITAL_SIGNATURE] = {"digital signature", KU_DIGITAL_SIGNATURE, NID_undef},
    [USAGE_CONTENT_COMMITMENT] = {"content commitment", KU_NON_REPUDIATION, NID_undef},
    [USAGE_KEY_ENCIPHERMENT] = {"key encipherment", KU_KEY_ENCIPHERMENT, NID_undef},
    [USAGE_KEY_AGREEMENT] = {"key agreement", KU_KEY_AGREEMENT, NID_undef},
    [USAGE_DATA_ENCIPHERMENT] = {"data encipherment", KU_DATA_ENCIPHERMENT, NID_undef},
    [USAGE_CERT_SIGN] = {"cert sign", KU_KEY_CERT_SIGN, NID_undef},
    [USAGE_CRL_SIGN] = {"crl sign", KU_CRL_SIGN, NID_undef},
    [USAGE_ENCIPHER_ONLY] = {"encipher only", KU_ENCIPHER_ONLY, NID_undef},
    [USAGE_DECIPHER_ONLY] = {"decipher only", KU_DECIPHER_ONLY, NID_undef},
    [USAGE_ANY] = {"any", 0, NID_anyExtendedKeyUsage},
    [USAGE_SERVER_AUTH] = {"server auth", 0, NID_server_auth},
    [USAGE_CLIENT_AUTH] = {"client auth", 0, NID_client_auth},
    [USAGE_CODE_SIGNING] = {"code signing", 0, NID_code_sign},
    [USAGE_EMAIL_PROTECTION] = {"email protection", 0, NID_email_protect},
    [USAGE_SMIME] = {"s/mime", 0, NID_email_protect},
    [USAGE_IPSEC_END_SYSTEM] = {"ipsec end system", 0, NID_ipsecEndSystem},
    [USAGE_IPSEC_TUNNEL] = {"ipsec tunnel", 0, NID_ipsecTunnel},
    [USAGE_IPSEC_USER] = {"ipsec user", 0, NID_ipsecUser},
    [USAGE_TIMESTAMPING] = {"timestamping", 0, NID_time_stamp},
    [USAGE_OCSP_SIGNING] = {"ocsp signing", 0, NID_OCSP_sign},
    [USAGE_MICROSOFT_SGC] = {"microsoft sgc", 0, NID_ms_sgc},
    [USAGE_NETSCAPE_SGC] = {"netscape sgc", 0, NID_ns_sgc},
};

int usage_from_name(const char *name)
{
    for (int i = 0; i < USAGE_COUNT; i++)
        if (strcmp(usage_table[i].name, name) == 0)
            return i;
    return -1;
}

const char *usage_name(enum usage u)
{
    return (unsigned)u < USAGE_COUNT ? usage_table[u].name : "unknown";
}

void usage_to_x509(usage_set set, bool is_ca, struct usage_x509 *out)
{
    memset(out, 0, sizeof(*out));
    if (is_ca)
        set |= USAGE_BIT(USAGE_CERT_SIGN);
    for (int i = 0; i < USAGE_COUNT; i++) {
        if (!(set & USAGE_BIT(i)))
            continue;
        out->ku |= usage_table[i].ku;
        int nid = usage_table[i].eku;
        if (nid == NID_undef)
            continue;
        bool seen = false;
        for (size_t j = 0; j < out->n_eku; j++)
            seen = seen || out->eku[j] == nid;
        if (!seen)
            out->eku[out->n_eku++] = nid;
    }
}

bool usage_x509_equal(const struct usage_x509 *a, const struct usage_x509 *b)
{
    if (a->ku != b->ku || a->n_eku != b->n_eku)
        return false;
    for (size_t i = 0; i < a->n_eku; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_eku; j++)
            found = found || a->eku[i] == b->eku[j];
        if (!found)
            return false;
    }
    return true;
}

void usage_format(usage_set set, char *out, size_t outlen)
{
    size_t used = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (int i = 0; i < USAGE_COUNT; i++) {
        if (!(set & USAGE_BIT(i)))
            continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", usage_table[i].name);
        if (n < 0 || (size_t)n >= outlen - used)
            return;
        used += (size_t)n;
    }
}
