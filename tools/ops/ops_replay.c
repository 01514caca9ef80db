/*
 * dh-ops replay: move a stopped group's offsets of one topic back to a time, so its
 * worker re-reads from there when it starts again. A dry run unless --execute: it prints
 * the plan (current and new offset, events to re-read, per partition). It refuses (exit 3)
 * a group Kafka does not know (a misspelt name would otherwise be created) and a group
 * with members (Kafka would refuse the reset anyway; with static membership a stopped
 * member stays until session.timeout.ms). Every error Kafka returns is an error (exit 1).
 * Re-read events whose effects are recorded as done are skipped by the workers.
 * With --recheck or --reapply (and no --group) it is the filtered mode instead: copies of
 * selected events re-published while the workers run (ops_replay_copy.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

struct replay_args {
    const char *group, *topic;
    int64_t from_ms; /* -1: --earliest */
    int execute;
};

static int replay_parse(const ops_t *o, int argc, char **argv, struct replay_args *a)
{
    int have_from = 0;

    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--execute")) {
            a->execute = 1;
        } else if (!strcmp(argv[i], "--earliest")) {
            a->from_ms = -1;
            have_from = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--group")) {
            a->group = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--topic")) {
            a->topic = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--from")) {
            if (ops_parse_time(o, "--from", argv[++i], &a->from_ms)) {
                return -1;
            }
            have_from = 1;
        } else {
            ops_err(o, "replay: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!a->group || !a->topic || !have_from) {
        ops_err(o, "usage: replay --group G --topic T --from TIME|--earliest [--execute] "
                   "(TIME: YYYY-MM-DDTHH:MM[:SS]Z or epoch ms), or: replay --topic T --from "
                   "TIME [filters] (--recheck|--reapply) [--execute] for chosen events");
        return -1;
    }
    return 0;
}

static void send_describe(rd_kafka_t *rk, const rd_kafka_AdminOptions_t *opts, rd_kafka_queue_t *q,
                          void *ud)
{
    rd_kafka_DescribeConsumerGroups(rk, ud, 1, opts, q);
}

/* OPS_OK when the group exists and has no members; else why not. */
static int group_stopped(const ops_t *o, rd_kafka_t *rk, const char *group)
{
    rd_kafka_event_t *ev = ops_admin_run(o, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
                                         "describing the group", send_describe, &group);
    const rd_kafka_ConsumerGroupDescription_t **gs;
    size_t n = 0, members;
    rd_kafka_consumer_group_state_t st;
    int rc = OPS_FAIL;

    gs = ev ? rd_kafka_DescribeConsumerGroups_result_groups(
                  rd_kafka_event_DescribeConsumerGroups_result(ev), &n)
            : NULL;
    if (ev && n == 1 && rd_kafka_ConsumerGroupDescription_error(gs[0])) {
        ops_err(o, "group %s: %s", group,
                rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(gs[0])));
    } else if (ev && n == 1) {
        st = rd_kafka_ConsumerGroupDescription_state(gs[0]);
        members = rd_kafka_ConsumerGroupDescription_member_count(gs[0]);
        rc = OPS_REFUSED;
        if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
            ops_err(o, "refused: Kafka knows no group %s (misspelt? `dh-ops lag --group %s`)",
                    group, group);
        } else if (members || st != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY) {
            ops_err(o,
                    "refused: group %s is %s with %zu member(s): stop its workers (pause "
                    "the KEDA ScaledObject, scale to 0) and wait out session.timeout.ms "
                    "(static membership keeps stopped members that long)",
                    group, rd_kafka_consumer_group_state_name(st), members);
        } else {
            rc = OPS_OK;
        }
    }
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    return rc;
}

/* The new offset of every partition: the first at or after from_ms (the end when none). */
static rd_kafka_topic_partition_list_t *targets(const ops_t *o, rd_kafka_t *rk,
                                                const struct replay_args *a, int n)
{
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(n);
    rd_kafka_resp_err_t err;

    for (int p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(t, a->topic, p)->offset =
            a->from_ms < 0 ? RD_KAFKA_OFFSET_BEGINNING : a->from_ms;
    }
    err = a->from_ms < 0 ? RD_KAFKA_RESP_ERR_NO_ERROR
                         : rd_kafka_offsets_for_times(rk, t, o->timeout_ms);
    for (int p = 0; !err && p < n; p++) {
        rd_kafka_topic_partition_t *tp = &t->elems[p];
        int64_t lo = 0, hi = 0;

        err = tp->err;
        if (!err && ops_watermarks(o, rk, a->topic, p, &lo, &hi)) {
            err = RD_KAFKA_RESP_ERR__FAIL;
        } else if (!err) {
            tp->offset = tp->offset < 0 ? (a->from_ms < 0 ? lo : hi) : tp->offset;
        }
    }
    if (err) {
        ops_err(o, "offsets of %s at the time: %s", a->topic, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(t);
        return NULL;
    }
    return t;
}

static void print_plan(const ops_t *o, const struct replay_args *a,
                       const rd_kafka_topic_partition_list_t *cur,
                       const rd_kafka_topic_partition_list_t *t)
{
    for (int p = 0; p < t->cnt; p++) {
        int64_t now = p < cur->cnt ? cur->elems[p].offset : -1;
        json_t *row = json_pack("{s:s, s:s, s:s, s:i, s:I}", "action",
                                a->execute ? "reset" : "would-reset", "group", a->group, "topic",
                                a->topic, "partition", p, "new", (json_int_t)t->elems[p].offset);

        json_object_set_new(row, "committed", now >= 0 ? json_integer(now) : json_null());
        json_object_set_new(row, "rewind",
                            now >= 0 ? json_integer(now - t->elems[p].offset) : json_null());
        if (o->json) {
            ops_print_json(row);
            continue;
        }
        printf("%-12s %s %s [%d]: %lld -> %lld\n", a->execute ? "reset" : "would-reset", a->group,
               a->topic, p, (long long)now, (long long)t->elems[p].offset);
        json_decref(row);
    }
}

static void send_alter(rd_kafka_t *rk, const rd_kafka_AdminOptions_t *opts, rd_kafka_queue_t *q,
                       void *ud)
{
    rd_kafka_AlterConsumerGroupOffsets(rk, ud, 1, opts, q);
}

static int alter(const ops_t *o, rd_kafka_t *rk, const char *group,
                 const rd_kafka_topic_partition_list_t *t)
{
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, t);
    rd_kafka_event_t *ev = ops_admin_run(o, rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
                                         "resetting the group's offsets", send_alter, &req);
    const rd_kafka_topic_partition_list_t *ps = NULL;
    size_t n = 0;
    int rc = OPS_FAIL;

    if (ev) {
        const rd_kafka_group_result_t **res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);

        ps = ops_group_result(o, res, n, group);
    }
    for (int i = 0; ps && i < ps->cnt; i++) {
        if (ps->elems[i].err) {
            ops_err(o, "group %s %s [%d]: %s", group, ps->elems[i].topic,
                    (int)ps->elems[i].partition, rd_kafka_err2str(ps->elems[i].err));
            ps = NULL;
            break;
        }
    }
    rc = ev && ps ? OPS_OK : OPS_FAIL;
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    return rc;
}

int ops_replay(const ops_t *o, int argc, char **argv)
{
    struct replay_args a;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *t = NULL, *cur = NULL;
    int n, rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--recheck") || !strcmp(argv[i], "--reapply")) {
            return ops_replay_copy(o, argc, argv); /* the filtered mode */
        }
    }
    if (replay_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    rk = ops_admin_new(o);
    if (!rk) {
        return OPS_FAIL;
    }
    rc = group_stopped(o, rk, a.group);
    n = rc == OPS_OK ? ops_partitions(o, rk, a.topic) : -1;
    t = n > 0 ? targets(o, rk, &a, n) : NULL;
    cur = t ? ops_group_offsets(o, rk, a.group, t) : NULL;
    if (rc == OPS_OK && !cur) {
        rc = OPS_FAIL;
    }
    if (rc == OPS_OK) {
        print_plan(o, &a, cur, t);
        rc = a.execute ? alter(o, rk, a.group, t) : OPS_OK;
        fprintf(stderr, "%s: %s\n", o->prog,
                rc != OPS_OK ? "the reset FAILED"
                : a.execute  ? "offsets reset: start the group's workers again"
                             : "dry run: nothing changed (add --execute)");
    }
    if (t) {
        rd_kafka_topic_partition_list_destroy(t);
    }
    if (cur) {
        rd_kafka_topic_partition_list_destroy(cur);
    }
    ops_kafka_destroy(o, rk);
    return rc;
}
