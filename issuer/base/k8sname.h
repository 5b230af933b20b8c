/* k8sname.h -- Kubernetes' own rules for object names, namespaces (DNS-1123) and labels. Pure. */
#ifndef EMBER_K8SNAME_H
#define EMBER_K8SNAME_H

#include <stdbool.h>
#include <stddef.h>

#define K8SNAME_LABEL_MAX 63      /* a namespace: a DNS-1123 label */
#define K8SNAME_SUBDOMAIN_MAX 253 /* most object names: a DNS-1123 subdomain */
#define K8SNAME_LABEL_NAME_MAX 63 /* a label key's name part and a label value */

/* Whether s[0..n) is a DNS-1123 label: 1 to 63 of a-z, 0-9 and '-', starting and ending with a
 * letter or digit. Any bytes. */
bool k8sname_is_label(const char *s, size_t n);
/* Whether s[0..n) is a DNS-1123 subdomain: 1 to 253 bytes of parts joined by '.', each made
 * as a label is, of any length (as Kubernetes checks it). Any bytes. */
bool k8sname_is_subdomain(const char *s, size_t n);
/* Whether s (NUL-terminated) is a label key: an optional DNS-1123 subdomain prefix and '/',
 * then a name of 1 to 63 of a-z, A-Z, 0-9, '-', '_', '.', starting and ending with a letter or
 * digit (Kubernetes' IsQualifiedName). */
bool k8sname_is_label_key(const char *s);
/* Whether s (NUL-terminated) is a label value: empty, or a name as in a label key. */
bool k8sname_is_label_value(const char *s);

/* The two rules above, as an error message states them. */
#define K8SNAME_LABEL_KEY_RULE                                                                     \
    "a label key is an optional DNS subdomain prefix and '/', then at most 63 of a-z, A-Z, "       \
    "0-9, '-', '_', '.', starting and ending with a letter or digit"
#define K8SNAME_LABEL_VALUE_RULE                                                                   \
    "a label value is empty or at most 63 of a-z, A-Z, 0-9, '-', '_', '.', starting and "          \
    "ending with a letter or digit"

#endif
