/*
 * dh-ops lag: for each group, its committed offset, the partition's end and the lag of
 * every partition it has offsets for (or of every partition of the --topic named, also
 * those it never committed). A group with no offsets at all is an error: it is almost
 * always a misspelt name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define MAX_NAMES 16

struct lag_args {
    const char *groups[MAX_NAMES];
    int ngroups;
    const char *topics[MAX_NAMES];
    int ntopics;
};

static int lag_parse(const ops_t *o, int argc, char **argv, struct lag_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        int is_group = !strcmp(argv[i], "--group"), is_topic = !strcmp(argv[i], "--topic");

        if ((is_group || is_topic) && i + 1 < argc) {
            if ((is_group ? a->ngroups : a->ntopics) >= MAX_NAMES) {
                ops_err(o, "lag: at most %d of %s", MAX_NAMES, argv[i]);
                return -1;
            }
            if (is_group) {
                a->groups[a->ngroups++] = argv[++i];
            } else {
                a->topics[a->ntopics++] = argv[++i];
            }
        } else {
            ops_err(o, "lag: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!a->ngroups) {
        ops_err(o, "lag: name at least one --group (e.g. dockhand-inventory)");
        return -1;
    }
    return 0;
}

/* Every partition of the named topics, for a lookup that also shows uncommitted ones. */
static rd_kafka_topic_partition_list_t *topic_parts(const ops_t *o, rd_kafka_t *rk,
                                                    const struct lag_args *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);

    for (int t = 0; t < a->ntopics; t++) {
        int n = ops_partitions(o, rk, a->topics[t]);

        if (n < 0) {
            rd_kafka_topic_partition_list_destroy(l);
            return NULL;
        }
        for (int p = 0; p < n; p++) {
            rd_kafka_topic_partition_list_add(l, a->topics[t], p);
        }
    }
    return l;
}

static int lag_row(const ops_t *o, rd_kafka_t *rk, const char *group,
                   const rd_kafka_topic_partition_t *tp, long long *total)
{
    int64_t lo = 0, hi = 0, lag;

    if (tp->err) {
        ops_err(o, "%s %s [%d]: %s", group, tp->topic, (int)tp->partition,
                rd_kafka_err2str(tp->err));
        return -1;
    }
    if (ops_watermarks(o, rk, tp->topic, tp->partition, &lo, &hi)) {
        return -1;
    }
    /* Nothing committed: a new member starts at the earliest retained offset. */
    lag = hi - (tp->offset >= 0 ? (tp->offset > lo ? tp->offset : lo) : lo);
    *total += lag;
    if (o->json) {
        json_t *row = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}", "group", group, "topic",
                                tp->topic, "partition", (int)tp->partition, "end", (json_int_t)hi,
                                "start", (json_int_t)lo, "lag", (json_int_t)lag);

        json_object_set_new(row, "committed",
                            tp->offset >= 0 ? json_integer(tp->offset) : json_null());
        ops_emit(o, row);
    } else {
        printf("%-28s %-28s %4d %12lld %12lld %10lld\n", group, tp->topic, (int)tp->partition,
               (long long)tp->offset, (long long)hi, (long long)lag);
    }
    return 0;
}

static int lag_group(const ops_t *o, rd_kafka_t *rk, const char *group,
                     const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *offs = ops_group_offsets(o, rk, group, only);
    long long total = 0;
    int rc = OPS_OK, committed = 0;

    if (!offs) {
        return OPS_FAIL;
    }
    for (int i = 0; i < offs->cnt; i++) {
        committed += offs->elems[i].offset >= 0;
    }
    if (!committed && !only) {
        ops_err(o, "group %s has no committed offsets: no such group (misspelt?)", group);
        rc = OPS_FAIL;
    }
    for (int i = 0; rc == OPS_OK && i < offs->cnt; i++) {
        rc = lag_row(o, rk, group, &offs->elems[i], &total) ? OPS_FAIL : OPS_OK;
    }
    if (rc == OPS_OK && !o->json) {
        printf("%-28s %-28s %4s %12s %12s %10lld\n", group, "(total)", "", "", "", total);
    }
    rd_kafka_topic_partition_list_destroy(offs);
    return rc;
}

int ops_lag(const ops_t *o, int argc, char **argv)
{
    struct lag_args a;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *only = NULL;
    int rc = OPS_FAIL;

    if (lag_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    rk = ops_admin_new(o);
    if (!rk) {
        return OPS_FAIL;
    }
    if (a.ntopics) {
        only = topic_parts(o, rk, &a);
        if (!only) {
            goto out;
        }
    }
    if (!o->json) {
        printf("%-28s %-28s %4s %12s %12s %10s\n", "GROUP", "TOPIC", "PART", "COMMITTED", "END",
               "LAG");
    }
    rc = OPS_OK;
    for (int g = 0; g < a.ngroups && rc == OPS_OK; g++) {
        rc = lag_group(o, rk, a.groups[g], only);
    }
out:
    if (only) {
        rd_kafka_topic_partition_list_destroy(only);
    }
    ops_kafka_destroy(o, rk);
    return rc;
}
