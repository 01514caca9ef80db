/*
 * A growable byte buffer for the runtime's own text and wire formats (RESP pipelines, trace
 * records, the metrics page, set-aside events, configuration problems). Internal to
 * common/: callers append without checking each step; the first allocation failure latches
 * `oom`, every later append does nothing, and the owner checks once at the end.
 *
 * The contents stay NUL-terminated once anything was appended, so text can be used as a C
 * string; binary contents may hold NULs of their own (use `len`).
 */
#ifndef DH_BUF_H
#define DH_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"

typedef struct dh_buf {
    char *p;    /**< NULL until the first append. */
    size_t len; /**< Bytes held, not counting the NUL kept after them. */
    size_t cap; /**< Bytes allocated. */
    int oom;    /**< An allocation failed: the contents are incomplete. */
} dh_buf_t;

/** An empty buffer; nothing to free until something is appended. */
#define DH_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/** @brief Make room for \p more bytes (and the NUL). @returns 1, or 0 with oom set. */
int dh_buf_reserve(dh_buf_t *b, size_t more);
/** @brief Append \p n bytes of \p d. */
void dh_buf_add(dh_buf_t *b, const void *d, size_t n);
/** @brief Append the C string \p s. */
void dh_buf_adds(dh_buf_t *b, const char *s);
/** @brief Append printf-formatted text. */
void dh_buf_addf(dh_buf_t *b, const char *fmt, ...) DH_PRINTF(2, 3);
/** @brief dh_buf_addf() with a va_list. */
void dh_buf_vaddf(dh_buf_t *b, const char *fmt, va_list ap) DH_PRINTF(2, 0);
/** @brief Append \p v in decimal (without printf: the hot paths format many numbers). */
void dh_buf_add_u64(dh_buf_t *b, uint64_t v);
/** @brief Append \p v in decimal, with a '-' when negative. */
void dh_buf_add_i64(dh_buf_t *b, int64_t v);
/** @brief Append \p n bytes of \p s as a JSON string, quotes included (escaped as log lines
 *         are: invalid UTF-8 becomes U+FFFD). */
void dh_buf_add_json(dh_buf_t *b, const char *s, size_t n);

/* Redis commands in RESP, for a pipeline sent as it is (dh_redis_pipeline_raw()). */
/** @brief Append the header of a command of \p argc arguments: "*<argc>\r\n". */
void dh_buf_add_resp_cmd(dh_buf_t *b, size_t argc);
/** @brief Append one argument: "$<n>\r\n<s>\r\n". */
void dh_buf_add_resp_arg(dh_buf_t *b, const char *s, size_t n);
/** @brief Append the length line of an argument of \p n bytes, "$<n>\r\n", for one written
 *         in parts; the caller appends its \p n bytes and then "\r\n". */
void dh_buf_add_resp_len(dh_buf_t *b, size_t n);

/**
 * @brief Move the contents out: the caller owns the returned string (free()), and \p b is
 *        empty again. @returns NULL when an append failed (the contents are freed then) or
 *        nothing was appended.
 */
char *dh_buf_take(dh_buf_t *b);
/** @brief Free the contents; \p b is empty again (and may be reused). */
void dh_buf_free(dh_buf_t *b);

#endif
