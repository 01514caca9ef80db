/*
 * gql: a small GraphQL reader for the sandbox. It is not a GraphQL engine: it reads
 * one operation (query or mutation) into a tree of field nodes with arguments and
 * directive arguments resolved against the request's variables, prunes a full
 * response object down to the selected fields, and estimates Shopify-style costs.
 * Pure functions: no I/O, no global state.
 *
 * A field node is a JSON object:
 *   {"name": "productVariants", "key": "<alias or name>", "args": {...},
 *    "dirs": {"idempotent": {"key": "..."}}, "sel": [<field node>, ...]}
 * "sel" is absent on leaves; inline fragments are merged into their parent.
 */
#ifndef DH_SB_GQL_H
#define DH_SB_GQL_H

#include <stddef.h>

#include <jansson.h>
#include <stdbool.h>

#include "util.h"

/** Nesting limit for selections and values. */
#define DH_SB_GQL_MAX_DEPTH 48

/**
 * @brief Parse the first operation of \p query.
 * @param variables  Request variables (borrowed, may be NULL); `$x` resolves to its value or null.
 * @param op_type    Receives "query" or "mutation" (>= 16 bytes).
 * @param out        Array of root field nodes (new reference) on success, else NULL.
 * @returns DH_SB_OK, DH_SB_ERR_PARSE (errstr says where) or DH_SB_ERR_NOMEM.
 */
dh_sb_err_t dh_sb_gql_parse(const char *query, json_t *variables, char *op_type, json_t **out,
                            char *errstr, size_t errstr_size);

/** @brief True if \p query contains the name token \p name outside strings and comments. */
bool dh_sb_gql_mentions(const char *query, const char *name);

/** @brief The child node called \p name in \p node's selection (borrowed), or NULL. */
json_t *dh_sb_gql_child(json_t *node, const char *name);

/**
 * @brief Keep only the fields selected by \p sel (an array of nodes) in \p value,
 *        renaming to aliases; selected fields missing from \p value become null.
 * @returns A new reference.
 */
json_t *dh_sb_gql_prune(json_t *sel, json_t *value);

/**
 * @brief Requested cost of root fields \p roots: objects 1, scalars 0, a field with
 *        `first: N` costs 2 + N x (cost of one node), mutations add 10.
 */
long dh_sb_gql_requested_cost(json_t *roots, bool mutation);

/** @brief Actual cost: the same model counted over the returned \p data (pruned response). */
long dh_sb_gql_actual_cost(json_t *roots, json_t *data, bool mutation);

#endif
