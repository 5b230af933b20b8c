/* caller.c -- who sent a request (see caller.h). */
#include "decide/caller.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

const char *caller_method_name(enum caller_method m)
{
    switch (m) {
    case CALLER_ANONYMOUS: return "anonymous";
    case CALLER_MTLS: return "mtls";
    case CALLER_TOKEN: return "token";
    case CALLER_CERT_MANAGER: return "cert-manager";
    default: return "none";
    }
}

static void caller_copy_names(struct strv *dst, const struct strv *src)
{
    for (size_t i = 0; i < src->n && dst->n < CALLER_MAX_NAMES; i++)
        strv_push(dst, src->v[i]);
}

enum caller_identity caller_mtls_identity(const struct caller *c)
{
    if (c->method != CALLER_MTLS)
        return CALLER_ID_NONE;
    return c->uris.n > 0            ? CALLER_ID_URI
           : c->dns_names.n > 0     ? CALLER_ID_DNS
           : c->common_name != NULL ? CALLER_ID_CN
                                    : CALLER_ID_NONE;
}

bool caller_service_account(const struct caller *c, char *ns, size_t nslen, const char **name)
{
    static const char prefix[] = "system:serviceaccount:";
    if ((c->method != CALLER_TOKEN && c->method != CALLER_CERT_MANAGER) || c->username == NULL ||
        strncmp(c->username, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *n = c->username + sizeof(prefix) - 1;
    const char *colon = strchr(n, ':');
    if (colon == NULL || colon == n || colon[1] == '\0' || strchr(colon + 1, ':') != NULL ||
        (size_t)(colon - n) >= nslen)
        return false;
    memcpy(ns, n, (size_t)(colon - n));
    ns[colon - n] = '\0';
    *name = colon + 1;
    return true;
}

void caller_from_peer(struct caller *c, const struct tls_peer *p)
{
    memset(c, 0, sizeof(*c));
    c->method = CALLER_MTLS;
    caller_copy_names(&c->uris, &p->uris);
    caller_copy_names(&c->dns_names, &p->dns_names);
    if (p->common_name != NULL)
        c->common_name = xstrdup(p->common_name);
    switch (caller_mtls_identity(c)) {
    case CALLER_ID_URI: c->username = xstrdup(c->uris.v[0]); break;
    case CALLER_ID_DNS: c->username = xstrdup(c->dns_names.v[0]); break;
    case CALLER_ID_CN: c->username = xstrdup(c->common_name); break;
    default: c->username = NULL;
    }
}

void caller_copy(struct caller *dst, const struct caller *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->method = src->method;
    dst->username = src->username ? xstrdup(src->username) : NULL;
    dst->common_name = src->common_name ? xstrdup(src->common_name) : NULL;
    caller_copy_names(&dst->groups, &src->groups);
    caller_copy_names(&dst->uris, &src->uris);
    caller_copy_names(&dst->dns_names, &src->dns_names);
}

void caller_free(struct caller *c)
{
    free(c->username);
    free(c->common_name);
    strv_free(&c->groups);
    strv_free(&c->uris);
    strv_free(&c->dns_names);
    memset(c, 0, sizeof(*c));
}

void tls_peer_free(struct tls_peer *p)
{
    strv_free(&p->uris);
    strv_free(&p->dns_names);
    free(p->common_name);
    memset(p, 0, sizeof(*p));
}
