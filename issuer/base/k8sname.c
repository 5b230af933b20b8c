/* k8sname.c -- Kubernetes' own rules for object names and namespaces (see k8sname.h). */
#include "base/k8sname.h"

#include <string.h>

static bool k8sname_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A label's characters, of any length but 0: a-z, 0-9 and inner '-'. */
static bool k8sname_label_chars(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!k8sname_alnum(s[i]) && !(s[i] == '-' && i > 0 && i + 1 < n))
            return false;
    return true;
}

bool k8sname_is_label(const char *s, size_t n)
{
    return n <= K8SNAME_LABEL_MAX && k8sname_label_chars(s, n);
}

bool k8sname_is_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > K8SNAME_SUBDOMAIN_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        /* As Kubernetes' IsDNS1123Subdomain: only the whole is bounded, not each part. */
        if (!k8sname_label_chars(s + start, i - start))
            return false;
        start = i + 1;
    }
    return true;
}

/* A label key's name part or a non-empty label value: 1 to 63 of [A-Za-z0-9-_.], starting and
 * ending with a letter or digit. */
static bool k8sname_label_name(const char *s, size_t n)
{
    if (n == 0 || n > K8SNAME_LABEL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (k8sname_alnum(c) || (c >= 'A' && c <= 'Z'))
            continue;
        if ((c != '-' && c != '_' && c != '.') || i == 0 || i == n - 1)
            return false;
    }
    return true;
}

bool k8sname_is_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return k8sname_label_name(s, strlen(s));
    return k8sname_is_subdomain(s, (size_t)(slash - s)) &&
           k8sname_label_name(slash + 1, strlen(slash + 1));
}

bool k8sname_is_label_value(const char *s)
{
    return s[0] == '\0' || k8sname_label_name(s, strlen(s));
}
