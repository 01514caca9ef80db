/*
 * WMS API client (see dockhand/wms.h): a shared token bucket per endpoint group in Redis,
 * then one HTTP call with the bearer token and the caller's Idempotency-Key, then the
 * answer sorted into "the WMS answered: 2xx or a business 4xx" (DH_OK), "come back later"
 * (DH_ERR_RATE), "credentials refused" (DH_ERR_AUTH) and "transient failure". What each
 * worker does with them is the outcome table (dockhand/outcome.h). The bearer token is
 * never logged or copied into error text.
 */
#include "dockhand/wms.h"

#include <stdarg.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dockhand/log.h"
#include "dockhand/ratelimit.h"

#define URL_MAX          1024
#define GROUP_MAX        64
#define GROUPS_MAX       16
#define DEFAULT_RATE     200.0 /* requests/s per group when DH_WMS_RATE lists no default */
#define LIMIT_DEFAULT_MS 500   /* wait after a 429 / key-in-use without Retry-After */
#define PROBLEM_JSON     "application/problem+json"

const dh_config_var_t dh_wms_config_vars[] = {
    {"DH_WMS_URL", DH_CFG_URL, "http://127.0.0.1:38080", 0, 0, "http|https",
     "Base URL of the WMS API (paths /wms/v1/... are appended)."},
    {"DH_WMS_TOKEN", DH_CFG_SECRET, "", 0, 0, NULL,
     "Bearer token for the WMS API (or DH_WMS_TOKEN_FILE); empty sends none."},
    {"DH_WMS_RATE", DH_CFG_STRING, "default=200", 0, 0, NULL,
     "Requests/s per WMS endpoint group, shared by all replicas: group=rate[,group=rate...];"
     " 'default' covers unlisted groups."},
    DH_CONFIG_END,
};

typedef struct group_rate {
    char name[GROUP_MAX];
    double rate;
} group_rate_t;

struct dh_wms_s {
    dh_http_t *http;
    dh_redis_t *redis;
    dh_metrics_t *metrics;
    char *base_url; /**< Without trailing '/'. */
    char *auth;     /**< "Authorization: Bearer ..." or NULL. */
    group_rate_t groups[GROUPS_MAX];
    size_t ngroups;
    double default_rate;
};

/* Parses one "group=rate" item of DH_WMS_RATE into \p g. */
static int parse_rate_item(const char *item, size_t len, group_rate_t *g)
{
    const char *eq = memchr(item, '=', len);
    char num[32];
    char *end = NULL;
    size_t nlen;

    if (eq == NULL || eq == item || (size_t)(eq - item) >= GROUP_MAX) {
        return -1;
    }
    nlen = len - (size_t)(eq - item) - 1;
    if (nlen == 0 || nlen >= sizeof(num)) {
        return -1;
    }
    for (const char *c = item; c < eq; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
            return -1;
        }
    }
    memcpy(g->name, item, (size_t)(eq - item));
    g->name[eq - item] = '\0';
    memcpy(num, eq + 1, nlen);
    num[nlen] = '\0';
    g->rate = strtod(num, &end);
    return (*end == '\0' && g->rate > 0 && g->rate <= 1e6) ? 0 : -1;
}

/* DH_WMS_RATE: "group=rate[,group=rate...]", "default" for the rest. */
static dh_err_t parse_rates(dh_wms_t *w, const char *spec, char *errstr, size_t errstr_size)
{
    const char *p = spec;
    group_rate_t g;

    w->default_rate = DEFAULT_RATE;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");

        if (w->ngroups == GROUPS_MAX || parse_rate_item(p, len, &g) != 0) {
            snprintf(errstr, errstr_size,
                     "DH_WMS_RATE: bad item \"%.*s\" (want group=rate[,group=rate...], rate > 0, "
                     "at most %d groups)",
                     (int)(len > 64 ? 64 : len), p, GROUPS_MAX);
            return DH_ERR_CONFIG;
        }
        if (strcmp(g.name, "default") == 0) {
            w->default_rate = g.rate;
        } else {
            w->groups[w->ngroups++] = g;
        }
        p += len;
        p += *p == ',';
    }
    return DH_OK;
}

static double rate_for(const dh_wms_t *w, const char *group)
{
    for (size_t i = 0; i < w->ngroups; i++) {
        if (strcmp(w->groups[i].name, group) == 0) {
            return w->groups[i].rate;
        }
    }
    return w->default_rate;
}

void dh_wms_config_check(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *rate = dh_config_get(cfg, "DH_WMS_RATE");
    const char *prefix = "DH_WMS_RATE: ";
    dh_wms_t scratch;
    char errstr[256] = "";

    if (rate == NULL) {
        return;
    }
    memset(&scratch, 0, sizeof(scratch));
    if (parse_rates(&scratch, rate, errstr, sizeof(errstr)) != DH_OK) {
        dh_config_report(report, "DH_WMS_RATE", "%s",
                         strncmp(errstr, prefix, strlen(prefix)) == 0 ? errstr + strlen(prefix)
                                                                      : errstr);
    }
}

dh_wms_t *dh_wms_new(const dh_config_t *cfg, dh_http_t *http, dh_redis_t *redis,
                     dh_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    dh_wms_t *w = calloc(1, sizeof(*w));
    const char *url = dh_config_get(cfg, "DH_WMS_URL");
    const char *token = dh_config_get(cfg, "DH_WMS_TOKEN");
    const char *rate = dh_config_get(cfg, "DH_WMS_RATE");
    size_t len;

    if (w == NULL) {
        snprintf(errstr, errstr_size, "wms: out of memory");
        return NULL;
    }
    w->http = http;
    w->redis = redis;
    w->metrics = metrics;
    if (url == NULL || token == NULL || rate == NULL) {
        snprintf(errstr, errstr_size, "wms: dh_wms_config_vars missing from the config tables");
        goto fail;
    }
    if (parse_rates(w, rate, errstr, errstr_size) != DH_OK) {
        goto fail;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(errstr, errstr_size, "DH_WMS_URL: must start with http:// or https://");
        goto fail;
    }
    w->base_url = strdup(url);
    if (w->base_url == NULL) {
        snprintf(errstr, errstr_size, "wms: out of memory");
        goto fail;
    }
    len = strlen(w->base_url);
    while (len > 0 && w->base_url[len - 1] == '/') {
        w->base_url[--len] = '\0';
    }
    if (token[0] != '\0') {
        len = strlen(token) + sizeof("Authorization: Bearer ");
        w->auth = malloc(len);
        if (w->auth == NULL) {
            snprintf(errstr, errstr_size, "wms: out of memory");
            goto fail;
        }
        snprintf(w->auth, len, "Authorization: Bearer %s", token);
    }
    return w;
fail:
    dh_wms_destroy(w);
    return NULL;
}

void dh_wms_destroy(dh_wms_t *w)
{
    if (w == NULL) {
        return;
    }
    if (w->auth != NULL) {
        memset(w->auth, 0, strlen(w->auth));
        free(w->auth);
    }
    free(w->base_url);
    free(w);
}

void dh_wms_reply_clear(dh_wms_reply_t *r)
{
    if (r == NULL) {
        return;
    }
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

static void count_call(dh_wms_t *w, const char *group, const char *outcome)
{
    char esc[128];
    char labels[256];
    dh_counter_t *c;

    if (w->metrics == NULL) {
        return;
    }
    dh_metrics_escape(group, esc, sizeof(esc));
    snprintf(labels, sizeof(labels), "group=\"%s\",outcome=\"%s\"", esc, outcome);
    c = dh_metrics_counter(w->metrics, "dh_wms_calls_total", "WMS API calls by outcome.", labels);
    if (c != NULL) {
        dh_counter_add(c, 1);
    }
}

/* Appends to a fixed buffer, keeping it NUL-terminated (truncation is silent). */
static void append(char *buf, size_t size, const char *fmt, ...) DH_PRINTF(3, 4);

static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (len + 1 >= size) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* problem+json (RFC 9457): type, and "title: detail (field: message; ...)" on one line. */
static void parse_problem(dh_wms_reply_t *r, const char *content_type)
{
    json_t *b = r->body;
    const char *type = json_string_value(json_object_get(b, "type"));
    const char *title = json_string_value(json_object_get(b, "title"));
    const char *detail = json_string_value(json_object_get(b, "detail"));
    json_t *errors = json_object_get(b, "errors");
    size_t i;
    json_t *e;

    if (strncasecmp(content_type, PROBLEM_JSON, strlen(PROBLEM_JSON)) != 0 &&
        (type == NULL || title == NULL)) {
        return;
    }
    snprintf(r->problem_type, sizeof(r->problem_type), "%s", type != NULL ? type : "");
    append(r->detail, sizeof(r->detail), "%s", title != NULL ? title : "");
    if (detail != NULL) {
        append(r->detail, sizeof(r->detail), "%s%s", r->detail[0] != '\0' ? ": " : "", detail);
    }
    json_array_foreach(errors, i, e)
    {
        const char *field = json_string_value(json_object_get(e, "field"));
        const char *msg = json_string_value(json_object_get(e, "message"));

        append(r->detail, sizeof(r->detail), "%s%s: %s", i == 0 ? " (" : "; ",
               field != NULL ? field : "?", msg != NULL ? msg : "");
        if (i + 1 == json_array_size(errors)) {
            append(r->detail, sizeof(r->detail), ")");
        }
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

int dh_wms_problem_is(const dh_wms_reply_t *r, const char *slug)
{
    return ends_with(r->problem_type, slug);
}

/* Sorts a response into the dh_wms_call() outcomes. */
static dh_err_t classify(dh_wms_t *w, const char *group, const dh_http_resp_t *resp,
                         dh_wms_reply_t *reply, int64_t *wait_ms, char *errstr, size_t errstr_size)
{
    long st = resp->status;

    if (st == 429 || (st == 409 && ends_with(reply->problem_type, "idempotency-key-in-use"))) {
        *wait_ms =
            resp->retry_after_s >= 0 ? (int64_t)resp->retry_after_s * 1000 : LIMIT_DEFAULT_MS;
        snprintf(errstr, errstr_size, "wms %s: HTTP %ld, retry in %lld ms", group, st,
                 (long long)*wait_ms);
        count_call(w, group, "limited");
        return DH_ERR_RATE;
    }
    if (st == 401 || st == 403) {
        /* Not the event's fault: a rotated or revoked token refuses every call alike. */
        snprintf(errstr, errstr_size, "wms %s: HTTP %ld: credentials refused %s", group, st,
                 reply->detail);
        count_call(w, group, "auth");
        return DH_ERR_AUTH;
    }
    if (st >= 500 || st < 200) {
        snprintf(errstr, errstr_size, "wms %s: HTTP %ld %s", group, st, reply->detail);
        count_call(w, group, "server_error");
        return DH_ERR_PROTO;
    }
    if (st < 300 && resp->body_len > 0 && reply->body == NULL) {
        snprintf(errstr, errstr_size, "wms %s: HTTP %ld with a non-JSON body", group, st);
        count_call(w, group, "server_error");
        return DH_ERR_PROTO;
    }
    if (st >= 400) {
        snprintf(errstr, errstr_size, "wms %s: HTTP %ld %s", group, st, reply->detail);
    }
    count_call(w, group, st >= 400 ? "rejected" : "ok");
    return DH_OK;
}

/* Takes one token from the group's shared bucket ("wms:<group>", burst = 1 s of rate). */
static dh_err_t take_token(dh_wms_t *w, const char *group, int64_t *wait_ms, char *errstr,
                           size_t errstr_size)
{
    char name[GROUP_MAX + 8];
    double rate = rate_for(w, group);
    dh_err_t err;

    snprintf(name, sizeof(name), "wms:%s", group);
    err = dh_ratelimit_take(w->redis, name, rate, rate < 1 ? 1 : rate, 1, wait_ms);
    if (err != DH_OK) {
        snprintf(errstr, errstr_size, "wms %s: rate limit: %s", group, dh_redis_errstr(w->redis));
        return err;
    }
    if (*wait_ms > 0) {
        snprintf(errstr, errstr_size, "wms %s: rate limited, wait %lld ms", group,
                 (long long)*wait_ms);
        count_call(w, group, "throttled_local");
        return DH_ERR_RATE;
    }
    return DH_OK;
}

static int is_write(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

dh_err_t dh_wms_call(dh_wms_t *w, const char *group, const char *method, const char *path,
                     const char *idempotency_key, json_t *body, dh_wms_reply_t *reply,
                     int64_t *wait_ms, char *errstr, size_t errstr_size)
{
    char url[URL_MAX];
    char idem[300];
    const char *headers[6] = {"Content-Type: application/json", "Accept: application/json"};
    size_t nh = 2;
    dh_http_resp_t resp = {0};
    char *text = NULL;
    dh_err_t err;

    memset(reply, 0, sizeof(*reply));
    *wait_ms = 0;
    errstr[0] = '\0';
    resp.retry_after_s = -1;
    if (group == NULL || group[0] == '\0' || strlen(group) >= GROUP_MAX || path[0] != '/' ||
        (is_write(method) && (idempotency_key == NULL || idempotency_key[0] == '\0'))) {
        snprintf(errstr, errstr_size, "wms: bad call (group, path, or a write without a key)");
        return DH_ERR_INVALID;
    }
    err = take_token(w, group, wait_ms, errstr, errstr_size);
    if (err != DH_OK) {
        return err;
    }
    if (w->auth != NULL) {
        headers[nh++] = w->auth;
    }
    if (idempotency_key != NULL && idempotency_key[0] != '\0') {
        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idempotency_key);
        headers[nh++] = idem;
    }
    snprintf(url, sizeof(url), "%s%s", w->base_url, path);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            snprintf(errstr, errstr_size, "wms: cannot serialise the body");
            err = DH_ERR_NOMEM;
            goto out;
        }
    }
    err = dh_http_request(w->http, method, url, headers, text, text != NULL ? strlen(text) : 0,
                          &resp);
    if (err != DH_OK) {
        err = err == DH_ERR_LIMIT ? DH_ERR_PROTO : err; /* over the body cap: a bad reply */
        snprintf(errstr, errstr_size, "wms %s: %s", group, dh_http_errstr(w->http));
        count_call(w, group, "transport_error");
        goto out;
    }
    reply->status = resp.status;
    reply->replayed = resp.idempotent_replayed;
    if (resp.body_len > 0) {
        reply->body = json_loadb(resp.body, resp.body_len, 0, NULL);
    }
    if (resp.status >= 400) {
        parse_problem(reply, resp.content_type);
    }
    err = classify(w, group, &resp, reply, wait_ms, errstr, errstr_size);
out:
    if (err != DH_OK) {
        /* Only DH_OK hands a body to the caller; status and problem text stay readable. */
        json_decref(reply->body);
        reply->body = NULL;
    }
    dh_http_resp_clear(&resp);
    free(text);
    return err;
}
