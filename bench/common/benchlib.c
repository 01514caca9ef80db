/* See benchlib.h. */
#include "benchlib.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double dh_bench_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void dh_bench_sleep_until_ms(double t)
{
    double d = t - dh_bench_wall_ms();
    struct timespec ts;

    if (d <= 0) {
        return;
    }
    ts.tv_sec = (time_t)(d / 1e3);
    ts.tv_nsec = (long)((d - (double)ts.tv_sec * 1e3) * 1e6);
    nanosleep(&ts, NULL);
}

int dh_bench_num(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

uint64_t dh_bench_rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

rd_kafka_t *dh_bench_producer_new(const char *prog, const char *brokers, const char *max_messages)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk;

    /* A WMS bridge would batch a little too; 5 ms keeps the producer out of the figure. */
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err) ||
        rd_kafka_conf_set(c, "acks", "all", err, sizeof err) ||
        (max_messages &&
         rd_kafka_conf_set(c, "queue.buffering.max.messages", max_messages, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

int dh_bench_produce_putaway(const char *prog, rd_kafka_t *rk, const char *topic, const char *store,
                             long n, long seq, unsigned long id_mid, unsigned long id_tail)
{
    char key[512], val[1536];
    int kl, vl;

    kl = snprintf(key, sizeof key, "%s|F1|SKU-%ld", store, n);
    vl = snprintf(val, sizeof val,
                  "{\"schema_version\":1,\"event_id\":\"%08lx-%04lx-4000-8000-%012lx\","
                  "\"event_type\":\"putaway\",\"occurred_at\":\"2026-05-01T10:00:00Z\","
                  "\"store\":\"%s\",\"facility\":\"F1\",\"sku\":\"SKU-%ld\",\"sequence\":%ld,"
                  "\"putaway\":{\"putaway_id\":\"P\",\"zone\":\"G\",\"zone_class\":\"online\","
                  "\"quantity\":1,\"qc_status\":\"GOOD\"},\"stock\":{\"good_online\":%ld,"
                  "\"allocated\":0,\"safety_stock\":0,\"damaged\":0,\"quarantined\":0,"
                  "\"good_offline\":0}}",
                  (unsigned long)time(NULL), id_mid, id_tail, store, n, seq, seq);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)kl),
                              RD_KAFKA_V_VALUE(val, (size_t)vl),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return 0;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "%s: produce: %s\n", prog, rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

json_t *dh_bench_embedded(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return json_loads(s && *s ? s : "{}", JSON_DECODE_ANY, NULL);
}

json_t *dh_bench_applied_quantities(const json_t *j, json_t **body, json_t **resp)
{
    json_t *data, *ue;

    *body = *resp = NULL;
    if (json_is_true(json_object_get(j, "throttled")) ||
        json_is_true(json_object_get(j, "idempotent_replay")) ||
        json_integer_value(json_object_get(j, "status")) != 200) {
        return NULL;
    }
    *resp = dh_bench_embedded(j, "response");
    data = json_object_get(json_object_get(*resp, "data"), "inventorySetQuantities");
    ue = json_object_get(data, "userErrors");
    if (!json_is_object(data) || json_array_size(ue) > 0) {
        return NULL;
    }
    *body = dh_bench_embedded(j, "body");
    return json_object_get(json_object_get(json_object_get(*body, "variables"), "input"),
                           "quantities");
}

static long item_number(const json_t *q)
{
    const char *id = json_string_value(json_object_get(q, "inventoryItemId"));
    const char *slash = id ? strrchr(id, '/') : NULL;

    return slash ? strtol(slash + 1, NULL, 10) : -1;
}

int dh_bench_read_journal(const char *prog, const char *path, dh_bench_qty_fn fn, void *ctx)
{
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        json_t *j = json_loads(line, 0, NULL), *body, *resp, *qs, *q;
        const char *shop = json_string_value(json_object_get(j, "shop"));
        double t = json_number_value(json_object_get(j, "time_ms"));
        size_t i;

        qs = dh_bench_applied_quantities(j, &body, &resp);
        json_array_foreach(qs, i, q)
        {
            rc = fn(ctx, shop, item_number(q), t,
                    (long)json_integer_value(json_object_get(q, "quantity")));
            if (rc != 0) {
                break;
            }
        }
        json_decref(body);
        json_decref(resp);
        json_decref(j);
    }
    free(line);
    fclose(f);
    return rc;
}

int dh_bench_log_add(dh_bench_sku_log_t *l, double t, long qty)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        dh_bench_applied_t *v = realloc(l->v, cap * sizeof *v);

        if (!v) {
            return -1;
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = (dh_bench_applied_t){t, qty};
    return 0;
}

double dh_bench_latency(const dh_bench_sku_log_t *l, long seq, double t)
{
    double best = -1;

    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].qty >= seq && (best < 0 || l->v[i].t_ms < best)) {
            best = l->v[i].t_ms;
        }
    }
    return best < 0 ? -1 : best - t;
}

int dh_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double dh_bench_pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)ceil(p * (double)n);

    return n ? v[i ? i - 1 : 0] : NAN;
}
