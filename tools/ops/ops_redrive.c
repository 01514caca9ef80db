/*
 * dh-ops dlq, the moving parts: reading a dead-letter topic up to the end seen at the
 * start, the redrive ledger in Redis, and the redrive itself (the original key, value and
 * headers minus our diagnostics, plus dh-redriven-from; acked before it is recorded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_dlq.h"

int dlq_reader_open(const ops_t *o, struct dlq_reader *rd, const char *topic, int partition,
                    long long offset)
{
    rd_kafka_topic_partition_list_t *tpl = NULL;
    int rc = -1;

    memset(rd, 0, sizeof(*rd));
    rd->c = ops_consumer_new(o, NULL);
    rd->n = rd->c ? ops_partitions(o, rd->c, topic) : -1;
    if (rd->n < 0 || (partition >= 0 && partition >= rd->n)) {
        if (rd->n >= 0) {
            ops_err(o, "%s has no partition %d", topic, partition);
        }
        goto out;
    }
    rd->pos = calloc((size_t)rd->n, sizeof(*rd->pos));
    rd->hi = calloc((size_t)rd->n, sizeof(*rd->hi));
    tpl = rd_kafka_topic_partition_list_new(rd->n);
    for (int p = 0; p < rd->n && rd->pos && rd->hi; p++) {
        int64_t lo = 0;

        if (partition >= 0 && p != partition) {
            continue; /* pos == hi == 0: nothing to read there */
        }
        if (ops_watermarks(o, rd->c, topic, p, &lo, &rd->hi[p])) {
            goto out;
        }
        rd->pos[p] = offset >= 0 && offset > lo ? offset : lo;
        rd_kafka_topic_partition_list_add(tpl, topic, p)->offset = rd->pos[p];
    }
    rc = rd->pos && rd->hi && !rd_kafka_assign(rd->c, tpl) ? 0 : -1;
out:
    if (tpl) {
        rd_kafka_topic_partition_list_destroy(tpl);
    }
    return rc;
}

static int reader_done(const struct dlq_reader *rd)
{
    for (int i = 0; i < rd->n; i++) {
        if (rd->pos[i] < rd->hi[i]) {
            return 0;
        }
    }
    return 1;
}

int dlq_reader_next(const ops_t *o, struct dlq_reader *rd, rd_kafka_message_t **out)
{
    int64_t deadline = (int64_t)time(NULL) + o->timeout_ms / 1000 + 1;

    while (!reader_done(rd) && (int64_t)time(NULL) <= deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rd->c, 200);

        if (!m) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition < rd->n) {
            rd->pos[m->partition] = rd->hi[m->partition];
        } else if (m->err) {
            ops_err(o, "reading: %s", rd_kafka_message_errstr(m));
            rd->failed = 1;
            rd_kafka_message_destroy(m);
            return 0;
        } else if (m->partition < rd->n && m->offset < rd->hi[m->partition]) {
            rd->pos[m->partition] = m->offset + 1;
            *out = m;
            return 1;
        }
        rd_kafka_message_destroy(m);
    }
    if (!reader_done(rd)) {
        ops_err(o, "reading: no progress in %d ms", o->timeout_ms);
        rd->failed = 1;
    }
    return 0;
}

void dlq_reader_close(const ops_t *o, struct dlq_reader *rd)
{
    if (rd->c) {
        rd_kafka_consumer_close(rd->c);
        ops_kafka_destroy(o, rd->c);
    }
    free(rd->pos);
    free(rd->hi);
}

int dlq_ledger_open(const ops_t *o, const struct dlq_args *a, struct dlq_stats *st)
{
    redisReply *r = NULL;
    int rc = -1;

    snprintf(st->ledger_key, sizeof(st->ledger_key), "dh:ops:redriven:%s", a->topic);
    st->ledger_ttl_s = dh_config_int(o->cfg, "DH_OPS_LEDGER_TTL_S");
    st->ledger = json_object();
    st->redis = ops_redis_new(o);
    if (!st->redis) {
        return -1;
    }
    if (dh_redis_commandf(st->redis, &r, "HGETALL %s", st->ledger_key) ||
        r->type != REDIS_REPLY_ARRAY) {
        ops_err(o, "redis: reading the ledger %s: %s", st->ledger_key, dh_redis_errstr(st->redis));
        goto out;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        json_object_set_new(st->ledger, r->element[i]->str,
                            json_stringn(r->element[i + 1]->str, r->element[i + 1]->len));
    }
    rc = 0;
out:
    if (r) {
        freeReplyObject(r);
    }
    return rc;
}

void dlq_ledger_close(struct dlq_stats *st)
{
    if (st->producer) {
        rd_kafka_destroy(st->producer);
    }
    dh_redis_destroy(st->redis);
    json_decref(st->ledger);
}

static int ledger_add(const ops_t *o, struct dlq_stats *st, const char *field, const char *to)
{
    char when[40], value[400];
    redisReply *r = NULL;
    dh_err_t err;

    ops_time_text((int64_t)time(NULL) * 1000, when, sizeof(when));
    snprintf(value, sizeof(value), "%s -> %s", when, to);
    err = dh_redis_commandf(st->redis, &r, "HSET %s %s %s", st->ledger_key, field, value);
    if (r) {
        freeReplyObject(r);
        r = NULL;
    }
    if (!err) {
        err = dh_redis_commandf(st->redis, &r, "EXPIRE %s %lld", st->ledger_key, st->ledger_ttl_s);
    }
    if (r) {
        freeReplyObject(r);
    }
    if (err) {
        ops_err(o, "redis: ledger %s: %s (the copy WAS written)", field,
                dh_redis_errstr(st->redis));
    }
    return err ? -1 : 0;
}

/* The copy's delivery: the broker's answer for it lands in *opaque. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

static int diagnostic(const char *name)
{
    return !strncmp(name, "dh-original-", 12) || !strncmp(name, "dh-error", 8) ||
           !strcmp(name, "dh-attempts") || !strcmp(name, "dh-worker") ||
           !strcmp(name, "dh-first-seen") || !strcmp(name, "dh-last-failed") ||
           !strcmp(name, "dh-redriven-from");
}

static rd_kafka_headers_t *copy_headers(const rd_kafka_message_t *m, const char *from)
{
    rd_kafka_headers_t *h = NULL, *out = rd_kafka_headers_new(8);
    const char *name;
    const void *val;
    size_t len, idx = 0;

    rd_kafka_message_headers(m, &h);
    while (h && !rd_kafka_header_get_all(h, idx++, &name, &val, &len)) {
        /* The gateway's envelope headers (dh-topic, dh-shop-domain, ...) stay. */
        if (!diagnostic(name)) {
            rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
        }
    }
    rd_kafka_header_add(out, "dh-redriven-from", -1, from, -1);
    return out;
}

/* Write one copy and wait for the broker's ack. */
static int redrive_one(const ops_t *o, struct dlq_stats *st, const rd_kafka_message_t *m,
                       const char *topic, const char *from)
{
    rd_kafka_headers_t *hs = copy_headers(m, from);
    rd_kafka_resp_err_t status = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_OPAQUE(&status), RD_KAFKA_V_END);

    if (err) {
        rd_kafka_headers_destroy(hs);
        ops_err(o, "redrive %s: %s", from, rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_flush(st->producer, o->timeout_ms);
    if (status != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ops_err(o, "redrive %s to %s: %s", from, topic,
                status == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "not acknowledged in time"
                                                         : rd_kafka_err2str(status));
        return -1;
    }
    return 0;
}

static int redrive(const ops_t *o, const struct dlq_args *a, struct dlq_stats *st,
                   const rd_kafka_message_t *m, json_t *letter, const char *field)
{
    const char *topic = json_string_value(json_object_get(letter, "original-topic"));
    char from[400];

    if (!topic || !*topic) {
        ops_err(o, "%s@%s has no dh-original-topic header: not redriven", a->topic, field);
        st->failed++;
        return OPS_OK;
    }
    if (!a->execute) {
        dlq_print(o, letter, "would-redrive", NULL);
        return OPS_OK;
    }
    if (!st->producer) {
        st->producer = ops_producer_new(o, on_delivery);
        if (!st->producer) {
            return OPS_FAIL;
        }
    }
    snprintf(from, sizeof(from), "%s/%s", a->topic, field);
    if (redrive_one(o, st, m, topic, from)) {
        st->failed++;
        return OPS_FAIL; /* the broker said no: stop, say so */
    }
    st->written++;
    dlq_print(o, letter, "redriven", NULL);
    return ledger_add(o, st, field, topic) ? OPS_FAIL : OPS_OK;
}

int dlq_handle(const ops_t *o, const struct dlq_args *a, struct dlq_stats *st,
               const rd_kafka_message_t *m, json_t *letter)
{
    char field[64];
    json_t *done;

    snprintf(field, sizeof(field), "%d@%lld", (int)m->partition, (long long)m->offset);
    done = json_object_get(st->ledger, field);
    json_object_set(letter, "redriven", done ? done : json_null());
    if (done && (!strcmp(a->cmd, "redrive") || (!strcmp(a->cmd, "list") && !a->all))) {
        st->skipped++; /* handled already: never offered again */
        return OPS_OK;
    }
    st->selected++;
    if (!strcmp(a->cmd, "redrive")) {
        return redrive(o, a, st, m, letter, field);
    }
    dlq_print(o, letter, a->cmd, !strcmp(a->cmd, "show") ? m : NULL);
    return OPS_OK;
}

int dlq_finish(const ops_t *o, const struct dlq_args *a, const struct dlq_stats *st, int rc)
{
    if (!strcmp(a->cmd, "show") && rc == OPS_OK && !st->selected) {
        ops_err(o, "no dead letter at %s %lld@%lld", a->topic, a->partition, a->offset);
        return OPS_FAIL;
    }
    fprintf(stderr, "%s: %ld dead letter(s) read, %ld selected, %ld already redriven (ledger)",
            o->prog, st->seen, st->selected, st->skipped);
    if (strcmp(a->cmd, "redrive")) {
        fputc('\n', stderr);
    } else if (a->execute) {
        fprintf(stderr, ", %ld republished, %ld failed\n", st->written, st->failed);
    } else {
        fprintf(stderr, "; dry run: nothing written (add --execute)\n");
    }
    return rc == OPS_OK && st->failed ? OPS_FAIL : rc;
}
