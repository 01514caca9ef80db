/*
 * The fault matrix (issue #10). A private Kafka broker and Redis of its own (deploy/stack.sh
 * on private ports, never the shared stack), dh-sandbox, one dh-orders and two dh-inventory
 * replicas, while Shopify order webhooks (shopify.orders) and stock snapshots (wms.putaway,
 * wms.zone_move) flow:
 *  A. the broker is killed with SIGKILL and restarted on the same data a few seconds later;
 *  B. Redis and dh-orders are killed together; Redis comes back empty, dh-orders restarts.
 * Then a marker per key (every order's cancellation, every SKU's last putaway) is awaited.
 * Asserted from the sandbox journal and its state (the far side's own record, not Redis):
 * every order created in the WMS exactly once and cancelled exactly once, never cancelled
 * before its creation; repeats the far side absorbed (WMS Idempotency-Key replays, natural
 * key 200s, Shopify @idempotent replays, the same on_hand set again) counted and at most the
 * events in flight at the kill; Shopify on_hand equal to each SKU's newest WMS snapshot;
 * nothing dead-lettered; no produce lost. Recovery times are printed and bounded by
 * RECOVERY_LIMIT_MS, a safety net on a loaded machine, not a speed goal (bench/ has those).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NSKU              24       /* stock keys SKU-1..SKU-24 at facility F1 */
#define ORDER_SKU         "SKU-50" /* orders use another SKU: their commits never touch NSKU */
#define MAXORD            400      /* orders placed in the sandbox up front */
#define MAXSEQ            8192 /* sequences per SKU; on_hand = sequence, so a set names its event */
#define TICK_MS           50   /* one stock event per tick, one order every ORDER_EVERY ticks */
#define ORDER_EVERY       3
#define OUTAGE_MS         4000 /* how long the killed service stays down */
#define RECOVERY_LIMIT_MS 120000
#define GROUP_ORDERS      "fm-orders"
#define GROUP_INV         "fm-inventory"
#define WMS_TOKEN         "wms-fm-token"

typedef struct phase {
    const char *name;
    int first_order, end_order; /* orders of this phase: [first_order, end_order) */
    int first_new_order;        /* first order produced after the kill */
    int seq_at_kill[NSKU + 1];  /* newest sequence per SKU produced before the kill */
    int marker[NSKU + 1];       /* the marker's sequence (= its on_hand) per SKU */
    long long inflight_orders;  /* produced before the kill - committed before it */
    long long inflight_stock;
    int64_t t_restart, t_first_new, t_last_marker;                /* th_now_ms() */
    long create_repeats, cancel_repeats, inv_replays, inv_resets; /* seen in this phase */
    long regressions; /* sets lower than the SKU's previous set, in the far side's order */
} phase_t;

typedef struct fm {
    th_stack_t stack;
    th_sandbox_t sb;
    char domain[96], stores_file[256], log[256], uuid[16];
    pid_t orders, inv[2];
    /* the stream: one producer thread */
    rd_kafka_t *rk;
    pthread_t thread;
    int thread_on;
    atomic_int stop, stream_err;
    atomic_long dr_errors, produced_orders, produced_stock;
    atomic_int next_order;
    _Atomic int seq[NSKU + 1];
    long long event_no;
    int norders;
    json_t *order[MAXORD];
    json_t *index; /* order id (string) -> order number */
    /* the far side, folded in from the journal */
    long long jseq;
    int created[MAXORD], cancelled[MAXORD], cancel_404[MAXORD];
    unsigned char (*applied)[MAXSEQ]; /* [sku][on_hand] successful non-replayed sets */
    int last_set[NSKU + 1];
    phase_t ph[2];
    phase_t *cur;
} fm_t;

/* ---- setup: the private stack, the sandbox, placed orders, the workers ---- */

static void write_stores(fm_t *f)
{
    char stores[2048];

    snprintf(stores, sizeof(stores),
             "{\"stores\":[{\"domain\":\"%s\",\"tenants\":[\"T1\"],\"admin_url\":\"%s/shops/%s\","
             "\"api_version\":\"2026-04\",\"access_token\":\"shpat_x\",\"bucket_size\":2000,"
             "\"restore_rate\":100,\"webhook_secrets\":[\"s\"],"
             "\"locations\":{\"F1\":\"gid://shopify/Location/1000001\","
             "\"F2\":\"gid://shopify/Location/1000002\"}}]}",
             f->domain, f->sb.base, f->domain);
    snprintf(f->stores_file, sizeof(f->stores_file), "%s", th_write_temp("dh-fm-stores", stores));
}

static void start_sandbox(fm_t *f)
{
    char seed[2048], buf[64];

    th_unique("fm", buf, sizeof(buf));
    for (char *p = buf; *p; p++) {
        *p = (*p == '.' || *p == '_') ? '-' : *p;
    }
    snprintf(f->domain, sizeof(f->domain), "%s.myshopify.com", buf);
    snprintf(f->log, sizeof(f->log), "%s/%s-workers.log", th_log_dir(), buf);
    snprintf(f->uuid, sizeof(f->uuid), "%08x", (unsigned)(th_now_ms() ^ getpid()));
    /* generate: locations 1000001-2, then product, variant, item per SKU (item 1000002+3i). */
    snprintf(seed, sizeof(seed),
             "{\"stores\":[{\"domain\":\"%s\",\"access_token\":\"shpat_x\",\"bucket_size\":2000,"
             "\"restore_rate\":100,\"api_version\":\"2026-04\",\"generate\":{\"products\":60,"
             "\"variants_per_product\":1,\"sku_prefix\":\"SKU-\",\"locations\":2,"
             "\"available\":0}}],\"wms\":{\"token\":\"" WMS_TOKEN "\",\"inventory\":[]}}",
             f->domain);
    th_sandbox_start(&f->sb, seed);
    write_stores(f);
}

/* Orders placed in the sandbox with "deliver": false: the test delivers them itself. */
static void place_orders(fm_t *f)
{
    char url[512];
    const char *body = "{\"line_items\":[{\"sku\":\"" ORDER_SKU "\",\"quantity\":1}],"
                       "\"deliver\":false}";

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", f->sb.base, f->domain);
    f->index = json_object();
    for (int i = 0; i < MAXORD; i++) {
        long st = 0;
        json_t *o = th_http_json("POST", url, body, &st);
        char id[32];

        assert_int_equal(st, 201);
        json_object_del(o, "fulfillment_order_ids"); /* control-only field */
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(o, "id")));
        json_object_set_new(f->index, id, json_integer(i));
        f->order[i] = o;
    }
    f->norders = MAXORD;
}

static pid_t start_worker(fm_t *f, const char *bin, const char *group)
{
    char b[12][300];
    const char *env[24];
    int n = 0;

#define ADD(...) (snprintf(b[n], sizeof(b[n]), __VA_ARGS__), env[n] = b[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_GROUP_ID=%s", group);
    ADD("DH_STORES_FILE=%s", f->stores_file);
    ADD("DH_WMS_URL=%s", f->sb.base);
    ADD("DH_WMS_TOKEN=%s", WMS_TOKEN);
#undef ADD
    const char *common[] = {"DH_WMS_RATE=default=100000",
                            "DH_ADMIN_PORT=0",
                            "DH_RETRY_BASE_MS=50",
                            "DH_RETRY_MAX_MS=1000",
                            "DH_RETRY_MAX_ATTEMPTS=1000",
                            "DH_IDEM_LEASE_MS=5000",
                            "DH_HTTP_TIMEOUT_MS=5000",
                            "KAFKA_SESSION_TIMEOUT_MS=6000",
                            "KAFKA_HEARTBEAT_INTERVAL_MS=1000",
                            NULL};
    for (int i = 0; common[i]; i++) {
        env[n++] = common[i];
    }
    if (!strcmp(bin, "dh-orders")) {
        env[n++] = "DH_ORDERS_RECONCILE_INTERVAL_S=0";
    } else {
        env[n++] = "DH_BATCH_LINGER_MS=50";
        env[n++] = "DH_INVENTORY_SYNC_GRACE_S=60"; /* no scheduled full sync during the run */
    }
    env[n] = NULL;
    return th_spawn(bin, env, f->log);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    fm_t *f = opaque;

    (void)rk;
    if (m->err) {
        atomic_fetch_add(&f->dr_errors, 1);
        fprintf(stderr, "produce failed: %s\n", rd_kafka_err2str(m->err));
    }
}

/* Idempotent, acks=all, no message timeout: librdkafka retries every event until the
 * broker acknowledged it, however long the broker is away. */
static rd_kafka_t *stream_producer(fm_t *f)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", th_kafka()},
                           {"enable.idempotence", "true"},
                           {"message.timeout.ms", "0"},
                           {"linger.ms", "5"},
                           {"reconnect.backoff.max.ms", "500"}};
    rd_kafka_t *rk;

    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        assert_int_equal(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, f);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fail_msg("rd_kafka_new: %s", errstr);
    }
    return rk;
}

static int setup(void **state)
{
    fm_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->applied = calloc(NSKU + 1, sizeof(*f->applied));
    assert_non_null(f->applied);
    *state = f;
    return 0;
}

/* In the test body, not in setup(): cmocka runs teardown() after a failed test, not after
 * a failed setup, and a half-started stack must still be stopped. */
static void start_all(fm_t *f)
{
    th_stack_start(&f->stack);
    th_create_topic("shopify.orders", 6);
    th_create_topic("wms.putaway", 6);
    th_create_topic("wms.zone_move", 6);
    start_sandbox(f);
    place_orders(f);
    f->rk = stream_producer(f);
}

static void stop_stream(fm_t *f);

static int teardown(void **state)
{
    fm_t *f = *state;
    pid_t pids[3] = {f->orders, f->inv[0], f->inv[1]};

    stop_stream(f);
    for (int i = 0; i < 3; i++) {
        if (pids[i] > 0 && th_alive(pids[i])) {
            kill(pids[i], SIGKILL);
            th_wait_exit(pids[i], 10000);
        }
    }
    if (f->rk) {
        rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(f->rk);
    }
    th_sandbox_stop(&f->sb);
    th_stack_destroy(&f->stack);
    for (int i = 0; i < f->norders; i++) {
        json_decref(f->order[i]);
    }
    json_decref(f->index);
    unlink(f->stores_file);
    free(f->applied);
    free(f);
    return 0;
}

/* ---- the stream ---- */

/* Enqueue one event (librdkafka delivers it); returns the enqueue error. No cmocka
 * assertion here: the stream thread calls it, and cmocka may only fail the main thread. */
static rd_kafka_resp_err_t produce(fm_t *f, const char *topic, const char *key, const char *val,
                                   const char *wtopic)
{
    rd_kafka_resp_err_t err;

    for (;;) {
        if (wtopic) { /* the gateway's envelope (schemas/headers.md) */
            err = rd_kafka_producev(
                f->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)val, strlen(val)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADER("dh-topic", wtopic, -1),
                RD_KAFKA_V_HEADER("dh-shop-domain", f->domain, -1),
                RD_KAFKA_V_HEADER("dh-webhook-id", key, -1),
                RD_KAFKA_V_HEADER("dh-api-version", "2026-04", -1), RD_KAFKA_V_END);
        } else {
            err =
                rd_kafka_producev(f->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE((void *)val, strlen(val)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(f->rk, 50);
    }
    rd_kafka_poll(f->rk, 0);
    return err;
}

/* A stock snapshot of SKU-\p sku: on_hand target = good_online = \p seq (no safety stock).
 * Every third one is a crossing zone move, the others putaways. */
static rd_kafka_resp_err_t produce_stock(fm_t *f, int sku, int seq)
{
    char val[1200], key[200];
    const char *putaway = "\"event_type\":\"putaway\",\"putaway\":{\"putaway_id\":\"P\","
                          "\"zone\":\"GOOD\",\"zone_class\":\"online\",\"quantity\":1,"
                          "\"qc_status\":\"GOOD\"}";
    const char *move = "\"event_type\":\"zone_move\",\"move\":{\"move_id\":\"M\",\"quantity\":1,"
                       "\"from_zone\":\"GOOD\",\"from_class\":\"online\",\"to_zone\":\"QC\","
                       "\"to_class\":\"offline\"}";
    int is_move = seq % 3 == 0;

    f->event_no++;
    snprintf(val, sizeof(val),
             "{\"schema_version\":1,\"event_id\":\"%s-0000-4000-8000-%012llx\",\"occurred_at\":"
             "\"2026-05-01T10:00:00Z\",\"store\":\"%s\",\"facility\":\"F1\",\"sku\":\"SKU-%d\","
             "\"sequence\":%d,\"stock\":{\"good_online\":%d,\"allocated\":0,\"safety_stock\":0,"
             "\"damaged\":0,\"quarantined\":0,\"good_offline\":1},%s}",
             f->uuid, (unsigned long long)f->event_no, f->domain, sku, seq, seq,
             is_move ? move : putaway);
    snprintf(key, sizeof(key), "%s|F1|SKU-%d", f->domain, sku);
    /* Counted before it can be delivered: the in-flight bound may only be too loose. */
    atomic_fetch_add(&f->produced_stock, 1);
    return produce(f, is_move ? "wms.zone_move" : "wms.putaway", key, val, NULL);
}

static rd_kafka_resp_err_t produce_order(fm_t *f, json_t *o, const char *wtopic)
{
    char key[200], *val = json_dumps(o, JSON_COMPACT);
    rd_kafka_resp_err_t err;

    if (!val) {
        return RD_KAFKA_RESP_ERR__FAIL;
    }
    snprintf(key, sizeof(key), "%s|%lld", f->domain,
             (long long)json_integer_value(json_object_get(o, "id")));
    atomic_fetch_add(&f->produced_orders, 1); /* markers too: committed offsets count them */
    err = produce(f, "shopify.orders", key, val, wtopic);
    free(val);
    return err;
}

static void *stream(void *ud)
{
    fm_t *f = ud;

    for (long tick = 0; !atomic_load(&f->stop); tick++) {
        int sku = (int)(tick % NSKU) + 1;
        int seq = atomic_load(&f->seq[sku]) + 1;

        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

        /* Published before producing, so a snapshot never misses an event produced. */
        if (seq < MAXSEQ - 2) {
            atomic_store(&f->seq[sku], seq);
            err = produce_stock(f, sku, seq);
        }
        int next = atomic_load(&f->next_order);

        if (!err && tick % ORDER_EVERY == 0 && next < f->norders) {
            atomic_store(&f->next_order, next + 1);
            err = produce_order(f, f->order[next], "orders/create");
        }
        if (err) {
            atomic_store(&f->stream_err, (int)err); /* the main thread fails the test */
            break;
        }
        th_sleep_ms(TICK_MS);
    }
    return NULL;
}

static void start_stream(fm_t *f)
{
    atomic_store(&f->stop, 0);
    assert_int_equal(pthread_create(&f->thread, NULL, stream, f), 0);
    f->thread_on = 1;
}

static void stop_stream(fm_t *f)
{
    if (f->thread_on) {
        atomic_store(&f->stop, 1);
        pthread_join(f->thread, NULL);
        f->thread_on = 0;
    }
}

/* ---- the far side: the sandbox journal, folded in incrementally ---- */

static int order_no(fm_t *f, const char *id)
{
    json_t *v = id ? json_object_get(f->index, id) : NULL;

    return v ? (int)json_integer_value(v) : -1;
}

/* A WMS sales-order write: creates (201 = the effect) and cancels (200 = the effect). */
static void fold_wms(fm_t *f, json_t *e, int64_t now)
{
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *method = json_string_value(json_object_get(e, "method"));
    long status = (long)json_integer_value(json_object_get(e, "status"));
    int replay = json_is_true(json_object_get(e, "idempotent_replay"));
    char prefix[200];

    if (!path || !method || strcmp(method, "POST") != 0) {
        return;
    }
    snprintf(prefix, sizeof(prefix), "/wms/v1/sales-orders/%s/", f->domain);
    if (!strcmp(path, "/wms/v1/sales-orders")) {
        json_t *body = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
        int i = order_no(f, json_string_value(json_object_get(body, "channel_order_id")));

        json_decref(body);
        if (i < 0) {
            return;
        }
        if (status == 201 && !replay) {
            f->created[i]++;
            if (f->cur && f->cur->t_restart && !f->cur->t_first_new &&
                i >= f->cur->first_new_order) {
                f->cur->t_first_new = now;
            }
        } else if (f->cur) {
            f->cur->create_repeats++; /* a replay, or 200: the natural key found it */
        }
    } else if (!strncmp(path, prefix, strlen(prefix)) && strstr(path, "/cancel")) {
        char id[32];

        snprintf(id, sizeof(id), "%.*s", (int)strcspn(path + strlen(prefix), "/"),
                 path + strlen(prefix));
        int i = order_no(f, id);

        if (i >= 0 && status == 200 && !replay) {
            f->cancelled[i]++;
        } else if (i >= 0 && status == 404) {
            f->cancel_404[i]++;
        } else if (i >= 0 && f->cur) {
            f->cur->cancel_repeats++;
        }
    }
}

/* One on_hand set of a successful inventorySetQuantities call. */
static void fold_set(fm_t *f, json_t *q, int64_t now)
{
    const char *gid = json_string_value(json_object_get(q, "inventoryItemId"));
    const char *slash = gid ? strrchr(gid, '/') : NULL;
    long long item = slash ? strtoll(slash + 1, NULL, 10) : 0;
    long long v = json_integer_value(json_object_get(q, "quantity"));
    int sku = (int)((item - 1000002) / 3);

    if (sku < 1 || sku > NSKU || v < 0 || v >= MAXSEQ) {
        return;
    }
    if (f->applied[sku][v] < 255) {
        f->applied[sku][v]++;
    }
    if (f->applied[sku][v] > 1 && f->cur) {
        f->cur->inv_resets++; /* the same absolute value set again: harmless, counted */
    }
    if (v < f->last_set[sku] && f->cur) {
        f->cur->regressions++; /* an older snapshot applied after a newer one */
    }
    f->last_set[sku] = (int)v;
    if (f->cur && f->cur->t_restart && !f->cur->t_first_new && v > f->cur->seq_at_kill[sku]) {
        f->cur->t_first_new = now;
    }
}

static void fold_shopify(fm_t *f, json_t *e, int64_t now)
{
    const char *op = json_string_value(json_object_get(e, "op"));
    const char *resp = json_string_value(json_object_get(e, "response"));
    json_t *body, *qs, *q;
    size_t i;

    if (!op || strcmp(op, "inventorySetQuantities") != 0 || !resp ||
        !strstr(resp, "\"userErrors\":[]") || json_is_true(json_object_get(e, "throttled"))) {
        return;
    }
    if (json_is_true(json_object_get(e, "idempotent_replay"))) {
        if (f->cur) {
            f->cur->inv_replays++; /* absorbed by the @idempotent key */
        }
        return;
    }
    body = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
    qs =
        json_object_get(json_object_get(json_object_get(body, "variables"), "input"), "quantities");
    json_array_foreach(qs, i, q)
    {
        fold_set(f, q, now);
    }
    json_decref(body);
}

static void fold_journal(fm_t *f)
{
    char url[256], *text = NULL, *line, *save = NULL;
    int64_t now = th_now_ms();

    snprintf(url, sizeof(url), "%s/_journal?since_seq=%lld", f->sb.base, f->jseq);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *e = json_loads(line, 0, NULL);
        const char *group = json_string_value(json_object_get(e, "group"));
        long long seq = (long long)json_integer_value(json_object_get(e, "seq"));

        f->jseq = seq > f->jseq ? seq : f->jseq;
        if (group && !strcmp(group, "wms")) {
            fold_wms(f, e, now);
        } else if (group && !strcmp(group, "shopify")) {
            fold_shopify(f, e, now);
        }
        json_decref(e);
    }
    free(text);
}

/* ---- conditions awaited ---- */

/* Orders of the current phase the WMS has created (as far as the journal was folded). */
static int orders_created(const fm_t *f)
{
    int n = 0;

    for (int i = f->cur->first_order; i < f->norders; i++) {
        n += f->created[i] > 0;
    }
    return n;
}

static int flowing(void *ud)
{
    fm_t *f = ud;
    int orders, sets = 0;

    fold_journal(f);
    orders = orders_created(f);
    for (int s = 1; s <= NSKU; s++) {
        for (int v = 1; v < MAXSEQ && v <= f->seq[s]; v++) {
            sets += f->applied[s][v] > 0;
        }
    }
    /* A few seconds of steady flow: effects of both workers, beyond the first batches. */
    return orders >= 10 && sets >= 2 * NSKU;
}

static int first_new_effect(void *ud)
{
    fm_t *f = ud;

    fold_journal(f);
    return f->cur->t_first_new != 0;
}

/* Shopify's on_hand of SKU-\p sku at F1 ("Location 1"), -1 if unknown. */
static long long on_hand(fm_t *f, int sku)
{
    char url[512];
    long st = 0;
    json_t *j, *v, *loc = NULL;
    const char *k;
    long long q = -1;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/levels?sku=SKU-%d", f->sb.base, f->domain,
             sku);
    j = th_http_json("GET", url, NULL, &st);
    json_object_foreach(j, k, v)
    {
        if (json_is_object(v) && json_object_get(v, "Location 1")) {
            loc = json_object_get(v, "Location 1");
        }
    }
    if (loc && json_is_integer(json_object_get(loc, "on_hand"))) {
        q = json_integer_value(json_object_get(loc, "on_hand"));
    }
    json_decref(j);
    return st == 200 ? q : -1;
}

static int markers_applied(void *ud)
{
    fm_t *f = ud;
    phase_t *p = f->cur;

    fold_journal(f);
    for (int i = p->first_order; i < p->end_order; i++) {
        if (!f->cancelled[i]) {
            return 0;
        }
    }
    for (int s = 1; s <= NSKU; s++) {
        if (!f->applied[s][p->marker[s]]) {
            return 0;
        }
    }
    return 1;
}

/* ---- one phase: flow, fault, recovery, markers ---- */

/* A worker that exited on its own: named with its status, and 0 left in its slot so
 * teardown does not wait for it. Returns how many had exited. */
static int workers_exited(fm_t *f)
{
    pid_t *slot[3] = {&f->orders, &f->inv[0], &f->inv[1]};
    const char *name[3] = {"dh-orders", "dh-inventory", "dh-inventory"};
    int gone = 0;

    for (int i = 0; i < 3; i++) {
        int st;

        if (*slot[i] > 0 && waitpid(*slot[i], &st, WNOHANG) == *slot[i]) {
            fprintf(stderr, "%s (pid %d) exited: %s %d\n", name[i], (int)*slot[i],
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            *slot[i] = 0;
            gone++;
        }
    }
    return gone;
}

/* What a failed wait shows, so a run elsewhere can be read from its output alone: who is
 * running, what was produced and committed, what the far side did, what is set aside in
 * Redis, and the workers' own last words. */
static void explain(fm_t *f, phase_t *p, const char *what)
{
    redisContext *c;

    fprintf(stderr, "==== %s: waiting for %s failed ====\n", p->name, what);
    workers_exited(f);
    fprintf(stderr, "produced: %ld orders, %ld stock events; orders created in this phase: %d\n",
            atomic_load(&f->produced_orders), atomic_load(&f->produced_stock), orders_created(f));
    th_log_tail(f->log, 60, "\"component\":\"effect\"");
    /* Last: Kafka or Redis may be what is down, and their helpers fail the test. */
    fprintf(stderr, "committed: shopify.orders %lld, wms.putaway %lld, wms.zone_move %lld\n",
            th_group_committed(GROUP_ORDERS, "shopify.orders"),
            th_group_committed(GROUP_INV, "wms.putaway"),
            th_group_committed(GROUP_INV, "wms.zone_move"));
    c = th_redis();
    fprintf(stderr,
            "redis: orders:parked %lld store(s), inventory:parked %lld, orders:park list %lld\n",
            th_redis_int(c, "SCARD orders:parked"), th_redis_int(c, "SCARD inventory:parked"),
            th_redis_int(c, "LLEN orders:park:%s", f->domain));
    redisFree(c);
}

static void wait_or_explain(fm_t *f, phase_t *p, int (*cond)(void *), const char *what, int ms)
{
    if (!th_wait_for(cond, f, ms)) {
        explain(f, p, what);
        fail_msg("%s: %s not reached within %d ms", p->name, what, ms);
    }
}

/* What was in flight when the fault struck: produced minus committed, read just before the
 * kill. Commits only grow, so this bounds what the workers can be handed again. */
static void snapshot_before_kill(fm_t *f, phase_t *p)
{
    long long co = th_group_committed(GROUP_ORDERS, "shopify.orders");
    long long cp = th_group_committed(GROUP_INV, "wms.putaway");
    long long cz = th_group_committed(GROUP_INV, "wms.zone_move");

    assert_true(co >= 0 && cp >= 0 && cz >= 0);
    p->first_new_order = atomic_load(&f->next_order);
    p->inflight_orders = atomic_load(&f->produced_orders) - co;
    p->inflight_stock = atomic_load(&f->produced_stock) - cp - cz;
    for (int s = 1; s <= NSKU; s++) {
        p->seq_at_kill[s] = atomic_load(&f->seq[s]);
    }
}

/* A: kill -9 the broker, keep producing, restart it on the same data dir. */
static pid_t fault_broker(fm_t *f, phase_t *p)
{
    pid_t pid = th_stack_kill9(&f->stack, "kafka");

    fprintf(stderr, "fault A: kafka (pid %d) killed with SIGKILL\n", (int)pid);
    th_sleep_ms(OUTAGE_MS); /* the outage itself; the stream keeps producing */
    p->t_restart = th_now_ms();
    return th_stack_cmd_async(&f->stack, "kafka-start");
}

/* B: kill -9 Redis and dh-orders together; Redis restarts empty, dh-orders restarts. */
static pid_t fault_redis_worker(fm_t *f, phase_t *p)
{
    char dump[400];
    redisContext *c = th_redis();
    pid_t pid;

    th_redis_int(c, "SET fm:canary 1"); /* must be gone after the restart */
    redisFree(c);
    pid = th_stack_kill9(&f->stack, "redis");
    kill(f->orders, SIGKILL);
    th_wait_exit(f->orders, 10000);
    fprintf(stderr, "fault B: redis (pid %d) and dh-orders (pid %d) killed with SIGKILL\n",
            (int)pid, (int)f->orders);
    th_sleep_ms(OUTAGE_MS);
    snprintf(dump, sizeof(dump), "%s/redis/dump.rdb", f->stack.dir);
    unlink(dump); /* the stack runs Redis without persistence: belt and braces */
    p->t_restart = th_now_ms();
    pid = th_stack_cmd_async(&f->stack, "redis-start");
    f->orders = start_worker(f, "dh-orders", GROUP_ORDERS);
    return pid;
}

/* Per key, a last event after everything else: each order's cancellation, each SKU's
 * next snapshot. Its effect proves the key's earlier events were handled. */
static void send_markers(fm_t *f, phase_t *p)
{
    char url[512];

    p->end_order = atomic_load(&f->next_order);
    for (int i = p->first_order; i < p->end_order; i++) {
        long st = 0;

        snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/cancel", f->sb.base, f->domain,
                 (long long)json_integer_value(json_object_get(f->order[i], "id")));
        json_t *o = th_http_json("POST", url, "{\"deliver\":false}", &st);

        assert_int_equal(st, 200);
        assert_int_equal(produce_order(f, o, "orders/cancelled"), RD_KAFKA_RESP_ERR_NO_ERROR);
        json_decref(o);
    }
    for (int s = 1; s <= NSKU; s++) {
        p->marker[s] = atomic_load(&f->seq[s]) + 1;
        atomic_store(&f->seq[s], p->marker[s]);
        assert_int_equal(produce_stock(f, s, p->marker[s]), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
}

static void print_order(fm_t *f, int i)
{
    fprintf(stderr, "order %d (%lld): %d creations, %d cancellations, %d cancels answered 404\n", i,
            (long long)json_integer_value(json_object_get(f->order[i], "id")), f->created[i],
            f->cancelled[i], f->cancel_404[i]);
}

/* Every order of [first, end) created once and cancelled once, never cancelled first;
 * every SKU at its marker's on_hand; nothing dead-lettered. */
static void assert_far_side(fm_t *f, int first, int end, const int *marker)
{
    int bad = 0;

    for (int i = first; i < end; i++) {
        if (f->created[i] != 1 || f->cancelled[i] != 1 || f->cancel_404[i] != 0) {
            print_order(f, i);
            bad++;
        }
    }
    for (int s = 1; marker && s <= NSKU; s++) {
        long long q = on_hand(f, s);

        if (q != marker[s]) {
            fprintf(stderr, "SKU-%d: Shopify on_hand %lld, newest WMS snapshot %d\n", s, q,
                    marker[s]);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(th_topic_size("shopify.orders.dlq"), 0);
    assert_int_equal(th_topic_size("wms.putaway.dlq"), 0);
    assert_int_equal(th_topic_size("wms.zone_move.dlq"), 0);
}

static void report(phase_t *p)
{
    fprintf(stderr,
            "recovery: %s %.1f s to the first new effect, %.1f s to the last marker "
            "(orders %d, in flight at the kill: %lld orders, %lld stock events; absorbed: "
            "%ld WMS create repeats, %ld cancel repeats, %ld Shopify replays, %ld on_hand "
            "re-sets, %ld regressions)\n",
            p->name, (double)(p->t_first_new - p->t_restart) / 1000.0,
            (double)(p->t_last_marker - p->t_restart) / 1000.0, p->end_order - p->first_order,
            p->inflight_orders, p->inflight_stock, p->create_repeats, p->cancel_repeats,
            p->inv_replays, p->inv_resets, p->regressions);
}

static void run_phase(fm_t *f, int which)
{
    phase_t *p = &f->ph[which];
    pid_t restart;
    int ok;

    p->name = which ? "redis+worker" : "broker";
    p->first_order = atomic_load(&f->next_order);
    f->cur = p;
    start_stream(f);
    wait_or_explain(f, p, flowing, "steady flow (10 orders created, 2 sets per SKU)", 120000);
    snapshot_before_kill(f, p);
    restart = which ? fault_redis_worker(f, p) : fault_broker(f, p);
    ok = th_wait_for(first_new_effect, f, RECOVERY_LIMIT_MS);
    stop_stream(f); /* produced through the outage until the first new effect */
    if (atomic_load(&f->stream_err)) {
        fail_msg("stream: produce: %s", rd_kafka_err2str(atomic_load(&f->stream_err)));
    }
    assert_int_equal(th_wait_exit(restart, 180000), 0);
    if (!ok) {
        explain(f, p, "the first new effect");
        fail_msg("%s: no new effect within %d ms of the restart", p->name, RECOVERY_LIMIT_MS);
    }
    if (which) {
        redisContext *c = th_redis();

        assert_int_equal(th_redis_int(c, "EXISTS fm:canary"), 0); /* restarted empty */
        redisFree(c);
    }
    send_markers(f, p);
    ok = th_wait_for(markers_applied, f, (int)(RECOVERY_LIMIT_MS - (th_now_ms() - p->t_restart)));
    p->t_last_marker = th_now_ms();
    report(p);
    if (!ok) {
        explain(f, p, "every marker applied");
    }
    assert_far_side(f, p->first_order, p->end_order, p->marker); /* names what is missing */
    assert_true(ok);
    /* The far side absorbed at most what was in flight when the fault struck. */
    assert_true(p->create_repeats + p->cancel_repeats <= p->inflight_orders);
    assert_true(p->inv_replays + p->inv_resets <= p->inflight_stock);
    /* With Redis intact the applied sequences keep an older snapshot out. After Redis lost
     * them (B) one may land again, the documented residual case: counted, not asserted. */
    if (!which) {
        assert_int_equal(p->regressions, 0);
    }
}

static void test_fault_matrix(void **state)
{
    fm_t *f = *state;
    int64_t t0 = th_now_ms();

    start_all(f);
    f->orders = start_worker(f, "dh-orders", GROUP_ORDERS);
    f->inv[0] = start_worker(f, "dh-inventory", GROUP_INV);
    f->inv[1] = start_worker(f, "dh-inventory", GROUP_INV);
    fprintf(stderr, "workers: dh-orders %d, dh-inventory %d and %d (log %s)\n", (int)f->orders,
            (int)f->inv[0], (int)f->inv[1], f->log);
    run_phase(f, 0);
    run_phase(f, 1);
    /* Nothing more happens after the workers exited: the final count is complete. */
    th_stop(f->orders);
    th_stop(f->inv[0]);
    th_stop(f->inv[1]);
    f->orders = f->inv[0] = f->inv[1] = 0;
    f->cur = NULL;
    fold_journal(f);
    assert_far_side(f, 0, f->ph[1].end_order, f->ph[1].marker);
    assert_int_equal(rd_kafka_flush(f->rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(atomic_load(&f->dr_errors), 0);
    fprintf(stderr, "fault matrix: %ld orders, %ld stock events, %d SKUs, %.1f s\n",
            atomic_load(&f->produced_orders), atomic_load(&f->produced_stock), NSKU,
            (double)(th_now_ms() - t0) / 1000.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_matrix, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
