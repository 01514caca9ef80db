/* Unit tests: WMS sales-order validation (sandbox/wms.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "wms.h"

static json_t *valid_order(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s}]}", "store",
                     "a.myshopify.com", "channel_order_id", "1001", "order_name", "#1001", "status",
                     "OPEN", "currency", "INR", "created_at", "2026-05-01T10:00:00Z", "lines",
                     "channel_line_item_id", "11", "sku", "A", "quantity", 1, "unit_price",
                     "10.50");
}

static void test_valid(void **state)
{
    json_t *o = valid_order(), *errs = json_array();

    (void)state;
    dh_sb_wms_validate_order(o, errs);
    assert_int_equal(json_array_size(errs), 0);
    json_decref(o);
    json_decref(errs);
}

static void test_invalid_fields(void **state)
{
    json_t *o = valid_order(), *errs = json_array();
    json_t *line = json_array_get(json_object_get(o, "lines"), 0);

    (void)state;
    json_object_set_new(o, "channel_order_id", json_string("12a"));
    json_object_set_new(o, "status", json_string("DONE"));
    json_object_set_new(line, "quantity", json_integer(0));
    json_object_set_new(line, "unit_price", json_real(1.5));
    dh_sb_wms_validate_order(o, errs);
    assert_int_equal(json_array_size(errs), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                        "channel_order_id");
    json_decref(o);
    json_decref(errs);
}

/* The lifecycle fields: a hold names its code, unmapped lines only on a missing-sku hold,
 * a payment has every field. Each rule refuses on its own, and the valid forms pass. */
static void test_lifecycle_fields(void **state)
{
    json_t *o = valid_order(), *errs = json_array();

    (void)state;
    json_object_set_new(o, "payment",
                        json_pack("{s:s, s:[s], s:b, s:s, s:s}", "financial_status", "pending",
                                  "gateways", "Cash on Delivery (COD)", "cash_on_delivery", 1,
                                  "amount_to_collect", "10.50", "currency", "INR"));
    json_object_set_new(o, "unmapped_lines",
                        json_pack("[{s:s, s:s, s:i}]", "channel_line_item_id", "12", "title",
                                  "Engraving", "quantity", 1));
    json_object_set_new(o, "status", json_string("ON_HOLD"));
    json_object_set_new(o, "hold_reason", json_string("missing-sku: line 12"));
    json_object_set_new(o, "hold_code", json_string("missing-sku"));
    dh_sb_wms_validate_order(o, errs);
    assert_int_equal(json_array_size(errs), 0);
    json_object_set_new(o, "hold_code", json_string("exchange"));
    dh_sb_wms_validate_order(o, errs);
    assert_int_equal(json_array_size(errs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                        "unmapped_lines");
    json_object_set_new(o, "hold_code", json_string("later"));
    json_object_del(o, "unmapped_lines");
    json_object_set_new(json_object_get(o, "payment"), "amount_to_collect", json_real(10.5));
    json_array_clear(errs);
    dh_sb_wms_validate_order(o, errs);
    assert_int_equal(json_array_size(errs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                        "hold_code");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 1), "field")),
                        "payment");
    json_decref(o);
    json_decref(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_lifecycle_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
