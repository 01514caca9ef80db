/*
 * Private pieces of the log module (not part of the public API): hooks for unit tests, and
 * the JSON escaping trace.c formats its records with.
 */
#ifndef DH_LOG_INTERNAL_H
#define DH_LOG_INTERNAL_H

#include <stddef.h>

/** Largest line dh_log_write() emits, newline included; longer messages are cut with "…". */
#define DH_LOG_LINE_MAX 8192

/** @brief Send log lines to \p fd instead of stderr (2). @returns the previous fd. */
int dh_log_set_fd(int fd);

/**
 * @brief JSON-escape up to \p n bytes of \p src into \p dst (no quotes added, no NUL written).
 *        Stops before the first input character whose escaped form would not fit in \p cap.
 *        Invalid UTF-8 bytes become \ufffd; control characters are escaped.
 * @param consumed  Set to the number of input bytes used (may be NULL).
 * @returns Bytes written to \p dst.
 */
size_t dh_log_json_escape(char *dst, size_t cap, const char *src, size_t n, size_t *consumed);

#endif
