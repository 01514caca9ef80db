/*
 * journal: ring buffer of JSON request records (see journal.h).
 */
#include "journal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dh_sb_journal_s {
    pthread_mutex_t lock;
    json_t **ring;
    size_t cap, head, count;
    uint64_t seq;
};

dh_sb_journal_t *dh_sb_journal_new(size_t capacity)
{
    dh_sb_journal_t *j = calloc(1, sizeof *j);

    if (!j) {
        return NULL;
    }
    j->ring = calloc(capacity ? capacity : 1, sizeof *j->ring);
    if (!j->ring) {
        free(j);
        return NULL;
    }
    j->cap = capacity ? capacity : 1;
    pthread_mutex_init(&j->lock, NULL);
    return j;
}

void dh_sb_journal_clear(dh_sb_journal_t *j)
{
    pthread_mutex_lock(&j->lock);
    for (size_t i = 0; i < j->cap; i++) {
        json_decref(j->ring[i]);
        j->ring[i] = NULL;
    }
    j->head = j->count = 0;
    pthread_mutex_unlock(&j->lock);
}

void dh_sb_journal_destroy(dh_sb_journal_t *j)
{
    if (!j) {
        return;
    }
    dh_sb_journal_clear(j);
    pthread_mutex_destroy(&j->lock);
    free(j->ring);
    free(j);
}

uint64_t dh_sb_journal_add(dh_sb_journal_t *j, json_t *entry)
{
    uint64_t seq;

    pthread_mutex_lock(&j->lock);
    seq = ++j->seq;
    json_object_set_new(entry, "seq", json_integer((json_int_t)seq));
    size_t slot = (j->head + j->count) % j->cap;

    if (j->count == j->cap) {
        json_decref(j->ring[j->head]);
        j->head = (j->head + 1) % j->cap;
        slot = (j->head + j->count - 1) % j->cap;
    } else {
        j->count++;
    }
    j->ring[slot] = entry;
    pthread_mutex_unlock(&j->lock);
    return seq;
}

static int str_eq(json_t *e, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(e, key));

    return !want || (v && strcmp(v, want) == 0);
}

static int matches(json_t *e, const dh_sb_journal_filter_t *f)
{
    if ((uint64_t)json_integer_value(json_object_get(e, "seq")) <= f->since_seq) {
        return 0;
    }
    if (!str_eq(e, "group", f->group) || !str_eq(e, "op", f->op) || !str_eq(e, "shop", f->shop)) {
        return 0;
    }
    if (f->contains) {
        const char *body = json_string_value(json_object_get(e, "body"));

        return body && strstr(body, f->contains) != NULL;
    }
    return 1;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);

    if (*len + n + 2 > *cap) {
        size_t nc = (*cap + n + 2) * 2;
        char *b = realloc(*buf, nc);

        if (!b) {
            return -1;
        }
        *buf = b;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
    return 0;
}

char *dh_sb_journal_dump(dh_sb_journal_t *j, const dh_sb_journal_filter_t *filter)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    if (!buf) {
        return NULL;
    }
    buf[0] = '\0';
    pthread_mutex_lock(&j->lock);
    for (size_t i = 0; i < j->count; i++) {
        json_t *e = j->ring[(j->head + i) % j->cap];

        if (!matches(e, filter)) {
            continue;
        }
        char *line = json_dumps(e, JSON_COMPACT);

        if (!line || append(&buf, &len, &cap, line) < 0) {
            free(line);
            free(buf);
            buf = NULL;
            break;
        }
        free(line);
    }
    pthread_mutex_unlock(&j->lock);
    return buf;
}
