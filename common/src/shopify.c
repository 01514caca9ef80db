/*
 * Shopify Admin GraphQL client (see dockhand/shopify.h). One call is: charge the expected
 * cost to the store's shared bucket in Redis, POST the embedded document, then settle the
 * bucket with what Shopify reports (refund requested − actual, re-sync to
 * currentlyAvailable). THROTTLED (HTTP 200) and 429 start a pool-wide cooldown. Tokens are
 * the store's static access_token or a client-credentials token from the worker's shared cache
 * (tokens.h); no token ever reaches a log line or an errstr.
 */
#include "dockhand/shopify.h"

#include <stdarg.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/ratelimit.h"
#include "dockhand/validate.h"

#define TOKEN_MAX           512
#define URL_MAX             1024
#define COOLDOWN_MIN_MS     250
#define COOLDOWN_DEFAULT_MS 1000
#define COOLDOWN_MAX_MS     600000 /* a bucket refills in seconds; more is a bogus reply */
#define TOKEN_REFRESH_EARLY 60000  /* ms: refresh a client-credentials token this early */
#define TOKEN_DEFAULT_TTL_S 3600   /* when the grant omits expires_in */

/* Generated from dockhand/gql_docs.def and common/graphql/ by
 * common/cmake/embed_graphql.cmake, indexed by dh_gql_doc_t. */
extern const char *const dh_gql_docs[];
extern const size_t dh_gql_docs_count;

/* Document names (file names, metric label) and root fields, from gql_docs.def. */
static const char *const doc_names[DH_GQL__COUNT] = {
#define DH_GQL_DOC(e, file, ...) [DH_GQL_##e] = #file,
#include "dockhand/gql_docs.def"
#undef DH_GQL_DOC
};
static const char *const doc_roots[DH_GQL__COUNT] = {
#define DH_GQL_DOC(e, file, root, ...) [DH_GQL_##e] = root,
#include "dockhand/gql_docs.def"
#undef DH_GQL_DOC
};

/*
 * Requested-cost model, the one Shopify documents and dh-sandbox implements: scalars 0,
 * objects 1, a connection with first: N costs 2 + N × (1 for `nodes` + the node's
 * objects), a mutation 10 + its payload's objects. The cost is
 *   base + first × (per_node + inner × inner_per)
 * with first/inner read from the call's variables (first_var/inner_var) when given, else
 * the assumed maxima, which are also what dh_gql_expected_cost() reports. Each maximum
 * keeps the document under Shopify's 1000-point single-query cap. Charging the exact
 * requested cost (not less) is what keeps a call from being THROTTLED; the refund at
 * settle time makes over-charging cheap.
 */
typedef struct doc_cost {
    double base;
    const char *first_var; /**< Variable sizing the outer connection, or NULL. */
    double per_node;
    double max_first;
    const char *inner_var; /**< Variable sizing a connection inside each node, or NULL. */
    double inner_per;
    double max_inner;
} doc_cost_t;

/* The per-document figures and their derivations are in gql_docs.def. */
static const doc_cost_t doc_costs[DH_GQL__COUNT] = {
#define DH_GQL_DOC(e, file, root, used_by, base, first_var, per_node, max_first, inner_var,        \
                   inner_per, max_inner)                                                           \
    [DH_GQL_##e] = {base, first_var, per_node, max_first, inner_var, inner_per, max_inner},
#include "dockhand/gql_docs.def"
#undef DH_GQL_DOC
};

struct dh_shopify_s {
    dh_http_t *http;
    dh_redis_t *redis;
    dh_metrics_t *metrics;
    dh_tokens_t *tokens; /* client-credentials tokens: own_tokens, or the process's */
    dh_tokens_t *own_tokens;
};

const char *dh_gql_text(dh_gql_doc_t doc)
{
    if ((size_t)doc >= DH_GQL__COUNT || (size_t)doc >= dh_gql_docs_count) {
        return "";
    }
    return dh_gql_docs[doc];
}

const char *dh_gql_name(dh_gql_doc_t doc)
{
    return (size_t)doc < DH_GQL__COUNT ? doc_names[doc] : "";
}

const char *dh_gql_root(dh_gql_doc_t doc)
{
    return (size_t)doc < DH_GQL__COUNT ? doc_roots[doc] : "";
}

static double cost_with(const doc_cost_t *c, double first, double inner)
{
    return c->base + first * (c->per_node + inner * c->inner_per);
}

double dh_gql_expected_cost(dh_gql_doc_t doc)
{
    if ((size_t)doc >= DH_GQL__COUNT) {
        return 0;
    }
    return cost_with(&doc_costs[doc], doc_costs[doc].max_first, doc_costs[doc].max_inner);
}

/* The variable \p name as a page size, or \p def when absent or not a count. */
static double var_count(json_t *variables, const char *name, double def)
{
    json_t *v = name != NULL ? json_object_get(variables, name) : NULL;

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return def;
    }
    return (double)json_integer_value(v);
}

/* What to charge for this call: the model with the call's page sizes, at most the bucket
 * (more could never be granted; Shopify then answers MAX_COST_EXCEEDED or THROTTLED). */
static double charge_for(dh_gql_doc_t doc, json_t *variables, const dh_bucket_spec_t *spec)
{
    const doc_cost_t *c = &doc_costs[doc];
    double cost = cost_with(c, var_count(variables, c->first_var, c->max_first),
                            var_count(variables, c->inner_var, c->max_inner));

    return cost > spec->capacity ? spec->capacity : cost;
}

dh_shopify_t *dh_shopify_new(dh_http_t *http, dh_redis_t *redis, dh_metrics_t *metrics)
{
    dh_shopify_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->http = http;
    s->redis = redis;
    s->metrics = metrics;
    s->own_tokens = dh_tokens_new();
    if (s->own_tokens == NULL) {
        free(s);
        return NULL;
    }
    s->tokens = s->own_tokens;
    return s;
}

void dh_shopify_share_tokens(dh_shopify_t *s, dh_tokens_t *tokens)
{
    s->tokens = tokens != NULL ? tokens : s->own_tokens;
}

void dh_shopify_destroy(dh_shopify_t *s)
{
    if (s == NULL) {
        return;
    }
    dh_tokens_destroy(s->own_tokens);
    free(s);
}

void dh_gql_reply_clear(dh_gql_reply_t *r)
{
    if (r == NULL) {
        return;
    }
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
    r->currently_available = -1;
}

/* ---- metrics ---- */

static void count(dh_shopify_t *s, const char *name, const char *help, const char *store,
                  const char *doc, const char *outcome, uint64_t n)
{
    char labels[512];
    size_t len;
    dh_counter_t *c;

    if (s->metrics == NULL || n == 0) {
        return;
    }
    dh_metrics_store_label(store, labels, sizeof(labels));
    len = strlen(labels);
    if (doc != NULL) {
        snprintf(labels + len, sizeof(labels) - len, ",doc=\"%s\",outcome=\"%s\"", doc, outcome);
    }
    c = dh_metrics_counter(s->metrics, name, help, labels);
    if (c != NULL) {
        dh_counter_add(c, n);
    }
}

static void count_call(dh_shopify_t *s, const dh_store_t *store, dh_gql_doc_t doc,
                       const char *outcome)
{
    count(s, "dh_shopify_calls_total", "Shopify GraphQL calls by document and outcome.",
          store->domain, doc_names[doc], outcome, 1);
}

/* ---- client-credentials tokens ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept). */
static void form_escape(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in != '\0' && o + 4 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static dh_err_t http_err(dh_err_t err)
{
    /* dh_http's LIMIT means "body over the cap": for our callers that is a bad reply,
     * not a rate limit. */
    return err == DH_ERR_LIMIT ? DH_ERR_PROTO : err;
}

/* Stores a fresh grant (access_token, expires_in) from \p body in the cache. */
static dh_err_t token_store(dh_shopify_t *s, const char *domain, const char *body)
{
    json_t *root = json_loads(body, 0, NULL);
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    json_t *ttl = json_object_get(root, "expires_in");
    int64_t ttl_ms = (json_is_integer(ttl) ? json_integer_value(ttl) : TOKEN_DEFAULT_TTL_S) * 1000;
    dh_err_t err = DH_OK;

    if (tok == NULL || tok[0] == '\0' || strlen(tok) >= TOKEN_MAX) {
        err = DH_ERR_PROTO;
        goto out;
    }
    ttl_ms = ttl_ms > 2 * TOKEN_REFRESH_EARLY ? ttl_ms - TOKEN_REFRESH_EARLY : ttl_ms / 2;
    err = dh_tokens_put(s->tokens, domain, tok, mono_ms() + ttl_ms);
out:
    json_decref(root);
    return err;
}

/* POST admin_url/admin/oauth/access_token (client-credentials grant). */
static dh_err_t token_fetch(dh_shopify_t *s, const dh_store_t *store, char *errstr,
                            size_t errstr_size)
{
    char url[URL_MAX];
    char id[256];
    char secret[512];
    char form[900];
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", NULL};
    dh_http_resp_t resp = {0};
    dh_err_t err;

    snprintf(url, sizeof(url), "%s/admin/oauth/access_token", store->admin_url);
    form_escape(store->client_id, id, sizeof(id));
    form_escape(store->client_secret, secret, sizeof(secret));
    snprintf(form, sizeof(form), "grant_type=client_credentials&client_id=%s&client_secret=%s", id,
             secret);
    err = http_err(dh_http_request(s->http, "POST", url, headers, form, strlen(form), &resp));
    memset(form, 0, sizeof(form));
    memset(secret, 0, sizeof(secret));
    if (err != DH_OK) {
        snprintf(errstr, errstr_size, "shopify %s token: %s", store->domain,
                 dh_http_errstr(s->http));
        goto out;
    }
    if (resp.status >= 500) {
        err = DH_ERR_PROTO;
    } else if (resp.status != 200) {
        err = DH_ERR_AUTH; /* refused credentials: retrying will not help until fixed */
    } else {
        err = token_store(s, store->domain, resp.body);
    }
    if (err != DH_OK) {
        /* The body is not quoted: a grant response carries the token. */
        snprintf(errstr, errstr_size, "shopify %s token: HTTP %ld (%s)", store->domain, resp.status,
                 dh_err_str(err));
    }
out:
    dh_http_resp_clear(&resp);
    return err;
}

/* The token for \p store into \p tok (TOKEN_MAX bytes): its static one, or a cached or
 * fresh client-credentials token (copied: another lane may replace the cached one). */
static dh_err_t token_get(dh_shopify_t *s, const dh_store_t *store, char *tok, int *from_grant,
                          char *errstr, size_t errstr_size)
{
    dh_err_t err;

    *from_grant = 0;
    if (store->access_token != NULL && store->access_token[0] != '\0') {
        snprintf(tok, TOKEN_MAX, "%s", store->access_token);
        return DH_OK;
    }
    *from_grant = 1;
    if (dh_tokens_copy(s->tokens, store->domain, mono_ms(), tok, TOKEN_MAX)) {
        return DH_OK;
    }
    err = token_fetch(s, store, errstr, errstr_size);
    if (err == DH_OK && !dh_tokens_copy(s->tokens, store->domain, mono_ms(), tok, TOKEN_MAX)) {
        snprintf(errstr, errstr_size, "shopify %s token: granted, but expired at once",
                 store->domain);
        err = DH_ERR_PROTO;
    }
    return err;
}

/* ---- the call ---- */

/* One POST of \p body; the token goes only into the header list. */
static dh_err_t post(dh_shopify_t *s, const dh_store_t *store, const char *token, const char *body,
                     dh_http_resp_t *resp)
{
    char url[URL_MAX];
    char auth[TOKEN_MAX + 32];
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", auth,
                             NULL};
    dh_err_t err;

    snprintf(url, sizeof(url), "%s/admin/api/%s/graphql.json", store->admin_url,
             store->api_version);
    snprintf(auth, sizeof(auth), "X-Shopify-Access-Token: %s", token);
    err = dh_http_request(s->http, "POST", url, headers, body, strlen(body), resp);
    memset(auth, 0, sizeof(auth));
    return http_err(err);
}

/* Sends \p body, refreshing a client-credentials token once on 401. */
static dh_err_t send_call(dh_shopify_t *s, const dh_store_t *store, const char *body,
                          dh_http_resp_t *resp, char *errstr, size_t errstr_size)
{
    char token[TOKEN_MAX];
    int from_grant = 0;
    dh_err_t err;

    err = token_get(s, store, token, &from_grant, errstr, errstr_size);
    if (err != DH_OK) {
        goto out;
    }
    err = post(s, store, token, body, resp);
    if (err == DH_OK && resp->status == 401 && from_grant) {
        /* Expired or revoked early: one fresh grant, one more try. */
        dh_http_resp_clear(resp);
        dh_tokens_drop(s->tokens, store->domain);
        err = token_get(s, store, token, &from_grant, errstr, errstr_size);
        if (err == DH_OK) {
            err = post(s, store, token, body, resp);
        }
    }
out:
    memset(token, 0, sizeof(token));
    if (err != DH_OK && errstr[0] == '\0') {
        snprintf(errstr, errstr_size, "shopify %s: %s", store->domain, dh_http_errstr(s->http));
    }
    return err;
}

/* What Shopify said about cost: extensions.cost.{requested,actual}QueryCost, throttleStatus. */
typedef struct cost_info {
    double requested; /**< -1 if absent */
    double actual;    /**< -1 if absent or null (THROTTLED) */
    double available; /**< -1 if absent */
    double restore;   /**< -1 if absent */
} cost_info_t;

static double num_or(json_t *v, double def)
{
    return json_is_number(v) ? json_number_value(v) : def;
}

static cost_info_t cost_info(json_t *root)
{
    json_t *cost = json_object_get(json_object_get(root, "extensions"), "cost");
    json_t *ts = json_object_get(cost, "throttleStatus");
    cost_info_t ci;

    ci.requested = num_or(json_object_get(cost, "requestedQueryCost"), -1);
    ci.actual = num_or(json_object_get(cost, "actualQueryCost"), -1);
    ci.available = num_or(json_object_get(ts, "currentlyAvailable"), -1);
    ci.restore = num_or(json_object_get(ts, "restoreRate"), -1);
    return ci;
}

/* dh_shopify_bucket_available{store}: the points Shopify last reported left in the store's
 * bucket (throttleStatus.currentlyAvailable). One series per configured store: bounded. */
static void bucket_gauge(dh_shopify_t *s, const dh_store_t *store, double available)
{
    char labels[300];
    dh_gauge_t *g;

    if (s->metrics == NULL || available < 0) {
        return;
    }
    dh_metrics_store_label(store->domain, labels, sizeof(labels));
    g = dh_metrics_gauge(s->metrics, "dh_shopify_bucket_available",
                         "Points left in the store's Shopify bucket, as its last reply said.",
                         labels);
    if (g != NULL) {
        dh_gauge_set(g, available);
    }
}

static void settle(dh_shopify_t *s, const dh_store_t *store, double charged, double actual,
                   double available)
{
    dh_err_t err = dh_ratelimit_shopify_settle(s->redis, store->domain, &store->bucket, charged,
                                               actual, available);

    bucket_gauge(s, store, available);
    if (err != DH_OK) {
        /* The call itself is done; the bucket heals by re-syncing on the next reply. */
        DH_LOG(DH_LOG_WARN, "shopify", "settle %s: %s", store->domain, dh_redis_errstr(s->redis));
    }
}

/* Starts the pool-wide pause after THROTTLED / 429 and returns its length. */
static int64_t cooldown(dh_shopify_t *s, const dh_store_t *store, long retry_after_s,
                        const cost_info_t *ci, double charged)
{
    double need = (ci->requested >= 0 ? ci->requested : charged) - ci->available;
    double rate = ci->restore > 0 ? ci->restore : store->bucket.restore_rate;
    int64_t ms = COOLDOWN_DEFAULT_MS;

    /* Both inputs come from Shopify: bound them before any conversion or multiplication. */
    if (retry_after_s >= 0) {
        ms = retry_after_s < COOLDOWN_MAX_MS / 1000 ? (int64_t)retry_after_s * 1000
                                                    : COOLDOWN_MAX_MS;
    } else if (ci->available >= 0 && rate > 0) {
        ms = dh_v_real_clamp_i64(ceil(need / rate * 1000.0), COOLDOWN_MIN_MS, COOLDOWN_MAX_MS);
    }
    if (ms < COOLDOWN_MIN_MS) {
        ms = COOLDOWN_MIN_MS;
    }
    if (dh_ratelimit_shopify_cooldown(s->redis, store->domain, ms) != DH_OK) {
        DH_LOG(DH_LOG_WARN, "shopify", "cooldown %s: %s", store->domain, dh_redis_errstr(s->redis));
    }
    count(s, "dh_shopify_throttled_total", "THROTTLED or 429 answers from Shopify.", store->domain,
          NULL, NULL, 1);
    return ms;
}

/* "THROTTLED" among errors[].extensions.code? */
static int is_throttled(json_t *errors)
{
    size_t i;
    json_t *e;
    const char *code;

    json_array_foreach(errors, i, e)
    {
        code = json_string_value(json_object_get(json_object_get(e, "extensions"), "code"));
        if (code != NULL && strcmp(code, "THROTTLED") == 0) {
            return 1;
        }
    }
    return 0;
}

/* errors[].message joined into errstr. Shopify's messages quote the query, never tokens. */
static void join_errors(json_t *errors, const char *prefix, char *errstr, size_t errstr_size)
{
    size_t len, i;
    json_t *e;
    const char *msg;

    snprintf(errstr, errstr_size, "%s", prefix);
    json_array_foreach(errors, i, e)
    {
        msg = json_string_value(json_object_get(e, "message"));
        len = strlen(errstr);
        if (len + 1 >= errstr_size) {
            break;
        }
        snprintf(errstr + len, errstr_size - len, "%s%s", i > 0 ? "; " : " ",
                 msg != NULL ? msg : "(no message)");
    }
    if (!json_is_array(errors) && json_is_string(errors)) {
        len = strlen(errstr);
        snprintf(errstr + len, errstr_size - len, " %s", json_string_value(errors));
    }
}

typedef struct call {
    dh_shopify_t *s;
    const dh_store_t *store;
    dh_gql_doc_t doc;
    double charged;
    char *errstr;
    size_t errstr_size;
} call_t;

/* Non-2xx answers. Nothing was executed (or we cannot know), so everything is refunded. */
static dh_err_t on_http_status(call_t *c, const dh_http_resp_t *resp, json_t *root,
                               int64_t *wait_ms)
{
    cost_info_t ci = cost_info(root);
    char prefix[300];

    settle(c->s, c->store, c->charged, -1, ci.available);
    snprintf(prefix, sizeof(prefix), "shopify %s %s: HTTP %ld", c->store->domain, doc_names[c->doc],
             resp->status);
    if (resp->status == 429) {
        *wait_ms = cooldown(c->s, c->store, resp->retry_after_s, &ci, c->charged);
        snprintf(c->errstr, c->errstr_size, "%s (retry in %lld ms)", prefix, (long long)*wait_ms);
        count_call(c->s, c->store, c->doc, "throttled");
        return DH_ERR_RATE;
    }
    if (resp->status == 401 || resp->status == 403) {
        snprintf(c->errstr, c->errstr_size, "%s: credentials refused", prefix);
        count_call(c->s, c->store, c->doc, "auth");
        return DH_ERR_AUTH;
    }
    if (resp->status >= 500 || resp->status < 200) {
        snprintf(c->errstr, c->errstr_size, "%s", prefix);
        count_call(c->s, c->store, c->doc, "server_error");
        return DH_ERR_PROTO;
    }
    join_errors(json_object_get(root, "errors"), prefix, c->errstr, c->errstr_size);
    count_call(c->s, c->store, c->doc, "invalid");
    return DH_ERR_INVALID;
}

/* A 2xx with a JSON body: success, THROTTLED or other top-level errors. */
static dh_err_t on_reply(call_t *c, json_t *root, dh_gql_reply_t *reply, int64_t *wait_ms)
{
    cost_info_t ci = cost_info(root);
    json_t *errors = json_object_get(root, "errors");
    char prefix[300];

    snprintf(prefix, sizeof(prefix), "shopify %s %s:", c->store->domain, doc_names[c->doc]);
    if (json_array_size(errors) > 0 && is_throttled(errors)) {
        settle(c->s, c->store, c->charged, -1, ci.available);
        *wait_ms = cooldown(c->s, c->store, -1, &ci, c->charged);
        snprintf(c->errstr, c->errstr_size, "%s THROTTLED (retry in %lld ms)", prefix,
                 (long long)*wait_ms);
        count_call(c->s, c->store, c->doc, "throttled");
        return DH_ERR_RATE;
    }
    /* Settle with Shopify's actual cost; without one (no extensions), assume the charge. */
    settle(c->s, c->store, c->charged, ci.actual >= 0 ? ci.actual : c->charged, ci.available);
    if (ci.actual > 0) {
        count(c->s, "dh_shopify_cost_points_total", "Actual GraphQL cost points spent.",
              c->store->domain, NULL, NULL,
              (uint64_t)dh_v_real_clamp_i64(round(ci.actual), 0, INT64_MAX));
    }
    if (json_array_size(errors) > 0 || (errors != NULL && !json_is_array(errors))) {
        join_errors(errors, prefix, c->errstr, c->errstr_size);
        count_call(c->s, c->store, c->doc, "invalid");
        return DH_ERR_INVALID;
    }
    reply->root = json_incref(root);
    reply->data = json_object_get(root, "data");
    reply->requested_cost = ci.requested >= 0 ? ci.requested : c->charged;
    reply->actual_cost = ci.actual >= 0 ? ci.actual : reply->requested_cost;
    reply->currently_available = ci.available;
    count_call(c->s, c->store, c->doc, "ok");
    return DH_OK;
}

static char *build_body(dh_gql_doc_t doc, json_t *variables)
{
    json_t *req = json_object();
    char *body = NULL;

    if (req == NULL) {
        return NULL;
    }
    if (json_object_set_new(req, "query", json_string(dh_gql_text(doc))) == 0 &&
        json_object_set_new(req, "variables",
                            variables != NULL ? json_incref(variables) : json_object()) == 0) {
        body = json_dumps(req, JSON_COMPACT);
    }
    json_decref(req);
    return body;
}

/* Charges the bucket; DH_ERR_RATE with *wait_ms when it is short or cooling down. */
static dh_err_t acquire(call_t *c, int64_t *wait_ms)
{
    dh_err_t err = dh_ratelimit_shopify_acquire(c->s->redis, c->store->domain, &c->store->bucket,
                                                c->charged, wait_ms);
    if (err != DH_OK) {
        snprintf(c->errstr, c->errstr_size, "shopify %s: rate limit: %s", c->store->domain,
                 dh_redis_errstr(c->s->redis));
        return err;
    }
    if (*wait_ms > 0) {
        snprintf(c->errstr, c->errstr_size, "shopify %s: bucket short, wait %lld ms",
                 c->store->domain, (long long)*wait_ms);
        count_call(c->s, c->store, c->doc, "limited");
        return DH_ERR_RATE;
    }
    return DH_OK;
}

dh_err_t dh_shopify_graphql(dh_shopify_t *s, const dh_store_t *store, dh_gql_doc_t doc,
                            json_t *variables, dh_gql_reply_t *reply, int64_t *wait_ms,
                            char *errstr, size_t errstr_size)
{
    call_t c = {s, store, doc, 0, errstr, errstr_size};
    dh_http_resp_t resp = {0};
    json_t *root = NULL;
    char *body = NULL;
    dh_err_t err;

    memset(reply, 0, sizeof(*reply));
    reply->currently_available = -1;
    *wait_ms = 0;
    errstr[0] = '\0';
    resp.retry_after_s = -1;
    if ((size_t)doc >= DH_GQL__COUNT) {
        snprintf(errstr, errstr_size, "shopify: unknown document %d", (int)doc);
        return DH_ERR_INVALID;
    }
    c.charged = charge_for(doc, variables, &store->bucket);
    body = build_body(doc, variables);
    if (body == NULL) {
        snprintf(errstr, errstr_size, "shopify: out of memory");
        return DH_ERR_NOMEM;
    }
    err = acquire(&c, wait_ms);
    if (err != DH_OK) {
        goto out;
    }
    err = send_call(s, store, body, &resp, errstr, errstr_size);
    if (err != DH_OK) {
        /* Unknown outcome and cost: refund the charge, Shopify's reply never came. */
        settle(s, store, c.charged, -1, -1);
        count_call(s, store, doc, err == DH_ERR_AUTH ? "auth" : "transport_error");
        goto out;
    }
    reply->status = resp.status; /* kept on errors too: the outcome table reads it */
    root = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (resp.status < 200 || resp.status > 299) {
        err = on_http_status(&c, &resp, root, wait_ms);
    } else if (!json_is_object(root)) {
        settle(s, store, c.charged, -1, -1);
        snprintf(errstr, errstr_size, "shopify %s %s: HTTP %ld with a non-JSON body", store->domain,
                 doc_names[doc], resp.status);
        count_call(s, store, doc, "server_error");
        err = DH_ERR_PROTO;
    } else {
        err = on_reply(&c, root, reply, wait_ms);
    }
out:
    json_decref(root);
    dh_http_resp_clear(&resp);
    free(body);
    return err;
}

/* ---- helpers for callers ---- */

/* snprintf at buf + *len, keeping *len within the buffer (truncation is silent). */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...) DH_PRINTF(4, 5);

static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (size == 0 || *len + 1 >= size) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *len += (size_t)n < size - *len ? (size_t)n : size - *len - 1;
    }
}

size_t dh_gql_user_errors(const dh_gql_reply_t *r, const char *root_field, char *buf, size_t size,
                          char *code_out, size_t code_size)
{
    json_t *errs =
        json_object_get(json_object_get(r != NULL ? r->data : NULL, root_field), "userErrors");
    size_t i, k, len = 0;
    json_t *e, *f;

    if (size > 0) {
        buf[0] = '\0';
    }
    if (code_out != NULL && code_size > 0) {
        code_out[0] = '\0';
    }
    json_array_foreach(errs, i, e)
    {
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        json_t *field = json_object_get(e, "field");

        if (i == 0 && code != NULL && code_out != NULL && code_size > 0) {
            snprintf(code_out, code_size, "%s", code);
        }
        append(buf, size, &len, "%s%s%s", i > 0 ? "; " : "", code != NULL ? code : "",
               code != NULL ? " " : "");
        json_array_foreach(field, k, f)
        {
            append(buf, size, &len, "%s%s", k > 0 ? "." : "",
                   json_is_string(f) ? json_string_value(f) : "?");
        }
        append(buf, size, &len, "%s%s", json_array_size(field) > 0 ? ": " : "",
               msg != NULL ? msg : "");
    }
    return json_array_size(errs);
}

const char *dh_gid_tail(const char *gid, char *buf, size_t size)
{
    const char *slash;
    size_t n;

    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (gid == NULL) {
        return buf;
    }
    slash = strrchr(gid, '/');
    slash = slash != NULL ? slash + 1 : gid;
    n = strcspn(slash, "?#"); /* GIDs may carry parameters: gid://shopify/X/1?k=v */
    snprintf(buf, size, "%.*s", (int)n, slash);
    return buf;
}
