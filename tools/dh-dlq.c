/*
 * dh-dlq: the on-call tool for dead letters. Safe by default.
 *
 *   dh-dlq list    <topic>.dlq [--class C] [--max N]
 *   dh-dlq redrive <topic>.dlq [--class C] [--max N] [--execute]
 *
 * list prints every dead letter currently in the topic as one JSON line (partition,
 * offset, key, error class and message, origin, attempts, times). redrive without
 * --execute prints what it would republish; with --execute it writes each selected dead
 * letter back to its original topic (original key, value and headers, minus the dh-*
 * diagnostics, plus dh-redriven-from) and waits for the broker's acks. Redriving twice is
 * harmless: workers skip events whose effect is already recorded as done.
 * Reads the topic with plain assignments: it never joins or commits a consumer group.
 * Broker: DH_KAFKA_BROKERS (default 127.0.0.1:39092).
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
    const char *cmd;
    const char *topic;
    const char *klass;
    long max;
    int execute;
    const char *brokers;
};

struct stats {
    long seen, selected, written, failed;
};

static int usage(void)
{
    fprintf(stderr, "usage: dh-dlq list|redrive <topic>.dlq [--class C] [--max N] [--execute]\n"
                    "  list      print the dead letters as JSON lines\n"
                    "  redrive   republish them to their original topic (dry run unless "
                    "--execute)\n"
                    "  env DH_KAFKA_BROKERS (default 127.0.0.1:39092)\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    const char *b = getenv("DH_KAFKA_BROKERS");

    memset(o, 0, sizeof(*o));
    o->brokers = b && *b ? b : "127.0.0.1:39092";
    o->max = -1;
    if (argc < 3 || (strcmp(argv[1], "list") && strcmp(argv[1], "redrive"))) {
        return -1;
    }
    o->cmd = argv[1];
    o->topic = argv[2];
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--execute")) {
            o->execute = 1;
        } else if (!strcmp(argv[i], "--class") && i + 1 < argc) {
            o->klass = argv[++i];
        } else if (!strcmp(argv[i], "--max") && i + 1 < argc) {
            o->max = strtol(argv[++i], NULL, 10);
        } else {
            return -1;
        }
    }
    if (strlen(o->topic) < 5 || strcmp(o->topic + strlen(o->topic) - 4, ".dlq")) {
        fprintf(stderr, "dh-dlq: %s is not a dead-letter topic (<topic>.dlq)\n", o->topic);
        return -1;
    }
    if (o->execute && strcmp(o->cmd, "redrive")) {
        return -1;
    }
    return 0;
}

/* librdkafka's own lines as JSON objects on stderr (as the workers log them), warnings and
 * errors only; without a callback it prints raw "%3|...|FAIL|..." lines there. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    json_t *line;
    char *text;

    if (level > 4) {
        return;
    }
    /* "o" steals the json_sprintf() reference, also when json_pack() fails. */
    line = json_pack("{s:s, s:s, s:s, s:o}", "level", level <= 3 ? "error" : "warn", "worker",
                     "dh-dlq", "component", "librdkafka", "msg",
                     json_sprintf("%s %s: %s", rd_kafka_name(rk), fac ? fac : "", buf ? buf : ""));
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        fprintf(stderr, "%s\n", text);
    }
    free(text);
    json_decref(line);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        (type == RD_KAFKA_PRODUCER &&
         (rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) ||
          rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr)))) ||
        (type == RD_KAFKA_CONSUMER &&
         (rd_kafka_conf_set(conf, "group.id", "dh-dlq-reader", errstr, sizeof(errstr)) ||
          rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
          rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr))))) {
        fprintf(stderr, "dh-dlq: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "dh-dlq: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static json_t *hstr(rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t len;

    if (!h || rd_kafka_header_get_last(h, name, &v, &len)) {
        return json_null();
    }
    return json_stringn(v, len);
}

static void print_letter(const rd_kafka_message_t *m, const char *action)
{
    rd_kafka_headers_t *h = NULL;
    json_t *o;
    char *text;

    rd_kafka_message_headers(m, &h);
    o = json_pack("{s:s, s:i, s:I}", "action", action, "partition", (int)m->partition, "offset",
                  (json_int_t)m->offset);
    json_object_set_new(o, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
    const char *names[] = {
        "dh-error-class",     "dh-error",    "dh-original-topic", "dh-original-partition",
        "dh-original-offset", "dh-attempts", "dh-worker",         "dh-first-seen",
        "dh-last-failed"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_object_set_new(o, names[i] + 3, hstr(h, names[i]));
    }
    text = json_dumps(o, JSON_COMPACT);
    if (text) {
        puts(text);
    }
    free(text);
    json_decref(o);
}

/* Republish with the original headers, minus our diagnostics. */
static int redrive_one(rd_kafka_t *p, const rd_kafka_message_t *m, const char *dlq)
{
    rd_kafka_headers_t *h = NULL, *out = rd_kafka_headers_new(8);
    const char *name;
    const void *val;
    size_t len, idx = 0;
    char topic[256] = "", from[300];

    rd_kafka_message_headers(m, &h);
    if (h && !rd_kafka_header_get_last(h, "dh-original-topic", &val, &len) && len < sizeof(topic)) {
        memcpy(topic, val, len);
        topic[len] = '\0';
    }
    while (h && !rd_kafka_header_get_all(h, idx++, &name, &val, &len)) {
        /* The gateway's envelope headers (dh-topic, dh-shop-domain, ...) stay. */
        if (!strncmp(name, "dh-original-", 12) || !strncmp(name, "dh-error", 8) ||
            !strcmp(name, "dh-attempts") || !strcmp(name, "dh-worker") ||
            !strcmp(name, "dh-first-seen") || !strcmp(name, "dh-last-failed")) {
            continue;
        }
        rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
    }
    snprintf(from, sizeof(from), "%s/%d@%lld", dlq, (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(out, "dh-redriven-from", -1, from, -1);
    if (!topic[0]) {
        rd_kafka_headers_destroy(out);
        fprintf(stderr, "dh-dlq: %s has no dh-original-topic header; skipped\n", from);
        return -1;
    }
    if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(out),
                          RD_KAFKA_V_END)) {
        rd_kafka_headers_destroy(out);
        return -1;
    }
    return 0;
}

/* Assign every partition from its low watermark; remember each high watermark. */
static int assign_all(rd_kafka_t *c, const char *topic, int64_t **low, int64_t **high, int *nparts)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    rd_kafka_topic_partition_list_t *tpl;
    int rc = -1;

    if (rd_kafka_metadata(c, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "dh-dlq: cannot read topic %s: %s\n", topic,
                md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        goto out;
    }
    *nparts = md->topics[0].partition_cnt;
    *high = calloc((size_t)*nparts, sizeof(**high));
    *low = calloc((size_t)*nparts, sizeof(**low));
    tpl = rd_kafka_topic_partition_list_new(*nparts);
    for (int i = 0; i < *nparts; i++) {
        int64_t lo = 0, hi = 0;

        rd_kafka_query_watermark_offsets(c, topic, i, &lo, &hi, 10000);
        (*high)[i] = hi;
        (*low)[i] = lo;
        rd_kafka_topic_partition_list_add(tpl, topic, i)->offset = lo;
    }
    rc = rd_kafka_assign(c, tpl) ? -1 : 0;
    rd_kafka_topic_partition_list_destroy(tpl);
out:
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int selected(const rd_kafka_message_t *m, const struct opts *o)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;

    if (!o->klass) {
        return 1;
    }
    rd_kafka_message_headers(m, &h);
    return h && !rd_kafka_header_get_last(h, "dh-error-class", &v, &len) &&
           len == strlen(o->klass) && !memcmp(v, o->klass, len);
}

static int all_done(const int64_t *pos, const int64_t *high, int n)
{
    for (int i = 0; i < n; i++) {
        if (pos[i] < high[i]) {
            return 0;
        }
    }
    return 1;
}

/* pos starts at each partition's low watermark; reading stops at the high watermarks
 * taken at the start, so dead letters written meanwhile are left for the next run. */
static void run(rd_kafka_t *c, rd_kafka_t *p, const struct opts *o, int64_t *pos,
                const int64_t *high, int n, struct stats *st)
{
    int idle = 0;

    while (!all_done(pos, high, n) && idle < 50 && (o->max < 0 || st->selected < o->max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);

        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err && m->partition < n && m->offset < high[m->partition]) {
            pos[m->partition] = m->offset + 1;
            st->seen++;
            if (selected(m, o)) {
                st->selected++;
                if (p) {
                    st->failed += redrive_one(p, m, o->topic) ? 1 : 0;
                }
                print_letter(m, !strcmp(o->cmd, "list") ? "list"
                                : p                     ? "redriven"
                                                        : "would-redrive");
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition < n) {
            pos[m->partition] = high[m->partition];
        }
        rd_kafka_message_destroy(m);
        if (p) {
            rd_kafka_poll(p, 0);
        }
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    struct stats st = {0, 0, 0, 0};
    rd_kafka_t *c, *p = NULL;
    int64_t *high = NULL, *low = NULL;
    int n = 0, rc = 1;

    if (parse(argc, argv, &o)) {
        return usage();
    }
    c = client(RD_KAFKA_CONSUMER, o.brokers);
    if (!c || assign_all(c, o.topic, &low, &high, &n)) {
        goto out;
    }
    if (o.execute) {
        p = client(RD_KAFKA_PRODUCER, o.brokers);
        if (!p) {
            goto out;
        }
    }
    run(c, p, &o, low, high, n, &st);
    if (p) {
        if (rd_kafka_flush(p, 30000)) {
            fprintf(stderr, "dh-dlq: %d message(s) not acknowledged\n", rd_kafka_outq_len(p));
            st.failed += rd_kafka_outq_len(p);
        }
        st.written = st.selected - st.failed;
    }
    fprintf(stderr, "dh-dlq: %ld dead letter(s) read, %ld selected%s", st.seen, st.selected,
            !strcmp(o.cmd, "list") ? "\n" : "");
    if (!strcmp(o.cmd, "redrive")) {
        if (p) {
            fprintf(stderr, ", %ld republished, %ld failed\n", st.written, st.failed);
        } else {
            fprintf(stderr, "; dry run: nothing written (add --execute)\n");
        }
    }
    rc = st.failed ? 1 : 0;
out:
    free(high);
    free(low);
    if (p) {
        rd_kafka_destroy(p);
    }
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    return rc;
}
