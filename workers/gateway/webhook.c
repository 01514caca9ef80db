/*
 * Webhook decisions: authenticate (signature of the raw body with the store's secret),
 * validate just enough to build the key and headers, produce, and map the outcome to
 * the status the sender acts on: 2xx = done, anything else = retry later. So every
 * transient failure is 503 and every permanent one 4xx; a verified webhook we do not
 * need is 200, or Shopify would retry it for hours.
 */
#include <stdarg.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "gateway.h"
#include "hmac.h"
#include "route.h"

static const unsigned int statuses[DH_GW_NSTATUS] = {200, 400, 401, 404, 405,
                                                     408, 413, 415, 500, 503};
static const char *const source_names[DH_GW_SRC_COUNT] = {"shopify", "returnprime", "other"};

#define SHOPIFY_PREFIX "/webhooks/shopify"
#define RP_PREFIX      "/webhooks/returnprime/"

long long dh_gw_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

dh_err_t dh_gw_metrics_init(dh_gw_t *gw)
{
    static const double lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2,    3,     4,    5};
    const size_t nlat = sizeof(lat) / sizeof(lat[0]);
    dh_gw_metrics_t *m = &gw->m;
    char lbl[128];

    for (int s = 0; s < DH_GW_SRC_COUNT; s++) {
        for (int i = 0; i < DH_GW_NSTATUS; i++) {
            snprintf(lbl, sizeof(lbl), "source=\"%s\",status=\"%u\"", source_names[s], statuses[i]);
            m->requests[s][i] = dh_metrics_counter(gw->registry, "dh_gateway_requests_total",
                                                   "Webhook requests by source and status.", lbl);
            if (!m->requests[s][i]) {
                return DH_ERR_NOMEM;
            }
        }
        snprintf(lbl, sizeof(lbl), "source=\"%s\"", source_names[s]);
        m->latency[s] =
            dh_metrics_histogram(gw->registry, "dh_gateway_request_seconds",
                                 "Time from request headers to the answer.", lbl, lat, nlat);
    }
    m->ignored = dh_metrics_counter(gw->registry, "dh_gateway_ignored_total",
                                    "Verified webhooks of topics dockhand does not consume.", NULL);
    m->duplicates = dh_metrics_counter(gw->registry, "dh_gateway_duplicates_total",
                                       "Deliveries answered from the dedup set.", NULL);
    m->unknown = dh_metrics_counter(gw->registry, "dh_gateway_ack_timeouts_total",
                                    "Produces whose acknowledgement missed the deadline.", NULL);
    m->ack_latency = dh_metrics_histogram(gw->registry, "dh_gateway_kafka_ack_seconds",
                                          "Produce to broker acknowledgement.", NULL, lat, nlat);
    if (!m->ignored || !m->duplicates || !m->unknown || !m->ack_latency || !m->latency[0]) {
        return DH_ERR_NOMEM;
    }
    return DH_OK;
}

dh_gw_source_t dh_gw_source_of(const char *path)
{
    if (path && !strcmp(path, SHOPIFY_PREFIX)) {
        return DH_GW_SRC_SHOPIFY;
    }
    if (path && !strncmp(path, RP_PREFIX, strlen(RP_PREFIX))) {
        return DH_GW_SRC_RETURNPRIME;
    }
    return DH_GW_SRC_OTHER;
}

void dh_gw_count(dh_gw_t *gw, dh_gw_source_t src, unsigned int status)
{
    for (int i = 0; i < DH_GW_NSTATUS; i++) {
        if (statuses[i] == status) {
            dh_counter_add(gw->m.requests[src][i], 1);
            return;
        }
    }
}

static void set_reply(dh_gw_reply_t *r, unsigned int status, const char *fmt, ...) DH_PRINTF(3, 4);

static void set_reply(dh_gw_reply_t *r, unsigned int status, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

/* Produce, wait for the acknowledgement, then remember the delivery id. */
static void deliver(dh_gw_t *gw, const char *source, const char *dedup_id, const char *topic,
                    const char *key, const dh_gw_req_t *req, const dh_gw_header_t *h, size_t nh,
                    dh_gw_reply_t *reply)
{
    char errstr[256] = "";
    long long t0 = dh_gw_now_us();
    dh_err_t err;

    if (dh_gw_dedup_seen(gw->dedup, source, dedup_id)) {
        dh_counter_add(gw->m.duplicates, 1);
        set_reply(reply, 200, "duplicate delivery %s (already in Kafka)", dedup_id);
        return;
    }
    err = dh_gw_producer_send(gw->producer, topic, key, req->body, req->body_len, h, nh, errstr,
                              sizeof(errstr));
    if (err) {
        if (err == DH_ERR_TIMEOUT) {
            dh_counter_add(gw->m.unknown, 1);
        }
        DH_LOG(DH_LOG_WARN, "gateway", "key %s: %s", key, errstr);
        set_reply(reply, 503, "kafka unavailable, retry later");
        return;
    }
    dh_histogram_observe(gw->m.ack_latency, (double)(dh_gw_now_us() - t0) / 1e6);
    dh_gw_dedup_record(gw->dedup, source, dedup_id);
    set_reply(reply, 200, "ok");
}

static void handle_shopify(dh_gw_t *gw, const dh_gw_req_t *req, dh_gw_reply_t *reply)
{
    const dh_store_t *store = req->sh_shop ? dh_stores_find(gw->stores, req->sh_shop) : NULL;
    const char *ktopic;
    char id[DH_GW_ID_MAX], key[512], errstr[200] = "";

    /* Unknown shop: we hold no secret to verify with, so it is unauthenticated. */
    if (!store || strcmp(store->domain, req->sh_shop)) {
        set_reply(reply, 401, "unknown shop %s", req->sh_shop ? req->sh_shop : "(none)");
        return;
    }
    if (!req->sh_hmac ||
        !dh_gw_shopify_verify(store->webhook_secrets, req->body, req->body_len, req->sh_hmac)) {
        set_reply(reply, 401, "%s signature", req->sh_hmac ? "invalid" : "missing");
        return;
    }
    if (!req->sh_topic || !req->sh_webhook_id || !req->sh_api_version) {
        set_reply(reply, 400, "missing X-Shopify-Topic, -Webhook-Id or -API-Version");
        return;
    }
    ktopic = dh_gw_route_shopify(req->sh_topic);
    if (ktopic && !strcmp(ktopic, DH_GW_TOPIC_ORDERS)) {
        ktopic = gw->topic_orders;
    } else if (ktopic && !strcmp(ktopic, DH_GW_TOPIC_PRODUCTS)) {
        ktopic = gw->topic_products;
    }
    if (!ktopic) {
        dh_counter_add(gw->m.ignored, 1);
        set_reply(reply, 200, "topic %s ignored", req->sh_topic);
        return;
    }
    /* Parsed only now: an unauthenticated body never reaches the JSON parser. */
    if (dh_gw_extract_id(req->body, req->body_len, dh_gw_id_path(req->sh_topic), id, sizeof(id),
                         errstr, sizeof(errstr))) {
        set_reply(reply, 400, "malformed body: %s", errstr);
        return;
    }
    snprintf(key, sizeof(key), "%s|%s", store->domain, id);
    const dh_gw_header_t h[] = {
        {"dh-topic", req->sh_topic},
        {"dh-shop-domain", store->domain},
        {"dh-webhook-id", req->sh_webhook_id},
        {"dh-event-id", req->sh_event_id},
        {"dh-triggered-at", req->sh_triggered_at},
        {"dh-api-version", req->sh_api_version},
        {"dh-received-at", req->received_at},
    };
    deliver(gw, "shopify", req->sh_webhook_id, ktopic, key, req, h, sizeof(h) / sizeof(h[0]),
            reply);
}

/* Without X-RP-Webhook-Id the body's digest is the delivery id (schemas/headers.md). */
static void body_digest_id(const dh_gw_req_t *req, char *out, size_t size)
{
    unsigned char mac[DH_GW_MAC_LEN];
    size_t o;

    if (dh_gw_sha256(req->body, req->body_len, mac)) {
        snprintf(out, size, "sha256:unknown");
        return;
    }
    o = (size_t)snprintf(out, size, "sha256:");
    for (size_t i = 0; i < sizeof(mac) && o + 2 < size; i++) {
        o += (size_t)snprintf(out + o, size - o, "%02x", mac[i]);
    }
}

static void handle_returnprime(dh_gw_t *gw, const dh_gw_req_t *req, dh_gw_reply_t *reply)
{
    const char *name = req->path + strlen(RP_PREFIX);
    const dh_store_t *store = *name ? dh_stores_find(gw->stores, name) : NULL;
    char id[DH_GW_ID_MAX], key[512], wid[128], errstr[200] = "";

    if (!store || !store->returnprime_secret || !*store->returnprime_secret) {
        set_reply(reply, 401, "no Return Prime secret for store %s", name);
        return;
    }
    if (!dh_gw_returnprime_verify(store->returnprime_secret, req->rp_timestamp, req->body,
                                  req->body_len, req->rp_signature)) {
        set_reply(reply, 401, "%s signature", req->rp_signature ? "invalid" : "missing");
        return;
    }
    if (!req->rp_topic) {
        set_reply(reply, 400, "missing X-RP-Topic");
        return;
    }
    if (dh_gw_extract_id(req->body, req->body_len, DH_GW_ID_REQUEST, id, sizeof(id), errstr,
                         sizeof(errstr))) {
        set_reply(reply, 400, "malformed body: %s", errstr);
        return;
    }
    if (req->rp_webhook_id && *req->rp_webhook_id) {
        snprintf(wid, sizeof(wid), "%s", req->rp_webhook_id);
    } else {
        body_digest_id(req, wid, sizeof(wid));
    }
    snprintf(key, sizeof(key), "%s|%s", store->domain, id);
    const dh_gw_header_t h[] = {
        {"dh-topic", req->rp_topic},
        {"dh-store", store->domain},
        {"dh-webhook-id", wid},
        {"dh-received-at", req->received_at},
    };
    deliver(gw, "rp", wid, gw->topic_returnprime, key, req, h, sizeof(h) / sizeof(h[0]), reply);
}

void dh_gw_handle(dh_gw_t *gw, const dh_gw_req_t *req, dh_gw_reply_t *reply)
{
    dh_gw_source_t src = dh_gw_source_of(req->path);

    if (src == DH_GW_SRC_OTHER) {
        set_reply(reply, 404, "not found");
    } else if (strcmp(req->method, "POST")) {
        set_reply(reply, 405, "method not allowed");
    } else if (src == DH_GW_SRC_SHOPIFY) {
        handle_shopify(gw, req, reply);
    } else {
        handle_returnprime(gw, req, reply);
    }
    dh_gw_count(gw, src, reply->status);
    dh_histogram_observe(gw->m.latency[src], (double)(dh_gw_now_us() - req->t0_us) / 1e6);
    DH_LOG(reply->status == 200 ? DH_LOG_DEBUG : DH_LOG_INFO, "gateway", "%s %s -> %u %s",
           req->method, req->path, reply->status, reply->text);
}
