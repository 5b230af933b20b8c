/* k8sname.h -- Kubernetes' own rules for object names and namespaces (DNS-1123). Pure. */
#ifndef EMBER_K8SNAME_H
#define EMBER_K8SNAME_H

#include <stdbool.h>
#include <stddef.h>

#define K8SNAME_LABEL_MAX 63      /* a namespace: a DNS-1123 label */
#define K8SNAME_SUBDOMAIN_MAX 253 /* most object names: a DNS-1123 subdomain */

/* Whether s[0..n) is a DNS-1123 label: 1 to 63 of a-z, 0-9 and '-', starting and ending with a
 * letter or digit. Any bytes. */
bool k8sname_is_label(const char *s, size_t n);
/* Whether s[0..n) is a DNS-1123 subdomain: 1 to 253 bytes of parts joined by '.', each made
 * as a label is, of any length (as Kubernetes checks it). Any bytes. */
bool k8sname_is_subdomain(const char *s, size_t n);

#endif
