/* Batching helpers (see batch.h). */
#include "batch.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int same_pair(const inv_qty_t *a, const inv_qty_t *b)
{
    return strcmp(a->item, b->item) == 0 && strcmp(a->location, b->location) == 0;
}

size_t inv_qty_dedupe(inv_qty_t *q, size_t n)
{
    size_t kept = 0;

    /* n <= 250 per call: quadratic is fine and keeps the order. */
    for (size_t i = 0; i < n; i++) {
        q[i].dropped = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (q[i].dropped) {
            continue;
        }
        for (size_t j = i + 1; j < n; j++) {
            if (q[j].dropped || !same_pair(&q[i], &q[j])) {
                continue;
            }
            if (q[j].seq > q[i].seq) {
                q[i].dropped = 1;
                break;
            }
            q[j].dropped = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        kept += !q[i].dropped;
    }
    return kept;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void inv_batch_hash(const char *store, const char *tag, const char *name, const char *reason,
                    const inv_qty_t *q, size_t n, char out[65])
{
    char **lines = calloc(n ? n : 1, sizeof(*lines));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t k = 0;

    if (md) {
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, store, strlen(store) + 1);
        EVP_DigestUpdate(md, tag, strlen(tag) + 1);
        EVP_DigestUpdate(md, name, strlen(name) + 1);
        EVP_DigestUpdate(md, reason, strlen(reason) + 1);
    }
    for (size_t i = 0; lines && i < n; i++) {
        char buf[512];

        if (q[i].dropped) {
            continue;
        }
        snprintf(buf, sizeof(buf), "%s|%s|%lld|%lld", q[i].item, q[i].location, (long long)q[i].qty,
                 (long long)q[i].seq);
        lines[k] = strdup(buf);
        if (lines[k]) {
            k++;
        }
    }
    if (lines) {
        qsort(lines, k, sizeof(*lines), cmp_line);
    }
    for (size_t i = 0; i < k; i++) {
        if (md) {
            EVP_DigestUpdate(md, lines[i], strlen(lines[i]) + 1);
        }
        free(lines[i]);
    }
    free(lines);
    if (md) {
        EVP_DigestFinal_ex(md, dig, &dlen);
        EVP_MD_CTX_free(md);
    }
    for (unsigned int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", i < dlen ? dig[i] : 0);
    }
    out[64] = '\0';
}

long inv_user_error_index(const json_t *field)
{
    size_t n = json_array_size(field);

    for (size_t i = 0; i + 1 < n; i++) {
        const char *s = json_string_value(json_array_get(field, i));
        const json_t *nx = json_array_get(field, i + 1);

        if (!s || strcmp(s, "quantities") != 0) {
            continue;
        }
        if (json_is_integer(nx)) {
            return json_integer_value(nx) >= 0 ? (long)json_integer_value(nx) : -1;
        }
        const char *v = json_string_value(nx);
        char *end = NULL;
        long idx;

        if (!v || !*v) {
            return -1;
        }
        idx = strtol(v, &end, 10);
        return (*end == '\0' && idx >= 0) ? idx : -1;
    }
    return -1;
}

size_t inv_slots_compute(int64_t from, int days, int64_t *slots, size_t cap)
{
    time_t t = (time_t)from;
    struct tm day;
    size_t n = 0;

    if (!localtime_r(&t, &day)) {
        return 0;
    }
    for (int d = 0; d < days; d++) {
        for (int h = 0; h < 24 && n < cap; h += 12) {
            struct tm tm = {0};

            tm.tm_year = day.tm_year;
            tm.tm_mon = day.tm_mon;
            tm.tm_mday = day.tm_mday + d; /* mktime normalises */
            tm.tm_hour = h;
            tm.tm_isdst = -1;
            time_t s = mktime(&tm);

            if (s != (time_t)-1 && (n == 0 || (int64_t)s > slots[n - 1])) {
                slots[n++] = (int64_t)s;
            }
        }
    }
    return n;
}

int64_t inv_slot_current(const int64_t *slots, size_t n, int64_t now)
{
    int64_t best = -1;

    for (size_t i = 0; i < n && slots[i] <= now; i++) {
        best = slots[i];
    }
    return best;
}
