/*
 * dh_stores: the stores file format, its validation (every problem at once, secrets
 * never echoed) and the lookups (tenant/domain, facility <-> location).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dockhand/stores.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static const char VALID[] =
    "{\"stores\": ["
    " {\"domain\": \"acme.myshopify.com\", \"tenants\": [\"acme\", \"acme-eu\"],"
    "  \"admin_url\": \"http://127.0.0.1:38080/shops/acme.myshopify.com/\","
    "  \"access_token\": \"shpat_SECRET1\", \"webhook_secrets\": [\"whsec-1\", \"whsec-2\"],"
    "  \"locations\": {\"FAC-1\": \"gid://shopify/Location/1\","
    "                  \"FAC-2\": \"gid://shopify/Location/22\"},"
    "  \"timezone\": \"Asia/Kolkata\", \"returnprime_secret\": \"rp-secret\"},"
    " {\"domain\": \"beta.myshopify.com\", \"client_id\": \"cid\", \"client_secret\": \"SECRET2\","
    "  \"api_version\": \"2026-04\", \"bucket_size\": 20000, \"restore_rate\": 1000}"
    "]}";

static dh_stores_t *parse_ok(const char *text)
{
    char err[1024] = "";
    dh_stores_t *s = NULL;

    if (dh_stores_parse(text, strlen(text), &s, err, sizeof(err)) != DH_OK) {
        fail_msg("parse failed: %s", err);
    }
    return s;
}

static void test_valid_file(void **state)
{
    dh_stores_t *s = parse_ok(VALID);
    const dh_store_t *a, *b;

    (void)state;
    assert_int_equal(dh_stores_count(s), 2);
    a = dh_stores_at(s, 0);
    b = dh_stores_at(s, 1);
    assert_null(dh_stores_at(s, 2));
    assert_string_equal(a->domain, "acme.myshopify.com");
    assert_string_equal(a->admin_url, "http://127.0.0.1:38080/shops/acme.myshopify.com");
    assert_string_equal(a->api_version, "2026-10");
    assert_string_equal(a->access_token, "shpat_SECRET1");
    assert_string_equal(a->client_id, "");
    assert_string_equal(a->timezone, "Asia/Kolkata");
    assert_string_equal(a->returnprime_secret, "rp-secret");
    assert_string_equal(a->webhook_secrets[0], "whsec-1");
    assert_string_equal(a->webhook_secrets[1], "whsec-2");
    assert_null(a->webhook_secrets[2]);
    assert_true(a->bucket.capacity == 2000 && a->bucket.restore_rate == 100);
    /* Defaults and the client-credentials alternative. */
    assert_string_equal(b->admin_url, "https://beta.myshopify.com");
    assert_string_equal(b->api_version, "2026-04");
    assert_string_equal(b->access_token, "");
    assert_string_equal(b->client_secret, "SECRET2");
    assert_null(b->webhook_secrets[0]);
    assert_string_equal(b->timezone, "");
    assert_true(b->bucket.capacity == 20000 && b->bucket.restore_rate == 1000);
    dh_stores_destroy(s);
    dh_stores_destroy(NULL);
}

static void test_lookups(void **state)
{
    dh_stores_t *s = parse_ok(VALID);
    const dh_store_t *a = dh_stores_at(s, 0);
    const dh_store_t *b = dh_stores_at(s, 1);

    (void)state;
    assert_ptr_equal(dh_stores_find(s, "acme"), a);
    assert_ptr_equal(dh_stores_find(s, "acme-eu"), a);
    assert_ptr_equal(dh_stores_find(s, "acme.myshopify.com"), a);
    assert_ptr_equal(dh_stores_find(s, "beta.myshopify.com"), b);
    assert_null(dh_stores_find(s, "nobody"));
    assert_null(dh_stores_find(s, ""));
    assert_null(dh_stores_find(s, NULL));
    assert_string_equal(dh_stores_location(s, a, "FAC-2"), "gid://shopify/Location/22");
    assert_null(dh_stores_location(s, a, "FAC-9"));
    assert_null(dh_stores_location(s, b, "FAC-1"));
    assert_string_equal(dh_stores_facility(s, a, "gid://shopify/Location/1"), "FAC-1");
    assert_null(dh_stores_facility(s, a, "gid://shopify/Location/2"));
    assert_null(dh_stores_facility(s, b, "gid://shopify/Location/1"));
    dh_stores_destroy(s);
}

/* Two facilities mapped to one location are accepted (dh-inventory sums them); the reverse
 * lookup answers the first in file order, dh_stores_facilities() all of them. */
static void test_facilities_of_one_location(void **state)
{
    static const char js[] =
        "{\"stores\": [{\"domain\": \"acme.myshopify.com\", \"access_token\": \"t\", "
        "\"locations\": {\"FAC-B\": \"gid://shopify/Location/1\", "
        "\"FAC-A\": \"gid://shopify/Location/1\", \"FAC-C\": \"gid://shopify/Location/3\"}}]}";
    dh_stores_t *s = parse_ok(js);
    const dh_store_t *a = dh_stores_at(s, 0);
    const char *f[4] = {NULL};

    (void)state;
    assert_string_equal(dh_stores_facility(s, a, "gid://shopify/Location/1"), "FAC-B");
    assert_int_equal(dh_stores_facilities(s, a, "gid://shopify/Location/1", f, 4), 2);
    assert_string_equal(f[0], "FAC-B");
    assert_string_equal(f[1], "FAC-A");
    assert_int_equal(dh_stores_facilities(s, a, "gid://shopify/Location/1", f, 1), 2);
    assert_int_equal(dh_stores_facilities(s, a, "gid://shopify/Location/3", f, 4), 1);
    assert_string_equal(f[0], "FAC-C");
    assert_int_equal(dh_stores_facilities(s, a, "gid://shopify/Location/9", f, 4), 0);
    dh_stores_destroy(s);
}

/* Each case: a file with problems, and fragments every one of which must be reported. */
static void test_every_problem_reported(void **state)
{
    static const char BAD[] =
        "{\"stores\": ["
        " {\"tenants\": [\"t1\"], \"access_token\": \"shpat_LEAK1\"},"
        " {\"domain\": \"a.myshopify.com\", \"tenants\": [\"t1\"],"
        "  \"access_token\": \"shpat_LEAK2\","
        "  \"locations\": {\"F1\": \"gid://shopify/Location/abc\", \"F2\": \"12\"}},"
        " {\"domain\": \"a.myshopify.com\", \"client_id\": \"only-id\"},"
        " {\"domain\": \"c.myshopify.com\", \"access_token_file\": \"/nonexistent/dh-token\","
        "  \"bucket_size\": -1, \"api_version\": \"latest\", \"acess_token\": \"x\"},"
        " {\"domain\": \"d.myshopify.com\", \"access_token\": \"shpat_LEAK3\","
        "  \"client_secret\": \"cs_LEAK4\", \"webhook_secrets\": [\"\"]}"
        "]}";
    static const char *const expect[] = {
        "stores[0]: domain is required",
        "duplicate domain or tenant \"t1\"",
        "locations.F1: not a location GID",
        "locations.F2: not a location GID",
        "duplicate domain or tenant \"a.myshopify.com\"",
        "client_id and client_secret go together",
        "neither access_token(_file) nor client_id/client_secret",
        "access_token_file /nonexistent/dh-token",
        "bucket_size must be a positive number",
        "api_version must look like",
        "unknown field \"acess_token\"",
        "webhook_secrets[0] must be a non-empty string",
    };
    char err[4096] = "";
    dh_stores_t *s = (dh_stores_t *)1;

    (void)state;
    assert_int_equal(dh_stores_parse(BAD, strlen(BAD), &s, err, sizeof(err)), DH_ERR_CONFIG);
    assert_null(s);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        if (strstr(err, expect[i]) == NULL) {
            fail_msg("missing \"%s\" in: %s", expect[i], err);
        }
    }
    assert_null(strstr(err, "LEAK"));
    assert_null(strstr(err, "only-id"));
}

static void test_syntax_and_shape(void **state)
{
    static const char *const cases[] = {
        "", "{", "[]", "{\"stores\": []}", "{\"stores\": [1]}", "{\"stores\": {}}"};
    char err[512];
    dh_stores_t *s = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(dh_stores_parse(cases[i], strlen(cases[i]), &s, err, sizeof(err)),
                         DH_ERR_CONFIG);
        assert_null(s);
        assert_true(err[0] != '\0');
    }
    /* A tiny errstr truncates but stays terminated. */
    assert_int_equal(dh_stores_parse("{}", 2, &s, err, 8), DH_ERR_CONFIG);
    assert_true(strlen(err) < 8);
}

static void test_load_and_token_file(void **state)
{
    char dir[] = "/tmp/dh-stores-XXXXXX";
    char tok_path[128], file_path[128], text[512], err[512] = "";
    dh_stores_t *s = NULL;
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(tok_path, sizeof(tok_path), "%s/token", dir);
    snprintf(file_path, sizeof(file_path), "%s/stores.json", dir);
    fp = fopen(tok_path, "w");
    assert_non_null(fp);
    fputs("shpat_FROMFILE\n", fp);
    fclose(fp);
    snprintf(text, sizeof(text),
             "{\"stores\": [{\"domain\": \"f.myshopify.com\", \"access_token_file\": \"%s\"}]}",
             tok_path);
    fp = fopen(file_path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(dh_stores_load(file_path, &s, err, sizeof(err)), DH_OK);
    assert_string_equal(dh_stores_at(s, 0)->access_token, "shpat_FROMFILE");
    dh_stores_destroy(s);
    s = NULL;
    assert_int_equal(dh_stores_load("/nonexistent/stores.json", &s, err, sizeof(err)),
                     DH_ERR_CONFIG);
    assert_non_null(strstr(err, "/nonexistent/stores.json"));
    assert_int_equal(dh_stores_load("", &s, err, sizeof(err)), DH_ERR_CONFIG);
    unlink(tok_path);
    unlink(file_path);
    rmdir(dir);
}

static void test_config_vars(void **state)
{
    (void)state;
    assert_string_equal(dh_stores_config_vars[0].name, "DH_STORES_FILE");
    assert_string_equal(dh_stores_config_vars[0].def, "");
    assert_non_null(dh_stores_config_vars[0].doc);
    assert_null(dh_stores_config_vars[1].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_facilities_of_one_location),
        cmocka_unit_test(test_every_problem_reported),
        cmocka_unit_test(test_syntax_and_shape),
        cmocka_unit_test(test_load_and_token_file),
        cmocka_unit_test(test_config_vars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
