/*
 * Unit tests of dh-dispatch's pure core (mapping.c): the contract's valid and invalid
 * examples, the status table, the fulfillmentEventCreate and fulfillmentCreate variables,
 * adoption by tracking number, and the plan (grouping per location, remaining-quantity
 * caps, skipped, unknown, held and cancelled lines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "th_examples.h"

static void parse_example(const char *name, dispatch_event_t *ev)
{
    char err[512];
    size_t len;
    char *buf = th_slurp(DH_DISPATCH_EXAMPLES "/valid", name, &len);

    if (dispatch_event_parse(buf, len, ev, err, sizeof(err)) != DISPATCH_PARSE_OK) {
        fail_msg("%s: %s", name, err);
    }
    free(buf);
}

static void test_valid_examples(void **state)
{
    dispatch_event_t ev;

    (void)state;
    parse_example("dispatch-full.json", &ev);
    assert_int_equal(ev.kind, DISPATCH_SHIPMENT);
    assert_string_equal(ev.env.scope, "ACME");
    assert_string_equal(ev.shipment_id, "SHP-55120");
    assert_string_equal(ev.order_id, "5802154000001");
    assert_string_equal(ev.facility, "BLR-1");
    assert_string_equal(ev.company, "Delhivery");
    assert_string_equal(ev.tracking_number, "1490812345678");
    assert_non_null(ev.tracking_url);
    assert_int_equal(ev.nlines, 2);
    assert_string_equal(ev.lines[1].line_item_id, "14202154000012");
    assert_int_equal(ev.lines[0].quantity, 2);
    assert_int_equal(ev.lines[0].stock_seq, -1); /* optional stock_sequence absent */
    assert_int_equal(ev.lines[1].stock_seq, -1);
    assert_true(dispatch_key_matches(&ev, "ACME|5802154000001", 18));
    assert_false(dispatch_key_matches(&ev, "ACME|5802154000002", 18));
    assert_false(dispatch_key_matches(&ev, "ACME|58021540000011", 19));
    dispatch_event_clear(&ev);

    parse_example("dispatch-with-stock-sequence.json", &ev);
    assert_int_equal(ev.nlines, 2);
    assert_int_equal(ev.lines[0].stock_seq, 1047);
    assert_int_equal(ev.lines[1].stock_seq, 89);
    dispatch_event_clear(&ev);

    parse_example("dispatch-no-tracking-url.json", &ev);
    assert_null(ev.tracking_url);
    assert_string_equal(ev.env.scope, "acme-apparel.myshopify.com");
    dispatch_event_clear(&ev);

    parse_example("delivery-in-transit.json", &ev);
    assert_int_equal(ev.kind, DISPATCH_STATUS);
    assert_string_equal(ev.status, "IN_TRANSIT");
    assert_int_equal(ev.sequence, 1);
    assert_null(ev.tracking_number);
    dispatch_event_clear(&ev);
}

/* Every invalid example is refused, naming the field ajv names (expected-errors.json). */
static void test_invalid_examples(void **state)
{
    json_t *expected = th_expected_errors(DH_DISPATCH_EXAMPLES);
    const char *name;
    json_t *want;

    (void)state;
    json_object_foreach(expected, name, want)
    {
        char err[512], sub[300];
        size_t len;
        char *buf = th_slurp(DH_DISPATCH_EXAMPLES "/invalid", name, &len);
        dispatch_event_t ev;
        const char *path = json_string_value(json_object_get(want, "instancePath"));
        const char *missing =
            json_string_value(json_object_get(json_object_get(want, "params"), "missingProperty"));

        assert_int_equal(dispatch_event_parse(buf, len, &ev, err, sizeof(err)),
                         DISPATCH_PARSE_SCHEMA);
        snprintf(sub, sizeof(sub), "%s ", path);
        if (strncmp(err, sub, strlen(sub)) != 0 && strncmp(err, path, strlen(path)) != 0) {
            fail_msg("%s: \"%s\" does not start with %s", name, err, path);
        }
        if (missing && !strstr(err, missing)) {
            fail_msg("%s: \"%s\" does not name %s", name, err, missing);
        }
        dispatch_event_clear(&ev);
        free(buf);
    }
    json_decref(expected);
    char err[128];
    dispatch_event_t ev;

    assert_int_equal(dispatch_event_parse("[1]", 3, &ev, err, sizeof(err)), DISPATCH_PARSE_DECODE);
    dispatch_event_clear(&ev);
    assert_int_equal(dispatch_event_parse(NULL, 0, &ev, err, sizeof(err)), DISPATCH_PARSE_DECODE);
    dispatch_event_clear(&ev);
}

static void test_status_map(void **state)
{
    static const struct {
        const char *wms, *shopify;
        int failure;
        dispatch_tag_t tag;
    } cases[] = {
        {"PICKED_UP", "CARRIER_PICKED_UP", 0, DISPATCH_TAG_NONE},
        {"IN_TRANSIT", "IN_TRANSIT", 0, DISPATCH_TAG_NONE},
        {"OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY", 0, DISPATCH_TAG_NONE},
        {"ATTEMPTED_DELIVERY", "ATTEMPTED_DELIVERY", 0, DISPATCH_TAG_NONE},
        {"DELAYED", "DELAYED", 0, DISPATCH_TAG_NONE},
        {"DELIVERED", "DELIVERED", 0, DISPATCH_TAG_NONE},
        {"RTO_INITIATED", "FAILURE", 1, DISPATCH_TAG_RTO},
        {"RTO_IN_TRANSIT", "FAILURE", 1, DISPATCH_TAG_RTO},
        {"RTO_DELIVERED", "FAILURE", 1, DISPATCH_TAG_RTO},
        {"LOST", "FAILURE", 1, DISPATCH_TAG_LOST},
        {"DAMAGED", "FAILURE", 1, DISPATCH_TAG_NONE},
        {"CANCELLED", "FAILURE", 1, DISPATCH_TAG_NONE},
    };
    int failure = 7;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(dispatch_status_map(cases[i].wms, &failure), cases[i].shopify);
        assert_int_equal(failure, cases[i].failure);
        assert_int_equal(dispatch_status_tag(cases[i].wms), cases[i].tag);
    }
    assert_null(dispatch_status_map("RETURNED", &failure));
    assert_null(dispatch_status_map(NULL, &failure));
    assert_int_equal(dispatch_status_tag("RETURNED"), DISPATCH_TAG_NONE);
}

static void test_event_vars(void **state)
{
    dispatch_event_t ev;
    json_t *v;

    (void)state;
    parse_example("delivery-rto-delivered.json", &ev);
    v = dispatch_event_vars(&ev, "gid://shopify/Fulfillment/9");
    th_assert_json_equal(
        v, "{\"fulfillmentEvent\": {\"fulfillmentId\": \"gid://shopify/Fulfillment/9\","
           " \"status\": \"FAILURE\", \"happenedAt\": \"2026-05-09T17:40:00+05:30\","
           " \"message\": \"RTO Delivered: Returned to origin after 3 failed "
           "attempts\", \"country\": \"IN\"}}");
    json_decref(v);
    dispatch_event_clear(&ev);

    parse_example("delivery-in-transit.json", &ev);
    v = dispatch_event_vars(&ev, "gid://shopify/Fulfillment/9");
    th_assert_json_equal(
        v, "{\"fulfillmentEvent\": {\"fulfillmentId\": \"gid://shopify/Fulfillment/9\","
           " \"status\": \"IN_TRANSIT\", \"happenedAt\": \"2026-05-03T08:12:00+05:30\","
           " \"message\": \"In Transit - Reached Bengaluru_Hub\", \"city\": "
           "\"Bengaluru\", \"province\": \"Karnataka\", \"country\": \"IN\", \"zip\": "
           "\"560001\"}}");
    json_decref(v);
    dispatch_event_clear(&ev);
}

/* An order as DH_GQL_ORDER_FULFILLMENT_ORDERS returns it: FO 1 at location 11 (line 501: 2
 * left of 3; line 502: fully fulfilled), FO 2 at location 12 (line 503: 1 left), FO 3 at 11
 * ON_HOLD (line 504: 2 left), FO 4 CANCELLED (line 505: 1 left), FO 5 at 12 (line 501's
 * other 4 units). */
static const char order_fos[] =
    "{\"id\": \"gid://shopify/Order/1\", \"fulfillmentOrders\": {\"nodes\": ["
    "{\"id\": \"gid://shopify/FulfillmentOrder/1\", \"status\": \"IN_PROGRESS\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/11\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/71\", \"remainingQuantity\": 2, "
    "   \"totalQuantity\": 3, \"lineItem\": {\"id\": \"gid://shopify/LineItem/501\"}},"
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/72\", \"remainingQuantity\": 0, "
    "   \"totalQuantity\": 1, \"lineItem\": {\"id\": \"gid://shopify/LineItem/502\"}}]}},"
    "{\"id\": \"gid://shopify/FulfillmentOrder/2\", \"status\": \"OPEN\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/12\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/73\", \"remainingQuantity\": 1, "
    "   \"totalQuantity\": 1, \"lineItem\": {\"id\": \"gid://shopify/LineItem/503\"}}]}},"
    "{\"id\": \"gid://shopify/FulfillmentOrder/3\", \"status\": \"ON_HOLD\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/11\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/74\", \"remainingQuantity\": 2, "
    "   \"totalQuantity\": 2, \"lineItem\": {\"id\": \"gid://shopify/LineItem/504\"}}]}},"
    "{\"id\": \"gid://shopify/FulfillmentOrder/4\", \"status\": \"CANCELLED\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/11\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/75\", \"remainingQuantity\": 1, "
    "   \"totalQuantity\": 1, \"lineItem\": {\"id\": \"gid://shopify/LineItem/505\"}}]}},"
    "{\"id\": \"gid://shopify/FulfillmentOrder/5\", \"status\": \"OPEN\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/12\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/76\", \"remainingQuantity\": 4, "
    "   \"totalQuantity\": 4, \"lineItem\": {\"id\": \"gid://shopify/LineItem/501\"}}]}},"
    "{\"id\": \"gid://shopify/FulfillmentOrder/6\", \"status\": \"OPEN\", "
    " \"assignedLocation\": {\"location\": {\"id\": \"gid://shopify/Location/11\"}},"
    " \"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/FulfillmentOrderLineItem/77\", \"remainingQuantity\": 1, "
    "   \"totalQuantity\": 1, \"lineItem\": {\"id\": \"gid://shopify/LineItem/501\"}}]}}"
    "]}}";

/* A dispatch event whose lines are "<line item>:<quantity>" pairs. */
static void dispatch_of(dispatch_event_t *ev, const char *facility, const char *const *lines)
{
    char buf[4096], err[256];
    int n = snprintf(
        buf, sizeof(buf),
        "{\"schema_version\": 1, \"event_id\": \"0190c4a0-0000-7000-8000-000000000009\","
        " \"event_type\": \"dispatch\", \"occurred_at\": \"2026-05-02T09:00:00Z\","
        " \"tenant\": \"ACME\", \"shipment_id\": \"S-1\", %s%s%s"
        " \"order\": {\"channel_order_id\": \"1\", \"order_name\": \"#1\"},"
        " \"carrier\": {\"company\": \"Delhivery\", \"tracking_number\": \"T-1\","
        " \"tracking_url\": null}, \"sequence\": 0, \"lines\": [",
        facility ? "\"facility\": \"" : "", facility ? facility : "", facility ? "\"," : "");

    for (size_t i = 0; lines[i]; i++) {
        char id[32];
        int q;

        assert_int_equal(sscanf(lines[i], "%31[^:]:%d", id, &q), 2);
        n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                      "%s{\"sku\": \"S%zu\", \"quantity\": %d, \"channel_line_item_id\": \"%s\"}",
                      i ? ", " : "", i, q, id);
    }
    snprintf(buf + n, sizeof(buf) - (size_t)n, "]}");
    if (dispatch_event_parse(buf, strlen(buf), ev, err, sizeof(err)) != DISPATCH_PARSE_OK) {
        fail_msg("%s", err);
    }
}

/* issue #10: a sequence far beyond int64_t is a schema rejection, not undefined behaviour
 * (under UBSan the cast used to kill the worker). */
static void test_huge_sequence(void **state)
{
    static const char *const seqs[] = {"20955555555555E74", "-20955555555555E74", "1e308"};
    size_t len;
    char *ex = th_slurp(DH_DISPATCH_EXAMPLES "/valid", "delivery-in-transit.json", &len);
    char *at = strstr(ex, "\"sequence\": 1,");
    char buf[4096], err[256];
    dispatch_event_t ev;

    (void)state;
    assert_non_null(at);
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        snprintf(buf, sizeof(buf), "%.*s\"sequence\": %s,%s", (int)(at - ex), ex, seqs[i],
                 at + strlen("\"sequence\": 1,"));
        memset(&ev, 0, sizeof(ev));
        assert_int_equal(dispatch_event_parse(buf, strlen(buf), &ev, err, sizeof(err)),
                         DISPATCH_PARSE_SCHEMA);
        assert_string_equal(err, i == 1 ? "/sequence must be >= 0"
                                        : "/sequence must be <= 9007199254740991");
        dispatch_event_clear(&ev);
    }
    free(ex);
}

typedef struct plan_case {
    const char *name;
    const char *lines[4];
    const char *location; /* the dispatching facility's */
    dispatch_plan_rc_t rc;
    const char *groups; /* expected JSON, or NULL when rc != OK */
    int64_t skipped, capped;
    const char *err; /* substring of the reason */
} plan_case_t;

#define FO(n)   "\"gid://shopify/FulfillmentOrder/" #n "\""
#define FOLI(n) "\"gid://shopify/FulfillmentOrderLineItem/" #n "\""
#define LOC(n)  "\"gid://shopify/Location/" #n "\""
#define L11     "gid://shopify/Location/11"
#define L12     "gid://shopify/Location/12"

static void test_plan(void **state)
{
    /* clang-format off */
    static const plan_case_t cases[] = {
        {"only the facility's location", {"503:1", NULL}, L12, DISPATCH_PLAN_OK,
         "[{\"location\": " LOC(12) ", \"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": "
         FO(2) ", \"fulfillmentOrderLineItems\": [{\"id\": " FOLI(73) ", \"quantity\": 1}]}]}]",
         0, 0, NULL},
        {"two fulfillment orders at the location: one call", {"501:3", NULL}, L11,
         DISPATCH_PLAN_OK,
         "[{\"location\": " LOC(11) ", \"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": "
         FO(1) ", \"fulfillmentOrderLineItems\": [{\"id\": " FOLI(71) ", \"quantity\": 2}]}, "
         "{\"fulfillmentOrderId\": " FO(6) ", \"fulfillmentOrderLineItems\": [{\"id\": " FOLI(77)
         ", \"quantity\": 1}]}]}]",
         0, 0, NULL},
        {"capped at what remains (none elsewhere)", {"503:3", NULL}, L12, DISPATCH_PLAN_OK,
         "[{\"location\": " LOC(12) ", \"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": "
         FO(2) ", \"fulfillmentOrderLineItems\": [{\"id\": " FOLI(73) ", \"quantity\": 1}]}]}]",
         2, 2, NULL},
        {"the same line twice is one item", {"501:1", "501:1", NULL}, L11, DISPATCH_PLAN_OK,
         "[{\"location\": " LOC(11) ", \"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": "
         FO(1) ", \"fulfillmentOrderLineItems\": [{\"id\": " FOLI(71) ", \"quantity\": 2}]}]}]",
         0, 0, NULL},
        {"fully fulfilled line: nothing to create", {"502:1", NULL}, L11, DISPATCH_PLAN_OK, "[]",
         1, 0, NULL},
        {"a unit left only at another location", {"501:4", NULL}, L11, DISPATCH_PLAN_ELSEWHERE,
         NULL, 0, 0, "1 unit(s) left only on fulfillment order gid://shopify/FulfillmentOrder/5"},
        {"a line only at another location", {"503:1", NULL}, L11, DISPATCH_PLAN_ELSEWHERE, NULL,
         0, 0, "at gid://shopify/Location/12, not at gid://shopify/Location/11"},
        {"no location: nothing is ours", {"503:1", NULL}, NULL, DISPATCH_PLAN_ELSEWHERE, NULL, 0,
         0, "(unmapped)"},
        {"unknown line item", {"503:1", "999:1", NULL}, L12, DISPATCH_PLAN_UNKNOWN, NULL, 0, 0,
         "line item 999"},
        {"held fulfillment order", {"504:1", NULL}, L11, DISPATCH_PLAN_BLOCKED, NULL, 0, 0,
         "ON_HOLD"},
        {"cancelled fulfillment order", {"505:1", NULL}, L11, DISPATCH_PLAN_CLOSED, NULL, 0, 0,
         "CANCELLED"},
    };
    /* clang-format on */
    json_t *order = json_loads(order_fos, 0, NULL);

    (void)state;
    assert_non_null(order);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const plan_case_t *c = &cases[i];
        dispatch_event_t ev;
        dispatch_plan_t plan;
        char err[256];

        print_message("plan: %s\n", c->name);
        dispatch_of(&ev, NULL, c->lines);
        assert_int_equal(dispatch_plan_build(&ev, order, c->location, &plan, err, sizeof(err)),
                         c->rc);
        if (c->groups) {
            th_assert_json_equal(plan.groups, c->groups);
            assert_int_equal(plan.skipped, c->skipped);
            assert_int_equal(plan.capped, c->capped);
        }
        if (c->err && !strstr(err, c->err)) {
            fail_msg("%s: \"%s\" lacks \"%s\"", c->name, err, c->err);
        }
        dispatch_plan_clear(&plan);
        dispatch_event_clear(&ev);
    }
    json_decref(order);
}

static void test_create_vars(void **state)
{
    dispatch_event_t ev;
    json_t *group = json_loads("{\"location\": \"L\", \"lineItemsByFulfillmentOrder\": "
                               "[{\"fulfillmentOrderId\": \"F\"}]}",
                               0, NULL);
    json_t *v;

    (void)state;
    parse_example("dispatch-with-stock-sequence.json", &ev);
    assert_int_equal(ev.nlines, 2);
    assert_int_equal(ev.lines[0].stock_seq, 1047);
    assert_int_equal(ev.lines[1].stock_seq, 89);
    dispatch_event_clear(&ev);

    parse_example("dispatch-no-tracking-url.json", &ev);
    v = dispatch_create_vars(&ev, group, 0);
    th_assert_json_equal(v, "{\"fulfillment\": {\"notifyCustomer\": false, \"trackingInfo\": "
                            "{\"company\": \"Local Courier\", \"number\": \"LC-0099\"}, "
                            "\"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": \"F\"}]}}");
    json_decref(v);
    dispatch_event_clear(&ev);
    parse_example("dispatch-full.json", &ev);
    v = dispatch_create_vars(&ev, group, 1);
    th_assert_json_equal(v, "{\"fulfillment\": {\"notifyCustomer\": true, \"trackingInfo\": "
                            "{\"company\": \"Delhivery\", \"number\": \"1490812345678\", \"url\": "
                            "\"https://www.delhivery.com/track/package/1490812345678\"}, "
                            "\"lineItemsByFulfillmentOrder\": [{\"fulfillmentOrderId\": \"F\"}]}}");
    json_decref(v);
    dispatch_event_clear(&ev);
    json_decref(group);
}

/* WMS spellings -> Shopify's case-exact names; unknown couriers pass unchanged. */
static void test_carriers(void **state)
{
    static const struct {
        const char *wms, *shopify;
        int known;
    } cases[] = {
        {"BLUEDART", "Bluedart", 1},
        {"Blue Dart Express", "Bluedart", 1},
        {"Xpress Bees", "XpressBees", 1},
        {"xpressbees", "XpressBees", 1},
        {"Delhivery Surface", "Delhivery", 1},
        {"ECOM", "Ecom Express", 1},
        {"Ekart Logistics", "Ekart", 1},
        {"Speed Post", "India Post", 1},
        {"gati", "Gati KWE", 1},
        {"The Professional Couriers", "Professional Couriers", 1},
        {"shadowfax", "Shadowfax", 1},
        {"dtdc", "DTDC", 1},
        {"DHL", "DHL Express", 1},
        {"fed-ex", "FedEx", 1},
        {"Shree Maruti Courier", "Shree Maruti Courier", 0},
        {"Aramex", "Aramex", 0},
        {"--", "--", 0},
    };
    int known = -1;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(dispatch_carrier_name(cases[i].wms, &known), cases[i].shopify);
        assert_int_equal(known, cases[i].known);
    }
    assert_null(dispatch_carrier_name(NULL, &known));
    assert_int_equal(known, 0);
}

static void test_tracking_urls(void **state)
{
    static const char tpl[] = "Local Courier=https://lc.example/t/{number}?src=dh, Shree "
                              "Maruti=https://sm.example/{number}";
    char url[256], err[256];
    dispatch_event_t ev;
    json_t *group = json_loads("{\"lineItemsByFulfillmentOrder\": []}", 0, NULL), *v;

    (void)state;
    assert_int_equal(dispatch_tracking_url(tpl, "LOCAL courier", "LC-1", url, sizeof(url)), 1);
    assert_string_equal(url, "https://lc.example/t/LC-1?src=dh");
    assert_int_equal(dispatch_tracking_url(tpl, "Shree Maruti", "9", url, sizeof(url)), 1);
    assert_string_equal(url, "https://sm.example/9");
    assert_int_equal(dispatch_tracking_url(tpl, "Aramex", "9", url, sizeof(url)), 0);
    assert_int_equal(dispatch_tracking_url(NULL, "Aramex", "9", url, sizeof(url)), 0);
    assert_int_equal(dispatch_url_templates_check(tpl, err, sizeof(err)), 0);
    assert_int_equal(dispatch_url_templates_check("", err, sizeof(err)), 0);
    assert_int_equal(dispatch_url_templates_check("X=https://x.example/", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "{number}"));
    assert_int_equal(dispatch_url_templates_check("X=ftp://x/{number}", err, sizeof(err)), -1);
    assert_int_equal(dispatch_url_templates_check("https://x/{number}", err, sizeof(err)), -1);

    /* A new AWB: the fulfillment's tracking, the company mapped like a creation's. */
    parse_example("dispatch-full.json", &ev);
    v = dispatch_retrack_vars(&ev, "gid://shopify/Fulfillment/9", 0, tpl);
    th_assert_json_equal(v,
                         "{\"fulfillmentId\": \"gid://shopify/Fulfillment/9\", \"notifyCustomer\": "
                         "false, \"trackingInfoInput\": {\"company\": \"Delhivery\", \"number\": "
                         "\"1490812345678\", \"url\": "
                         "\"https://www.delhivery.com/track/package/1490812345678\"}}");
    json_decref(v);
    dispatch_event_clear(&ev);

    /* An unknown courier without a WMS url gets its template's link. */
    parse_example("dispatch-with-stock-sequence.json", &ev);
    assert_int_equal(ev.nlines, 2);
    assert_int_equal(ev.lines[0].stock_seq, 1047);
    assert_int_equal(ev.lines[1].stock_seq, 89);
    dispatch_event_clear(&ev);

    parse_example("dispatch-no-tracking-url.json", &ev);
    v = dispatch_create_vars_ex(&ev, group, 1, tpl);
    th_assert_json_equal(json_object_get(json_object_get(v, "fulfillment"), "trackingInfo"),
                         "{\"company\": \"Local Courier\", \"number\": \"LC-0099\", \"url\": "
                         "\"https://lc.example/t/LC-0099?src=dh\"}");
    json_decref(v);
    dispatch_event_clear(&ev);
    json_decref(group);
}

static void test_find_fulfillments(void **state)
{
    json_t *order = json_loads(
        "{\"fulfillments\": ["
        "{\"id\": \"F1\", \"status\": \"SUCCESS\", \"location\": {\"id\": \"L11\"},"
        " \"trackingInfo\": [{\"number\": \"OTHER\"}]},"
        "{\"id\": \"F2\", \"status\": \"CANCELLED\", \"trackingInfo\": [{\"number\": \"T-1\"}]},"
        "{\"id\": \"F3\", \"status\": \"SUCCESS\", \"location\": {\"id\": \"L11\"},"
        " \"trackingInfo\": [{\"number\": \"X\"}, {\"number\": \"T-1\"}]},"
        "{\"id\": \"F4\", \"status\": \"SUCCESS\", \"location\": null,"
        " \"trackingInfo\": [{\"number\": \"T-1\", \"url\": null}]}]}",
        0, NULL);
    json_t *found;

    (void)state;
    assert_non_null(order);
    found = dispatch_find_fulfillments(order, "T-1");
    th_assert_json_equal(found, "[{\"id\": \"F3\", \"location\": \"L11\"}, {\"id\": \"F4\", "
                                "\"location\": null}]");
    json_decref(found);
    found = dispatch_find_fulfillments(order, "NONE");
    assert_int_equal(json_array_size(found), 0);
    json_decref(found);
    json_decref(order);
}

/* Shopify's business answers per call, by dispatch_outcomes. */
static void test_outcome_rules(void **state)
{
    const dh_outcome_rule_t *r;

    (void)state;
    r = dh_outcome_rule(&dispatch_outcomes, DH_FAR_SHOPIFY, "orderFulfillmentOrders",
                        DH_ANSWER_MISSING, NULL);
    assert_int_equal(r->result, DH_RESULT_DEAD_LETTER);
    assert_string_equal(r->error_class, "order-not-found");
    r = dh_outcome_rule(&dispatch_outcomes, DH_FAR_SHOPIFY, "orderFulfillments", DH_ANSWER_MISSING,
                        NULL);
    assert_string_equal(r->error_class, "order-not-found");
    r = dh_outcome_rule(&dispatch_outcomes, DH_FAR_SHOPIFY, "fulfillmentCreate",
                        DH_ANSWER_USER_ERRORS, "INVALID");
    assert_int_equal(r->result, DH_RESULT_DEAD_LETTER);
    assert_string_equal(r->error_class, "rejected");
    r = dh_outcome_rule(&dispatch_outcomes, DH_FAR_SHOPIFY, "fulfillmentEventCreate", DH_ANSWER_OK,
                        NULL);
    assert_int_equal(r->result, DH_RESULT_DONE);
    /* Throttles and credentials are the common table's: never a dead letter. */
    assert_int_equal(dh_outcome_row(DH_FAR_SHOPIFY, DH_ANSWER_THROTTLED)->result, DH_RESULT_WAIT);
    assert_int_equal(dh_outcome_row(DH_FAR_SHOPIFY, DH_ANSWER_403)->result, DH_RESULT_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples), cmocka_unit_test(test_invalid_examples),
        cmocka_unit_test(test_huge_sequence),  cmocka_unit_test(test_status_map),
        cmocka_unit_test(test_event_vars),     cmocka_unit_test(test_plan),
        cmocka_unit_test(test_create_vars),    cmocka_unit_test(test_find_fulfillments),
        cmocka_unit_test(test_outcome_rules),  cmocka_unit_test(test_carriers),
        cmocka_unit_test(test_tracking_urls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
