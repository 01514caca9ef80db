/*
 * faults: fault rules per endpoint group (see faults.h).
 */
#include "faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MS    3600000L    /* latency_ms, timeout_ms: an hour */
#define MAX_COUNT 1000000000L /* count */

typedef struct rule {
    bool active;
    long latency_ms;
    double error_rate;
    int error_status;
    bool throttle;
    double drop_rate;
    double timeout_rate;
    long timeout_ms;
    double expires_at;  /**< monotonic seconds, 0 = never */
    long count;         /**< remaining requests, -1 = unlimited */
    char contains[128]; /**< only requests whose body contains this ("" = all) */
    char shop[256];     /**< only this shop's requests ("" = every shop) */
} rule_t;

#define SHOP_RULES 64 /* per group: enough for the troubled stores of a many-store run */

struct dh_sb_faults_s {
    pthread_mutex_t lock;
    rule_t rules[DH_SB_GROUP_COUNT];                  /* the group's rule (every shop) */
    rule_t shop_rules[DH_SB_GROUP_COUNT][SHOP_RULES]; /* one per shop, before the group's */
};

static const char *const group_names[DH_SB_GROUP_COUNT] = {"shopify", "wms", "webhook-delivery",
                                                           "returnprime"};

int dh_sb_group_from_name(const char *name)
{
    for (int i = 0; name && i < DH_SB_GROUP_COUNT; i++) {
        if (strcmp(name, group_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *dh_sb_group_name(dh_sb_group_t g)
{
    return (unsigned)g < DH_SB_GROUP_COUNT ? group_names[g] : "control";
}

dh_sb_faults_t *dh_sb_faults_new(void)
{
    dh_sb_faults_t *f = calloc(1, sizeof *f);

    if (f) {
        pthread_mutex_init(&f->lock, NULL);
    }
    return f;
}

void dh_sb_faults_destroy(dh_sb_faults_t *f)
{
    if (!f) {
        return;
    }
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static double num(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* An integral member within [lo, hi] (absent or not a number: \p dflt). The range is
 * checked on the double: converting one outside long's range is undefined behaviour. */
static int whole(json_t *o, const char *k, long dflt, long lo, long hi, long *out)
{
    json_t *v = json_object_get(o, k);
    double d = json_is_number(v) ? json_number_value(v) : (double)dflt;

    if (!(d >= (double)lo && d <= (double)hi)) {
        return 0;
    }
    *out = (long)d;
    return 1;
}

/* A rule without "shop" replaces its group's rule; one with "shop" replaces that shop's rule
 * (or takes a free or expired slot). */
static dh_sb_err_t install(dh_sb_faults_t *f, int g, const rule_t *r, char *errstr,
                           size_t errstr_size)
{
    dh_sb_err_t err = DH_SB_OK;
    rule_t *slot = NULL;

    pthread_mutex_lock(&f->lock);
    if (!r->shop[0]) {
        slot = &f->rules[g];
    }
    for (int i = 0; !slot && i < SHOP_RULES; i++) {
        if (f->shop_rules[g][i].active && strcmp(f->shop_rules[g][i].shop, r->shop) == 0) {
            slot = &f->shop_rules[g][i];
        }
    }
    for (int i = 0; !slot && i < SHOP_RULES; i++) {
        rule_t *x = &f->shop_rules[g][i];

        if (!x->active || x->count == 0 ||
            (x->expires_at > 0 && dh_sb_mono_now() > x->expires_at)) {
            slot = x;
        }
    }
    if (slot) {
        *slot = *r;
    } else {
        snprintf(errstr, errstr_size, "at most %d shop rules per group", SHOP_RULES);
        err = DH_SB_ERR_CONFIG;
    }
    pthread_mutex_unlock(&f->lock);
    return err;
}

static dh_sb_err_t set_one(dh_sb_faults_t *f, json_t *rule, char *errstr, size_t errstr_size)
{
    int g = dh_sb_group_from_name(json_string_value(json_object_get(rule, "group")));
    rule_t r = {.active = true, .count = -1};
    long status = 503;

    if (g < 0) {
        snprintf(errstr, errstr_size, "group must be shopify, wms or webhook-delivery");
        return DH_SB_ERR_CONFIG;
    }
    r.error_rate = num(rule, "error_rate", 0);
    r.throttle = json_is_true(json_object_get(rule, "throttle"));
    r.drop_rate = num(rule, "drop_connection_rate", 0);
    r.timeout_rate = num(rule, "timeout_after_effect_rate", 0);
    if (json_object_get(rule, "for_ms")) {
        r.expires_at = dh_sb_mono_now() + num(rule, "for_ms", 0) / 1000.0;
    }
    if (!whole(rule, "latency_ms", 0, 0, MAX_MS, &r.latency_ms) ||
        !whole(rule, "timeout_ms", 35000, 0, MAX_MS, &r.timeout_ms) ||
        !whole(rule, "count", -1, -1, MAX_COUNT, &r.count) ||
        !whole(rule, "error_status", 503, 100, 599, &status) || r.error_rate < 0 ||
        r.error_rate > 1 || r.drop_rate < 0 || r.drop_rate > 1 || r.timeout_rate < 0 ||
        r.timeout_rate > 1) {
        snprintf(errstr, errstr_size,
                 "rates must be in [0,1], error_status in 100..599, latency_ms and timeout_ms "
                 "in 0..3600000, count in -1..1000000000");
        return DH_SB_ERR_CONFIG;
    }
    r.error_status = (int)status;
    const char *contains = json_string_value(json_object_get(rule, "contains"));

    if (contains && strlen(contains) >= sizeof r.contains) {
        snprintf(errstr, errstr_size, "contains: at most %zu bytes", sizeof r.contains - 1);
        return DH_SB_ERR_CONFIG;
    }
    snprintf(r.contains, sizeof r.contains, "%s", contains ? contains : "");
    const char *shop = json_string_value(json_object_get(rule, "shop"));

    if (shop && (!*shop || strlen(shop) >= sizeof r.shop)) {
        snprintf(errstr, errstr_size, "shop: a shop domain of at most %zu bytes",
                 sizeof r.shop - 1);
        return DH_SB_ERR_CONFIG;
    }
    snprintf(r.shop, sizeof r.shop, "%s", shop ? shop : "");
    return install(f, g, &r, errstr, errstr_size);
}

dh_sb_err_t dh_sb_faults_set(dh_sb_faults_t *f, json_t *rule, char *errstr, size_t errstr_size)
{
    size_t i;
    json_t *r;

    if (json_is_object(rule)) {
        return set_one(f, rule, errstr, errstr_size);
    }
    if (!json_is_array(rule)) {
        snprintf(errstr, errstr_size, "expected a rule object or an array of rules");
        return DH_SB_ERR_CONFIG;
    }
    json_array_foreach(rule, i, r)
    {
        dh_sb_err_t err = set_one(f, r, errstr, errstr_size);

        if (err != DH_SB_OK) {
            return err;
        }
    }
    return DH_SB_OK;
}

void dh_sb_faults_reset(dh_sb_faults_t *f)
{
    pthread_mutex_lock(&f->lock);
    memset(f->rules, 0, sizeof f->rules);
    memset(f->shop_rules, 0, sizeof f->shop_rules);
    pthread_mutex_unlock(&f->lock);
}

/* Whether \p r (expired or used up: switched off here) applies to a request. */
static bool applies(rule_t *r, const char *shop, const char *body)
{
    if (r->active && r->expires_at > 0 && dh_sb_mono_now() > r->expires_at) {
        r->active = false;
    }
    if (r->active && r->count == 0) {
        r->active = false;
    }
    /* A rule narrowed by "contains" or "shop" leaves other requests alone, and keeps its
     * count. */
    return r->active && (!r->contains[0] || (body && strstr(body, r->contains))) &&
           (!r->shop[0] || (shop && strcmp(shop, r->shop) == 0));
}

void dh_sb_faults_decide(dh_sb_faults_t *f, dh_sb_group_t g, const char *shop, const char *body,
                         dh_sb_fault_decision_t *out)
{
    rule_t *r = NULL;

    memset(out, 0, sizeof *out);
    if ((unsigned)g >= DH_SB_GROUP_COUNT) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    for (int i = 0; shop && !r && i < SHOP_RULES; i++) {
        r = applies(&f->shop_rules[g][i], shop, body) ? &f->shop_rules[g][i] : NULL;
    }
    if (!r && applies(&f->rules[g], shop, body)) {
        r = &f->rules[g];
    }
    if (r) {
        if (r->count > 0) {
            r->count--;
        }
        out->latency_ms = r->latency_ms;
        out->throttle = r->throttle;
        out->drop = r->drop_rate > 0 && dh_sb_rand01() < r->drop_rate;
        if (!out->drop && r->error_rate > 0 && dh_sb_rand01() < r->error_rate) {
            out->error_status = r->error_status;
        }
        out->timeout_after = r->timeout_rate > 0 && dh_sb_rand01() < r->timeout_rate;
        out->timeout_ms = r->timeout_ms;
    }
    pthread_mutex_unlock(&f->lock);
}

static void rule_json(json_t *arr, int g, const rule_t *r);

json_t *dh_sb_faults_json(dh_sb_faults_t *f)
{
    json_t *arr = json_array();

    pthread_mutex_lock(&f->lock);
    for (int g = 0; g < DH_SB_GROUP_COUNT; g++) {
        rule_json(arr, g, &f->rules[g]);
        for (int i = 0; i < SHOP_RULES; i++) {
            rule_json(arr, g, &f->shop_rules[g][i]);
        }
    }
    pthread_mutex_unlock(&f->lock);
    return arr;
}

static void rule_json(json_t *arr, int g, const rule_t *r)
{
    json_t *j;

    if (!r->active) {
        return;
    }
    j = json_pack("{s:s, s:I, s:f, s:i, s:b, s:f, s:f, s:I, s:I}", "group", group_names[g],
                  "latency_ms", (json_int_t)r->latency_ms, "error_rate", r->error_rate,
                  "error_status", r->error_status, "throttle", r->throttle, "drop_connection_rate",
                  r->drop_rate, "timeout_after_effect_rate", r->timeout_rate, "timeout_ms",
                  (json_int_t)r->timeout_ms, "count", (json_int_t)r->count);
    if (r->contains[0]) {
        json_object_set_new(j, "contains", json_string(r->contains));
    }
    if (r->shop[0]) {
        json_object_set_new(j, "shop", json_string(r->shop));
    }
    json_array_append_new(arr, j);
}
