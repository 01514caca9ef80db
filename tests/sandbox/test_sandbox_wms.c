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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
