/*
 * Request deadlines (see deadline.h): a list of open connections under one mutex and a
 * watchdog thread that sleeps until the earliest deadline (or a new connection).
 */
#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dockhand/log.h"

#define WATCH_MAX_SLEEP_US 1000000LL

static const char RESP_408[] = "HTTP/1.1 408 Request Timeout\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 16\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "request timeout\n";

struct dh_gw_conn_s {
    dh_gw_conn_t *prev, *next;
    int fd;
    long long start_us; /**< accepted, or its previous answer sent */
    int busy;           /**< being answered: the deadline does not apply */
    int expired;        /**< the watchdog answered 408 and shut the socket down */
    dh_gw_source_t src;
};

struct dh_gw_deadline_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    dh_gw_conn_t *head;
    long long timeout_us;
    dh_gw_t *gw;
    int stopping;
};

/* Answer 408 and shut the socket down (caller holds d->mu, so fd is still c's). */
static void expire(dh_gw_deadline_t *d, dh_gw_conn_t *c)
{
    c->expired = 1;
    /* Best effort, never blocking: the client may not be reading. */
    if (send(c->fd, RESP_408, sizeof(RESP_408) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        DH_LOG(DH_LOG_DEBUG, "gateway", "408 not sent: %s", strerror(errno));
    }
    /* The connection's thread then reads end-of-file and libmicrohttpd closes it. */
    shutdown(c->fd, SHUT_RDWR);
    if (d->gw) {
        dh_gw_count(d->gw, c->src, 408);
    }
    DH_LOG(DH_LOG_INFO, "gateway", "request not complete within %lld ms: 408, connection closed",
           d->timeout_us / 1000);
}

static struct timespec mono_at(long long us)
{
    return (struct timespec){.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
}

static void *watchdog_main(void *ud)
{
    dh_gw_deadline_t *d = ud;

    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        long long now = dh_gw_now_us(), next = now + WATCH_MAX_SLEEP_US;
        struct timespec at;

        for (dh_gw_conn_t *c = d->head; c; c = c->next) {
            long long due = c->start_us + d->timeout_us;

            if (c->busy || c->expired) {
                continue;
            }
            if (due <= now) {
                expire(d, c);
            } else if (due < next) {
                next = due;
            }
        }
        at = mono_at(next);
        pthread_cond_timedwait(&d->cv, &d->mu, &at);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

dh_err_t dh_gw_deadline_new(int timeout_ms, dh_gw_t *gw, dh_gw_deadline_t **out)
{
    dh_gw_deadline_t *d = calloc(1, sizeof(*d));
    pthread_condattr_t ca;
    dh_err_t err = DH_ERR_NOMEM;

    *out = NULL;
    if (!d) {
        return err;
    }
    d->timeout_us = (long long)timeout_ms * 1000;
    d->gw = gw;
    pthread_mutex_init(&d->mu, NULL);
    /* dh_gw_now_us() is CLOCK_MONOTONIC: wait on the same clock. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, watchdog_main, d)) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return DH_ERR_IO;
    }
    *out = d;
    return DH_OK;
}

void dh_gw_deadline_destroy(dh_gw_deadline_t *d)
{
    if (!d) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    while (d->head) { /* not expected: the server closes every connection first */
        dh_gw_conn_t *c = d->head;

        d->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

dh_gw_conn_t *dh_gw_deadline_open(dh_gw_deadline_t *d, int fd)
{
    dh_gw_conn_t *c = calloc(1, sizeof(*c));

    if (!c) {
        return NULL;
    }
    c->fd = fd;
    c->src = DH_GW_SRC_OTHER;
    c->start_us = dh_gw_now_us();
    pthread_mutex_lock(&d->mu);
    c->next = d->head;
    if (d->head) {
        d->head->prev = c;
    }
    d->head = c;
    pthread_cond_signal(&d->cv); /* its deadline may be the earliest */
    pthread_mutex_unlock(&d->mu);
    return c;
}

void dh_gw_deadline_close(dh_gw_deadline_t *d, dh_gw_conn_t *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        d->head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&d->mu);
    free(c);
}

int dh_gw_deadline_begin(dh_gw_deadline_t *d, dh_gw_conn_t *c, dh_gw_source_t src)
{
    int go_on;

    if (!c) {
        return 1;
    }
    pthread_mutex_lock(&d->mu);
    go_on = !c->expired;
    c->busy = go_on;
    c->src = src;
    pthread_mutex_unlock(&d->mu);
    return go_on;
}

void dh_gw_deadline_end(dh_gw_deadline_t *d, dh_gw_conn_t *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    c->busy = 0;
    c->start_us = dh_gw_now_us();
    pthread_mutex_unlock(&d->mu);
}

void dh_gw_deadline_source(dh_gw_deadline_t *d, dh_gw_conn_t *c, dh_gw_source_t src)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    c->src = src;
    pthread_mutex_unlock(&d->mu);
}
