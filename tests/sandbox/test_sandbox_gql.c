/* Unit tests: GraphQL reader, pruner and cost model (sandbox/gql.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "gql.h"

static json_t *parse_ok(const char *q, json_t *vars, char *op)
{
    json_t *roots = NULL;
    char err[256];

    assert_int_equal(dh_sb_gql_parse(q, vars, op, &roots, err, sizeof err), DH_SB_OK);
    return roots;
}

static void test_root_field_and_literal_directive(void **state)
{
    char op[16];
    json_t *vars = json_pack("{s:{s:s}}", "input", "name", "available");
    json_t *roots = parse_ok("# comment\nmutation Set($input: InventorySetQuantitiesInput!) {\n"
                             "  inventorySetQuantities(input: $input) @idempotent(key: \"k-1\") {\n"
                             "    userErrors { code field message } } }",
                             vars, op);
    json_t *n = json_array_get(roots, 0);

    (void)state;
    assert_string_equal(op, "mutation");
    assert_string_equal(json_string_value(json_object_get(n, "name")), "inventorySetQuantities");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(n, "dirs"), "idempotent"), "key")),
                        "k-1");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(n, "args"), "input"), "name")),
                        "available");
    json_decref(roots);
    json_decref(vars);
}

static void test_variable_directive_and_alias(void **state)
{
    char op[16];
    json_t *vars = json_pack("{s:s, s:i}", "idempotencyKey", "abc", "n", 5);
    json_t *roots = parse_ok(
        "mutation($idempotencyKey: String!, $n: Int = 3) { r: inventorySetQuantities("
        "input: {name: \"on_hand\", quantities: [{quantity: $n, changeFromQuantity: null}]})"
        " @idempotent(key: $idempotencyKey) { userErrors { code } } }",
        vars, op);
    json_t *n = json_array_get(roots, 0);
    json_t *q0 = json_array_get(
        json_object_get(json_object_get(json_object_get(n, "args"), "input"), "quantities"), 0);

    (void)state;
    assert_string_equal(json_string_value(json_object_get(n, "key")), "r");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(n, "dirs"), "idempotent"), "key")),
                        "abc");
    assert_int_equal(json_integer_value(json_object_get(q0, "quantity")), 5);
    assert_true(json_is_null(json_object_get(q0, "changeFromQuantity")));
    json_decref(roots);
    json_decref(vars);
}

static void test_shorthand_query_and_errors(void **state)
{
    char op[16], err[256];
    json_t *roots = parse_ok("{ locations(first: 10) { nodes { id name } } }", NULL, op);

    (void)state;
    assert_string_equal(op, "query");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(roots, 0), "args"), "first")),
                     10);
    json_decref(roots);
    roots = NULL;
    assert_int_equal(
        dh_sb_gql_parse("{ locations(first: 10) { nodes { id ", NULL, op, &roots, err, sizeof err),
        DH_SB_ERR_PARSE);
    assert_null(roots);
    assert_int_equal(dh_sb_gql_parse("", NULL, op, &roots, err, sizeof err), DH_SB_ERR_PARSE);
}

static void test_mentions(void **state)
{
    (void)state;
    assert_true(
        dh_sb_gql_mentions("mutation { x(input: {compareQuantity: 1}) { a } }", "compareQuantity"));
    assert_false(dh_sb_gql_mentions("# compareQuantity\n{ x(q: \"compareQuantity\") { a } }",
                                    "compareQuantity"));
}

static void test_prune_and_cost(void **state)
{
    char op[16];
    json_t *roots = parse_ok("{ productVariants(first: 5, query: \"sku:A\") { nodes { id sku "
                             "inventoryItem { id } } pageInfo { hasNextPage } } }",
                             NULL, op);
    json_t *full =
        json_pack("{s:{s:[{s:s, s:s, s:s, s:{s:s, s:b}}], s:{s:b, s:s}, s:[]}}", "productVariants",
                  "nodes", "id", "v1", "sku", "A", "title", "T", "inventoryItem", "id", "i1",
                  "tracked", 1, "pageInfo", "hasNextPage", 0, "endCursor", "1", "edges");
    json_t *pruned = dh_sb_gql_prune(roots, full);
    json_t *node =
        json_array_get(json_object_get(json_object_get(pruned, "productVariants"), "nodes"), 0);

    (void)state;
    assert_null(json_object_get(node, "title"));
    assert_non_null(json_object_get(node, "sku"));
    assert_null(json_object_get(json_object_get(node, "inventoryItem"), "tracked"));
    assert_null(json_object_get(json_object_get(pruned, "productVariants"), "edges"));
    /* 2 + first(5) x (node 1 + inventoryItem 1); pageInfo is free */
    assert_int_equal(dh_sb_gql_requested_cost(roots, false), 12);
    /* 2 + 1 returned node x 2 */
    assert_int_equal(dh_sb_gql_actual_cost(roots, pruned, false), 4);
    json_decref(roots);
    json_decref(full);
    json_decref(pruned);
}

static void test_mutation_cost(void **state)
{
    char op[16];
    json_t *roots =
        parse_ok("mutation { tagsAdd(id: \"x\", tags: [\"a\"]) { node { id } userErrors { "
                 "field message } } }",
                 NULL, op);

    (void)state;
    assert_int_equal(dh_sb_gql_requested_cost(roots, true), 12);
    json_decref(roots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_field_and_literal_directive),
        cmocka_unit_test(test_variable_directive_and_alias),
        cmocka_unit_test(test_shorthand_query_and_errors),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_prune_and_cost),
        cmocka_unit_test(test_mutation_cost),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
