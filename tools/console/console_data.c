/*
 * dh-console's data: each page as one JSON document. Kafka and the ledger go through
 * dh-ops's sub-commands with o.sink set (the same code the on-call runs by hand), the
 * workers' state through their admin ports, the stores' through the Redis keys the
 * workers write (dh:inv:sync:*, dh:rl:shopify:<store>).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "dockhand/stores.h"

#define LIST_MAX 64
#define FAILURES 20

/* Runs a dh-ops sub-command, its results collected: {"rows": [...], "ok": bool}. */
static json_t *run_ops(console_t *c, int (*fn)(const ops_t *, int, char **), int argc, char **argv)
{
    json_t *rows = json_array();
    int rc;

    c->o.sink = rows;
    rc = fn(&c->o, argc, argv);
    c->o.sink = NULL;
    return json_pack("{s:o, s:b}", "rows", rows, "ok", rc == OPS_OK);
}

/* Calls \p fn on each item of the comma-separated list \p spec (at most LIST_MAX). */
static void each_item(const char *spec, void (*fn)(const char *item, void *ud), void *ud)
{
    const char *p = spec ? spec : "", *s;
    long len;
    int n = 0;

    while ((len = dh_config_list_next(&p, &s)) >= 0 && n++ < LIST_MAX) {
        char item[512];

        if (len > 0 && (size_t)len < sizeof(item)) {
            memcpy(item, s, (size_t)len);
            item[len] = '\0';
            fn(item, ud);
        }
    }
}

struct lag_ctx {
    console_t *c;
    json_t *groups;
};

static void lag_group(const char *group, void *ud)
{
    struct lag_ctx *x = ud;
    char *argv[] = {"lag", "--group", (char *)group, NULL};
    json_t *res = run_ops(x->c, ops_lag, 3, argv);
    json_int_t total = 0;
    size_t i;
    json_t *row;

    json_array_foreach(json_object_get(res, "rows"), i, row)
    {
        total += json_integer_value(json_object_get(row, "lag"));
    }
    json_object_set_new(res, "group", json_string(group));
    json_object_set_new(res, "total", json_integer(total));
    json_array_append_new(x->groups, res);
}

json_t *console_lag(console_t *c)
{
    struct lag_ctx x = {c, json_array()};

    each_item(dh_config_get(c->o.cfg, "DH_CONSOLE_GROUPS"), lag_group, &x);
    return json_pack("{s:o}", "groups", x.groups);
}

struct dlq_ctx {
    console_t *c;
    json_t *topics;
};

static void dlq_topic(const char *topic, void *ud)
{
    struct dlq_ctx *x = ud;
    char max[24];
    char *argv[] = {"dlq", "list", (char *)topic, "--max", max, NULL};
    json_t *res, *classes = json_object(), *row;
    size_t i;

    snprintf(max, sizeof(max), "%lld", dh_config_int(x->c->o.cfg, "DH_CONSOLE_MAX_LETTERS"));
    res = run_ops(x->c, ops_dlq, 5, argv);
    json_array_foreach(json_object_get(res, "rows"), i, row)
    {
        const char *k = json_string_value(json_object_get(row, "error-class"));
        json_t *n = json_object_get(classes, k ? k : "(none)");

        json_object_set_new(classes, k ? k : "(none)",
                            json_integer(n ? json_integer_value(n) + 1 : 1));
    }
    json_object_set_new(res, "topic", json_string(topic));
    json_object_set_new(res, "classes", classes);
    json_object_set_new(res, "total",
                        json_integer((json_int_t)json_array_size(json_object_get(res, "rows"))));
    json_array_append_new(x->topics, res);
}

json_t *console_dlq(console_t *c)
{
    struct dlq_ctx x = {c, json_array()};

    each_item(dh_config_get(c->o.cfg, "DH_CONSOLE_DLQ_TOPICS"), dlq_topic, &x);
    return json_pack("{s:o}", "topics", x.topics);
}

/* Newest letters first, across the dead-letter topics. */
static int newer(const void *a, const void *b)
{
    const char *ta = json_string_value(json_object_get(*(json_t *const *)a, "time"));
    const char *tb = json_string_value(json_object_get(*(json_t *const *)b, "time"));

    return strcmp(tb ? tb : "", ta ? ta : "");
}

json_t *console_failures(console_t *c)
{
    json_t *d = console_dlq(c), *t, *row, *out = json_array();
    json_t **all = NULL;
    size_t i, j, n = 0;

    json_array_foreach(json_object_get(d, "topics"), i, t)
    {
        json_array_foreach(json_object_get(t, "rows"), j, row)
        {
            json_t **grown = realloc(all, (n + 1) * sizeof(*all));

            if (!grown) {
                break;
            }
            all = grown;
            json_object_set_new(row, "topic", json_copy(json_object_get(t, "topic")));
            all[n++] = row;
        }
    }
    if (n) {
        qsort(all, n, sizeof(*all), newer);
    }
    for (i = 0; i < n && i < FAILURES; i++) {
        json_array_append(out, all[i]);
    }
    free(all);
    json_decref(d);
    return json_pack("{s:o}", "failures", out);
}

json_t *console_letter(console_t *c, const char *topic, const char *part, const char *off)
{
    char *argv[] = {"dlq",      "show",      (char *)topic, "--partition", (char *)part,
                    "--offset", (char *)off, "--all",       NULL};
    json_t *res = run_ops(c, ops_dlq, 8, argv);
    json_t *l = json_array_get(json_object_get(res, "rows"), 0);

    l = l ? json_incref(l) : NULL;
    json_decref(res);
    if (l) {
        json_object_set_new(l, "topic", json_string(topic));
    }
    return l;
}

static const char *text_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "-";
}

/* The audit trail of a redrive: one line per letter written back. */
static void log_written(const console_t *c, const char *topic, const json_t *rows)
{
    size_t i;
    json_t *r;

    json_array_foreach(rows, i, r)
    {
        if (!strcmp(text_of(r, "action"), "redriven")) {
            fprintf(stderr, "%s: redriven %s %lld@%lld (class %s) -> %s\n", c->o.prog, topic,
                    (long long)json_integer_value(json_object_get(r, "partition")),
                    (long long)json_integer_value(json_object_get(r, "offset")),
                    text_of(r, "error-class"), text_of(r, "original-topic"));
        }
    }
}

json_t *console_redrive(console_t *c, const char *topic, const char *klass, const char *part,
                        const char *off, int execute)
{
    char *argv[12] = {"dlq", "redrive", (char *)topic, "--class", (char *)klass};
    int argc = 5;
    json_t *res;

    if (part && *part && off && *off) {
        argv[argc++] = "--partition";
        argv[argc++] = (char *)part;
        argv[argc++] = "--offset";
        argv[argc++] = (char *)off;
    }
    if (execute) {
        argv[argc++] = "--execute";
    }
    res = run_ops(c, ops_dlq, argc, argv);
    log_written(c, topic, json_object_get(res, "rows"));
    json_object_set_new(res, "topic", json_string(topic));
    json_object_set_new(res, "class", json_string(klass));
    json_object_set_new(res, "execute", json_boolean(execute));
    return res;
}
