/* metrics.h -- a small thread-safe Prometheus registry rendering text exposition format 0.0.4. */
#ifndef EMBER_METRICS_H
#define EMBER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Hard caps, so hostile label values cannot grow memory without bound. Calls that would create
 * a series beyond METRICS_MAX_SERIES, or that carry a bad name or a label string longer than
 * METRICS_MAX_LABELS_LEN, are dropped and counted in METRICS_DROPPED_NAME. */
#define METRICS_MAX_SERIES 10000
#define METRICS_MAX_FAMILIES 256
#define METRICS_MAX_NAME_LEN 128
#define METRICS_MAX_LABELS_LEN 512
#define METRICS_MAX_HELP_LEN 512
#define METRICS_DROPPED_NAME "ember_metrics_dropped_series_total"
/* The Content-Type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics;

/* A new registry holding only METRICS_DROPPED_NAME. Free with metrics_free (NULL is a no-op).
 * Every function below is thread-safe. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Counters and gauges are identified by a metric name and a label set given as a pre-rendered,
 * already escaped label string, e.g. "outcome=\"issued\"" ("" or NULL for none).
 * metrics_declare sets a metric's TYPE ("counter", "gauge" or "histogram") and HELP once; a
 * later declaration of the same name is ignored. A sample for a name never declared declares it
 * with the type of the call and no HELP. A call whose kind does not match the declared type is
 * ignored, as are negative or NaN counter increments. */
void metrics_declare(struct metrics *m, const char *name, const char *type, const char *help);
void metrics_counter_add(struct metrics *m, const char *name, const char *labels, double v);
void metrics_gauge_set(struct metrics *m, const char *name, const char *labels, double v);
/* Removes the series of the gauge name whose label string keep(ud, labels) refuses (a gauge of
 * something that is gone). keep runs with the registry locked: it must not call metrics_*. */
void metrics_gauge_retain(struct metrics *m, const char *name,
                          bool (*keep)(void *ud, const char *labels), void *ud);
/* Buckets .0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 +Inf (seconds), rendered as
 * cumulative _bucket{le="..."} lines, then _sum and _count. */
void metrics_histogram_observe(struct metrics *m, const char *name, const char *labels, double v);

/* Renders everything into a NUL-terminated string (the caller free()s it): metrics sorted by
 * name, series by label string; # HELP and # TYPE before each metric's samples. */
char *metrics_render(const struct metrics *m);

/* Escapes a label value per the exposition format (\\, \", \n; invalid UTF-8 becomes U+FFFD)
 * into out, always NUL-terminated; an escape is never split. outlen 0 writes nothing. */
void metrics_escape_label(const char *in, char *out, size_t outlen);

#endif
