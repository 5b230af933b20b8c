/* events.c -- the controller's Event recorder: core/v1 Events about the objects it reconciles,
 * a repeat raising the count of the Event it repeats (client-go's aggregation, simplified). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/timefmt.h"
#include "controller/controller_int.h"

void ctl_objref_from_json(struct ctl_objref *ref, const cJSON *obj, const char *kind,
                          const char *api_version)
{
    *ref = (struct ctl_objref){
        .kind = kind,
        .api_version = api_version,
        .name = ctl_str(obj, "metadata", "name"),
        .ns = ctl_str(obj, "metadata", "namespace"),
        .uid = ctl_str(obj, "metadata", "uid"),
        .rv = ctl_str(obj, "metadata", "resourceVersion"),
    };
}

/* Index of the ring slot recording key, or -1. c->lock held. */
static int events_find(const struct controller *c, const char *key)
{
    int found = -1;
    for (int i = 0; i < CTL_EVENT_CACHE; i++)
        if (c->events[i].count > 0 && strcmp(c->events[i].key, key) == 0)
            found = i;
    return found;
}

/* A repeat of a recorded Event: true when handled (the same resourceVersion again: nothing
 * new happened; else its count raised). False: record a new Event. */
static bool events_aggregate(struct controller *c, const char *key, const char *rv, const char *ts)
{
    pthread_mutex_lock(&c->lock);
    int i = events_find(c, key);
    if (i < 0 || (rv != NULL && strcmp(c->events[i].rv, rv) == 0)) {
        /* Unseen; or the same object looked at again (a re-check, a requeue). */
        pthread_mutex_unlock(&c->lock);
        return i >= 0;
    }
    struct ctl_event *seen = &c->events[i];
    snprintf(seen->rv, sizeof(seen->rv), "%s", rv ? rv : "");
    int count = ++seen->count;
    char path[CTL_PATH_MAX], name[sizeof(seen->name)];
    snprintf(name, sizeof(name), "%s", seen->name);
    /* ns is at most 255 bytes and name 299: the path always fits. */
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", seen->ns, seen->name);
    pthread_mutex_unlock(&c->lock);

    char body[200];
    snprintf(body, sizeof(body), "{\"count\":%d,\"lastTimestamp\":\"%s\"}", count, ts);
    struct kube_response r = {0};
    struct err e = {0};
    bool ok = ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &r, &e) == 0 &&
              r.code < 300;
    kube_response_free(&r);
    if (ok)
        return true;
    /* Expired or deleted: forget it (if the slot still holds it) and create it again. */
    pthread_mutex_lock(&c->lock);
    seen = &c->events[i];
    if (seen->count > 0 && strcmp(seen->key, key) == 0 && strcmp(seen->name, name) == 0)
        seen->count = 0;
    pthread_mutex_unlock(&c->lock);
    return false;
}

/* Takes the next ring slot for a new Event about o in ns; its name into ev_name. */
static void events_claim(struct controller *c, const struct ctl_objref *o, const char *ns,
                         const char *key, char *ev_name, size_t len)
{
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    pthread_mutex_lock(&c->lock);
    struct ctl_event *slot = &c->events[c->next_event];
    c->next_event = (c->next_event + 1) % CTL_EVENT_CACHE;
    snprintf(slot->name, sizeof(slot->name), "%.200s.%02x%02x%02x%02x%02x%02x%02x%02x", o->name,
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    snprintf(slot->ns, sizeof(slot->ns), "%s", ns);
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    snprintf(slot->rv, sizeof(slot->rv), "%s", o->rv ? o->rv : "");
    slot->count = 1;
    snprintf(ev_name, len, "%s", slot->name);
    pthread_mutex_unlock(&c->lock);
}

static char *events_body(const struct controller *c, const struct ctl_objref *o, const char *ns,
                         const char *ev_name, const char *type, const char *reason,
                         const char *message, const char *ts)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", ev_name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON *inv = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(inv, "apiVersion", o->api_version);
    cJSON_AddStringToObject(inv, "kind", o->kind);
    cJSON_AddStringToObject(inv, "name", o->name);
    if (o->ns != NULL)
        cJSON_AddStringToObject(inv, "namespace", ns);
    if (o->uid != NULL)
        cJSON_AddStringToObject(inv, "uid", o->uid);
    if (o->rv != NULL)
        cJSON_AddStringToObject(inv, "resourceVersion", o->rv);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "source"), "component", "ember-issuer");
    cJSON_AddStringToObject(ev, "reportingComponent", "ember-issuer");
    cJSON_AddStringToObject(ev, "reportingInstance", c->cfg.instance ? c->cfg.instance : "");
    char *body = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return body;
}

void ctl_event(struct controller *c, const struct ctl_objref *o, const char *type,
               const char *reason, const char *message)
{
    if (o->name == NULL)
        return;
    /* Cluster-scoped objects: client-go's recorder uses default. */
    const char *ns = o->ns == NULL || o->ns[0] == '\0' ? "default" : o->ns;
    char key[700], ts[TIMEFMT_LEN];
    /* Bounded parts (64 + 48 + 500 and two '|'): the key always fits. */
    snprintf(key, sizeof(key), "%.64s|%.48s|%.500s", o->uid ? o->uid : o->name, reason, message);
    timefmt_rfc3339(time(NULL), ts); /* on the wire: wall-clock time */
    if (events_aggregate(c, key, o->rv, ts))
        return;
    char ev_name[sizeof(c->events[0].name)];
    events_claim(c, o, ns, key, ev_name, sizeof(ev_name));
    char *body = events_body(c, o, ns, ev_name, type, reason, message, ts);
    char path[CTL_PATH_MAX];
    struct kube_response r = {0};
    struct err e = {0};
    int n = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    bool ok = n >= 0 && (size_t)n < sizeof(path) &&
              ctl_request(c, "POST", path, "application/json", body, &r, &e) == 0 && r.code < 300;
    if (!ok)
        LOG(LOG_DEBUG, "controller", o->name, r.code ? r.status.message : e.msg,
            "cannot record event %s", reason); /* events are best effort */
    kube_response_free(&r);
    free(body);
}
