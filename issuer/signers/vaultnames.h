/* vaultnames.h -- what a Vault issuer can honour of a CSR's names, and whether the certificate
 * Vault issued carries every otherName and subject attribute the policy approved. Pure. */
#ifndef EMBER_VAULTNAMES_H
#define EMBER_VAULTNAMES_H

#include <openssl/x509.h>

#include "base/err.h"
#include "x509/csr.h"

/* ERR_PERMANENT, naming the first one, when the CSR's subject holds an attribute Vault's sign
 * API has no way to take (anything but CN, O, OU, C, ST, L, street, postalCode and
 * serialNumber: Vault builds the subject from its role, the CN and the serialNumber). */
int vaultnames_refuse(const struct csr *csr, struct err *err) WUR;

/* ERR_PERMANENT, naming what is missing, when leaf lacks one of the CSR's otherNames (same
 * OID, same UTF8String value) or one of its subject values (CN, O, OU, C, ST, L, street,
 * postalCode, serialNumber): Vault takes these from its role (organization, ou, country,
 * province, locality, street_address, postal_code), from the CSR or other_sans
 * (allowed_other_sans) and from the CSR (CN with use_csr_common_name, serialNumber within
 * allowed_serial_numbers); a certificate without them would be less than was approved. Also
 * ERR_PERMANENT when leaf's subject holds an attribute value the CSR's does not (compared as a
 * multiset of (OID, value); an empty CN is none): Vault adds O, OU, C, ST, L, street and postalCode
 * from its role, which the policy never saw, e.g. `Vault added subject O "Acme" that the request
 * did not ask for (the role's organization); the policy never approved it: clear the role's
 * organization or request it`. */
int vaultnames_check_leaf(X509 *leaf, const struct csr *csr, struct err *err) WUR;

#endif
