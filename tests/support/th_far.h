/*
 * A scripted far side for handler tests: a loopback HTTP server (libmicrohttpd, in the
 * test process) that answers requests with a scripted sequence of replies, in order, and
 * records every request it saw (method, path, Idempotency-Key, body). The test then
 * asserts both the worker's outcome and exactly what reached the far side.
 */
#ifndef TH_FAR_H
#define TH_FAR_H

#include <stddef.h>

#include <time.h>

/** One scripted reply. status 0 answers 200 only after delay_ms (longer than the client's
 *  timeout: the "timeout" case); a problem body is sent as application/problem+json. */
typedef struct th_far_reply {
    int status;
    const char *body;        /**< NULL: "{}" */
    const char *retry_after; /**< Retry-After header, or NULL */
    int delay_ms;            /**< wait before answering */
} th_far_reply_t;

/** One recorded request (copies, owned by the far side). */
typedef struct th_far_req {
    char method[16];
    char path[512];
    char idem_key[128]; /**< Idempotency-Key header, "" when absent */
    char *body;         /**< NUL-terminated, "" when empty */
} th_far_req_t;

typedef struct th_far th_far_t;

/** Start on 127.0.0.1 with a free port; fails the test on error. */
th_far_t *th_far_start(void);
void th_far_stop(th_far_t *f);
/** "http://127.0.0.1:<port>" */
const char *th_far_url(const th_far_t *f);
/** Replace the script; requests beyond its end get the last reply again. Clears the log. */
void th_far_script(th_far_t *f, const th_far_reply_t *replies, size_t n);
/** The same, reply \p i only for requests whose body contains \p when[i] (NULL: any): a
 *  request takes the first matching reply not taken yet, else the last matching one again,
 *  so several GraphQL documents on one URL are one scripted sequence each. The strings are
 *  borrowed: they must outlive the script. */
void th_far_script_when(th_far_t *f, const th_far_reply_t *replies, const char *const *when,
                        size_t n);
/** Requests answered (or being answered) since the last th_far_script(). */
size_t th_far_count(th_far_t *f);
/** Copy of request \p i (0-based); the caller frees out->body. Fails the test if absent. */
void th_far_request(th_far_t *f, size_t i, th_far_req_t *out);
/** Every request since the script was set, a line each, on stderr (a failed test's
 *  account of what the far side saw). */
void th_far_print(th_far_t *f);
/** Wait (bounded by \p timeout_ms) until at least \p n requests arrived; returns 1 if so. */
int th_far_await(th_far_t *f, size_t n, int timeout_ms);

/** A handler test's fixture: the far side and a stores file of \p nstores stores named
 *  "<prefix><i>.myshopify.com" (th_stores_file()), the prefix unique to the process. */
typedef struct th_far_fx {
    th_far_t *far;
    char stores[256];
    char prefix[64];
} th_far_fx_t;
void th_far_fx_start(th_far_fx_t *fx, const char *name, int nstores);
void th_far_fx_stop(th_far_fx_t *fx);
/** Rewrite \p fx's stores file: \p n stores "<prefix><i>.myshopify.com" whose Admin API is
 *  the far side, each with \p locations (a JSON object: facility -> location GID) and, if
 *  \p tenants, the tenant "<prefix><i>". */
void th_far_fx_stores(const th_far_fx_t *fx, int n, int tenants, const char *locations);

/** The CLOCK_REALTIME time \p timeout_ms from now (for pthread_cond_timedwait()). */
void th_abstime(int timeout_ms, struct timespec *ts);

#endif
