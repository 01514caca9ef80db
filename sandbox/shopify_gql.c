/*
 * shopify_gql: the GraphQL Admin endpoint: authentication, parsing, cost and the
 * per-store leaky bucket, @idempotent handling, dispatch to the operations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"
#include "shopify.h"

#define MAX_QUERY_COST 1000

typedef struct op_entry {
    const char *name;
    dh_sb_op_fn fn;
    int mutation;
    int idempotent; /**< @idempotent required (2026-04+) */
} op_entry_t;

static const op_entry_t ops[] = {
    {"productVariants", dh_sb_op_product_variants, 0, 0},
    {"products", dh_sb_op_products, 0, 0},
    {"locations", dh_sb_op_locations, 0, 0},
    {"inventoryItems", dh_sb_op_inventory_items, 0, 0},
    {"inventoryItem", dh_sb_op_inventory_item, 0, 0},
    {"order", dh_sb_op_order, 0, 0},
    {"orders", dh_sb_op_orders, 0, 0},
    {"fulfillmentOrder", dh_sb_op_fulfillment_order, 0, 0},
    {"inventoryActivate", dh_sb_op_inventory_activate, 1, 0},
    {"inventorySetQuantities", dh_sb_op_inventory_set, 1, 1},
    {"inventoryAdjustQuantities", dh_sb_op_inventory_adjust, 1, 1},
    {"fulfillmentCreate", dh_sb_op_fulfillment_create, 1, 0},
    {"fulfillmentEventCreate", dh_sb_op_fulfillment_event_create, 1, 0},
    {"fulfillmentTrackingInfoUpdate", dh_sb_op_fulfillment_tracking_update, 1, 0},
    {"tagsAdd", dh_sb_op_tags_add, 1, 0},
    {"bulkOperationRunQuery", dh_sb_op_bulk_run_query, 1, 0},
    {"bulkOperation", dh_sb_op_bulk_operation, 0, 0},
};

void dh_sb_gql_error(json_t *errors, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:{s:s}}", "message", message, "extensions", "code", code));
}

json_t *dh_sb_user_error(const char *code, json_t *field, const char *message)
{
    json_t *e = json_pack("{s:o, s:s}", "field", field ? field : json_null(), "message", message);

    if (code) {
        json_object_set_new(e, "code", json_string(code));
    }
    return e;
}

static const op_entry_t *find_op(const char *name, int mutation)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(ops[i].name, name) == 0 && ops[i].mutation == mutation) {
            return &ops[i];
        }
    }
    return NULL;
}

static json_t *cost_json(dh_sb_shop_t *shop, long requested, json_t *actual)
{
    return json_pack("{s:{s:I, s:o, s:{s:f, s:f, s:f}}}", "cost", "requestedQueryCost",
                     (json_int_t)requested, "actualQueryCost", actual, "throttleStatus",
                     "maximumAvailable", shop->bucket.maximum, "currentlyAvailable",
                     shop->bucket.available, "restoreRate", shop->bucket.restore_rate);
}

static int authorised(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *token)
{
    (void)st;
    if (!token || !*token) {
        return 0;
    }
    if (strcmp(token, shop->access_token) == 0) {
        return 1;
    }
    json_t *exp = json_object_get(shop->tokens, token);

    return exp && json_number_value(exp) > dh_sb_mono_now();
}

/* Inputs Shopify removed in 2026-04: reject like a GraphQL validation error. */
static int uses_removed_fields(const char *query, json_t *vars)
{
    if (dh_sb_gql_mentions(query, "compareQuantity") ||
        dh_sb_gql_mentions(query, "ignoreCompareQuantity")) {
        return 1;
    }
    char *s = json_dumps(vars, JSON_COMPACT);
    int found = s && (strstr(s, "\"compareQuantity\"") || strstr(s, "\"ignoreCompareQuantity\""));

    free(s);
    return found;
}

static void count_call(dh_sb_shop_t *shop, const char *op)
{
    json_t *n = json_object_get(shop->calls, op);

    json_object_set_new(shop->calls, op, json_integer(json_integer_value(n) + 1));
}

/* @idempotent: NULL when absent; sets *bad when present but unusable. */
static const char *idempotency_key(json_t *node, int *bad)
{
    json_t *dir = json_object_get(json_object_get(node, "dirs"), "idempotent");
    const char *key = json_string_value(json_object_get(dir, "key"));

    *bad = 0;
    if (!dir) {
        return NULL;
    }
    if (!key || strspn(key, " \t\r\n") == strlen(key)) {
        *bad = 1;
        return NULL;
    }
    return key;
}

/* Replays or records; returns the stored value (new ref) for a replay, else NULL. */
static json_t *idem_lookup(dh_sb_shop_t *shop, const char *key, const char *op, json_t *args,
                           int *mismatch)
{
    json_t *rec = json_object_get(shop->idem, key);

    *mismatch = 0;
    if (!rec) {
        return NULL;
    }
    if (strcmp(json_string_value(json_object_get(rec, "op")), op) != 0 ||
        !json_equal(json_object_get(rec, "args"), args)) {
        *mismatch = 1;
        return NULL;
    }
    return json_incref(json_object_get(rec, "value"));
}

static json_t *mismatch_payload(void)
{
    return json_pack("{s:n, s:[o]}", "inventoryAdjustmentGroup", "userErrors",
                     dh_sb_user_error("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", NULL,
                                      "The same idempotency key was used with different "
                                      "parameters."));
}

typedef struct exec_ctx {
    dh_sb_state_t *st;
    dh_sb_shop_t *shop;
    json_t *roots;
    int mutation;
    json_t *errors; /* top-level errors */
    json_t *data;
    json_t *note;
} exec_ctx_t;

/* Runs every root field; returns 0, or -1 when a top-level error stops the request. */
static int execute(exec_ctx_t *c)
{
    size_t i;
    json_t *node;

    json_array_foreach(c->roots, i, node)
    {
        const char *name = json_string_value(json_object_get(node, "name"));
        const char *key = json_string_value(json_object_get(node, "key"));
        const op_entry_t *op = find_op(name, c->mutation);
        json_t *val = NULL;
        int bad, mismatch;

        count_call(c->shop, name);
        const char *ikey = idempotency_key(node, &bad);

        if (ikey) {
            json_object_set_new(c->note, "idempotency_key", json_string(ikey));
        }
        if (bad) {
            dh_sb_gql_error(c->errors, "BAD_REQUEST",
                            "The idempotency key cannot be an empty string or whitespace only.");
            return -1;
        }
        if (op->idempotent && !ikey) {
            char msg[200];

            snprintf(msg, sizeof msg, "The @idempotent directive is required for the %s mutation.",
                     name);
            dh_sb_gql_error(c->errors, "BAD_REQUEST", msg);
            return -1;
        }
        if (ikey) {
            val = idem_lookup(c->shop, ikey, name, json_object_get(node, "args"), &mismatch);
            if (val) {
                json_object_set_new(c->note, "idempotent_replay", json_true());
                json_object_set_new(c->data, key, val);
                continue;
            }
            if (mismatch) {
                json_t *full = mismatch_payload();

                json_object_set_new(c->data, key,
                                    dh_sb_gql_prune(json_object_get(node, "sel"), full));
                json_decref(full);
                continue;
            }
        }
        json_t *full = op->fn(c->st, c->shop, node, c->errors);

        if (!full) {
            if (json_array_size(c->errors) == 0) {
                dh_sb_gql_error(c->errors, "INTERNAL_SERVER_ERROR", "Internal error");
            }
            return -1;
        }
        val = dh_sb_gql_prune(json_object_get(node, "sel"), full);
        json_decref(full);
        if (ikey) {
            json_object_set_new(c->shop->idem, ikey,
                                json_pack("{s:s, s:O, s:O}", "op", name, "args",
                                          json_object_get(node, "args"), "value", val));
        }
        json_object_set_new(c->data, key, val);
    }
    return 0;
}

static void finish(dh_sb_resp_t *resp, json_t *errors, json_t *data, json_t *ext)
{
    json_t *body = json_object();

    if (json_array_size(errors) > 0) {
        json_object_set(body, "errors", errors);
    }
    if (data) {
        json_object_set(body, "data", data);
    }
    json_object_set(body, "extensions", ext);
    dh_sb_resp_json(resp, 200, body);
}

/* Checks done before any cost is charged; returns 0 or -1 with errors set. */
static int validate(const char *query, json_t *vars, json_t *roots, int mutation, json_t *errors)
{
    size_t i;
    json_t *node;

    if (uses_removed_fields(query, vars)) {
        dh_sb_gql_error(errors, "undefinedField",
                        "InputObject 'InventoryQuantityInput' doesn't accept argument "
                        "'compareQuantity' (removed in 2026-04; use changeFromQuantity)");
        return -1;
    }
    json_array_foreach(roots, i, node)
    {
        const char *name = json_string_value(json_object_get(node, "name"));

        if (!find_op(name, mutation)) {
            char msg[256];

            snprintf(msg, sizeof msg, "Field '%s' doesn't exist on type '%s'", name,
                     mutation ? "Mutation" : "QueryRoot");
            dh_sb_gql_error(errors, "undefinedField", msg);
            return -1;
        }
    }
    return 0;
}

static void run_locked(dh_sb_state_t *st, dh_sb_shop_t *shop, const dh_sb_req_t *req, json_t *body,
                       int force_throttle, dh_sb_resp_t *resp)
{
    const char *query = json_string_value(json_object_get(body, "query"));
    json_t *vars = json_object_get(body, "variables");
    json_t *errors = json_array(), *roots = NULL, *data = NULL, *ext = NULL;
    char op_type[16], perr[256];
    double now = dh_sb_bucket_now();

    if (dh_sb_gql_parse(query, json_is_object(vars) ? vars : NULL, op_type, &roots, perr,
                        sizeof perr) != DH_SB_OK) {
        dh_sb_gql_error(errors, "PARSE_ERROR", perr);
        dh_sb_bucket_refill(&shop->bucket, now);
        ext = cost_json(shop, 0, json_integer(0));
        goto out;
    }
    int mutation = strcmp(op_type, "mutation") == 0;

    json_object_set(req->note, "op", json_object_get(json_array_get(roots, 0), "name"));
    long requested = dh_sb_gql_requested_cost(roots, mutation);

    dh_sb_bucket_refill(&shop->bucket, now);
    if (validate(query, vars, roots, mutation, errors) < 0) {
        ext = cost_json(shop, requested, json_integer(0));
        goto out;
    }
    if (requested > MAX_QUERY_COST) {
        char msg[200];

        snprintf(msg, sizeof msg,
                 "Query cost is %ld, which exceeds the single query max cost limit (%d).",
                 requested, MAX_QUERY_COST);
        dh_sb_gql_error(errors, "MAX_COST_EXCEEDED", msg);
        ext = cost_json(shop, requested, json_null());
        goto out;
    }
    if (force_throttle || !dh_sb_bucket_charge(&shop->bucket, (double)requested, now)) {
        json_array_append_new(errors, json_pack("{s:s, s:{s:s, s:s}}", "message", "Throttled",
                                                "extensions", "code", "THROTTLED", "documentation",
                                                "https://shopify.dev/api/usage/rate-limits"));
        shop->throttled++;
        json_object_set_new(req->note, "throttled", json_true());
        ext = cost_json(shop, requested, json_null());
        goto out;
    }
    exec_ctx_t c = {st, shop, roots, mutation, errors, json_object(), req->note};

    if (execute(&c) < 0) {
        json_decref(c.data);
        dh_sb_bucket_refund(&shop->bucket, (double)requested);
        ext = cost_json(shop, requested, json_integer(0));
        goto out;
    }
    data = c.data;
    long actual = dh_sb_gql_actual_cost(roots, data, mutation);

    dh_sb_bucket_refund(&shop->bucket, (double)(requested - actual));
    ext = cost_json(shop, requested, json_integer(actual));
out:
    finish(resp, errors, data, ext);
    json_decref(errors);
    json_decref(roots);
    json_decref(data);
    json_decref(ext);
}

/* The {version} of ".../admin/api/{version}/graphql.json" ("" when absent): behaviour
 * that changed between API versions follows the version the client asked for. */
static void request_version(const char *path, char *out, size_t size)
{
    const char *v = path ? strstr(path, "/admin/api/") : NULL;
    size_t n = 0;

    out[0] = '\0';
    if (!v) {
        return;
    }
    v += strlen("/admin/api/");
    while (v[n] && v[n] != '/' && n + 1 < size) {
        n++;
    }
    memcpy(out, v, n);
    out[n] = '\0';
}

void dh_sb_shopify_graphql(dh_sb_state_t *st, const char *shop_domain, const dh_sb_req_t *req,
                           dh_sb_resp_t *resp)
{
    json_error_t jerr;
    json_t *body = NULL;
    int force_throttle = json_is_true(json_object_get(req->note, "fault_throttle"));

    pthread_mutex_lock(&st->lock);
    dh_sb_shop_t *shop = dh_sb_state_shop(st, shop_domain);

    if (!shop) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "errors", "Not Found"));
        goto out;
    }
    if (!authorised(st, shop, dh_sb_req_header(req, "X-Shopify-Access-Token"))) {
        dh_sb_resp_json(resp, 401,
                        json_pack("{s:s}", "errors",
                                  "[API] Invalid API key or access token "
                                  "(unrecognized login or wrong password)"));
        goto out;
    }
    request_version(req->path, shop->req_version, sizeof shop->req_version);
    body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_string(json_object_get(body, "query"))) {
        dh_sb_resp_json(
            resp, 400,
            json_pack("{s:{s:s}}", "errors", "query", "Required parameter missing or invalid"));
        goto out;
    }
    run_locked(st, shop, req, body, force_throttle, resp);
out:
    pthread_mutex_unlock(&st->lock);
    json_decref(body);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The form-urlencoded value of \p name, decoded (%XX and '+'), truncated to \p n. */
static const char *form_value(const char *body, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);

    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t len = strcspn(v, "&"), o = 0;

            for (size_t i = 0; i < len && o + 1 < n; i++) {
                if (v[i] == '%' && i + 2 < len && hex_digit(v[i + 1]) >= 0 &&
                    hex_digit(v[i + 2]) >= 0) {
                    out[o++] = (char)(hex_digit(v[i + 1]) * 16 + hex_digit(v[i + 2]));
                    i += 2;
                } else {
                    out[o++] = v[i] == '+' ? ' ' : v[i];
                }
            }
            out[o] = '\0';
            return out;
        }
    }
    return NULL;
}

void dh_sb_shopify_oauth(dh_sb_state_t *st, const char *shop_domain, const dh_sb_req_t *req,
                         dh_sb_resp_t *resp)
{
    char grant[64], cid[256], secret[256], uuid[37], token[64];
    const char *b = req->body;

    pthread_mutex_lock(&st->lock);
    dh_sb_shop_t *shop = dh_sb_state_shop(st, shop_domain);

    if (!shop) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "errors", "Not Found"));
    } else if (!form_value(b, "grant_type", grant, sizeof grant) ||
               strcmp(grant, "client_credentials") != 0) {
        dh_sb_resp_json(resp, 400,
                        json_pack("{s:s, s:s}", "error", "unsupported_grant_type",
                                  "error_description",
                                  "grant_type must be "
                                  "client_credentials"));
    } else if (!form_value(b, "client_id", cid, sizeof cid) ||
               !form_value(b, "client_secret", secret, sizeof secret) || !shop->client_id[0] ||
               strcmp(cid, shop->client_id) != 0 || strcmp(secret, shop->client_secret) != 0) {
        dh_sb_resp_json(resp, 400,
                        json_pack("{s:s, s:s}", "error", "invalid_client", "error_description",
                                  "Client credentials are "
                                  "invalid"));
    } else {
        dh_sb_uuid(uuid);
        snprintf(token, sizeof token, "shpat_%.32s", uuid);
        json_object_set_new(shop->tokens, token, json_real(dh_sb_mono_now() + st->token_ttl_s));
        dh_sb_resp_json(resp, 200,
                        json_pack("{s:s, s:s, s:I}", "access_token", token, "scope",
                                  "read_products,write_inventory,read_inventory,read_orders,"
                                  "write_merchant_managed_fulfillment_orders,write_fulfillments",
                                  "expires_in", (json_int_t)st->token_ttl_s));
    }
    pthread_mutex_unlock(&st->lock);
}

json_t *dh_sb_shopify_stats(dh_sb_state_t *st)
{
    json_t *out = json_object();
    double now = dh_sb_bucket_now();

    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->n_shops; i++) {
        dh_sb_shop_t *s = &st->shops[i];

        dh_sb_bucket_refill(&s->bucket, now);
        json_object_set_new(out, s->domain,
                            json_pack("{s:f, s:f, s:f, s:I, s:O, s:I}", "bucket_available",
                                      s->bucket.available, "bucket_maximum", s->bucket.maximum,
                                      "restore_rate", s->bucket.restore_rate, "throttled",
                                      (json_int_t)s->throttled, "calls", s->calls, "orders",
                                      (json_int_t)json_array_size(s->order_ids)));
    }
    pthread_mutex_unlock(&st->lock);
    return json_pack("{s:o}", "shops", out);
}
