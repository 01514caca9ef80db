/*
 * dh-console: the on-call's first screen in a browser. Server-rendered HTML (no script)
 * on libmicrohttpd's single polling thread, so requests run one at a time and share no
 * state: pool health from the workers' /metrics, lag per group and partition, dead
 * letters by class with their payloads and a redrive (token, CSRF, dry run first),
 * full-sync progress and Shopify bucket per store, recent failures. Every page has a
 * JSON twin under /api/. Kafka, Redis and the redrive ledger are dh-ops's own code.
 */
#ifndef DH_CONSOLE_H
#define DH_CONSOLE_H

#include <stdio.h>

#include "dockhand/http.h"
#include "ops.h"

typedef struct console {
    ops_t o;                  /**< dh-ops's context; o.sink collects its results. */
    const char *token;        /**< DH_CONSOLE_TOKEN: redrive is refused when empty. */
    unsigned char secret[32]; /**< Per process: CSRF tokens die with it. */
    dh_http_t *http;          /**< Scrapes the workers' admin ports. */
} console_t;

/* console_data.c: each page's data as JSON (NULL never: errors are in the document). */
json_t *console_overview(console_t *c);
json_t *console_lag(console_t *c);
json_t *console_dlq(console_t *c);
json_t *console_stores(console_t *c);
json_t *console_failures(console_t *c);
/** One letter with headers and payload, or NULL when there is none there. */
json_t *console_letter(console_t *c, const char *topic, const char *part, const char *off);
/** Redrive \p topic's letters of \p klass (and at part@off when given): a dry run unless
 *  \p execute. {"letters": [...], "error": ...}. */
json_t *console_redrive(console_t *c, const char *topic, const char *klass, const char *part,
                        const char *off, int execute);

/** Sum of every sample of metric \p name in a Prometheus text exposition (0 if none). */
double console_metric_sum(const char *text, const char *name);

/* console_html.c: the pages. Each writes a whole document to \p f. */
void console_html_page(FILE *f, const char *page, const json_t *data, int refresh_s,
                       const char *csrf);

/* console_auth.c */
/** The CSRF token of a session id (hex HMAC-SHA256 of it under the process secret). */
void console_csrf(const console_t *c, const char *session, char *out, size_t size);
/** 1 when \p a equals \p b in constant time (both NUL-terminated). */
int console_same(const char *a, const char *b);
/** Field \p name of the urlencoded form \p body, decoded into \p out ("" when absent). */
void console_form_get(const char *body, const char *name, char *out, size_t size);

#endif
