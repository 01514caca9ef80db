/*
 * Structured logging: one JSON object per line on stderr, with the worker name and,
 * when a lane is handling an event, its topic, partition, offset, key and event id.
 * Thread-safe; each line is written with a single write(2). Not for signal handlers.
 */
#ifndef DH_LOG_H
#define DH_LOG_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"

typedef enum dh_log_level {
    DH_LOG_DEBUG = 0,
    DH_LOG_INFO,
    DH_LOG_WARN,
    DH_LOG_ERROR,
} dh_log_level_t;

/** Event context of the calling thread; every pointer is borrowed until cleared. */
typedef struct dh_log_ctx {
    const char *topic; /**< NULL when not handling an event. */
    int32_t partition;
    int64_t offset;
    const char *key; /**< Message key bytes (may be NULL); not NUL-terminated. */
    size_t key_len;
    const char *event_id; /**< NUL-terminated, may be NULL. */
} dh_log_ctx_t;

/** @brief Set the process-wide worker name (copied) and minimum level. Call once at start. */
void dh_log_init(const char *worker, dh_log_level_t level);

/** @brief Parse "debug|info|warn|error". @returns DH_OK or DH_ERR_INVALID. */
DH_NODISCARD dh_err_t dh_log_level_parse(const char *s, dh_log_level_t *out);

/** @brief Non-zero if \p level would be written. */
int dh_log_enabled(dh_log_level_t level);

/** @brief Write one line. Prefer the DH_LOG macro, which skips formatting when disabled. */
void dh_log_write(dh_log_level_t level, const char *component, const char *fmt, ...)
    DH_PRINTF(3, 4);

/**
 * @brief Gather the calling thread's INFO and DEBUG lines until dh_log_hold_end(), and
 *        write them a few together (whole lines, at most PIPE_BUF bytes per write) instead
 *        of a write(2) each. A WARN or ERROR line writes what was gathered, then itself.
 * @remark For a burst of lines produced in microseconds (a lane's applied effects); lines
 *         still held are lost if the process dies, so never hold across waits.
 */
void dh_log_hold_begin(void);

/** @brief Write what the calling thread gathered and stop holding. */
void dh_log_hold_end(void);

/** @brief Attach \p ctx (borrowed) to the calling thread's log lines; NULL clears it. */
void dh_log_ctx_set(const dh_log_ctx_t *ctx);

struct rd_kafka_s;

/**
 * @brief librdkafka's log callback for rd_kafka_conf_set_log_cb(): one JSON line per
 *        librdkafka line, component "librdkafka", message "<client> <facility>: <text>";
 *        syslog levels 0-3 are errors, 4 warnings, 5-7 debug.
 * @remark Every rd_kafka_t in the tree sets it: without a callback librdkafka prints raw
 *         "%3|...|FAIL|..." lines on stderr, which break the one-JSON-object-per-line
 *         contract. Called from librdkafka's own threads (dh_log_write is thread-safe).
 */
void dh_log_rdkafka(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf);

#define DH_LOG(level, component, ...)                                                              \
    do {                                                                                           \
        if (dh_log_enabled(level)) {                                                               \
            dh_log_write(level, component, __VA_ARGS__);                                           \
        }                                                                                          \
    } while (0)

#endif
