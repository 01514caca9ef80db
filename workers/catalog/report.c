/*
 * "dh-catalog report <store>": the per-store catalogue report a person reads — every SKU
 * shared by two or more variants (product and variant ids; which one the WMS holds) and
 * every variant without a SKU — from the records apply.c keeps in Redis
 * (dh:catalog:<store>:dups and :nosku). Read-only; exit 0 when the store is clean, 1 when
 * it lists problems, 2 on bad usage or configuration, 3 when Redis cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "catalog.h"

extern char **environ;

int64_t cat_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static redisReply *hgetall(dh_redis_t *r, const char *store, const char *kind)
{
    char k[300];
    redisReply *rep = NULL;

    cat_key(k, sizeof(k), store, kind, NULL);
    const char *argv[] = {"HGETALL", k};

    if (dh_redis_command(r, 2, argv, NULL, &rep) != DH_OK) {
        return NULL;
    }
    return rep;
}

/* The owner record's variant (the one the WMS holds), or "". */
static void owner_of(dh_redis_t *r, const char *store, const char *sku, char *out, size_t size)
{
    char k[600];
    redisReply *rep = NULL;

    out[0] = '\0';
    cat_key(k, sizeof(k), store, "sku", sku);
    const char *argv[] = {"GET", k};

    if (dh_redis_command(r, 2, argv, NULL, &rep) == DH_OK && rep->type == REDIS_REPLY_STRING) {
        json_t *j = json_loadb(rep->str, rep->len, 0, NULL);

        snprintf(out, size, "%s",
                 json_string_value(json_object_get(j, "variant_id"))
                     ? json_string_value(json_object_get(j, "variant_id"))
                     : "");
        json_decref(j);
    }
    if (rep) {
        freeReplyObject(rep);
    }
}

static void print_dups(dh_redis_t *r, const char *store, redisReply *d)
{
    printf("Duplicate SKUs: %zu\n", d->elements / 2);
    for (size_t i = 0; i + 1 < d->elements; i += 2) {
        json_t *arr = json_loadb(d->element[i + 1]->str, d->element[i + 1]->len, 0, NULL);
        char owner[32];
        size_t k;
        json_t *e;

        owner_of(r, store, d->element[i]->str, owner, sizeof(owner));
        printf("  SKU %s\n", d->element[i]->str);
        json_array_foreach(arr, k, e)
        {
            const char *vid = json_string_value(json_object_get(e, "variant_id"));

            printf("    product %s variant %s%s\n",
                   json_string_value(json_object_get(e, "product_id")), vid,
                   json_is_true(json_object_get(e, "wms"))
                       ? "  (refused by the WMS: the SKU belongs to another variant there)"
                   : vid && strcmp(vid, owner) == 0 ? "  (held by the WMS)"
                                                    : "  (not sent)");
        }
        json_decref(arr);
    }
}

static void print_nosku(redisReply *n)
{
    printf("Variants without SKU: %zu\n", n->elements / 2);
    for (size_t i = 0; i + 1 < n->elements; i += 2) {
        json_t *e = json_loadb(n->element[i + 1]->str, n->element[i + 1]->len, 0, NULL);

        printf("  product %s variant %s  %s\n", json_string_value(json_object_get(e, "product_id")),
               n->element[i]->str, json_string_value(json_object_get(e, "title")));
        json_decref(e);
    }
}

/* The Redis client from DH_REDIS_* (the commands run without the worker). */
static dh_redis_t *redis_from_env(dh_config_t **cfg)
{
    static const dh_config_var_t *const tables[] = {dh_process_config_vars, NULL};
    char *problems = NULL, errstr[256];
    dh_redis_t *r;

    /* Only DH_REDIS_*: the commands run inside a dh-catalog container, whose environment
     * holds the worker's other variables, which this table does not know. */
    char *envp[16];
    size_t n = 0;

    for (char **e = environ; *e && n + 1 < sizeof(envp) / sizeof(envp[0]); e++) {
        if (strncmp(*e, "DH_REDIS_", 9) == 0) {
            envp[n++] = *e;
        }
    }
    envp[n] = NULL;
    if (dh_config_load(tables, envp, cfg, &problems) != DH_OK) {
        fprintf(stderr, "%s", problems ? problems : "bad configuration\n");
        free(problems);
        return NULL;
    }
    dh_redis_opts_t o = {.url = dh_config_get(*cfg, "DH_REDIS_URL"),
                         .password = dh_config_get(*cfg, "DH_REDIS_PASSWORD"),
                         .timeout_ms = (int)dh_config_int(*cfg, "DH_REDIS_TIMEOUT_MS")};

    r = dh_redis_new(&o, errstr, sizeof(errstr));
    if (!r) {
        fprintf(stderr, "redis: %s\n", errstr);
    }
    return r;
}

int catalog_import_main(int argc, char **argv)
{
    dh_config_t *cfg = NULL;
    dh_redis_t *r;
    redisReply *rep = NULL;
    char k[300];
    int rc = 3;

    if (argc != 3 || argv[2][0] == '\0') {
        fprintf(stderr, "usage: %s import <store domain>\n", argv[0]);
        return 2;
    }
    r = redis_from_env(&cfg);
    if (!r) {
        dh_config_destroy(cfg);
        return cfg ? 3 : 2;
    }
    cat_key(k, sizeof(k), argv[2], "import", NULL);
    const char *set[] = {"HSET", k, "requested", "1"};

    if (dh_redis_command(r, 4, set, NULL, &rep) == DH_OK) {
        printf("import of %s requested: a dh-catalog replica starts it within a few seconds "
               "(progress: dh_catalog_import_variants_done / _total, and the logs)\n",
               argv[2]);
        rc = 0;
        freeReplyObject(rep);
    } else {
        fprintf(stderr, "redis: %s\n", dh_redis_errstr(r));
    }
    dh_redis_destroy(r);
    dh_config_destroy(cfg);
    return rc;
}

int catalog_report_main(int argc, char **argv)
{
    dh_config_t *cfg = NULL;
    dh_redis_t *r = NULL;
    redisReply *d = NULL, *n = NULL;
    int rc = 2;

    if (argc != 3 || argv[2][0] == '\0') {
        fprintf(stderr, "usage: %s report <store domain>\n", argv[0]);
        return 2;
    }
    r = redis_from_env(&cfg);
    if (!r) {
        rc = cfg ? 3 : 2;
        goto out;
    }
    rc = 3;
    d = hgetall(r, argv[2], "dups");
    n = d ? hgetall(r, argv[2], "nosku") : NULL;
    if (!d || !n) {
        fprintf(stderr, "redis: %s\n", dh_redis_errstr(r));
        goto out;
    }
    printf("Catalogue report for %s\n", argv[2]);
    print_dups(r, argv[2], d);
    print_nosku(n);
    rc = d->elements || n->elements ? 1 : 0;
out:
    if (d) {
        freeReplyObject(d);
    }
    if (n) {
        freeReplyObject(n);
    }
    dh_redis_destroy(r);
    dh_config_destroy(cfg);
    return rc;
}
