/*
 * gql: tokenizer, operation reader, pruner and cost model (see gql.h).
 */
#include "gql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok_kind { T_EOF, T_PUNCT, T_NAME, T_STRING, T_INT, T_FLOAT, T_BAD };

typedef struct lexer {
    const char *p;
    enum tok_kind kind;
    char punct;
    char *text; /**< token text (decoded for strings) */
    size_t len, cap;
    json_t *vars;
    int depth;
    char *err;
    size_t err_size;
} lexer_t;

static int text_put(lexer_t *lx, char c)
{
    if (lx->len + 2 > lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        char *t = realloc(lx->text, cap);

        if (!t) {
            return -1;
        }
        lx->text = t;
        lx->cap = cap;
    }
    lx->text[lx->len++] = c;
    lx->text[lx->len] = '\0';
    return 0;
}

static void skip_ignored(lexer_t *lx)
{
    for (;;) {
        unsigned char c = (unsigned char)*lx->p;

        if (c == '#') {
            while (*lx->p && *lx->p != '\n') {
                lx->p++;
            }
        } else if (c == ',' || isspace(c) || (c == 0xEF && lx->p[1] == '\xBB')) {
            lx->p += (c == 0xEF) ? 3 : 1;
        } else {
            return;
        }
    }
}

static int lex_string(lexer_t *lx)
{
    if (strncmp(lx->p, "\"\"\"", 3) == 0) {
        lx->p += 3;
        while (*lx->p && strncmp(lx->p, "\"\"\"", 3) != 0) {
            if (text_put(lx, *lx->p++) < 0) {
                return -1;
            }
        }
        if (!*lx->p) {
            return -1;
        }
        lx->p += 3;
        return 0;
    }
    lx->p++;
    while (*lx->p && *lx->p != '"' && *lx->p != '\n') {
        char c = *lx->p++;

        if (c == '\\') {
            char e = *lx->p++;

            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u':
                /* keep \u escapes verbatim: the sandbox never needs them decoded */
                c = '?';
                for (int i = 0; i < 4 && *lx->p; i++) {
                    lx->p++;
                }
                break;
            case '\0':
                return -1;
            default:
                c = e;
                break;
            }
        }
        if (text_put(lx, c) < 0) {
            return -1;
        }
    }
    if (*lx->p != '"') {
        return -1;
    }
    lx->p++;
    return 0;
}

static void lex_next(lexer_t *lx)
{
    skip_ignored(lx);
    lx->len = 0;
    if (lx->text) {
        lx->text[0] = '\0';
    }
    char c = *lx->p;

    if (!c) {
        lx->kind = T_EOF;
    } else if (c == '"') {
        lx->kind = lex_string(lx) == 0 ? T_STRING : T_BAD;
    } else if (c == '_' || isalpha((unsigned char)c)) {
        lx->kind = T_NAME;
        while (*lx->p == '_' || isalnum((unsigned char)*lx->p)) {
            text_put(lx, *lx->p++);
        }
    } else if (c == '-' || isdigit((unsigned char)c)) {
        lx->kind = T_INT;
        while (*lx->p == '-' || *lx->p == '+' || *lx->p == '.' || *lx->p == 'e' || *lx->p == 'E' ||
               isdigit((unsigned char)*lx->p)) {
            if (*lx->p == '.' || *lx->p == 'e' || *lx->p == 'E') {
                lx->kind = T_FLOAT;
            }
            text_put(lx, *lx->p++);
        }
    } else if (strncmp(lx->p, "...", 3) == 0) {
        lx->kind = T_PUNCT;
        lx->punct = '.';
        lx->p += 3;
    } else if (strchr("{}()[]:$@!=|&", c)) {
        lx->kind = T_PUNCT;
        lx->punct = c;
        lx->p++;
    } else {
        lx->kind = T_BAD;
    }
}

static bool is_punct(const lexer_t *lx, char c)
{
    return lx->kind == T_PUNCT && lx->punct == c;
}

static int fail(lexer_t *lx, const char *what)
{
    if (lx->err && lx->err[0] == '\0') {
        snprintf(lx->err, lx->err_size, "Parse error: %s near \"%.20s\"", what, lx->p);
    }
    return -1;
}

static json_t *parse_value(lexer_t *lx);

static json_t *parse_list_or_object(lexer_t *lx, bool object)
{
    json_t *v = object ? json_object() : json_array();

    lex_next(lx);
    while (!is_punct(lx, object ? '}' : ']')) {
        char key[256] = "";

        if (lx->kind == T_EOF || lx->kind == T_BAD) {
            fail(lx, "unterminated value");
            goto bad;
        }
        if (object) {
            if (lx->kind != T_NAME) {
                fail(lx, "expected field name");
                goto bad;
            }
            snprintf(key, sizeof key, "%s", lx->text);
            lex_next(lx);
            if (!is_punct(lx, ':')) {
                fail(lx, "expected ':'");
                goto bad;
            }
            lex_next(lx);
        }
        json_t *item = parse_value(lx);

        if (!item) {
            goto bad;
        }
        if (object) {
            json_object_set_new(v, key, item);
        } else {
            json_array_append_new(v, item);
        }
    }
    lex_next(lx);
    return v;
bad:
    json_decref(v);
    return NULL;
}

/* Reads one value starting at the current token; leaves the next token current. */
static json_t *parse_value(lexer_t *lx)
{
    json_t *v = NULL;

    if (++lx->depth > DH_SB_GQL_MAX_DEPTH) {
        fail(lx, "nesting too deep");
        return NULL;
    }
    if (is_punct(lx, '$')) {
        lex_next(lx);
        if (lx->kind != T_NAME) {
            fail(lx, "expected variable name");
            goto out;
        }
        json_t *bound = lx->vars ? json_object_get(lx->vars, lx->text) : NULL;

        v = bound ? json_deep_copy(bound) : json_null();
        lex_next(lx);
    } else if (is_punct(lx, '[') || is_punct(lx, '{')) {
        v = parse_list_or_object(lx, is_punct(lx, '{'));
    } else if (lx->kind == T_STRING) {
        v = json_string(lx->text);
        lex_next(lx);
    } else if (lx->kind == T_INT) {
        v = json_integer(strtoll(lx->text, NULL, 10));
        lex_next(lx);
    } else if (lx->kind == T_FLOAT) {
        v = json_real(strtod(lx->text, NULL));
        lex_next(lx);
    } else if (lx->kind == T_NAME) {
        if (strcmp(lx->text, "true") == 0 || strcmp(lx->text, "false") == 0) {
            v = json_boolean(lx->text[0] == 't');
        } else if (strcmp(lx->text, "null") == 0) {
            v = json_null();
        } else {
            v = json_string(lx->text); /* enum value */
        }
        lex_next(lx);
    } else {
        fail(lx, "expected a value");
    }
out:
    lx->depth--;
    return v;
}

/* '(' name: value ... ')' into a new object; current token is '('. */
static json_t *parse_args(lexer_t *lx)
{
    json_t *args = json_object();

    lex_next(lx);
    while (!is_punct(lx, ')')) {
        char key[256];

        if (lx->kind != T_NAME) {
            fail(lx, "expected argument name");
            goto bad;
        }
        snprintf(key, sizeof key, "%s", lx->text);
        lex_next(lx);
        if (!is_punct(lx, ':')) {
            fail(lx, "expected ':' after argument name");
            goto bad;
        }
        lex_next(lx);
        json_t *v = parse_value(lx);

        if (!v) {
            goto bad;
        }
        json_object_set_new(args, key, v);
    }
    lex_next(lx);
    return args;
bad:
    json_decref(args);
    return NULL;
}

/* Zero or more '@name(args)' into \p dirs. */
static int parse_directives(lexer_t *lx, json_t *dirs)
{
    while (is_punct(lx, '@')) {
        char name[128];

        lex_next(lx);
        if (lx->kind != T_NAME) {
            return fail(lx, "expected directive name");
        }
        snprintf(name, sizeof name, "%s", lx->text);
        lex_next(lx);
        json_t *args = is_punct(lx, '(') ? parse_args(lx) : json_object();

        if (!args) {
            return -1;
        }
        json_object_set_new(dirs, name, args);
    }
    return 0;
}

static int parse_selection_set(lexer_t *lx, json_t *sel);

static int parse_field(lexer_t *lx, json_t *sel)
{
    json_t *node = json_object();
    json_t *dirs = json_object();
    char first[256];

    json_object_set_new(node, "dirs", dirs);
    snprintf(first, sizeof first, "%s", lx->text);
    lex_next(lx);
    json_object_set_new(node, "key", json_string(first));
    if (is_punct(lx, ':')) {
        lex_next(lx);
        if (lx->kind != T_NAME) {
            goto bad;
        }
        json_object_set_new(node, "name", json_string(lx->text));
        lex_next(lx);
    } else {
        json_object_set_new(node, "name", json_string(first));
    }
    json_t *args = is_punct(lx, '(') ? parse_args(lx) : json_object();

    if (!args) {
        goto bad;
    }
    json_object_set_new(node, "args", args);
    if (parse_directives(lx, dirs) < 0) {
        goto bad;
    }
    if (is_punct(lx, '{')) {
        json_t *sub = json_array();

        json_object_set_new(node, "sel", sub);
        if (parse_selection_set(lx, sub) < 0) {
            goto bad;
        }
    }
    json_array_append_new(sel, node);
    return 0;
bad:
    json_decref(node);
    return fail(lx, "bad field");
}

/* Current token is '{'; reads through the matching '}'. */
static int parse_selection_set(lexer_t *lx, json_t *sel)
{
    int rc = -1;

    if (++lx->depth > DH_SB_GQL_MAX_DEPTH) {
        return fail(lx, "nesting too deep");
    }
    lex_next(lx);
    while (!is_punct(lx, '}')) {
        if (lx->kind == T_NAME) {
            if (parse_field(lx, sel) < 0) {
                goto out;
            }
        } else if (is_punct(lx, '.')) {
            lex_next(lx);
            if (lx->kind == T_NAME && strcmp(lx->text, "on") == 0) {
                lex_next(lx);
                lex_next(lx); /* type condition */
            }
            json_t *ignored = json_object();

            parse_directives(lx, ignored);
            json_decref(ignored);
            if (!is_punct(lx, '{')) {
                fail(lx, "fragment spreads are not supported");
                goto out;
            }
            if (parse_selection_set(lx, sel) < 0) {
                goto out;
            }
        } else {
            fail(lx, "expected a field");
            goto out;
        }
    }
    lex_next(lx);
    rc = 0;
out:
    lx->depth--;
    return rc;
}

/* Skips "query Name($a: T = 1, ...)" and directives; leaves '{' current. */
static int parse_op_header(lexer_t *lx, char *op_type)
{
    snprintf(op_type, 16, "query");
    if (lx->kind == T_NAME) {
        if (strcmp(lx->text, "query") && strcmp(lx->text, "mutation") &&
            strcmp(lx->text, "subscription")) {
            return fail(lx, "expected an operation");
        }
        snprintf(op_type, 16, "%s", lx->text);
        lex_next(lx);
        if (lx->kind == T_NAME) {
            lex_next(lx);
        }
        if (is_punct(lx, '(')) {
            int level = 0;

            do {
                level += is_punct(lx, '(') - is_punct(lx, ')');
                if (lx->kind == T_EOF || lx->kind == T_BAD) {
                    return fail(lx, "unterminated variable definitions");
                }
                lex_next(lx);
            } while (level > 0);
        }
        json_t *ignored = json_object();
        int rc = parse_directives(lx, ignored);

        json_decref(ignored);
        if (rc < 0) {
            return -1;
        }
    }
    if (!is_punct(lx, '{')) {
        return fail(lx, "expected '{'");
    }
    return 0;
}

dh_sb_err_t dh_sb_gql_parse(const char *query, json_t *variables, char *op_type, json_t **out,
                            char *errstr, size_t errstr_size)
{
    lexer_t lx = {.p = query, .vars = variables, .err = errstr, .err_size = errstr_size};
    json_t *roots = json_array();
    dh_sb_err_t err = DH_SB_ERR_PARSE;

    *out = NULL;
    if (errstr_size) {
        errstr[0] = '\0';
    }
    if (!roots) {
        return DH_SB_ERR_NOMEM;
    }
    lex_next(&lx);
    if (parse_op_header(&lx, op_type) < 0 || parse_selection_set(&lx, roots) < 0) {
        goto out;
    }
    if (json_array_size(roots) == 0) {
        fail(&lx, "empty selection");
        goto out;
    }
    *out = roots;
    roots = NULL;
    err = DH_SB_OK;
out:
    json_decref(roots);
    free(lx.text);
    return err;
}

bool dh_sb_gql_mentions(const char *query, const char *name)
{
    lexer_t lx = {.p = query};
    bool found = false;

    for (lex_next(&lx); lx.kind != T_EOF && lx.kind != T_BAD; lex_next(&lx)) {
        if (lx.kind == T_NAME && strcmp(lx.text, name) == 0) {
            found = true;
            break;
        }
    }
    free(lx.text);
    return found;
}

json_t *dh_sb_gql_child(json_t *node, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(node, "sel"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0) {
            return f;
        }
    }
    return NULL;
}

json_t *dh_sb_gql_prune(json_t *sel, json_t *value)
{
    size_t i;
    json_t *f;

    if (!value || json_is_null(value)) {
        return json_null();
    }
    if (json_is_array(value)) {
        json_t *arr = json_array();
        json_t *el;

        json_array_foreach(value, i, el)
        {
            json_array_append_new(arr, dh_sb_gql_prune(sel, el));
        }
        return arr;
    }
    if (!json_is_object(value) || !sel) {
        return json_incref(value);
    }
    json_t *obj = json_object();

    json_array_foreach(sel, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *key = json_string_value(json_object_get(f, "key"));
        json_t *src = json_object_get(value, name);

        if (strcmp(name, "__typename") == 0 && !src) {
            continue;
        }
        json_object_set_new(obj, key, dh_sb_gql_prune(json_object_get(f, "sel"), src));
    }
    return obj;
}

static long sel_cost(json_t *sel, json_t *data, bool actual);

/* Cost of one connection node: the nodes'/edges' child selections. */
static long connection_node_cost(json_t *conn, json_t *node_data, bool actual)
{
    long c = 0;
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(conn, "sel"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));

        if (strcmp(name, "nodes") == 0) {
            c += 1 + sel_cost(json_object_get(f, "sel"), node_data, actual);
        } else if (strcmp(name, "edges") == 0) {
            json_t *n = dh_sb_gql_child(f, "node");

            c += 1 + (n ? 1 + sel_cost(json_object_get(n, "sel"), node_data, actual) : 0);
        }
    }
    return c;
}

static json_t *connection_nodes(json_t *conn_data)
{
    json_t *nodes = json_object_get(conn_data, "nodes");

    return json_is_array(nodes) ? nodes : NULL;
}

static long field_cost(json_t *f, json_t *data, bool actual)
{
    json_t *sel = json_object_get(f, "sel");
    json_t *first = json_object_get(json_object_get(f, "args"), "first");
    size_t i;
    json_t *el;
    long c = 0;

    if (!sel) {
        return 0;
    }
    if (json_is_integer(first)) {
        if (!actual) {
            return 2 + (long)json_integer_value(first) * connection_node_cost(f, NULL, false);
        }
        json_array_foreach(connection_nodes(data), i, el)
        {
            c += connection_node_cost(f, el, true);
        }
        return 2 + c;
    }
    if (actual && json_is_array(data)) {
        json_array_foreach(data, i, el)
        {
            c += 1 + sel_cost(sel, el, true);
        }
        return c;
    }
    if (actual && !json_is_object(data)) {
        return 1;
    }
    return 1 + sel_cost(sel, data, actual);
}

static long sel_cost(json_t *sel, json_t *data, bool actual)
{
    long c = 0;
    size_t i;
    json_t *f;

    json_array_foreach(sel, i, f)
    {
        const char *key = json_string_value(json_object_get(f, "key"));

        c += field_cost(f, actual ? json_object_get(data, key) : NULL, actual);
    }
    return c;
}

long dh_sb_gql_requested_cost(json_t *roots, bool mutation)
{
    long c = sel_cost(roots, NULL, false);

    return mutation ? c + 10 - (long)json_array_size(roots) : c;
}

long dh_sb_gql_actual_cost(json_t *roots, json_t *data, bool mutation)
{
    long c = sel_cost(roots, data, true);
    long req = dh_sb_gql_requested_cost(roots, mutation);

    if (mutation) {
        c += 10 - (long)json_array_size(roots);
    }
    return c < req ? c : req;
}
