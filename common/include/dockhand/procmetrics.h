/*
 * The process's own series on /metrics, as Prometheus client libraries name them
 * (process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds; read from /proc/self on
 * Linux at each scrape) and dh_build_info{version} 1. process_cpu_seconds_total is exposed
 * as a gauge holding the cumulative total (the registry's counters are integers).
 */
#ifndef DH_PROCMETRICS_H
#define DH_PROCMETRICS_H

#include "dockhand/metrics.h"

typedef struct dh_procmetrics_s dh_procmetrics_t;

/** @brief Create the series in \p m (borrowed). NULL on allocation failure. */
dh_procmetrics_t *dh_procmetrics_new(dh_metrics_t *m);
/** @brief Read /proc/self and set the series (thread-safe; call before each render). */
void dh_procmetrics_sample(dh_procmetrics_t *p);
void dh_procmetrics_destroy(dh_procmetrics_t *p);

/** @brief The build's version: `git describe` at configure time, or "unknown". */
const char *dh_build_version(void);

#endif
