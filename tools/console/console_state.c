/*
 * dh-console's view of the pool and the stores: each worker's admin port (/readyz and
 * the series of /metrics the on-call reads first, summed over their labels), and per
 * store the full-sync state and the shared Shopify bucket (dh:rl:shopify:<store>, a hash
 * {level, ts} refilled lazily by whoever takes from it next: common/src/ratelimit.c).
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dockhand/stores.h"

static const char *const series[][2] = {
    {"dh_inflight_events", "inflight"},
    {"dh_paused_partitions", "paused"},
    {"dh_dead_letters_total", "dead_letters"},
    {"dh_events_total", "events"},
    {"dh_consumer_lag", "lag"},
    {"dh_assigned_partitions", "assigned"},
};

/* Sum of every sample of metric \p name in a Prometheus text exposition. */
double console_metric_sum(const char *text, const char *name)
{
    size_t len = strlen(name);
    double sum = 0;

    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *v;

        if (strncmp(l, name, len) || (l[len] != ' ' && l[len] != '{')) {
            continue;
        }
        v = l + len;
        if (*v == '{') {
            v = strchr(v, '}');
            if (!v) {
                break;
            }
            v++;
        }
        sum += strtod(v, NULL);
    }
    return sum;
}

static long get_status(console_t *c, const char *base, const char *path, char **body)
{
    char url[600];
    dh_http_resp_t r = {0};
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", base, path);
    if (dh_http_request(c->http, "GET", url, NULL, NULL, 0, &r) == DH_OK) {
        status = r.status;
        if (body && r.body) {
            *body = r.body;
            r.body = NULL;
        }
    }
    dh_http_resp_clear(&r);
    return status;
}

static json_t *worker_row(console_t *c, const char *name, const char *url)
{
    char *text = NULL;
    long st = get_status(c, url, "/metrics", &text);
    json_t *row = json_pack("{s:s, s:s, s:b}", "name", name, "url", url, "up", st == 200);

    json_object_set_new(row, "ready",
                        json_boolean(st == 200 && get_status(c, url, "/readyz", NULL) == 200));
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        json_object_set_new(row, series[i][1],
                            st == 200 && text ? json_real(console_metric_sum(text, series[i][0]))
                                              : json_null());
    }
    free(text);
    return row;
}

json_t *console_overview(console_t *c)
{
    const char *p = dh_config_get(c->o.cfg, "DH_CONSOLE_WORKERS"), *s;
    json_t *rows = json_array();
    long len;

    while (p && (len = dh_config_list_next(&p, &s)) >= 0) {
        char item[600];
        char *eq;

        if (len <= 0 || (size_t)len >= sizeof(item)) {
            continue;
        }
        memcpy(item, s, (size_t)len);
        item[len] = '\0';
        eq = strchr(item, '=');
        if (eq) {
            *eq = '\0';
            json_array_append_new(rows, worker_row(c, item, eq + 1));
        }
    }
    return json_pack("{s:o}", "workers", rows);
}

/* The bucket as stored, refilled to Redis's clock the way the next taker will. */
static json_t *bucket(dh_redis_t *r, const dh_store_t *st, int *err)
{
    redisReply *b = NULL, *t = NULL, *cd = NULL;
    json_t *out = json_pack("{s:f, s:f}", "capacity", st->bucket.capacity, "restore_rate",
                            st->bucket.restore_rate);

    if (dh_redis_commandf(r, &b, "HMGET dh:rl:shopify:%s level ts", st->domain) ||
        dh_redis_commandf(r, &t, "TIME") ||
        dh_redis_commandf(r, &cd, "PTTL dh:rl:shopify:%s:cooldown", st->domain)) {
        *err = 1;
    } else if (b->type == REDIS_REPLY_ARRAY && b->elements == 2 &&
               b->element[0]->type == REDIS_REPLY_STRING && t->elements == 2) {
        double level = strtod(b->element[0]->str, NULL);
        double ts =
            b->element[1]->type == REDIS_REPLY_STRING ? strtod(b->element[1]->str, NULL) : 0;
        double now =
            strtod(t->element[0]->str, NULL) * 1000 + strtod(t->element[1]->str, NULL) / 1000;
        double refilled = level + (now > ts ? now - ts : 0) * st->bucket.restore_rate / 1000;

        json_object_set_new(out, "stored", json_real(level));
        json_object_set_new(
            out, "available",
            json_real(refilled < st->bucket.capacity ? refilled : st->bucket.capacity));
    } else {
        json_object_set_new(out, "stored", json_null()); /* absent: full */
        json_object_set_new(out, "available", json_real(st->bucket.capacity));
    }
    json_object_set_new(
        out, "cooldown_ms",
        json_integer(cd && cd->type == REDIS_REPLY_INTEGER && cd->integer > 0 ? cd->integer : 0));
    freeReplyObject(b);
    freeReplyObject(t);
    freeReplyObject(cd);
    return out;
}

json_t *console_stores(console_t *c)
{
    const char *path = dh_config_get(c->o.cfg, "DH_STORES_FILE");
    char errstr[1024] = "";
    dh_stores_t *s = NULL;
    dh_redis_t *r = NULL;
    json_t *out = json_pack("{s:[]}", "stores");
    int err = 0;

    if (!path || !*path || dh_stores_load(path, &s, errstr, sizeof(errstr))) {
        json_object_set_new(out, "error", json_string(*errstr ? errstr : "no DH_STORES_FILE"));
        return out;
    }
    r = ops_redis_new(&c->o);
    for (size_t i = 0; r && !err && i < dh_stores_count(s); i++) {
        const dh_store_t *st = dh_stores_at(s, i);
        json_t *row = ops_sync_state(r, st->domain, &err);

        if (row) {
            json_object_set_new(row, "bucket", bucket(r, st, &err));
            json_array_append_new(json_object_get(out, "stores"), row);
        }
    }
    if (!r || err) {
        json_object_set_new(out, "error",
                            json_string(r ? dh_redis_errstr(r) : "redis unreachable"));
    }
    dh_redis_destroy(r);
    dh_stores_destroy(s);
    return out;
}
