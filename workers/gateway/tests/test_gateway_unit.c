/*
 * Unit tests of the gateway's pure parts: HMAC-SHA256 (RFC 4231 vector), base64/hex,
 * Shopify and Return Prime signature checks (incl. a rotated second secret), routing
 * and resource-id extraction. Vectors were computed independently with Python's hmac.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "hmac.h"
#include "route.h"

static const char shop_body[] =
    "{\"id\":820982911946154508,\"email\":\"jon@example.com\",\"name\":\"#9999\"}";
static const char shop_sig[] = "Eecoc71kmR0SOi3fY3AnTPtr3shjUBri4WR4hyDZThE=";

static void test_hmac_rfc4231(void **state)
{
    static const char data[] = "what do ya want for nothing?";
    unsigned char mac[DH_GW_MAC_LEN], want[DH_GW_MAC_LEN];
    char b64[64];

    (void)state;
    assert_int_equal(dh_gw_hmac_sha256("Jefe", 4, data, strlen(data), mac), DH_OK);
    assert_int_equal(dh_gw_hex_decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9"
                                      "64ec3843",
                                      64, want, sizeof(want)),
                     DH_OK);
    assert_memory_equal(mac, want, sizeof(mac));
    dh_gw_base64_encode(mac, sizeof(mac), b64);
    assert_string_equal(b64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

static void test_sha256(void **state)
{
    unsigned char d[DH_GW_MAC_LEN], want[DH_GW_MAC_LEN];

    (void)state;
    assert_int_equal(dh_gw_sha256("abc", 3, d), DH_OK);
    assert_int_equal(dh_gw_hex_decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                                      "f20015ad",
                                      64, want, sizeof(want)),
                     DH_OK);
    assert_memory_equal(d, want, sizeof(d));
}

static void test_base64_roundtrip_and_rejects(void **state)
{
    static const struct {
        const char *in;
        dh_err_t err;
        const char *out;
    } cases[] = {
        {"", DH_OK, ""},
        {"Zg==", DH_OK, "f"},
        {"Zm8=", DH_OK, "fo"},
        {"Zm9v", DH_OK, "foo"},
        {"Zm9vYg==", DH_OK, "foob"},
        {"Zg=", DH_ERR_INVALID, NULL},
        {"Z===", DH_ERR_INVALID, NULL},
        {"Zm=v", DH_ERR_INVALID, NULL},
        {"Zm9v\n", DH_ERR_INVALID, NULL},
        {"Zm9-", DH_ERR_INVALID, NULL},
        {"Zg==Zg==", DH_ERR_INVALID, NULL},
    };
    unsigned char out[16];
    size_t n;
    char enc[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dh_err_t err = dh_gw_base64_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out), &n);

        assert_int_equal(err, cases[i].err);
        if (cases[i].out) {
            assert_int_equal(n, strlen(cases[i].out));
            assert_memory_equal(out, cases[i].out, n);
            dh_gw_base64_encode(out, n, enc);
            assert_string_equal(enc, cases[i].in);
        }
    }
    assert_int_equal(dh_gw_base64_decode("Zm9vYmFy", 8, out, 5, &n), DH_ERR_LIMIT);
}

static void test_shopify_verify(void **state)
{
    const char *one[] = {"my_webhook_secret", NULL};
    const char *rotated[] = {"new_secret", "my_webhook_secret", NULL};
    const char *wrong[] = {"other", "", NULL};
    size_t len = strlen(shop_body);
    char tampered[sizeof(shop_body)];

    (void)state;
    assert_true(dh_gw_shopify_verify(one, shop_body, len, shop_sig));
    assert_true(dh_gw_shopify_verify(rotated, shop_body, len, shop_sig));
    assert_false(dh_gw_shopify_verify(wrong, shop_body, len, shop_sig));
    assert_false(dh_gw_shopify_verify(one, shop_body, len, NULL));
    assert_false(dh_gw_shopify_verify(one, shop_body, len, ""));
    assert_false(dh_gw_shopify_verify(one, shop_body, len, "not base64!"));
    /* A hex digest (wrong encoding) and a truncated one are rejected. */
    assert_false(dh_gw_shopify_verify(one, shop_body, len, "11e7287b"));
    assert_false(dh_gw_shopify_verify(one, shop_body, len, "Eecoc71kmR0SOi3fY3AnTPtr3shjUBri"));
    memcpy(tampered, shop_body, sizeof(shop_body));
    tampered[10] = '9';
    assert_false(dh_gw_shopify_verify(one, tampered, len, shop_sig));
    /* One byte more (e.g. a re-serialised trailing newline) breaks it too. */
    assert_false(dh_gw_shopify_verify(one, "{\"id\":1}\n", 9, shop_sig));
}

static void test_returnprime_verify(void **state)
{
    static const char body[] = "{\"request\":{\"id\":\"abc\"}}";
    static const char sig[] = "4261099a4aa18cc70472cb9ab45c7c1472bbe5d97afe90f81ba066adeb609e3a";
    static const char sig_upper[] =
        "4261099A4AA18CC70472CB9AB45C7C1472BBE5D97AFE90F81BA066ADEB609E3A";

    (void)state;
    assert_true(dh_gw_returnprime_verify("rp_secret", "1714550000", body, strlen(body), sig));
    assert_true(dh_gw_returnprime_verify("rp_secret", "1714550000", body, strlen(body), sig_upper));
    assert_false(dh_gw_returnprime_verify("rp_secret", "1714550001", body, strlen(body), sig));
    assert_false(dh_gw_returnprime_verify("other", "1714550000", body, strlen(body), sig));
    assert_false(dh_gw_returnprime_verify("rp_secret", NULL, body, strlen(body), sig));
    assert_false(dh_gw_returnprime_verify("", "1714550000", body, strlen(body), sig));
    assert_false(dh_gw_returnprime_verify("rp_secret", "1714550000", body, strlen(body), "zz"));
}

static void test_route(void **state)
{
    (void)state;
    assert_string_equal(dh_gw_route_shopify("orders/create"), "shopify.orders");
    assert_string_equal(dh_gw_route_shopify("orders/updated"), "shopify.orders");
    assert_string_equal(dh_gw_route_shopify("orders/cancelled"), "shopify.orders");
    assert_string_equal(dh_gw_route_shopify("products/delete"), "shopify.products");
    assert_null(dh_gw_route_shopify("products/updated")); /* Shopify spells it "update" */
    assert_null(dh_gw_route_shopify("app/uninstalled"));
    assert_null(dh_gw_route_shopify(NULL));
    /* A released hold lets the WMS allocate the order: same topic and key as the order. */
    assert_string_equal(dh_gw_route_shopify("fulfillment_holds/released"), "shopify.orders");
    assert_int_equal(dh_gw_id_path("fulfillment_holds/released"), DH_GW_ID_ORDER);
    assert_int_equal(dh_gw_id_path("orders/create"), DH_GW_ID_TOP);
    /* A refund's restock re-pushes stock: keyed by its order ("order_id"), not its own id. */
    assert_string_equal(dh_gw_route_shopify("refunds/create"), "shopify.orders");
    assert_int_equal(dh_gw_id_path("refunds/create"), DH_GW_ID_ORDER);
}

static void test_extract_id(void **state)
{
    static const struct {
        const char *body;
        dh_gw_id_path_t path;
        dh_err_t err;
        const char *id;
    } cases[] = {
        {"{\"id\":5802154000001,\"name\":\"#1\"}", DH_GW_ID_TOP, DH_OK, "5802154000001"},
        {"{\"id\":\"gid-ish\"}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":0}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":\"123\"}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"name\":\"#1\"}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":null}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":-1}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":\"a|b\"}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":\"\"}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"{\"id\":1.5}", DH_GW_ID_TOP, DH_ERR_INVALID, NULL},
        {"[1,2]", DH_GW_ID_TOP, DH_ERR_PROTO, NULL},
        {"{\"id\":1", DH_GW_ID_TOP, DH_ERR_PROTO, NULL},
        {"", DH_GW_ID_TOP, DH_ERR_PROTO, NULL},
        {"{\"request\":{\"id\":123}}", DH_GW_ID_REQUEST, DH_OK, "123"},
        {"{\"request\":{\"id\":\"RP-9\"}}", DH_GW_ID_REQUEST, DH_OK, "RP-9"},
        {"{\"id\":123}", DH_GW_ID_REQUEST, DH_ERR_INVALID, NULL},
        {"{\"id\":7,\"order_id\":4058}", DH_GW_ID_ORDER, DH_OK, "4058"},
        {"{\"fulfillment_order\":{\"id\":9,\"order_id\":\"gid://shopify/Order/4059\"}}",
         DH_GW_ID_ORDER, DH_OK, "4059"},
        {"{\"id\":7}", DH_GW_ID_ORDER, DH_ERR_INVALID, NULL},
    };
    char id[DH_GW_ID_MAX], err[200];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dh_err_t e = dh_gw_extract_id(cases[i].body, strlen(cases[i].body), cases[i].path, id,
                                      sizeof(id), err, sizeof(err));

        assert_int_equal(e, cases[i].err);
        if (cases[i].id) {
            assert_string_equal(id, cases[i].id);
        }
    }
}

/* Read from \p fd until end-of-file or 3 s; returns the bytes (NUL-terminated). */
static size_t drain(int fd, char *buf, size_t size)
{
    size_t len = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 3000) <= 0) {
            break;
        }
        n = read(fd, buf + len, size - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* The watchdog answers 408 and shuts the socket down, but never while a request is being
 * answered, and each answer restarts the clock. */
static void test_deadline_watchdog(void **state)
{
    dh_gw_deadline_t *d = NULL;
    dh_gw_conn_t *c;
    int sv[2];
    char buf[512];
    struct pollfd p;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(dh_gw_deadline_new(200, NULL, &d), DH_OK);
    c = dh_gw_deadline_open(d, sv[0]);
    assert_non_null(c);
    /* Being answered: 400 ms pass (twice the deadline) and nothing is written. */
    assert_int_equal(dh_gw_deadline_begin(d, c, DH_GW_SRC_SHOPIFY), 1);
    p = (struct pollfd){.fd = sv[1], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 400), 0);
    /* Answered: a new deadline from now, then 408 and end-of-file. */
    dh_gw_deadline_end(d, c);
    assert_true(drain(sv[1], buf, sizeof(buf)) > 0);
    assert_true(strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    /* Too late to handle the request now. */
    assert_int_equal(dh_gw_deadline_begin(d, c, DH_GW_SRC_SHOPIFY), 0);
    dh_gw_deadline_close(d, c);
    dh_gw_deadline_close(d, NULL);
    assert_int_equal(dh_gw_deadline_begin(d, NULL, DH_GW_SRC_OTHER), 1);
    dh_gw_deadline_destroy(d);
    dh_gw_deadline_destroy(NULL);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_base64_roundtrip_and_rejects),
        cmocka_unit_test(test_shopify_verify),
        cmocka_unit_test(test_returnprime_verify),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_extract_id),
        cmocka_unit_test(test_deadline_watchdog),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
