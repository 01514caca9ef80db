/*
 * The inventory model test's world: see inventory_model.h.
 */
#include "inventory_model.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- deterministic randomness (splitmix64): the walk depends on the seed only ---- */

unsigned long long rnd(model_t *m)
{
    unsigned long long z = (m->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int pick(model_t *m, int n)
{
    return n > 0 ? (int)(rnd(m) % (unsigned long long)n) : 0;
}

void note(model_t *m, const char *f, ...)
{
    va_list ap;
    char *t = m->trace[m->ntrace % TRACE];
    int n = snprintf(t, sizeof(m->trace[0]), "%6.1fs ", (double)(th_now_ms() - m->t0) / 1000.0);

    va_start(ap, f);
    vsnprintf(t + n, sizeof(m->trace[0]) - (size_t)n, f, ap);
    va_end(ap);
    m->ntrace++;
}

/* ---- the model's quantities ---- */

/* Units of (f, k) ordered on Shopify that the WMS has not allocated. */
int unallocated(model_t *m, int f, int k)
{
    int u = 0;

    for (int i = 0; i < m->norders; i++) {
        u += (m->o[i].fac == f && m->o[i].sku == k && m->o[i].state == O_PLACED) ? m->o[i].q : 0;
    }
    return u;
}

/* Units of (f, k) Shopify still counts as committed once every dispatch was fulfilled. */
int unfulfilled(model_t *m, int f, int k)
{
    int u = 0;

    for (int i = 0; i < m->norders; i++) {
        order_t *o = &m->o[i];

        u += (o->fac == f && o->sku == k && o->state <= O_PICKED) ? o->q : 0;
    }
    return u;
}

int truth(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];

    return s->g - s->a - s->s - unallocated(m, f, k);
}

/* Record the state of (f, k) after a WMS change. */
void hist_push(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];

    if (s->hn == HIST) {
        memmove(s->hseq, s->hseq + 1, (HIST - 1) * sizeof(s->hseq[0]));
        memmove(s->htr, s->htr + 1, (HIST - 1) * sizeof(s->htr[0]));
        s->hn--;
    }
    s->hseq[s->hn] = s->seq;
    s->htr[s->hn++] = truth(m, f, k);
}

/* A Shopify-side change (an order placed or cancelled) moves every state's sellable units. */
void hist_shift(model_t *m, int f, int k, int delta)
{
    for (int i = 0; i < m->st[f][k].hn; i++) {
        m->st[f][k].htr[i] += delta;
    }
    hist_push(m, f, k);
}

/* dh-inventory consumed every stock event produced so far (\p upto_current: a full sync read
 * the current state): the states before the newest one it saw are history. */
void hist_ack(model_t *m, int upto_current)
{
    for (int f = 0; f < NFAC; f++) {
        for (int k = 0; k < NSKU; k++) {
            fstock_t *s = &m->st[f][k];
            long long c = upto_current ? s->seq : s->flushed;
            int j = 0;

            for (int i = 0; i < s->hn; i++) {
                if (s->hseq[i] >= c || i == s->hn - 1) {
                    s->hseq[j] = s->hseq[i];
                    s->htr[j++] = s->htr[i];
                }
            }
            s->hn = j;
        }
    }
}

/* The most Shopify may show for (f, k) without overselling: the sellable units of the WMS
 * states it may still be reflecting (a change the WMS has not reported cannot be known). */
int bound(model_t *m, int f, int k)
{
    int b = truth(m, f, k);

    for (int i = 0; i < m->st[f][k].hn; i++) {
        b = m->st[f][k].htr[i] > b ? m->st[f][k].htr[i] : b;
    }
    return b;
}

int expected_on_hand(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];
    int b = s->g + s->p - s->s;

    return b < 0 ? 0 : b;
}

/* The order labelled #\p label, or NULL (a replayed trace may have lost it). */
order_t *order_of(model_t *m, int label)
{
    for (int i = 0; i < m->norders; i++) {
        if (m->o[i].label == label) {
            return &m->o[i];
        }
    }
    return NULL;
}

/* A random order in \p state (or in \p state2 when >= 0), or NULL. */
order_t *order_in(model_t *m, int state, int state2)
{
    int idx[MAXORD], n = 0;

    for (int i = 0; i < m->norders; i++) {
        if (m->o[i].state == state || m->o[i].state == state2) {
            idx[n++] = i;
        }
    }
    return n ? &m->o[idx[pick(m, n)]] : NULL;
}

/* Order #\p label if it is in \p state (or \p state2 when >= 0), else NULL. */
order_t *order_at(model_t *m, int label, int state, int state2)
{
    order_t *o = order_of(m, label);

    return o && (o->state == state || o->state == state2) ? o : NULL;
}

int move_room(model_t *m, int f, int k, int dir)
{
    fstock_t *s = &m->st[f][k];

    return dir == 0 ? s->g - s->a : dir == 1 ? s->off : s->g;
}

/* ---- the stack ---- */

void start_worker(model_t *m, int w)
{
    static char buf[3][24][300];
    const char *envv[3][25];
    int n = 0;

#define ADD(...) (snprintf(buf[w][n], sizeof(buf[w][n]), __VA_ARGS__), envv[w][n] = buf[w][n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s", m->topic[w]);
    ADD("DH_GROUP_ID=%s", m->group[w]);
    ADD("DH_STORES_FILE=%s", m->stores_file);
    ADD("DH_ADMIN_PORT=0");
    ADD("DH_LOG_LEVEL=%s", th_env_or("DH_MODEL_LOG_LEVEL", "info"));
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=500");
    ADD("DH_IDEM_LEASE_MS=3000");
    ADD("DH_HTTP_TIMEOUT_MS=5000");
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
    if (w == W_DSP) {
        ADD("DH_DISPATCH_HOLD_RECHECK_MS=200");
    } else if (w == W_ORD) {
        ADD("DH_WMS_URL=%s", m->sb.base);
        ADD("DH_WMS_TOKEN=wms-token");
        ADD("DH_ORDERS_RECONCILE_INTERVAL_S=0");
    } else {
        ADD("DH_WMS_URL=%s", m->sb.base);
        ADD("DH_WMS_TOKEN=wms-token");
        ADD("DH_BATCH_LINGER_MS=20");
        ADD("DH_INVENTORY_SYNC_PAGE_SIZE=250");
        ADD("DH_INVENTORY_SYNC_GRACE_S=60");
        /* A shorter fence lease: a paused dh-inventory holds dh-dispatch up for that long. */
        if (strcmp(th_env_or("DH_MODEL_FENCE_MS", "8000"), "0") != 0) {
            ADD("DH_INVENTORY_FENCE_MS=%s", th_env_or("DH_MODEL_FENCE_MS", "8000"));
        }
    }
#undef ADD
    envv[w][n] = NULL;
    m->pid[w] = th_spawn(m->bin[w], envv[w], m->log[w]);
    assert_true(m->pid[w] > 0);
}

static void seed_redis(model_t *m)
{
    redisContext *c = th_redis();
    long long slot = (long long)(time(NULL) / 43200 * 43200);

    for (int k = 0; k < NSKU; k++) {
        freeReplyObject(redisCommand(c, "SET dh:catalog:%s:sku:MK-%d {\"inventory_item_id\":%d}",
                                     m->store, k, 300 + k));
    }
    /* The scheduled 00:00/12:00 UTC slots must not run: the walk's syncs are its own. */
    for (long long s = slot - 43200; s <= slot + 43200; s += 43200) {
        freeReplyObject(redisCommand(c, "SET dh:inv:sync:done:%s:at-%lld 1 EX 3600", m->store, s));
    }
    redisFree(c);
}

void start_stack(model_t *m, unsigned long long seed)
{
    char buf[100], seed_json[4096], stores[1024];
    int n;

    th_unique("mdl", buf, sizeof(buf));
    for (char *p = buf; *p; p++) {
        *p = (*p == '.' || *p == '_') ? '-' : *p;
    }
    snprintf(m->store, sizeof(m->store), "%s-%llu.myshopify.com", buf, seed);
    n = snprintf(seed_json, sizeof(seed_json),
                 "{\"stores\":[{\"domain\":\"%s\",\"access_token\":\"shpat_x\","
                 "\"bucket_size\":2000,\"restore_rate\":100,\"api_version\":\"2026-04\","
                 "\"locations\":[{\"id\":11,\"name\":\"WH1\"},{\"id\":12,\"name\":\"WH2\"}],"
                 "\"products\":[{\"id\":100,\"title\":\"Tee\",\"variants\":[",
                 m->store);
    for (int k = 0; k < NSKU; k++) {
        n += snprintf(seed_json + n, sizeof(seed_json) - (size_t)n,
                      "%s{\"id\":%d,\"sku\":\"MK-%d\",\"inventory_item_id\":%d,\"price\":\"9.00\"}",
                      k ? "," : "", 200 + k, k, 300 + k);
    }
    n += snprintf(seed_json + n, sizeof(seed_json) - (size_t)n, "]}],\"levels\":[");
    for (int i = 0; i < NFAC * NSKU; i++) {
        n += snprintf(seed_json + n, sizeof(seed_json) - (size_t)n,
                      "%s{\"inventory_item_id\":%d,\"location_id\":%d,\"available\":0}",
                      i ? "," : "", 300 + i % NSKU, loc_id[i / NSKU]);
    }
    snprintf(seed_json + n, sizeof(seed_json) - (size_t)n,
             "]}],\"wms\":{\"token\":\"wms-token\",\"inventory\":[]}}");
    th_sandbox_start(&m->sb, seed_json);
    snprintf(stores, sizeof(stores),
             "{\"stores\":[{\"domain\":\"%s\",\"tenants\":[\"T1\"],\"admin_url\":\"%s/shops/%s\","
             "\"api_version\":\"2026-04\",\"access_token\":\"shpat_x\",\"bucket_size\":2000,"
             "\"restore_rate\":100,\"webhook_secrets\":[\"s\"],\"locations\":{"
             "\"F1\":\"gid://shopify/Location/11\",\"F2\":\"gid://shopify/Location/12\"}}]}",
             m->store, m->sb.base, m->store);
    snprintf(m->stores_file, sizeof(m->stores_file), "%s", th_write_temp("dh-model-st", stores));
    m->bin[W_INV] = "dh-inventory";
    m->bin[W_DSP] = "dh-dispatch";
    m->bin[W_ORD] = "dh-orders";
    for (int w = 0; w < 3; w++) {
        snprintf(m->topic[w], sizeof(m->topic[w]), "t.%s.%s", buf, m->bin[w] + 3);
        snprintf(m->group[w], sizeof(m->group[w]), "g.%s.%s", buf, m->bin[w] + 3);
        snprintf(m->log[w], sizeof(m->log[w]), "%s/%s-%s.log", th_log_dir(), buf, m->bin[w] + 3);
        th_create_topic(m->topic[w], 3);
    }
    m->paused = -1;
    seed_redis(m);
    m->p = th_producer_new();
    start_worker(m, W_INV);
    start_worker(m, W_DSP);
    if (m->refunds) {
        start_worker(m, W_ORD);
    }
    fprintf(stderr, "model store %s: logs %s %s\n", m->store, m->log[0], m->log[1]);
}

void stop_stack(model_t *m)
{
    if (m->paused >= 0) {
        kill(m->pid[m->paused], SIGCONT);
    }
    for (int w = 0; w < 3; w++) {
        if (m->pid[w] > 0) {
            kill(m->pid[w], SIGKILL);
            th_wait_exit(m->pid[w], 10000);
        }
    }
    for (int b = 0; b < 2; b++) {
        for (int i = m->out[b].head; i < m->out[b].tail; i++) {
            free(m->out[b].m[i].val);
        }
    }
    th_producer_destroy(m->p);
    th_sandbox_stop(&m->sb);
    unlink(m->stores_file);
}

/* ---- WMS events (into the outboxes) ---- */

void outbox_add(model_t *m, int b, const char *key, char *val, int f, int k)
{
    outbox_t *o = &m->out[b];

    assert_true(o->tail < MAXOUT);
    snprintf(o->m[o->tail].key, sizeof(o->m[0].key), "%s", key);
    o->m[o->tail].f = f;
    o->m[o->tail].k = k;
    o->m[o->tail].seq = f >= 0 ? m->st[f][k].seq : -1;
    o->m[o->tail++].val = val;
}

static char *dup_printf(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *f, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* The snapshot of (f, k) after a stock change: a putaway or a move of \p from -> \p to. */
void stock_event(model_t *m, int f, int k, const char *from, const char *to, int q)
{
    fstock_t *s = &m->st[f][k];
    char key[200], picked[40] = "", body[300];

    s->seq++;
    if (m->picked_mode) {
        snprintf(picked, sizeof(picked), ",\"picked\":%d", s->p);
    }
    if (!from) {
        snprintf(body, sizeof(body),
                 "\"event_type\":\"putaway\",\"putaway\":{\"putaway_id\":\"P%lld\",\"zone\":"
                 "\"GOOD\",\"zone_class\":\"online\",\"quantity\":%d,\"qc_status\":\"GOOD\"}",
                 s->seq, q);
    } else {
        snprintf(body, sizeof(body),
                 "\"event_type\":\"zone_move\",\"move\":{\"move_id\":\"M%lld\",\"quantity\":%d,"
                 "\"from_zone\":\"Z-%s\",\"from_class\":\"%s\",\"to_zone\":\"Y-%s\","
                 "\"to_class\":\"%s\"}",
                 s->seq, q, from, from, to, to);
    }
    snprintf(key, sizeof(key), "%s|F%d|MK-%d", m->store, f + 1, k);
    outbox_add(m, W_INV, key,
               dup_printf("{\"schema_version\":1,\"event_id\":\"%08llx-0000-4000-8000-%012llx\","
                          "\"occurred_at\":\"2026-05-01T10:00:00Z\",\"store\":\"%s\","
                          "\"facility\":\"F%d\",\"sku\":\"MK-%d\",\"sequence\":%lld,\"stock\":{"
                          "\"good_online\":%d,\"allocated\":%d,\"safety_stock\":%d,\"damaged\":0,"
                          "\"quarantined\":0,\"good_offline\":%d%s},%s}",
                          m->idp, ++m->serial, m->store, f + 1, k, s->seq, s->g, s->a, s->s, s->off,
                          picked, body),
               f, k);
}

void dispatch_event(model_t *m, order_t *o)
{
    char key[200], ss[48] = "";

    if (m->picked_mode) {
        snprintf(ss, sizeof(ss), ",\"stock_sequence\":%lld", o->stock_seq);
    }
    snprintf(key, sizeof(key), "%s|%lld", m->store, o->id);
    outbox_add(m, W_DSP, key,
               dup_printf("{\"schema_version\":1,\"event_id\":\"%08llx-0000-7000-8000-%012llx\","
                          "\"event_type\":\"dispatch\",\"occurred_at\":\"2026-05-02T09:00:00Z\","
                          "\"store\":\"%s\",\"shipment_id\":\"SH-%lld\",\"facility\":\"F%d\","
                          "\"order\":{\"channel_order_id\":\"%lld\",\"order_name\":\"#%lld\"},"
                          "\"carrier\":{\"company\":\"Delhivery\",\"tracking_number\":\"TR%lld\","
                          "\"tracking_url\":null},\"lines\":[{\"sku\":\"MK-%d\",\"quantity\":%d,"
                          "\"channel_line_item_id\":\"%lld\"%s}],\"sequence\":0}",
                          m->idp, ++m->serial, m->store, o->id, o->fac + 1, o->id, o->id, o->id,
                          o->sku, o->q, o->li, ss),
               -1, (int)(o - m->o));
}

/* ---- Shopify (the sandbox) ---- */

char *wms_rows(model_t *m)
{
    json_t *rows = json_array();
    char *body;

    for (int f = 0; f < NFAC; f++) {
        for (int k = 0; k < NSKU; k++) {
            fstock_t *s = &m->st[f][k];
            json_t *stock = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "good_online", s->g,
                                      "allocated", s->a, "safety_stock", s->s, "damaged", 0,
                                      "quarantined", 0, "good_offline", s->off);
            char sku[16], fac[8];

            if (m->picked_mode) {
                json_object_set_new(stock, "picked", json_integer(s->p));
            }
            snprintf(sku, sizeof(sku), "MK-%d", k);
            snprintf(fac, sizeof(fac), "F%d", f + 1);
            json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:I, s:o}", "store", m->store,
                                                  "sku", sku, "facility", fac, "sequence",
                                                  (json_int_t)s->seq, "stock", stock));
        }
    }
    body = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    return body;
}

void save_journal(model_t *m, const char *path)
{
    char url[512], *text = NULL;

    snprintf(url, sizeof(url), "%s/_journal?group=shopify", m->sb.base);
    if (th_http("GET", url, NULL, NULL, &text) == 200 && text) {
        FILE *fp = fopen(path, "w");

        if (fp) {
            fputs(text, fp);
            fclose(fp);
        }
    }
    free(text);
}

json_t *level(model_t *m, int k)
{
    char url[512];
    long st = 0;
    json_t *j;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/levels?sku=MK-%d", m->sb.base, m->store, k);
    j = th_http_json("GET", url, NULL, &st);
    assert_int_equal(st, 200);
    return j;
}

long long qty(json_t *lv, int f, const char *name)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(lv, "locations"), loc_name[f]), name));
}

long long order_post(model_t *m, long long id, const char *action, const char *body, json_t **out)
{
    char url[512];
    long st = 0;
    json_t *j;

    if (id) {
        snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/%s", m->sb.base, m->store, id,
                 action);
    } else {
        snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", m->sb.base, m->store);
    }
    j = th_http_json("POST", url, body, &st);
    if (out) {
        *out = j;
    } else {
        json_decref(j);
    }
    return st;
}

int has_fulfillment(void *ud)
{
    fwait_t *w = ud;
    char url[512];
    long st = 0;
    json_t *o;
    int ok;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld", w->m->sb.base, w->m->store,
             w->id);
    o = th_http_json("GET", url, NULL, &st);
    ok = st == 200 && json_array_size(json_object_get(o, "fulfillments")) > 0;
    json_decref(o);
    return ok;
}

/* The refunds/create webhook as the gateway puts it on the orders topic. */
void produce_refund(model_t *m, long long order, const char *body)
{
    rd_kafka_t *rk = th_kafka_producer();
    char key[64];

    snprintf(key, sizeof(key), "%lld", order);
    assert_int_equal(
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(m->topic[W_ORD]), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)body, strlen(body)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADER("dh-topic", "refunds/create", -1),
                          RD_KAFKA_V_HEADER("dh-shop-domain", m->store, -1), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}
