/*
 * webhooks: delivery thread and queue (see webhooks.h).
 */
#include "webhooks.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    char *url, *body, *topic, *shop;
    json_t *headers;
} job_t;

struct dh_sb_webhooks_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    job_t *queue;
    size_t cap, head, count, in_flight;
    int stop;
    dh_sb_webhooks_opts_t opts;
    dh_sb_journal_t *journal;
    dh_sb_faults_t *faults;
};

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

static long post_once(CURL *curl, const job_t *j, long timeout_ms, char *err, size_t err_size)
{
    struct curl_slist *hdrs = NULL;
    const char *k;
    json_t *v;
    char line[1024];
    long status = 0;

    json_object_foreach(j->headers, k, v)
    {
        snprintf(line, sizeof line, "%s: %s", k, json_string_value(v));
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, j->url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);

    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    } else {
        snprintf(err, err_size, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    return status;
}

static void journal_attempt(dh_sb_webhooks_t *w, const job_t *j, int attempt, long status,
                            const char *err)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:O, s:s, s:i, s:I, s:s?}", "group",
                          "webhook-delivery", "method", "POST", "path", j->url, "topic", j->topic,
                          "shop", j->shop, "headers", j->headers, "body", j->body, "attempt",
                          attempt, "status", (json_int_t)status, "error", err[0] ? err : NULL);
    char ts[32];

    dh_sb_iso_now(ts, sizeof ts);
    json_object_set_new(e, "time", json_string(ts));
    json_object_set_new(e, "time_ms", json_real(dh_sb_wall_ms()));
    json_object_set_new(e, "op", json_string(j->topic ? j->topic : ""));
    dh_sb_journal_add(w->journal, e);
}

static void deliver(dh_sb_webhooks_t *w, CURL *curl, const job_t *j)
{
    long delay = w->opts.retry_delay_ms;

    for (int attempt = 1; attempt <= 1 + w->opts.retries; attempt++) {
        dh_sb_fault_decision_t d;
        char err[256] = "";
        long status = 0;

        dh_sb_faults_decide(w->faults, DH_SB_GROUP_WEBHOOK, j->shop, j->body, &d);
        dh_sb_sleep_ms(d.latency_ms, &w->stop);
        if (d.drop || d.error_status) {
            snprintf(err, sizeof err, "fault injected: not delivered");
        } else {
            status = post_once(curl, j, w->opts.timeout_ms, err, sizeof err);
        }
        journal_attempt(w, j, attempt, status, err);
        if (status >= 200 && status < 300) {
            return;
        }
        if (w->stop) {
            return;
        }
        dh_sb_sleep_ms(delay, NULL);
        delay *= 2;
    }
}

static void job_free(job_t *j)
{
    free(j->url);
    free(j->body);
    free(j->topic);
    free(j->shop);
    json_decref(j->headers);
}

static void *run(void *arg)
{
    dh_sb_webhooks_t *w = arg;
    CURL *curl = curl_easy_init();

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->count == 0 && !w->stop) {
            pthread_cond_wait(&w->cond, &w->lock);
        }
        if (w->count == 0) {
            break;
        }
        job_t j = w->queue[w->head];

        w->head = (w->head + 1) % w->cap;
        w->count--;
        w->in_flight++;
        pthread_mutex_unlock(&w->lock);
        if (curl) {
            deliver(w, curl, &j);
        }
        job_free(&j);
        pthread_mutex_lock(&w->lock);
        w->in_flight--;
    }
    pthread_mutex_unlock(&w->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

dh_sb_webhooks_t *dh_sb_webhooks_start(dh_sb_journal_t *journal, dh_sb_faults_t *faults,
                                       const dh_sb_webhooks_opts_t *opts)
{
    dh_sb_webhooks_t *w = calloc(1, sizeof *w);

    if (!w) {
        return NULL;
    }
    w->opts = *opts;
    w->cap = opts->queue_capacity ? opts->queue_capacity : 1024;
    w->queue = calloc(w->cap, sizeof *w->queue);
    w->journal = journal;
    w->faults = faults;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (!w->queue || pthread_create(&w->thread, NULL, run, w) != 0) {
        free(w->queue);
        free(w);
        return NULL;
    }
    return w;
}

void dh_sb_webhooks_stop(dh_sb_webhooks_t *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->count > 0) {
        job_free(&w->queue[w->head]);
        w->head = (w->head + 1) % w->cap;
        w->count--;
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->queue);
    free(w);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int dh_sb_webhooks_enqueue(dh_sb_webhooks_t *w, const char *url, json_t *headers, const char *body,
                           const char *topic, const char *shop)
{
    job_t j = {dup_or_null(url), dup_or_null(body), dup_or_null(topic), dup_or_null(shop), headers};
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    if (w->count == w->cap || !j.url || !j.body) {
        rc = -1;
    } else {
        w->queue[(w->head + w->count) % w->cap] = j;
        w->count++;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc < 0) {
        journal_attempt(w, &j, 0, 0, "queue full: dropped");
        job_free(&j);
    }
    return rc;
}

size_t dh_sb_webhooks_pending(dh_sb_webhooks_t *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->count + w->in_flight;
    pthread_mutex_unlock(&w->lock);
    return n;
}
