/*
 * wms_orders: the sales-order lifecycle of the WMS double beyond create/cancel/release:
 * an update of lines and address before picking (refused with 409 and a problem type once
 * the WMS picked or dispatched the order), and the control endpoints that move an order
 * to PICKED or DISPATCHED as the warehouse would. The state lock is held by the callers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wms.h"

static const char *sget(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

/* A picked, dispatched or cancelled order cannot change: 1 and the 409 answered. */
static int refuse_if_started(json_t *so, const char *what, dh_sb_resp_t *resp)
{
    char detail[256];
    const char *st = sget(so, "status");
    const char *slug = !strcmp(st, "PICKED")       ? "order-already-picked"
                       : !strcmp(st, "DISPATCHED") ? "order-already-dispatched"
                       : !strcmp(st, "CANCELLED")  ? "order-cancelled"
                                                   : NULL;

    if (!slug) {
        return 0;
    }
    snprintf(detail, sizeof detail, "Sales order %s is %s and cannot be %s.", sget(so, "id"), st,
             what);
    dh_sb_wms_problem(resp, 409, slug, "Order can no longer change", detail, NULL);
    return 1;
}

void dh_sb_wms_order_update(json_t *so, json_t *body, dh_sb_resp_t *resp)
{
    static const char *const fields[] = {"lines", "non_shipping_lines", "unmapped_lines",
                                         "other_location_lines", "shipping_address"};
    json_t *payment = json_object_get(body, "payment");
    static const char *const header[] = {"store",    "channel_order_id", "order_name",
                                         "status",   "hold_code",        "hold_reason",
                                         "currency", "created_at"};
    json_t *errors = json_array(), *check = json_object();

    if (refuse_if_started(so, "updated", resp)) {
        goto out;
    }
    /* The update is checked as the order it makes: the header of the stored order, the
     * new lines and address (a line absent from the update is cancelled). */
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++) {
        json_object_set(check, header[i], json_object_get(so, header[i]));
    }
    json_object_update(check, body);
    json_object_del(check, "updated_at");
    dh_sb_wms_validate_order(check, errors);
    if (!json_is_string(json_object_get(body, "updated_at"))) {
        json_array_append_new(
            errors, json_pack("{s:s, s:s}", "field", "updated_at", "message", "required"));
    }
    if (json_array_size(errors)) {
        dh_sb_wms_problem(resp, 422, "validation", "Validation failed",
                          "The sales-order update is invalid.", errors);
        errors = NULL;
        goto out;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(body, fields[i]);

        if (v) {
            json_object_set(so, fields[i], v);
        } else {
            json_object_del(so, fields[i]);
        }
    }
    if (payment) { /* replaced when sent; an update without one keeps the order's */
        json_object_set(so, "payment", payment);
    }
    json_object_set(so, "updated_at", json_object_get(body, "updated_at"));
    dh_sb_resp_json(resp, 200, json_incref(so));
out:
    json_decref(errors);
    json_decref(check);
}

void dh_sb_wms_order_hold(json_t *so, json_t *body, dh_sb_resp_t *resp)
{
    json_t *check = json_deep_copy(so), *errors = json_array();

    if (refuse_if_started(so, "held", resp)) {
        goto out;
    }
    /* Checked as the held order it makes (a known hold_code, a reason). */
    json_object_set_new(check, "status", json_string("ON_HOLD"));
    json_object_set(check, "hold_code", json_object_get(body, "hold_code"));
    json_object_set(check, "hold_reason", json_object_get(body, "hold_reason"));
    dh_sb_wms_validate_order(check, errors);
    if (json_array_size(errors) || json_object_size(body) != 2) {
        dh_sb_wms_problem(resp, 422, "validation", "Validation failed",
                          "A hold needs exactly hold_code and hold_reason.", errors);
        errors = NULL;
        goto out;
    }
    json_object_set_new(so, "status", json_string("ON_HOLD"));
    json_object_set(so, "hold_code", json_object_get(body, "hold_code"));
    json_object_set(so, "hold_reason", json_object_get(body, "hold_reason"));
    dh_sb_resp_json(resp, 200, json_incref(so));
out:
    json_decref(errors);
    json_decref(check);
}

int dh_sb_wms_order_refuse_cancel(json_t *so, dh_sb_resp_t *resp)
{
    return !strcmp(sget(so, "status"), "DISPATCHED") && refuse_if_started(so, "cancelled", resp);
}

void dh_sb_wms_order_progress(dh_sb_state_t *st, const char *rest, dh_sb_resp_t *resp)
{
    char store[128], coid[64], action[32] = "", key[300], now[32];
    struct timespec ts;
    struct tm tm;

    if (sscanf(rest, "%127[^/]/%63[^/]/%31s", store, coid, action) != 3 ||
        (strcmp(action, "pick") && strcmp(action, "dispatch"))) {
        dh_sb_wms_problem(resp, 404, "not-found", "Not found", "Use …/pick or …/dispatch.", NULL);
        return;
    }
    snprintf(key, sizeof key, "%s/%s", store, coid);
    json_t *so = json_object_get(json_object_get(st->wms, "orders"), key);

    if (!so) {
        dh_sb_wms_problem(resp, 404, "not-found", "Not found", "No such sales order.", NULL);
        return;
    }
    if (!strcmp(sget(so, "status"), "CANCELLED") || !strcmp(sget(so, "status"), "DISPATCHED")) {
        dh_sb_wms_problem(resp, 409, "conflict", "Conflict", "The order is closed.", NULL);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(so, "status",
                        json_string(strcmp(action, "pick") ? "DISPATCHED" : "PICKED"));
    json_object_set_new(so, strcmp(action, "pick") ? "dispatched_at" : "picked_at",
                        json_string(now));
    dh_sb_resp_json(resp, 200, json_incref(so));
}
