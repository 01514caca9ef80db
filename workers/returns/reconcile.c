/*
 * Reconciliation: finds the Return Prime requests whose webhooks were all lost. Every
 * DH_RETURNS_RECONCILE_INTERVAL_S, per store with a returnprime_token, one replica at a
 * time (Redis lock) lists the requests Return Prime updated since the store's watermark
 * (minus an overlap) through Return Prime's API (rp_api.h) and publishes to the worker's
 * returnprime.cir topic each one whose status asks for something (creates, or cancels
 * with no receipt known) and whose effect has no idempotency record, shaped like a webhook
 * (dh-topic request/updated). The worker then handles them like
 * webhooks with the same effect ids, so whatever was not missing is absorbed by the
 * idempotency records and the WMS Idempotency-Key. The watermark moves only after every
 * message of the pass was acknowledged by Kafka.
 *
 * Redis keys (per store):
 *   dh:returns:reconcile:lock:<store>  SET NX PX: the replica running a pass
 *   dh:returns:reconcile:wm:<store>    Unix seconds: the newest updated_at published
 */
#define _DEFAULT_SOURCE /* timegm */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "dockhand/lock.h"
#include "dockhand/log.h"
#include "rp_api.h"

#define LOCK_TTL_MS 120000
#define OVERLAP_S   120 /* clock skew and requests updated during the last pass */
#define MAX_PAGES   40  /* per store and pass: 2,000 requests; the rest next pass */

int64_t returns_time_parse(const char *s)
{
    struct tm tm;
    int oh = 0, om = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    p = strlen(s) > 19 ? s + 19 : "";
    p += *p == '.' ? 1 + strspn(p + 1, "0123456789") : 0;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
        return (int64_t)timegm(&tm) - (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    }
    return (int64_t)timegm(&tm);
}

static void time_format(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct pass {
    const returns_recon_t *cfg;
    dh_lane_t *lane;
    dh_redis_t *r;
    const dh_store_t *store;
    char owner[96];
    int64_t newest; /* newest updated_at published */
    long published;
} pass_t;

static int lock_take(pass_t *p)
{
    char key[320];

    snprintf(key, sizeof(key), "dh:returns:reconcile:lock:%s", p->store->domain);
    return dh_lock_take(p->r, key, p->owner, LOCK_TTL_MS);
}

static void lock_drop(pass_t *p)
{
    char key[320];

    snprintf(key, sizeof(key), "dh:returns:reconcile:lock:%s", p->store->domain);
    dh_lock_drop(p->r, key, p->owner);
}

/* The watermark, or now - lookback for a store never reconciled; -1 on a Redis failure. */
static int64_t watermark(pass_t *p)
{
    redisReply *rep = NULL;
    int64_t wm = (int64_t)time(NULL) - p->cfg->lookback_s;

    if (dh_redis_commandf(p->r, &rep, "GET dh:returns:reconcile:wm:%s", p->store->domain)) {
        return -1;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        wm = strtoll(rep->str, NULL, 10);
    }
    freeReplyObject(rep);
    return wm;
}

/* A cancellation the WMS may have missed: one Return Prime knows of no receipt for (once
 * received, the WMS refuses and the webhook's dead letter already said so). */
static int cancel_missed(const returns_request_t *rq)
{
    json_t *received = json_object_get(json_object_get(rq->request, "received"), "status");

    return returns_cancels(rq) == RETURNS_CANCEL && !json_is_true(received);
}

/* 1 when the worker holds a record (done or leased) of the effect \p a asks for. A Redis
 * failure counts as a record: nothing is published, the next pass looks again. */
static int has_record(pass_t *p, returns_action_t a, const returns_request_t *rq)
{
    char order[32] = "", tag[13] = "", err[256], ids[2][DH_IDEM_KEY_MAX];
    const char *cls = NULL, *idp[2] = {ids[0], ids[1]};
    dh_idem_state_t st[2] = {DH_IDEM_ABSENT, DH_IDEM_ABSENT};
    json_t *body = NULL;
    size_t n = 1;

    if (a == RETURNS_CANCEL) {
        snprintf(ids[0], sizeof(ids[0]), "returns:cancel:%s:%s", p->store->domain, rq->id);
    } else {
        /* The creation's record names the content; an exchange released with it has the
         * release's record instead. A body the WMS cannot take: the worker dead-letters it
         * once, nothing to publish. */
        body = returns_wms_body(rq, p->store->domain, &cls, err, sizeof(err));
        if (!body || returns_content_tag(body, tag)) {
            json_decref(body);
            return 1;
        }
        json_decref(body);
        returns_exchange_order(rq, order, sizeof(order));
        snprintf(ids[0], sizeof(ids[0]), "returns:%s:%s:v%s", p->store->domain, rq->id, tag);
        snprintf(ids[1], sizeof(ids[1]), "returns:%s:%s:v%s:release:%s", p->store->domain, rq->id,
                 tag, order[0] ? order : "-");
        n = 2;
    }
    /* Done, or claimed by a live attempt: a record. A claim whose owner crashed is none. */
    if (dh_idem_lookup(p->r, "returns", n, idp, st, NULL)) {
        return 1;
    }
    return st[0] != DH_IDEM_ABSENT || st[1] != DH_IDEM_ABSENT;
}

/* Publishes one listed request like its webhook. 0, or -1 when Kafka did not take it. */
static int publish(pass_t *p, json_t *request)
{
    returns_request_t rq;
    char err[256], key[600], hook[400], now[32];
    json_t *root = json_pack("{s:O}", "request", request);
    char *value = root ? json_dumps(root, JSON_COMPACT) : NULL;
    int rc = 0;
    returns_action_t a;

    json_decref(root);
    if (!value) {
        return -1;
    }
    if (returns_request_parse(value, strlen(value), &rq, err, sizeof(err)) != RETURNS_PARSE_OK) {
        /* The worker would dead-letter it too; say so here, where it was found. */
        DH_LOG(DH_LOG_WARN, "reconcile", "store %s: skipping a listed request: %s",
               p->store->domain, err);
        free(value);
        returns_request_clear(&rq);
        return 0;
    }
    a = returns_action("request/updated", 15, rq.status, p->cfg->create_mask);
    if (a != RETURNS_CREATE && !cancel_missed(&rq)) {
        a = RETURNS_SKIP;
    } else if (a != RETURNS_CREATE) {
        a = RETURNS_CANCEL;
    }
    if (a != RETURNS_SKIP && !has_record(p, a, &rq)) {
        const char *h[] = {"dh-topic",
                           "request/updated",
                           "dh-store",
                           p->store->domain,
                           "dh-webhook-id",
                           hook,
                           "dh-received-at",
                           now,
                           NULL};

        snprintf(key, sizeof(key), "%s|%s", p->store->domain, rq.id);
        snprintf(hook, sizeof(hook), "reconcile:%s:%s", rq.id,
                 json_string_value(json_object_get(request, "updated_at")));
        time_format((int64_t)time(NULL), now, sizeof(now));
        rc = dh_lane_produce(p->lane, p->cfg->topic, key, strlen(key), value, strlen(value), h,
                             15000) == DH_OK
                 ? 0
                 : -1;
        p->published += rc == 0;
    }
    returns_request_clear(&rq);
    free(value);
    return rc;
}

/* One page; 1 = more pages, 0 = last page, -1 = failure (the pass stops, no watermark). */
static int page(pass_t *p, const char *since, int n)
{
    char path[200];
    dh_wms_reply_t rep;
    dh_outcome_t o;
    json_t *data, *r;
    size_t i;
    int more = -1;

    snprintf(path, sizeof(path), "/request?updated_at_min=%s&page=%d", since, n);
    if (rp_call(p->lane, p->cfg->rp_url, p->store, "GET", path, NULL, &rep, &o) ||
        rep.status != 200) {
        DH_LOG(DH_LOG_WARN, "reconcile", "store %s: listing Return Prime requests: %s %ld %s",
               p->store->domain, o.error, rep.status, rep.detail);
        dh_wms_reply_clear(&rep);
        return -1;
    }
    data = json_object_get(rep.body, "data");
    json_array_foreach(json_object_get(data, "list"), i, r)
    {
        int64_t t = returns_time_parse(json_string_value(json_object_get(r, "updated_at")));

        if (publish(p, r)) {
            goto out;
        }
        p->newest = t > p->newest ? t : p->newest;
    }
    more = json_is_true(json_object_get(data, "hasNextPage"));
out:
    dh_wms_reply_clear(&rep);
    return more;
}

static void store_pass(pass_t *p)
{
    char since[32];
    int64_t wm = watermark(p);
    int rc = 1;

    if (wm < 0) {
        return;
    }
    p->newest = wm;
    time_format(wm - OVERLAP_S, since, sizeof(since));
    for (int n = 1; rc == 1 && n <= MAX_PAGES; n++) {
        rc = page(p, since, n);
    }
    if (rc >= 0 && p->newest > wm) {
        redisReply *rep = NULL;

        if (dh_redis_commandf(p->r, &rep, "SET dh:returns:reconcile:wm:%s %lld", p->store->domain,
                              (long long)p->newest) == DH_OK) {
            freeReplyObject(rep);
        }
    }
    if (rc >= 0 && p->cfg->passes) {
        dh_counter_add(p->cfg->passes, 1);
    }
    if (p->published && p->cfg->published) {
        dh_counter_add(p->cfg->published, (uint64_t)p->published);
    }
    DH_LOG(rc < 0         ? DH_LOG_WARN
           : p->published ? DH_LOG_INFO
                          : DH_LOG_DEBUG,
           "reconcile", "store %s: %ld request(s) published since %s%s", p->store->domain,
           p->published, since, rc < 0 ? " (pass stopped, watermark kept)" : "");
}

void returns_reconcile_tick(returns_recon_t *cfg, dh_lane_t *lane)
{
    int64_t now = (int64_t)time(NULL);

    if (cfg->interval_s <= 0 || now < cfg->next_s) {
        return;
    }
    cfg->next_s = now + cfg->interval_s;
    for (size_t i = 0; i < dh_stores_count(cfg->stores); i++) {
        pass_t p = {cfg, lane, dh_lane_redis(lane), dh_stores_at(cfg->stores, i), "", 0, 0};

        if (!p.store->returnprime_token[0]) {
            continue;
        }
        snprintf(p.owner, sizeof(p.owner), "%ld:%d:%lld", (long)getpid(), dh_lane_index(lane),
                 (long long)now);
        if (lock_take(&p)) {
            store_pass(&p);
            lock_drop(&p);
        }
    }
}
