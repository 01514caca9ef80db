/*
 * Unit tests of dh-inventory's pure parts: the shareable quantity and on_hand target,
 * event validation (against schemas/examples), batch de-duplication and hashing,
 * userError index parsing, and sync slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "event.h"
#include "inventory.h"
#include "shareable.h"
#include "th_examples.h"

static void test_shareable_table(void **state)
{
    static const struct {
        inv_stock_t s;
        int64_t shareable, target;
    } t[] = {
        {{40, 3, 2, 1, 0, 5, 0}, 35, 38},    /* docs/events.md example */
        {{36, 3, 2, 1, 4, 5, 0}, 31, 34},    /* zone move example */
        {{0, 0, 0, 100, 100, 100, 0}, 0, 0}, /* damaged/quarantine/offline never */
        {{5, 10, 0, 0, 0, 0, 0}, 0, 5},      /* over-allocated: 0, not negative */
        {{5, 0, 10, 0, 0, 0, 0}, 0, 0},      /* safety above stock */
        {{10, 3, 7, 0, 0, 0, 0}, 0, 3},      /* exactly zero */
        {{-5, 0, 0, 0, 0, 0, 0}, 0, 0},      /* negative input counts as 0 */
        {{10, -5, -5, 0, 0, 0, 0}, 10, 10},  /* negative deductions ignored */
        {{INT64_MAX, 0, 0, 0, 0, 0, 0}, INV_QTY_MAX, INV_QTY_MAX}, /* no overflow, capped */
        {{INT64_MAX, INT64_MAX, INT64_MAX, 0, 0, 0, 0}, 0, 0},
        {{INV_QTY_MAX + 7, 7, 0, 0, 0, 0, 0}, INV_QTY_MAX, INV_QTY_MAX},
        {{2147483647, 2147483647, 0, 0, 0, 0, 0}, 0, INV_QTY_MAX},
        {{40, 3, 2, 1, 0, 5, 4}, 35, 42},  /* picked, not dispatched: in on_hand, not sellable */
        {{0, 0, 3, 0, 0, 0, 5}, 0, 2},     /* everything picked: safety stock still kept */
        {{10, 0, 0, 0, 0, 0, -4}, 10, 10}, /* negative picked counts as 0 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (inv_shareable(&t[i].s) != t[i].shareable ||
            inv_target_on_hand(&t[i].s) != t[i].target) {
            fail_msg("row %zu: shareable %lld (want %lld), target %lld (want %lld)", i,
                     (long long)inv_shareable(&t[i].s), (long long)t[i].shareable,
                     (long long)inv_target_on_hand(&t[i].s), (long long)t[i].target);
        }
    }
}

/* Every file of examples/<topic>/<kind>: valid ones parse, invalid ones are rejected. */
static int check_dir(const char *topic, const char *kind, inv_kind_t expect, int want_ok)
{
    char dir[1024];
    DIR *d;
    struct dirent *e;
    int count = 0;

    snprintf(dir, sizeof(dir), "%s/%s/%s", DH_INV_EXAMPLES_DIR, topic, kind);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char err[400];
        size_t len;
        inv_event_t ev;

        if (!strstr(e->d_name, ".json")) {
            continue;
        }
        char *buf = th_slurp(dir, e->d_name, &len);
        inv_parse_t r = inv_event_parse(buf, len, expect, &ev, err, sizeof(err));

        if ((r == INV_PARSE_OK) != want_ok) {
            fail_msg("%s/%s/%s: %s (%s)", topic, kind, e->d_name, want_ok ? "rejected" : "accepted",
                     err);
        }
        if (!want_ok) {
            assert_true(strlen(err) > 0);
        }
        free(buf);
        count++;
    }
    closedir(d);
    return count;
}

static void test_examples(void **state)
{
    (void)state;
    assert_true(check_dir("wms.putaway", "valid", INV_PUTAWAY, 1) >= 3);
    assert_true(check_dir("wms.putaway", "invalid", INV_PUTAWAY, 0) >= 14);
    assert_true(check_dir("wms.zone_move", "valid", INV_ZONE_MOVE, 1) >= 4);
    assert_true(check_dir("wms.zone_move", "invalid", INV_ZONE_MOVE, 0) >= 9);
}

#define EV_HEAD                                                                                    \
    "{\"schema_version\":1,\"event_id\":\"0190c3b3-1a2b-7c3d-8e4f-5a6b7c8d9e01\","                 \
    "\"occurred_at\":\"2026-05-01T12:02:11+05:30\",\"tenant\":\"ACME\",\"facility\":\"BLR-1\","

static const char *MOVE_TAIL =
    "\"sku\":\"S-1\",\"sequence\":7,\"stock\":{\"good_online\":9,\"allocated\":1,"
    "\"safety_stock\":1,\"damaged\":0,\"quarantined\":0,\"good_offline\":0},";

static void test_event_fields(void **state)
{
    char buf[2048], err[400];
    inv_event_t ev;

    (void)state;
    snprintf(buf, sizeof(buf),
             EV_HEAD "\"event_type\":\"zone_move\",%s\"move\":{\"move_id\":\"M\",\"quantity\":1,"
                     "\"from_zone\":\"A\",\"from_class\":\"online\",\"to_zone\":\"B\","
                     "\"to_class\":\"online\"}}",
             MOVE_TAIL);
    assert_int_equal(inv_event_parse(buf, strlen(buf), INV_ANY, &ev, err, sizeof(err)),
                     INV_PARSE_OK);
    assert_int_equal(ev.kind, INV_ZONE_MOVE);
    assert_int_equal(ev.crosses, 0);
    assert_int_equal(ev.sequence, 7);
    assert_string_equal(ev.scope, "ACME");
    assert_true(inv_key_matches(&ev, "ACME|BLR-1|S-1", 14));
    assert_false(inv_key_matches(&ev, "ACME|BLR-1|S-2", 14));
    assert_false(inv_key_matches(&ev, NULL, 0));
    /* expected putaway on a putaway topic: rejected */
    assert_int_equal(inv_event_parse(buf, strlen(buf), INV_PUTAWAY, &ev, err, sizeof(err)),
                     INV_PARSE_SCHEMA);
    snprintf(buf, sizeof(buf),
             EV_HEAD "\"event_type\":\"zone_move\",%s\"move\":{\"move_id\":\"M\",\"quantity\":1,"
                     "\"from_zone\":\"A\",\"from_class\":\"offline\",\"to_zone\":\"B\","
                     "\"to_class\":\"online\"}}",
             MOVE_TAIL);
    assert_int_equal(inv_event_parse(buf, strlen(buf), INV_ZONE_MOVE, &ev, err, sizeof(err)),
                     INV_PARSE_OK);
    assert_int_equal(ev.crosses, 1);
    assert_int_equal(ev.stock.good_online, 9);
    assert_int_equal(ev.stock.picked, 0); /* optional bucket absent: 0 */
    snprintf(buf, sizeof(buf),
             EV_HEAD "\"event_type\":\"putaway\",\"sku\":\"S\",\"sequence\":1,\"stock\":"
                     "{\"good_online\":9,\"allocated\":1,\"safety_stock\":1,\"damaged\":0,"
                     "\"quarantined\":0,\"good_offline\":0,\"picked\":4},\"putaway\":{"
                     "\"putaway_id\":\"P\",\"zone\":\"Z\",\"zone_class\":\"online\","
                     "\"quantity\":1,\"qc_status\":\"GOOD\"}}");
    assert_int_equal(inv_event_parse(buf, strlen(buf), INV_ANY, &ev, err, sizeof(err)),
                     INV_PARSE_OK);
    assert_int_equal(ev.stock.picked, 4);
    assert_int_equal(ev.stock.good_online, 9);
    /* schema_version 2 -> schema with a clear reason */
    snprintf(buf, sizeof(buf), "%s", "{\"schema_version\":2}");
    assert_int_equal(inv_event_parse(buf, strlen(buf), INV_ANY, &ev, err, sizeof(err)),
                     INV_PARSE_SCHEMA);
    assert_non_null(strstr(err, "unsupported schema_version 2"));
    /* not JSON */
    assert_int_equal(inv_event_parse("{nope", 5, INV_ANY, &ev, err, sizeof(err)), INV_PARSE_DECODE);
    assert_int_equal(inv_event_parse(NULL, 0, INV_ANY, &ev, err, sizeof(err)), INV_PARSE_DECODE);
    assert_int_equal(inv_kind_of_topic("wms.putaway"), INV_PUTAWAY);
    assert_int_equal(inv_kind_of_topic("t-1-zone_move"), INV_ZONE_MOVE);
    assert_int_equal(inv_kind_of_topic("other"), INV_ANY);
}

static void test_event_bad_values(void **state)
{
    static const struct {
        const char *stock;
        const char *what;
    } t[] = {
        {"{\"good_online\":-1,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0}",
         "/stock/good_online must be >= 0"},
        {"{\"good_online\":2147483648,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0}",
         "/stock/good_online must be <= 2147483647"},
        {"{\"good_online\":1.5,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0}",
         "/stock/good_online must be integer"},
        {"{\"good_online\":\"1\",\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0}",
         "/stock/good_online must be integer"},
        {"{\"good_online\":1,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0,\"x\":1}",
         "additional properties"},
        {"{\"good_online\":1,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0,\"picked\":-1}",
         "/stock/picked must be >= 0"},
        {"{\"good_online\":1,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,"
         "\"quarantined\":0,\"good_offline\":0,\"picked\":null}",
         "/stock/picked must be integer"},
        {"[]", "/stock must be object"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[2048], err[400];
        inv_event_t ev;

        snprintf(buf, sizeof(buf),
                 EV_HEAD "\"event_type\":\"putaway\",\"sku\":\"S\",\"sequence\":1,\"stock\":%s,"
                         "\"putaway\":{\"putaway_id\":\"P\",\"zone\":\"Z\",\"zone_class\":"
                         "\"online\",\"quantity\":1,\"qc_status\":\"GOOD\"}}",
                 t[i].stock);
        assert_int_equal(inv_event_parse(buf, strlen(buf), INV_ANY, &ev, err, sizeof(err)),
                         INV_PARSE_SCHEMA);
        if (!strstr(err, t[i].what)) {
            fail_msg("row %zu: '%s' lacks '%s'", i, err, t[i].what);
        }
    }
}

static void test_dedupe(void **state)
{
    inv_qty_t q[] = {
        {"I1", "L1", 5, 10, 0, 0}, {"I2", "L1", 6, 3, 1, 0},  {"I1", "L1", 7, 12, 2, 0},
        {"I1", "L2", 8, 1, 3, 0},  {"I1", "L1", 9, 11, 4, 0}, {"I2", "L1", 1, 3, 5, 0},
    };

    (void)state;
    assert_int_equal(inv_qty_dedupe(q, 6), 3);
    assert_int_equal(q[0].dropped, 1);
    assert_int_equal(q[1].dropped, 0); /* tie: the earliest stays */
    assert_int_equal(q[2].dropped, 0); /* highest sequence of I1@L1 */
    assert_int_equal(q[3].dropped, 0); /* other location */
    assert_int_equal(q[4].dropped, 1);
    assert_int_equal(q[5].dropped, 1);
    assert_int_equal(inv_qty_dedupe(q, 0), 0);
}

static void test_hash(void **state)
{
    inv_qty_t a[] = {{"I1", "L1", 5, 10, 0, 0}, {"I2", "L1", 6, 3, 1, 0}};
    inv_qty_t b[] = {{"I2", "L1", 6, 3, 0, 0}, {"I1", "L1", 5, 10, 1, 0}};
    inv_qty_t c[] = {{"I2", "L1", 6, 3, 0, 0}, {"I1", "L1", 5, 11, 1, 0}}; /* new sequence */
    inv_qty_t d[] = {{"I2", "L1", 6, 3, 0, 1}, {"I1", "L1", 5, 10, 1, 0}}; /* one dropped */
    char h1[65], h2[65], h3[65], h4[65], h5[65], h6[65];

    (void)state;
    inv_batch_hash("s.myshopify.com", "ev", "on_hand", "correction", a, 2, h1);
    inv_batch_hash("s.myshopify.com", "ev", "on_hand", "correction", b, 2, h2);
    inv_batch_hash("s.myshopify.com", "ev", "on_hand", "correction", c, 2, h3);
    inv_batch_hash("t.myshopify.com", "ev", "on_hand", "correction", a, 2, h4);
    inv_batch_hash("s.myshopify.com", "sync:x", "on_hand", "correction", a, 2, h5);
    inv_batch_hash("s.myshopify.com", "ev", "on_hand", "correction", d, 2, h6);
    assert_int_equal(strlen(h1), 64);
    assert_string_equal(h1, h2);     /* order does not matter */
    assert_string_not_equal(h1, h3); /* same value again later is a new operation */
    assert_string_not_equal(h1, h4);
    assert_string_not_equal(h1, h5);
    assert_string_not_equal(h1, h6);
}

static void test_user_error_index(void **state)
{
    static const struct {
        const char *json;
        long want;
    } t[] = {
        {"[\"input\",\"quantities\",\"3\",\"changeFromQuantity\"]", 3},
        {"[\"input\",\"quantities\",\"0\"]", 0},
        {"[\"input\",\"quantities\",12]", 12},
        {"[\"input\",\"quantities\",\"249\",\"quantity\"]", 249},
        {"[\"input\",\"reason\"]", -1},
        {"[\"input\",\"quantities\"]", -1},
        {"[\"input\",\"quantities\",\"x\"]", -1},
        {"[\"input\",\"quantities\",\"-1\"]", -1},
        {"null", -1},
        {"[]", -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *j = json_loads(t[i].json, JSON_DECODE_ANY, NULL);

        if (inv_user_error_index(j) != t[i].want) {
            fail_msg("row %zu: %s -> %ld", i, t[i].json, inv_user_error_index(j));
        }
        json_decref(j);
    }
}

static void test_slots(void **state)
{
    int64_t slots[16];
    size_t n;

    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    /* 2026-05-01T10:00:00Z */
    n = inv_slots_compute(1777629600, 3, slots, 16);
    assert_int_equal(n, 6);
    assert_int_equal(slots[0], 1777593600); /* 2026-05-01T00:00Z */
    assert_int_equal(slots[1], 1777636800); /* 12:00Z */
    assert_int_equal(inv_slot_current(slots, n, 1777629600), 1777593600);
    assert_int_equal(inv_slot_current(slots, n, 1777636800), 1777636800);
    assert_int_equal(inv_slot_current(slots, n, 1), -1);
    setenv("TZ", "IST-5:30", 1);
    tzset();
    n = inv_slots_compute(1777629600, 1, slots, 16);
    assert_int_equal(n, 2);
    assert_int_equal(slots[0], 1777573800); /* 2026-05-01T00:00+05:30 = 04-30T18:30Z */
    assert_int_equal(slots[1], 1777617000);
    unsetenv("TZ");
    tzset();
}

/* Shopify's business answers per call, by inv_outcomes. */
static void test_outcome_rules(void **state)
{
    static const struct {
        const char *call;
        dh_answer_t a;
        const char *code;
        int action;
        dh_result_t want;
        const char *cls; /* NULL: the code */
    } cases[] = {
        {INV_CALL_SET, DH_ANSWER_OK, NULL, 0, DH_RESULT_DONE, NULL},
        {INV_CALL_SET, DH_ANSWER_USER_ERRORS, "IDEMPOTENCY_CONCURRENT_REQUEST", INV_ACT_ALL,
         DH_RESULT_WAIT, "idempotency"},
        {INV_CALL_SET, DH_ANSWER_USER_ERRORS, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", INV_ACT_ALL,
         DH_RESULT_WAIT, "idempotency"},
        {INV_CALL_SET, DH_ANSWER_USER_ERRORS, "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
         INV_ACT_NEW_KEY, DH_RESULT_WAIT, "idempotency"},
        {INV_CALL_SET, DH_ANSWER_USER_ERRORS, "ITEM_NOT_STOCKED_AT_LOCATION", INV_ACT_ACTIVATE,
         DH_RESULT_DONE, NULL},
        {INV_CALL_SET, DH_ANSWER_USER_ERRORS, "INVALID_QUANTITY", 0, DH_RESULT_DEAD_LETTER, NULL},
        {INV_CALL_UNPLACED, DH_ANSWER_USER_ERRORS, "X", INV_ACT_ALL, DH_RESULT_RETRY, "rejected"},
        {INV_CALL_VARIANTS, DH_ANSWER_MISSING, "", 0, DH_RESULT_DEAD_LETTER, "unknown-sku"},
        {INV_CALL_VARIANTS, DH_ANSWER_MISSING, "ambiguous", 0, DH_RESULT_DEAD_LETTER,
         "ambiguous-sku"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dh_outcome_rule_t *r = dh_outcome_rule(&inv_outcomes, DH_FAR_SHOPIFY, cases[i].call,
                                                     cases[i].a, cases[i].code);
        dh_outcome_t o;

        assert_int_equal(r->action, cases[i].action);
        assert_int_equal(r->result, cases[i].want);
        dh_outcome_of_rule(r, cases[i].code, &o, "x");
        if (r->result != DH_RESULT_DONE) {
            assert_string_equal(o.error_class, cases[i].cls ? cases[i].cls : cases[i].code);
        }
    }
    dh_outcome_t o;
    dh_outcome_of_rule(&inv_outcomes.rules[1], "IDEMPOTENCY_CONCURRENT_REQUEST", &o, "x");
    assert_int_equal(o.retry_after_ms, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shareable_table),  cmocka_unit_test(test_examples),
        cmocka_unit_test(test_event_fields),     cmocka_unit_test(test_event_bad_values),
        cmocka_unit_test(test_dedupe),           cmocka_unit_test(test_hash),
        cmocka_unit_test(test_user_error_index), cmocka_unit_test(test_slots),
        cmocka_unit_test(test_outcome_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
