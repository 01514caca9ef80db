/*
 * The outcome table (see dockhand/outcome.h): the common rows for every far side and
 * answer, the classifier from a client's (error, status), the lane and batch appliers,
 * the worker rule lookup and the markdown printer. No I/O but the auth metric and log.
 */
#include "dockhand/outcome.h"

#include <stdarg.h>

#include <string.h>

#include "dockhand/log.h"
#include "runtime.h"

#define WAIT_DEFAULT_MS 100  /* a rate limit without a wait: look again shortly */
#define AUTH_RETRY_MS   1000 /* the least delay after refused credentials; backoff grows it */

#define ROW(far, ans, res, cls, note)                                                              \
    {                                                                                              \
        DH_FAR_##far, DH_ANSWER_##ans, 0, DH_RESULT_##res, cls, note                               \
    }
#define BIZ(far, ans, note)                                                                        \
    {                                                                                              \
        DH_FAR_##far, DH_ANSWER_##ans, 1, DH_RESULT_DONE, "", note                                 \
    }

/* far side x answer -> result + error class. The single source of the mapping. */
static const dh_outcome_row_t rows[] = {
    BIZ(SHOPIFY, OK, "data: the worker checks userErrors and missing objects"),
    ROW(SHOPIFY, THROTTLED, WAIT, "rate-limit", "after the pool-wide cooldown or bucket wait"),
    ROW(SHOPIFY, 401, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    ROW(SHOPIFY, 403, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    ROW(SHOPIFY, 404, DEAD_LETTER, "rejected", "the request itself is refused"),
    ROW(SHOPIFY, 409, DEAD_LETTER, "rejected", "the request itself is refused"),
    ROW(SHOPIFY, 422, DEAD_LETTER, "rejected", "the request itself is refused"),
    ROW(SHOPIFY, 4XX, DEAD_LETTER, "rejected", "incl. top-level GraphQL errors"),
    BIZ(SHOPIFY, USER_ERRORS, "the worker's rules, by userErrors code"),
    BIZ(SHOPIFY, MISSING, "the worker's rules"),
    ROW(SHOPIFY, 5XX, RETRY, "http", "backoff; the next attempt looks again"),
    ROW(SHOPIFY, TIMEOUT, RETRY, "http", "outcome unknown: the next attempt looks again"),
    ROW(SHOPIFY, REFUSED, RETRY, "http", "backoff"),
    ROW(SHOPIFY, BAD_REPLY, RETRY, "http", "backoff"),
    ROW(SHOPIFY, NOMEM, WAIT, "internal", "shortly"),
    ROW(SHOPIFY, INTERNAL, FATAL, "internal", "no client, or a bug: stop the worker"),
    BIZ(WMS, OK, "the worker's rules"),
    ROW(WMS, THROTTLED, WAIT, "rate-limit", "after Retry-After or the shared bucket's wait"),
    ROW(WMS, 401, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    ROW(WMS, 403, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    BIZ(WMS, 404, "the worker's rules"),
    BIZ(WMS, 409, "the worker's rules (problem type)"),
    BIZ(WMS, 422, "the worker's rules"),
    BIZ(WMS, 4XX, "the worker's rules"),
    ROW(WMS, USER_ERRORS, FATAL, "internal", "not a WMS answer"),
    ROW(WMS, MISSING, FATAL, "internal", "not a WMS answer"),
    ROW(WMS, 5XX, RETRY, "http", "backoff; the Idempotency-Key makes the retry safe"),
    ROW(WMS, TIMEOUT, RETRY, "http", "outcome unknown; the Idempotency-Key makes it safe"),
    ROW(WMS, REFUSED, RETRY, "http", "backoff"),
    ROW(WMS, BAD_REPLY, RETRY, "http", "backoff"),
    ROW(WMS, NOMEM, WAIT, "internal", "shortly"),
    ROW(WMS, INTERNAL, FATAL, "internal", "no client, or a bug: stop the worker"),
    BIZ(RETURNPRIME, OK, "the worker's rules"),
    ROW(RETURNPRIME, THROTTLED, WAIT, "rate-limit", "429: after Retry-After"),
    ROW(RETURNPRIME, 401, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    ROW(RETURNPRIME, 403, RETRY, "auth", "backoff, no retry budget; ERROR log, auth metric"),
    BIZ(RETURNPRIME, 404, "the worker's rules"),
    BIZ(RETURNPRIME, 409, "the worker's rules"),
    BIZ(RETURNPRIME, 422, "the worker's rules"),
    BIZ(RETURNPRIME, 4XX, "the worker's rules"),
    ROW(RETURNPRIME, USER_ERRORS, FATAL, "internal", "not a Return Prime answer"),
    ROW(RETURNPRIME, MISSING, FATAL, "internal", "not a Return Prime answer"),
    ROW(RETURNPRIME, 5XX, RETRY, "http", "backoff; the request's state makes a repeat harmless"),
    ROW(RETURNPRIME, TIMEOUT, RETRY, "http", "outcome unknown; a repeat is harmless"),
    ROW(RETURNPRIME, REFUSED, RETRY, "http", "backoff"),
    ROW(RETURNPRIME, BAD_REPLY, RETRY, "http", "backoff"),
    ROW(RETURNPRIME, NOMEM, WAIT, "internal", "shortly"),
    ROW(RETURNPRIME, INTERNAL, FATAL, "internal", "no client, or a bug: stop the worker"),
};

static const char *const answer_names[DH_ANSWER__COUNT] = {
    [DH_ANSWER_OK] = "200",
    [DH_ANSWER_THROTTLED] = "THROTTLED",
    [DH_ANSWER_401] = "401",
    [DH_ANSWER_403] = "403",
    [DH_ANSWER_404] = "404",
    [DH_ANSWER_409] = "409",
    [DH_ANSWER_422] = "422",
    [DH_ANSWER_4XX] = "other 4xx",
    [DH_ANSWER_USER_ERRORS] = "userErrors",
    [DH_ANSWER_MISSING] = "not found in data",
    [DH_ANSWER_5XX] = "5xx",
    [DH_ANSWER_TIMEOUT] = "timeout",
    [DH_ANSWER_REFUSED] = "connection refused",
    [DH_ANSWER_BAD_REPLY] = "unreadable reply",
    [DH_ANSWER_NOMEM] = "out of memory",
    [DH_ANSWER_INTERNAL] = "internal",
};

const char *dh_answer_str(dh_answer_t a)
{
    return (unsigned)a < DH_ANSWER__COUNT ? answer_names[a] : "unknown";
}

const char *dh_far_str(dh_far_t far)
{
    switch (far) {
    case DH_FAR_SHOPIFY:
        return "shopify";
    case DH_FAR_RETURNPRIME:
        return "returnprime";
    default:
        return "wms";
    }
}

const char *dh_result_str(dh_result_t r)
{
    static const char *const names[] = {"done", "retry", "dead letter", "fatal", "wait"};

    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

static dh_answer_t answer_of_4xx(long status)
{
    switch (status) {
    case 404:
        return DH_ANSWER_404;
    case 409:
        return DH_ANSWER_409;
    case 422:
        return DH_ANSWER_422;
    default:
        return DH_ANSWER_4XX;
    }
}

dh_answer_t dh_answer_of(dh_far_t far, dh_err_t err, long status)
{
    switch (err) {
    case DH_OK:
        return status >= 400 && status < 500 ? answer_of_4xx(status) : DH_ANSWER_OK;
    case DH_ERR_RATE:
        return DH_ANSWER_THROTTLED;
    case DH_ERR_AUTH:
        return status == 403 ? DH_ANSWER_403 : DH_ANSWER_401;
    case DH_ERR_PROTO:
        return status >= 500 ? DH_ANSWER_5XX : DH_ANSWER_BAD_REPLY;
    case DH_ERR_TIMEOUT:
        return DH_ANSWER_TIMEOUT;
    case DH_ERR_IO:
        return DH_ANSWER_REFUSED;
    case DH_ERR_NOMEM:
        return DH_ANSWER_NOMEM;
    case DH_ERR_INVALID:
        /* Shopify refused the request as such (a status came); otherwise a call of ours. */
        return far == DH_FAR_SHOPIFY && status > 0 ? answer_of_4xx(status) : DH_ANSWER_INTERNAL;
    default:
        return DH_ANSWER_INTERNAL;
    }
}

const dh_outcome_row_t *dh_outcome_row(dh_far_t far, dh_answer_t a)
{
    static const dh_outcome_row_t unknown = {DH_FAR_WMS, DH_ANSWER_INTERNAL, 0, DH_RESULT_FATAL,
                                             "internal", "not in the table"};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].far == far && rows[i].answer == a) {
            return &rows[i];
        }
    }
    return &unknown;
}

/* Refused credentials: every event fails alike, so on-call must hear of it. */
static void auth_alarm(dh_lane_t *lane, dh_far_t far, const char *what, const char *errstr)
{
    char labels[32];
    dh_metrics_t *m = lane ? dh_lane_metrics(lane) : NULL;
    dh_counter_t *c = NULL;

    snprintf(labels, sizeof(labels), "far=\"%s\"", dh_far_str(far));
    if (m) {
        c = dh_metrics_counter(m, "dh_far_auth_failures_total",
                               "Calls refused for credentials (HTTP 401/403, token grant).",
                               labels);
    }
    if (c) {
        dh_counter_add(c, 1);
    }
    DH_LOG(DH_LOG_ERROR, dh_far_str(far),
           "%s: credentials refused (%s): fix the token; events wait and are not dead-lettered",
           what, errstr);
}

int dh_far_outcome(dh_lane_t *lane, dh_far_t far, dh_err_t err, long status, int64_t wait_ms,
                   const char *what, const char *errstr, dh_outcome_t *o)
{
    const dh_outcome_row_t *row;

    memset(o, 0, sizeof(*o));
    o->answer = dh_answer_of(far, err, status);
    row = dh_outcome_row(far, o->answer);
    o->result = row->answered ? DH_RESULT_DONE : row->result;
    snprintf(o->error_class, sizeof(o->error_class), "%s", row->error_class);
    if (row->answered) {
        return 0;
    }
    snprintf(o->error, sizeof(o->error), "%s: %s (%s)", what, dh_answer_str(o->answer),
             errstr && errstr[0] ? errstr : dh_err_str(err));
    if (o->result == DH_RESULT_WAIT) {
        o->retry_after_ms = wait_ms > 0 ? wait_ms : WAIT_DEFAULT_MS;
    }
    if (o->answer == DH_ANSWER_401 || o->answer == DH_ANSWER_403) {
        o->retry_after_ms = AUTH_RETRY_MS;
        auth_alarm(lane, far, what, errstr);
    }
    return -1;
}

dh_result_t dh_lane_outcome(dh_lane_t *lane, const dh_outcome_t *o)
{
    if (o->result != DH_RESULT_DONE) {
        dh_lane_fail(lane, o->error_class, "%s", o->error);
    }
    if (o->retry_after_ms > 0) {
        dh_lane_retry_after(lane, o->retry_after_ms);
    }
    return o->result;
}

void dh_batch_outcome(dh_batch_item_t *item, const dh_outcome_t *o)
{
    if (o->result != DH_RESULT_DONE) {
        dh_batch_fail(item, o->result, o->error_class, "%s", o->error);
    }
    if (o->retry_after_ms > item->retry_after_ms) {
        item->retry_after_ms = o->retry_after_ms;
    }
}

int dh_outcome_never_exhausts(const char *error_class)
{
    return error_class && strcmp(error_class, "auth") == 0;
}

/* What a Shopify answer says about the whole store (gate.c): trouble every call to it would
 * meet, that it answers, or nothing (our own failure). */
static int store_gate_reason(dh_answer_t a)
{
    switch (a) {
    case DH_ANSWER_THROTTLED:
        return DH_GATE_THROTTLED;
    case DH_ANSWER_401:
    case DH_ANSWER_403:
        return DH_GATE_AUTH;
    case DH_ANSWER_5XX:
    case DH_ANSWER_TIMEOUT:
    case DH_ANSWER_REFUSED:
        return DH_GATE_UNAVAILABLE;
    case DH_ANSWER_NOMEM:
    case DH_ANSWER_INTERNAL:
        return -1;
    default:
        return DH_GATE_OPEN;
    }
}

int dh_lane_shopify_try(dh_lane_t *lane, const dh_store_t *store, dh_gql_doc_t doc, json_t *vars,
                        dh_gql_reply_t *rep, dh_outcome_t *o)
{
    char errstr[300] = "", what[200];
    int64_t wait_ms = 0;
    int rc, reason;
    dh_shopify_t *sh = dh_lane_shopify(lane);
    dh_err_t err = DH_ERR_CONFIG;
    int64_t started_ms = dh_rt_now_ms();

    memset(rep, 0, sizeof(*rep));
    snprintf(what, sizeof(what), "Shopify %s", store->domain);
    if (sh) {
        err = dh_shopify_graphql(sh, store, doc, vars, rep, &wait_ms, errstr, sizeof(errstr));
        dh_rt_trace_shopify_call(store->domain, dh_gql_name(doc), vars, rep);
    } else {
        snprintf(errstr, sizeof(errstr), "cannot set up the lane's Shopify client");
    }
    rc = dh_far_outcome(lane, DH_FAR_SHOPIFY, err, rep->status, wait_ms, what, errstr, o);
    reason = store_gate_reason(o->answer);
    if (reason >= 0) {
        dh_rt_gate_report(dh_lane_runtime(lane), store, reason, o->retry_after_ms, started_ms);
    }
    return rc;
}

int dh_lane_wms_try(dh_lane_t *lane, const char *group, const char *method, const char *path,
                    const char *idempotency_key, json_t *body, dh_wms_reply_t *rep, dh_outcome_t *o)
{
    char errstr[256] = "", what[300], rekey[37];
    int64_t wait_ms = 0;
    dh_wms_t *w = dh_lane_wms(lane);
    dh_err_t err = DH_ERR_CONFIG;

    memset(rep, 0, sizeof(*rep));
    snprintf(what, sizeof(what), "WMS %s %.200s", method, path);
    if (w && idempotency_key && dh_lane_reapply(lane)) {
        /* A deliberate re-apply: a key the WMS has not seen (reapply.c). */
        dh_lane_far_key(lane, "wms-reapply", idempotency_key, rekey);
        idempotency_key = rekey;
    }
    if (w) {
        dh_wms_set_request_id(dh_rt_trace_request_id()); /* the event's correlation id */
        err = dh_wms_call(w, group, method, path, idempotency_key, body, rep, &wait_ms, errstr,
                          sizeof(errstr));
        dh_wms_set_request_id(NULL);
        dh_rt_trace_wms_call(method, path, idempotency_key, rep);
    } else {
        snprintf(errstr, sizeof(errstr), "cannot set up the lane's WMS client");
    }
    return dh_far_outcome(lane, DH_FAR_WMS, err, rep->status, wait_ms, what, errstr, o);
}

/* ---- the workers' rules ---- */

static int suffix_of(const char *s, const char *suffix)
{
    size_t ls = s ? strlen(s) : 0, lx = strlen(suffix);

    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

const dh_outcome_rule_t *dh_outcome_rule(const dh_outcome_rules_t *rules, dh_far_t far,
                                         const char *call, dh_answer_t a, const char *problem)
{
    static const dh_outcome_rule_t done = {
        .call = "*", .answer = DH_ANSWER_OK, .result = DH_RESULT_DONE, .note = "done"};
    static const dh_outcome_rule_t rejected = {.call = "*",
                                               .answer = DH_ANSWER_4XX,
                                               .result = DH_RESULT_DEAD_LETTER,
                                               .error_class = "rejected",
                                               .note = "refused for good"};

    for (size_t i = 0; rules && i < rules->n; i++) {
        const dh_outcome_rule_t *r = &rules->rules[i];

        int any_4xx = r->answer == DH_ANSWER_4XX && a >= DH_ANSWER_404 && a <= DH_ANSWER_4XX;

        if (r->far == far && (r->answer == a || any_4xx) && strcmp(r->call, call) == 0 &&
            (!r->problem || suffix_of(problem, r->problem))) {
            return r;
        }
    }
    return a == DH_ANSWER_OK ? &done : &rejected;
}

static void of_rule_v(const dh_outcome_rule_t *rule, const char *problem, dh_outcome_t *o,
                      const char *fmt, va_list ap)
{
    const char *cls = rule->error_class;

    memset(o, 0, sizeof(*o));
    o->answer = rule->answer;
    o->result = rule->result;
    o->retry_after_ms = rule->retry_after_ms;
    if (!cls) {
        cls = problem && problem[0] ? problem : "rejected";
    }
    snprintf(o->error_class, sizeof(o->error_class), "%s", cls);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
}

void dh_outcome_of_rule(const dh_outcome_rule_t *rule, const char *problem, dh_outcome_t *o,
                        const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    of_rule_v(rule, problem, o, fmt, ap);
    va_end(ap);
}

dh_result_t dh_lane_answer(dh_lane_t *lane, const dh_outcome_rule_t *rule, const char *problem,
                           const char *fmt, ...)
{
    dh_outcome_t o;
    va_list ap;

    va_start(ap, fmt);
    of_rule_v(rule, problem, &o, fmt, ap);
    va_end(ap);
    return dh_lane_outcome(lane, &o);
}

dh_answer_t dh_wms_answer(const dh_wms_reply_t *rep)
{
    return dh_answer_of(DH_FAR_WMS, DH_OK, rep->status);
}

const dh_outcome_rule_t *dh_wms_rule(const dh_outcome_rules_t *rules, const char *call,
                                     const dh_wms_reply_t *rep)
{
    return dh_outcome_rule(rules, DH_FAR_WMS, call, dh_wms_answer(rep), rep->problem_type);
}

dh_result_t dh_lane_wms_answer(dh_lane_t *lane, const dh_outcome_rule_t *rule,
                               const dh_wms_reply_t *rep, const char *fmt, ...)
{
    char what[240];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return dh_lane_answer(lane, rule, rep->problem_type, "%s: HTTP %ld %s %s", what, rep->status,
                          rep->problem_type, rep->detail);
}

/* ---- printing ---- */

static void print_common(FILE *out)
{
    static const dh_answer_t order[] = {
        DH_ANSWER_OK,          DH_ANSWER_THROTTLED, DH_ANSWER_401,   DH_ANSWER_403,
        DH_ANSWER_404,         DH_ANSWER_409,       DH_ANSWER_422,   DH_ANSWER_4XX,
        DH_ANSWER_USER_ERRORS, DH_ANSWER_MISSING,   DH_ANSWER_5XX,   DH_ANSWER_TIMEOUT,
        DH_ANSWER_REFUSED,     DH_ANSWER_BAD_REPLY, DH_ANSWER_NOMEM, DH_ANSWER_INTERNAL,
    };

    fprintf(out, "| answer | Shopify | WMS | Return Prime |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        fprintf(out, "| %s |", dh_answer_str(order[i]));
        for (int f = 0; f < DH_FAR__COUNT; f++) {
            const dh_outcome_row_t *r = dh_outcome_row((dh_far_t)f, order[i]);

            if (r->answered) {
                fprintf(out, " answered: %s |", r->note);
            } else {
                fprintf(out, " %s (%s): %s |", dh_result_str(r->result), r->error_class, r->note);
            }
        }
        fprintf(out, "\n");
    }
}

static void print_rules(FILE *out, const dh_outcome_rules_t *w)
{
    fprintf(out,
            "\n### %s\n\n| far | call | answer | outcome | note |\n"
            "| --- | --- | --- | --- | --- |\n",
            w->worker);
    for (size_t i = 0; i < w->n; i++) {
        const dh_outcome_rule_t *r = &w->rules[i];
        char outcome[96];

        if (r->result == DH_RESULT_DONE) {
            snprintf(outcome, sizeof(outcome), "done");
        } else {
            snprintf(outcome, sizeof(outcome), "%s (%s)", dh_result_str(r->result),
                     r->error_class ? r->error_class : "the code");
        }
        fprintf(out, "| %s | %s | %s%s%s | %s | %s |\n", dh_far_str(r->far), r->call,
                dh_answer_str(r->answer), r->problem ? " " : "", r->problem ? r->problem : "",
                outcome, r->note);
    }
}

/* Appends "call[ problem]: result" to \p buf. */
static void cell_add(char *buf, size_t size, const char *call, const char *problem, dh_result_t r)
{
    size_t len = strlen(buf);

    snprintf(buf + len, size - len, "%s%s%s%s: %s", len ? "; " : "", call, problem ? " " : "",
             problem ? problem : "", dh_result_str(r));
}

/* 1 if rules[0..i) already name \p far's \p call. */
static int call_seen(const dh_outcome_rules_t *w, size_t i, dh_far_t far, const char *call)
{
    for (size_t k = 0; k < i; k++) {
        if (w->rules[k].far == far && strcmp(w->rules[k].call, call) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The rule \p w lists for (\p far, \p call, \p a) without a problem type, or NULL. */
static const dh_outcome_rule_t *listed_rule(const dh_outcome_rules_t *w, dh_far_t far,
                                            const char *call, dh_answer_t a)
{
    const dh_outcome_rule_t *r = dh_outcome_rule(w, far, call, a, NULL);

    return r >= w->rules && r < w->rules + w->n ? r : NULL;
}

/* What worker \p w does on its \p far calls with answer \p a, into \p buf: the common row,
 * or the rules it lists for that answer (problem types first), or the default. */
static void cell_far(const dh_outcome_rules_t *w, dh_far_t far, dh_answer_t a, char *buf,
                     size_t size)
{
    const dh_outcome_row_t *row = dh_outcome_row(far, a);

    if (far != DH_FAR_SHOPIFY && (a == DH_ANSWER_USER_ERRORS || a == DH_ANSWER_MISSING)) {
        snprintf(buf, size, "-");
        return;
    }
    if (!row->answered) {
        snprintf(buf, size, "%s (%s)", dh_result_str(row->result), row->error_class);
        return;
    }
    for (size_t i = 0; i < w->n; i++) {
        const dh_outcome_rule_t *r = &w->rules[i];
        const dh_outcome_rule_t *pick;

        if (r->far == far && r->problem && r->answer == a) {
            cell_add(buf, size, r->call, r->problem, r->result);
        }
        if (r->far == far && !call_seen(w, i, far, r->call)) {
            pick = listed_rule(w, far, r->call, a);
            if (pick) {
                cell_add(buf, size, r->call, NULL, pick->result);
            }
        }
    }
    if (!buf[0]) {
        snprintf(buf, size, "%s", a == DH_ANSWER_OK ? "done" : "dead letter (rejected)");
    }
}

/* The worker x answer matrix, one column per worker and far side it calls. */
static void print_matrix(FILE *out, const dh_outcome_rules_t *const *workers, size_t n)
{
    static const dh_answer_t order[] = {DH_ANSWER_OK,  DH_ANSWER_THROTTLED,   DH_ANSWER_401,
                                        DH_ANSWER_403, DH_ANSWER_404,         DH_ANSWER_409,
                                        DH_ANSWER_422, DH_ANSWER_USER_ERRORS, DH_ANSWER_MISSING,
                                        DH_ANSWER_5XX, DH_ANSWER_TIMEOUT,     DH_ANSWER_REFUSED};
    int uses[16][DH_FAR__COUNT] = {{0}};

    fprintf(out, "\n### Worker x answer\n\n| answer |");
    for (size_t i = 0; i < n && i < 16; i++) {
        for (size_t k = 0; k < workers[i]->n; k++) {
            uses[i][workers[i]->rules[k].far] = 1;
        }
        for (int f = 0; f < DH_FAR__COUNT; f++) {
            if (uses[i][f]) {
                fprintf(out, " %s (%s) |", workers[i]->worker, dh_far_str((dh_far_t)f));
            }
        }
    }
    fprintf(out, "\n| --- |");
    for (size_t i = 0; i < n && i < 16; i++) {
        for (int f = 0; f < DH_FAR__COUNT; f++) {
            fprintf(out, "%s", uses[i][f] ? " --- |" : "");
        }
    }
    for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
        fprintf(out, "\n| %s |", dh_answer_str(order[j]));
        for (size_t i = 0; i < n && i < 16; i++) {
            for (int f = 0; f < DH_FAR__COUNT; f++) {
                char cell[1024] = "";

                if (uses[i][f]) {
                    cell_far(workers[i], (dh_far_t)f, order[j], cell, sizeof(cell));
                    fprintf(out, " %s |", cell);
                }
            }
        }
    }
    fprintf(out, "\n");
}

void dh_outcome_print(FILE *out, const dh_outcome_rules_t *const *workers, size_t n)
{
    fprintf(out, "### Every worker: far side x answer\n\n");
    print_common(out);
    print_matrix(out, workers, n);
    for (size_t i = 0; i < n; i++) {
        print_rules(out, workers[i]);
    }
    fprintf(out, "\nA business answer no rule lists: 200 is done, anything else is a dead "
                 "letter (rejected).\n");
}
