/* dh-ops dlq, private: the arguments, the reader of a dead-letter topic, the ledger. */
#ifndef DH_OPS_DLQ_H
#define DH_OPS_DLQ_H

#include "ops.h"

struct dlq_args {
    const char *cmd, *topic, *klass, *store, *key;
    int64_t since_ms, until_ms;
    long long partition, offset, max; /* -1: any / no limit */
    int execute, all;
};

/* Reads every partition (or one) from its start (or an offset) to the end seen at open. */
struct dlq_reader {
    rd_kafka_t *c;
    int n;
    int64_t *pos, *hi;
    int failed; /* Kafka reported an error while reading */
};

struct dlq_stats {
    long seen, selected, written, failed, skipped;
    dh_redis_t *redis;
    char ledger_key[300];
    json_t *ledger; /* field "<p>@<o>" -> "<time> -> <topic>", read once at the start */
    long long ledger_ttl_s;
    rd_kafka_t *producer;
};

int dlq_reader_open(const ops_t *o, struct dlq_reader *rd, const char *topic, int partition,
                    long long offset);
/** 1 with a message (caller destroys it), 0 at the end or after an error (rd->failed). */
int dlq_reader_next(const ops_t *o, struct dlq_reader *rd, rd_kafka_message_t **out);
void dlq_reader_close(const ops_t *o, struct dlq_reader *rd);

int dlq_ledger_open(const ops_t *o, const struct dlq_args *a, struct dlq_stats *st);
void dlq_ledger_close(struct dlq_stats *st);

/** A selected letter: print it, and for redrive --execute republish it. Returns an exit
 *  code: non-zero stops the run. */
int dlq_handle(const ops_t *o, const struct dlq_args *a, struct dlq_stats *st,
               const rd_kafka_message_t *m, json_t *letter);
/** The summary on stderr; the run's exit code. */
int dlq_finish(const ops_t *o, const struct dlq_args *a, const struct dlq_stats *st, int rc);

/** The letter's metadata (partition, offset, time, key, dh-* headers, store) as JSON. */
json_t *dlq_letter_json(const rd_kafka_message_t *m);
/** Print \p letter with "action"; with \p m also its headers and payload. */
void dlq_print(const ops_t *o, json_t *letter, const char *action, const rd_kafka_message_t *m);

#endif
