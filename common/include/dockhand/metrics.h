/*
 * Prometheus metrics: counters, gauges and histograms in a registry rendered as
 * the text exposition format. Updates are lock-free atomics and safe from any thread;
 * creating a series takes the registry lock, so create series up front or cache the
 * returned pointer (it stays valid until dh_metrics_destroy()).
 */
#ifndef DH_METRICS_H
#define DH_METRICS_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"

typedef struct dh_metrics_s dh_metrics_t;
typedef struct dh_counter_s dh_counter_t;
typedef struct dh_gauge_s dh_gauge_t;
typedef struct dh_histogram_s dh_histogram_t;

dh_metrics_t *dh_metrics_new(void);
void dh_metrics_destroy(dh_metrics_t *m);

/**
 * @brief Get or create the series \p name{labels}.
 * @param labels  Prometheus label text without braces, e.g. `topic="wms.putaway",outcome="done"`,
 *                or NULL. The caller escapes label values (see dh_metrics_escape()).
 * @returns A pointer owned by \p m, or NULL on allocation failure or if \p name was
 *          already registered with another type.
 */
dh_counter_t *dh_metrics_counter(dh_metrics_t *m, const char *name, const char *help,
                                 const char *labels);
dh_gauge_t *dh_metrics_gauge(dh_metrics_t *m, const char *name, const char *help,
                             const char *labels);
/** @param bounds  Ascending upper bounds (copied); +Inf is implicit. */
dh_histogram_t *dh_metrics_histogram(dh_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds);

void dh_counter_add(dh_counter_t *c, uint64_t n);
uint64_t dh_counter_value(const dh_counter_t *c);
void dh_gauge_set(dh_gauge_t *g, double v);
void dh_gauge_add(dh_gauge_t *g, double delta);
double dh_gauge_value(const dh_gauge_t *g);
void dh_histogram_observe(dh_histogram_t *h, double v);

/** @brief Render every series. @param out  Newly allocated text (caller free()s). */
DH_NODISCARD dh_err_t dh_metrics_render(dh_metrics_t *m, char **out, size_t *len);

/** @brief Escape \p in as a Prometheus label value into \p buf (truncated to \p size). */
void dh_metrics_escape(const char *in, char *buf, size_t size);

/** @brief The label text `store="<domain, escaped>"` of a per-store series into \p buf. */
void dh_metrics_store_label(const char *domain, char *buf, size_t size);

#endif
