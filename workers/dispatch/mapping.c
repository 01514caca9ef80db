/*
 * dh-dispatch pure core (see dispatch.h): event validation against
 * schemas/events/wms.dispatch.v1.schema.json, the status table, and the fulfillment plan.
 * No I/O: everything here is exercised by test_dispatch_mapping.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dockhand/shopify.h"

/* ---- parsing ---- */

/* JSON Schema format "uri": a scheme, a colon, no whitespace (what ajv-formats checks
 * in practice for tracking pages). */
static int uri_ok(const char *s)
{
    const char *p = s;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return 0;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '.' || *p == '-') {
        p++;
    }
    return *p == ':' && p[1] != '\0' && strpbrk(s, " \t\r\n") == NULL;
}

static json_t *object_field(dh_vctx_t *v, json_t *obj, const char *path, const char *name,
                            int required)
{
    json_t *j = json_object_get(obj, name);

    if (!j) {
        if (required) {
            dh_v_fail(v, "%s must have required property '%s'", path, name);
        }
        return NULL;
    }
    if (!json_is_object(j)) {
        dh_v_fail(v, "%s/%s must be object", path, name);
        return NULL;
    }
    return j;
}

static const char *id_field(dh_vctx_t *v, json_t *obj, const char *path, const char *name)
{
    const char *s = dh_v_str(v, obj, path, name, 1, 0, 1024);

    if (s && !dh_v_shopify_id_ok(s)) {
        dh_v_fail(v, "%s/%s must match pattern \"^[1-9][0-9]{0,19}$\"", path, name);
        return NULL;
    }
    return s;
}

static void parse_carrier(dh_vctx_t *v, json_t *root, int required, dispatch_event_t *out)
{
    json_t *c = object_field(v, root, "", "carrier", required);
    json_t *url;

    if (!c) {
        return;
    }
    out->company = dh_v_str(v, c, "/carrier", "company", 1, 1, 255);
    out->tracking_number = dh_v_str(v, c, "/carrier", "tracking_number", 1, 1, 255);
    url = json_object_get(c, "tracking_url");
    if (!url) {
        dh_v_fail(v, "/carrier must have required property 'tracking_url'");
    } else if (json_is_string(url)) {
        out->tracking_url = json_string_value(url);
        if (!uri_ok(out->tracking_url)) {
            dh_v_fail(v, "/carrier/tracking_url must match format \"uri\"");
        }
    } else if (!json_is_null(url)) {
        dh_v_fail(v, "/carrier/tracking_url must be string,null");
    }
}

static void parse_lines(dh_vctx_t *v, json_t *root, dispatch_event_t *out)
{
    json_t *lines = json_object_get(root, "lines");
    char path[48];
    size_t i;
    json_t *l;

    if (!lines) {
        dh_v_fail(v, " must have required property 'lines'");
        return;
    }
    if (!json_is_array(lines)) {
        dh_v_fail(v, "/lines must be array");
        return;
    }
    if (json_array_size(lines) == 0) {
        dh_v_fail(v, "/lines must NOT have fewer than 1 items");
        return;
    }
    out->lines = calloc(json_array_size(lines), sizeof(*out->lines));
    if (!out->lines) {
        dh_v_fail(v, "out of memory");
        return;
    }
    json_array_foreach(lines, i, l)
    {
        dispatch_line_t *d = &out->lines[out->nlines++];

        snprintf(path, sizeof(path), "/lines/%zu", i);
        if (!json_is_object(l)) {
            dh_v_fail(v, "%s must be object", path);
            return;
        }
        d->sku = dh_v_str(v, l, path, "sku", 1, 1, 255);
        if (d->sku && !dh_v_sku_ok(d->sku)) {
            dh_v_fail(v, "%s/sku must match pattern \"^\\S(.*\\S)?$\"", path);
        }
        dh_v_int(v, l, path, "quantity", 1, 2147483647LL, &d->quantity);
        d->line_item_id = id_field(v, l, path, "channel_line_item_id");
        d->stock_seq = -1;
        if (json_object_get(l, "stock_sequence")) {
            dh_v_int(v, l, path, "stock_sequence", 0, 9007199254740991LL, &d->stock_seq);
        }
    }
}

static void parse_status(dh_vctx_t *v, json_t *root, dispatch_event_t *out)
{
    static const char *const statuses[] = {"PICKED_UP",
                                           "IN_TRANSIT",
                                           "OUT_FOR_DELIVERY",
                                           "ATTEMPTED_DELIVERY",
                                           "DELAYED",
                                           "DELIVERED",
                                           "RTO_INITIATED",
                                           "RTO_IN_TRANSIT",
                                           "RTO_DELIVERED",
                                           "LOST",
                                           "DAMAGED",
                                           "CANCELLED",
                                           NULL};

    dh_v_enum(v, root, "", "status", statuses, &out->status);
    out->carrier_status = dh_v_str(v, root, "", "carrier_status", 1, 1, 255);
    out->happened_at = dh_v_str(v, root, "", "happened_at", 1, 0, 64);
    if (out->happened_at && !dh_v_rfc3339_ok(out->happened_at)) {
        dh_v_fail(v, "/happened_at must match format \"date-time\"");
    }
    parse_carrier(v, root, 0, out);
    out->city = dh_v_str(v, root, "", "city", 0, 0, 255);
    out->province = dh_v_str(v, root, "", "province", 0, 0, 255);
    out->country = dh_v_str(v, root, "", "country", 0, 0, 255);
    out->zip = dh_v_str(v, root, "", "zip", 0, 0, 32);
    out->message = dh_v_str(v, root, "", "message", 0, 0, 1024);
}

dispatch_parse_t dispatch_event_parse(const char *buf, size_t len, dispatch_event_t *out, char *err,
                                      size_t err_size)
{
    static const char *const accepted[] = {"dispatch", "delivery_status", NULL};
    dh_vctx_t v = {err, err_size, 0};
    json_error_t jerr;
    json_t *order;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    out->root = json_loadb(buf ? buf : "", buf ? len : 0, 0, &jerr);
    if (!json_is_object(out->root)) {
        snprintf(err, err_size, "not a JSON object: %s", out->root ? "wrong type" : jerr.text);
        return DISPATCH_PARSE_DECODE;
    }
    dh_v_wms_envelope(&v, out->root, accepted, &out->env);
    if (v.failed) {
        return DISPATCH_PARSE_SCHEMA;
    }
    out->kind = strcmp(out->env.event_type, "dispatch") == 0 ? DISPATCH_SHIPMENT : DISPATCH_STATUS;
    out->shipment_id = dh_v_str(&v, out->root, "", "shipment_id", 1, 1, 128);
    order = object_field(&v, out->root, "", "order", 1);
    if (order) {
        out->order_id = id_field(&v, order, "/order", "channel_order_id");
        out->order_name = dh_v_str(&v, order, "/order", "order_name", 1, 1, 64);
    }
    dh_v_int(&v, out->root, "", "sequence", 0, 9007199254740991LL, &out->sequence);
    if (out->kind == DISPATCH_SHIPMENT) {
        out->facility = dh_v_str(&v, out->root, "", "facility", 0, 1, 64);
        if (out->facility && !dh_v_code_ok(out->facility)) {
            dh_v_fail(&v, "/facility must match pattern \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"");
        }
        parse_carrier(&v, out->root, 1, out);
        parse_lines(&v, out->root, out);
    } else {
        parse_status(&v, out->root, out);
    }
    return v.failed ? DISPATCH_PARSE_SCHEMA : DISPATCH_PARSE_OK;
}

const char *dispatch_event_check(const dh_stores_t *stores, const dh_msg_t *msg,
                                 dispatch_event_t *ev, const dh_store_t **store, char *err,
                                 size_t size)
{
    dispatch_parse_t pr = dispatch_event_parse(msg->payload, msg->len, ev, err, size);

    *store = NULL;
    if (pr != DISPATCH_PARSE_OK) {
        return pr == DISPATCH_PARSE_DECODE ? "decode" : "schema";
    }
    if (!dispatch_key_matches(ev, msg->key, msg->key_len)) {
        snprintf(err, size, "message key '%.*s' is not '%s|%s'",
                 (int)(msg->key_len > 200 ? 200 : msg->key_len), msg->key ? msg->key : "",
                 ev->env.scope, ev->order_id);
        return "schema";
    }
    *store = dh_stores_find(stores, ev->env.scope);
    if (!*store) {
        snprintf(err, size, "no store configured for '%s'", ev->env.scope);
        return "unknown-store";
    }
    return NULL;
}

void dispatch_event_clear(dispatch_event_t *ev)
{
    if (ev) {
        free(ev->lines);
        json_decref(ev->root);
        memset(ev, 0, sizeof(*ev));
    }
}

int dispatch_key_matches(const dispatch_event_t *ev, const char *key, size_t key_len)
{
    size_t sl = strlen(ev->env.scope), ol = ev->order_id ? strlen(ev->order_id) : 0;

    return key && key_len == sl + 1 + ol && memcmp(key, ev->env.scope, sl) == 0 && key[sl] == '|' &&
           memcmp(key + sl + 1, ev->order_id, ol) == 0;
}

/* ---- delivery statuses ---- */

/* The delivery-status table of docs/dispatch.md: WMS status -> Shopify event status, and
 * whether the order is tagged. */
static const struct {
    const char *wms, *shopify;
    int failure;
    dispatch_tag_t tag;
} status_table[] = {
    {"PICKED_UP", "CARRIER_PICKED_UP", 0, DISPATCH_TAG_NONE},
    {"IN_TRANSIT", "IN_TRANSIT", 0, DISPATCH_TAG_NONE},
    {"OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY", 0, DISPATCH_TAG_NONE},
    {"ATTEMPTED_DELIVERY", "ATTEMPTED_DELIVERY", 0, DISPATCH_TAG_NONE},
    {"DELAYED", "DELAYED", 0, DISPATCH_TAG_NONE},
    {"DELIVERED", "DELIVERED", 0, DISPATCH_TAG_NONE},
    /* Shopify has no returned-to-origin, lost or damaged status (FulfillmentEventStatus):
     * FAILURE, with the courier's words as the message; RTO and loss also tag the order,
     * which merchants can filter on. */
    {"RTO_INITIATED", "FAILURE", 1, DISPATCH_TAG_RTO},
    {"RTO_IN_TRANSIT", "FAILURE", 1, DISPATCH_TAG_RTO},
    {"RTO_DELIVERED", "FAILURE", 1, DISPATCH_TAG_RTO},
    {"LOST", "FAILURE", 1, DISPATCH_TAG_LOST},
    {"DAMAGED", "FAILURE", 1, DISPATCH_TAG_NONE},
    {"CANCELLED", "FAILURE", 1, DISPATCH_TAG_NONE},
};

static int status_row(const char *wms_status)
{
    for (size_t i = 0; wms_status && i < sizeof(status_table) / sizeof(status_table[0]); i++) {
        if (strcmp(wms_status, status_table[i].wms) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *dispatch_status_map(const char *wms_status, int *failure)
{
    int i = status_row(wms_status);

    *failure = i >= 0 ? status_table[i].failure : 0;
    return i >= 0 ? status_table[i].shopify : NULL;
}

dispatch_tag_t dispatch_status_tag(const char *wms_status)
{
    int i = status_row(wms_status);

    return i >= 0 ? status_table[i].tag : DISPATCH_TAG_NONE;
}

json_t *dispatch_event_vars(const dispatch_event_t *ev, const char *fulfillment_gid)
{
    int failure = 0;
    const char *status = dispatch_status_map(ev->status, &failure);
    json_t *in = json_object();

    json_object_set_new(in, "fulfillmentId", json_string(fulfillment_gid));
    json_object_set_new(in, "status", json_string(status ? status : ""));
    json_object_set_new(in, "happenedAt", json_string(ev->happened_at));
    if (failure && ev->message) {
        /* The courier status first: it is what tells RTO from lost in Shopify's timeline. */
        json_object_set_new(in, "message", json_sprintf("%s: %s", ev->carrier_status, ev->message));
    } else {
        json_object_set_new(
            in, "message", json_string(!failure && ev->message ? ev->message : ev->carrier_status));
    }
    const char *opt[][2] = {
        {"city", ev->city}, {"province", ev->province}, {"country", ev->country}, {"zip", ev->zip}};

    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
        if (opt[i][1] && opt[i][1][0]) {
            json_object_set_new(in, opt[i][0], json_string(opt[i][1]));
        }
    }
    return json_pack("{s:o}", "fulfillmentEvent", in);
}

/* ---- fulfillments already in Shopify ---- */

static int status_live(const char *status)
{
    return !status || (strcmp(status, "CANCELLED") != 0 && strcmp(status, "ERROR") != 0 &&
                       strcmp(status, "FAILURE") != 0);
}

json_t *dispatch_find_fulfillments(json_t *order, const char *tracking_number)
{
    json_t *out = json_array();
    size_t i, k;
    json_t *f, *t;

    json_array_foreach(json_object_get(order, "fulfillments"), i, f)
    {
        const char *id = json_string_value(json_object_get(f, "id"));
        int match = 0;

        if (!id || !status_live(json_string_value(json_object_get(f, "status")))) {
            continue;
        }
        json_array_foreach(json_object_get(f, "trackingInfo"), k, t)
        {
            const char *n = json_string_value(json_object_get(t, "number"));

            match |= n && tracking_number && strcmp(n, tracking_number) == 0;
        }
        if (match) {
            json_t *loc = json_object_get(json_object_get(f, "location"), "id");

            json_array_append_new(out, json_pack("{s:s, s:O}", "id", id, "location",
                                                 json_is_string(loc) ? loc : json_null()));
        }
    }
    return out;
}

/* ---- the plan ---- */

/* One fulfillment order line item, with what is left of it as lines are planned. */
typedef struct cand {
    const char *fo, *loc, *foli, *status;
    char line[32]; /* the LineItem id, digits */
    int64_t left;
} cand_t;

static int fo_open(const char *status)
{
    return status && (strcmp(status, "OPEN") == 0 || strcmp(status, "IN_PROGRESS") == 0);
}

static int fo_done(const char *status)
{
    return status && (strcmp(status, "CLOSED") == 0 || strcmp(status, "CANCELLED") == 0);
}

static cand_t *collect(json_t *order, size_t *n)
{
    json_t *fos = json_object_get(json_object_get(order, "fulfillmentOrders"), "nodes");
    size_t total = 0, i, k;
    json_t *fo, *li;
    cand_t *c;

    json_array_foreach(fos, i, fo)
    {
        total += json_array_size(json_object_get(json_object_get(fo, "lineItems"), "nodes"));
    }
    c = calloc(total ? total : 1, sizeof(*c));
    *n = 0;
    if (!c) {
        return NULL;
    }
    json_array_foreach(fos, i, fo)
    {
        json_array_foreach(json_object_get(json_object_get(fo, "lineItems"), "nodes"), k, li)
        {
            cand_t *x = &c[*n];
            json_t *rem = json_object_get(li, "remainingQuantity");

            x->fo = json_string_value(json_object_get(fo, "id"));
            x->status = json_string_value(json_object_get(fo, "status"));
            x->loc = json_string_value(json_object_get(
                json_object_get(json_object_get(fo, "assignedLocation"), "location"), "id"));
            x->foli = json_string_value(json_object_get(li, "id"));
            dh_gid_tail(json_string_value(json_object_get(json_object_get(li, "lineItem"), "id")),
                        x->line, sizeof(x->line));
            x->left = json_is_integer(rem) ? (int64_t)json_integer_value(rem) : 0;
            if (x->fo && x->foli && x->line[0]) {
                (*n)++;
            }
        }
    }
    return c;
}

/* The member of array \p arr whose \p key equals \p val, or a new one appended. */
static json_t *entry(json_t *arr, const char *key, const char *val, const char *list)
{
    size_t i;
    json_t *e;

    json_array_foreach(arr, i, e)
    {
        const char *have = json_string_value(json_object_get(e, key));

        if (have && strcmp(have, val) == 0) {
            return e;
        }
    }
    e = json_pack("{s:s, s:[]}", key, val, list);
    json_array_append_new(arr, e);
    return e;
}

static void add_item(dispatch_plan_t *plan, const cand_t *c, int64_t q)
{
    json_t *g =
        entry(plan->groups, "location", c->loc ? c->loc : "", "lineItemsByFulfillmentOrder");
    json_t *fo = entry(json_object_get(g, "lineItemsByFulfillmentOrder"), "fulfillmentOrderId",
                       c->fo, "fulfillmentOrderLineItems");
    json_t *items = json_object_get(fo, "fulfillmentOrderLineItems");
    size_t i;
    json_t *it;

    json_array_foreach(items, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "id")), c->foli) == 0) {
            json_object_set_new(
                it, "quantity",
                json_integer(json_integer_value(json_object_get(it, "quantity")) + q));
            return;
        }
    }
    json_array_append_new(items, json_pack("{s:s, s:I}", "id", c->foli, "quantity", (json_int_t)q));
}

static int at(const cand_t *c, const char *loc)
{
    return loc && c->loc && strcmp(loc, c->loc) == 0;
}

/* Why the units of \p l that \p loc could not cover were not planned: a fulfillment order
 * there that cannot be fulfilled yet, open ones elsewhere, or only closed ones. */
static dispatch_plan_rc_t uncovered(const dispatch_line_t *l, const cand_t *c, size_t n,
                                    const char *loc, int64_t got, char *err, size_t err_size)
{
    const cand_t *blocked = NULL, *elsewhere = NULL, *closed = NULL;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].line, l->line_item_id) != 0 || c[i].left <= 0) {
            continue;
        }
        if (fo_done(c[i].status)) {
            closed = closed ? closed : &c[i];
        } else if (!at(&c[i], loc)) {
            elsewhere = elsewhere ? elsewhere : &c[i];
        } else if (!fo_open(c[i].status)) {
            blocked = blocked ? blocked : &c[i];
        }
    }
    if (blocked) {
        snprintf(err, err_size, "line item %s: fulfillment order %s is %s", l->line_item_id,
                 blocked->fo, blocked->status);
        return DISPATCH_PLAN_BLOCKED;
    }
    if (elsewhere) {
        snprintf(err, err_size,
                 "line item %s: %lld unit(s) left only on fulfillment order %s at %s, not at %s",
                 l->line_item_id, (long long)(l->quantity - got), elsewhere->fo,
                 elsewhere->loc ? elsewhere->loc : "(no location)", loc ? loc : "(unmapped)");
        return DISPATCH_PLAN_ELSEWHERE;
    }
    if (closed && got == 0) {
        snprintf(err, err_size, "line item %s: fulfillment order %s is %s", l->line_item_id,
                 closed->fo, closed->status);
        return DISPATCH_PLAN_CLOSED;
    }
    return DISPATCH_PLAN_OK;
}

/* Plans one line from the open fulfillment orders at \p loc; returns DISPATCH_PLAN_OK or
 * why the line cannot be planned. */
static dispatch_plan_rc_t plan_line(const dispatch_line_t *l, cand_t *c, size_t n, const char *loc,
                                    dispatch_plan_t *plan, char *err, size_t err_size)
{
    int64_t want = l->quantity, got = 0;
    int known = 0;
    dispatch_plan_rc_t rc;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].line, l->line_item_id) != 0) {
            continue;
        }
        known = 1;
        if (want > 0 && at(&c[i], loc) && c[i].left > 0 && fo_open(c[i].status)) {
            int64_t q = want < c[i].left ? want : c[i].left;

            add_item(plan, &c[i], q);
            c[i].left -= q;
            want -= q;
            got += q;
        }
    }
    if (!known) {
        snprintf(err, err_size, "line item %s (sku %s) is not on the order", l->line_item_id,
                 l->sku);
        return DISPATCH_PLAN_UNKNOWN;
    }
    if (want == 0) {
        return DISPATCH_PLAN_OK;
    }
    rc = uncovered(l, c, n, loc, got, err, err_size);
    if (rc == DISPATCH_PLAN_OK) {
        plan->skipped += want;
        plan->capped += got > 0 ? want : 0;
    }
    return rc;
}

dispatch_plan_rc_t dispatch_plan_build(const dispatch_event_t *ev, json_t *order,
                                       const char *location, dispatch_plan_t *plan, char *err,
                                       size_t err_size)
{
    size_t n = 0;
    cand_t *c = collect(order, &n);
    dispatch_plan_rc_t rc = DISPATCH_PLAN_OK;

    memset(plan, 0, sizeof(*plan));
    plan->groups = json_array();
    err[0] = '\0';
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return DISPATCH_PLAN_BLOCKED;
    }
    for (size_t i = 0; i < ev->nlines && rc == DISPATCH_PLAN_OK; i++) {
        rc = plan_line(&ev->lines[i], c, n, location, plan, err, err_size);
    }
    free(c);
    return rc;
}

void dispatch_plan_clear(dispatch_plan_t *plan)
{
    if (plan) {
        json_decref(plan->groups);
        plan->groups = NULL;
    }
}

/* trackingInfo: Shopify's name for the courier, the number, and a url when the event has
 * one, else for a courier Shopify does not list from \p url_templates. */
static json_t *tracking_input(const dispatch_event_t *ev, const char *url_templates)
{
    int known = 0;
    const char *company = dispatch_carrier_name(ev->company, &known);
    json_t *tracking = json_pack("{s:s, s:s}", "company", company, "number", ev->tracking_number);
    char url[1024];

    if (ev->tracking_url) {
        json_object_set_new(tracking, "url", json_string(ev->tracking_url));
    } else if (!known && dispatch_tracking_url(url_templates, company, ev->tracking_number, url,
                                               sizeof(url))) {
        /* Shopify builds no link for a courier outside its list: ours, or none at all. */
        json_object_set_new(tracking, "url", json_string(url));
    }
    return tracking;
}

json_t *dispatch_create_vars_ex(const dispatch_event_t *ev, json_t *group, int notify_customer,
                                const char *url_templates)
{
    return json_pack("{s:{s:b, s:o, s:O}}", "fulfillment", "notifyCustomer", notify_customer,
                     "trackingInfo", tracking_input(ev, url_templates),
                     "lineItemsByFulfillmentOrder",
                     json_object_get(group, "lineItemsByFulfillmentOrder"));
}

json_t *dispatch_retrack_vars(const dispatch_event_t *ev, const char *fulfillment_gid,
                              int notify_customer, const char *url_templates)
{
    return json_pack("{s:s, s:o, s:b}", "fulfillmentId", fulfillment_gid, "trackingInfoInput",
                     tracking_input(ev, url_templates), "notifyCustomer", notify_customer);
}

json_t *dispatch_create_vars(const dispatch_event_t *ev, json_t *group, int notify_customer)
{
    return dispatch_create_vars_ex(ev, group, notify_customer, NULL);
}

/* ---- fulfillment lists ({"id": gid, "location": gid or null} objects) ---- */

/* Space-separated gids of \p list ({"id": ...} objects) appended to \p buf. */
void dispatch_join_ids(json_t *list, char *buf, size_t size)
{
    size_t i;
    json_t *f;

    json_array_foreach(list, i, f)
    {
        size_t n = strlen(buf);

        snprintf(buf + n, size - n, "%s%s", n ? " " : "",
                 json_string_value(json_object_get(f, "id")));
    }
}

/* An adopted fulfillment covers \p group when it is at the group's location (or Shopify
 * did not say where it is). */
int dispatch_covered(json_t *adopted, json_t *group)
{
    const char *loc = json_string_value(json_object_get(group, "location"));
    size_t i;
    json_t *f;

    json_array_foreach(adopted, i, f)
    {
        const char *at = json_string_value(json_object_get(f, "location"));

        if (!at || (loc && strcmp(at, loc) == 0)) {
            return 1;
        }
    }
    return 0;
}

/* Whether \p list ({"id": ...} objects) holds \p gid. */
int dispatch_listed(json_t *list, const char *gid)
{
    size_t i;
    json_t *f;

    json_array_foreach(list, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "id")), gid) == 0) {
            return 1;
        }
    }
    return 0;
}
