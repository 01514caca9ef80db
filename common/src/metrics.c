/*
 * Prometheus metrics registry. Families and series are created under one mutex and never
 * freed before dh_metrics_destroy(), so update paths touch only the series' own atomics and
 * never lock. Rendering (text format 0.0.4) takes the mutex only to walk the lists.
 * No metric types beyond counter, gauge and histogram; no timestamps; no exemplars.
 */
#include "dockhand/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

typedef enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM } mtype_t;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct dh_counter_s {
    _Atomic uint64_t v;
};

/* Doubles live as their bit pattern in a 64-bit atomic (C11 has no portable atomic double). */
struct dh_gauge_s {
    _Atomic uint64_t bits;
};

struct dh_histogram_s {
    size_t nbounds;
    double *bounds;            /**< Ascending, finite. */
    _Atomic uint64_t *buckets; /**< nbounds + 1 counts, not cumulative; last is +Inf. */
    _Atomic uint64_t sum_bits;
};

typedef struct series {
    struct series *next;
    char *labels; /**< "" when none. */
    union {
        dh_counter_t c;
        dh_gauge_t g;
        dh_histogram_t h;
    } u;
} series_t;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    mtype_t type;
    series_t *series; /**< Creation order. */
    series_t **tail;
} family_t;

struct dh_metrics_s {
    pthread_mutex_t lock;
    family_t *families; /**< Creation order. */
    family_t **tail;
};

static uint64_t d2u(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

dh_metrics_t *dh_metrics_new(void)
{
    dh_metrics_t *m = calloc(1, sizeof(*m));

    if (!m) {
        return NULL;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->tail = &m->families;
    return m;
}

static void series_free(series_t *s, mtype_t type)
{
    if (type == M_HISTOGRAM) {
        free(s->u.h.bounds);
        free(s->u.h.buckets);
    }
    free(s->labels);
    free(s);
}

static void family_free(family_t *f)
{
    series_t *s = f->series;

    while (s) {
        series_t *next = s->next;

        series_free(s, f->type);
        s = next;
    }
    free(f->name);
    free(f->help);
    free(f);
}

void dh_metrics_destroy(dh_metrics_t *m)
{
    family_t *f;

    if (!m) {
        return;
    }
    f = m->families;
    while (f) {
        family_t *next = f->next;

        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* A bad name would break the whole exposition for every scraper, so refuse it. */
static int valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9')) {
        return 0;
    }
    for (; *s; s++) {
        int ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                 *s == '_' || *s == ':';

        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* Find or create the family; NULL if the name is invalid, taken by another type, or OOM. */
static family_t *family_get(dh_metrics_t *m, const char *name, const char *help, mtype_t type)
{
    family_t *f;

    for (f = m->families; f; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            return f->type == type ? f : NULL;
        }
    }
    if (!valid_name(name)) {
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        return NULL;
    }
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        family_free(f);
        return NULL;
    }
    f->type = type;
    f->tail = &f->series;
    *m->tail = f;
    m->tail = &f->next;
    return f;
}

static series_t *series_find(family_t *f, const char *labels)
{
    for (series_t *s = f->series; s; s = s->next) {
        if (strcmp(s->labels, labels) == 0) {
            return s;
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Copy the bounds sorted, without duplicates or non-finite values (+Inf is implicit). */
static int hist_init(dh_histogram_t *h, const double *bounds, size_t nbounds)
{
    size_t n = 0;

    h->bounds = calloc(nbounds ? nbounds : 1, sizeof(*h->bounds));
    if (!h->bounds) {
        return -1;
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (isfinite(bounds[i])) {
            h->bounds[n++] = bounds[i];
        }
    }
    qsort(h->bounds, n, sizeof(*h->bounds), cmp_double);
    h->nbounds = 0;
    for (size_t i = 0; i < n; i++) {
        if (h->nbounds == 0 || h->bounds[i] != h->bounds[h->nbounds - 1]) {
            h->bounds[h->nbounds++] = h->bounds[i];
        }
    }
    h->buckets = calloc(h->nbounds + 1, sizeof(*h->buckets));
    if (!h->buckets) {
        return -1;
    }
    for (size_t i = 0; i <= h->nbounds; i++) {
        atomic_init(&h->buckets[i], 0);
    }
    atomic_init(&h->sum_bits, d2u(0.0));
    return 0;
}

static series_t *series_get(dh_metrics_t *m, const char *name, const char *help, const char *labels,
                            mtype_t type, const double *bounds, size_t nbounds)
{
    family_t *f;
    series_t *s = NULL;

    if (!m) {
        return NULL;
    }
    labels = labels ? labels : "";
    pthread_mutex_lock(&m->lock);
    f = family_get(m, name, help, type);
    if (!f) {
        goto out;
    }
    s = series_find(f, labels);
    if (s) {
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        goto out;
    }
    s->labels = strdup(labels);
    if (!s->labels || (type == M_HISTOGRAM && hist_init(&s->u.h, bounds, nbounds) != 0)) {
        series_free(s, type);
        s = NULL;
        goto out;
    }
    if (type == M_COUNTER) {
        atomic_init(&s->u.c.v, 0);
    } else if (type == M_GAUGE) {
        atomic_init(&s->u.g.bits, d2u(0.0));
    }
    *f->tail = s;
    f->tail = &s->next;
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

dh_counter_t *dh_metrics_counter(dh_metrics_t *m, const char *name, const char *help,
                                 const char *labels)
{
    series_t *s = series_get(m, name, help, labels, M_COUNTER, NULL, 0);

    return s ? &s->u.c : NULL;
}

dh_gauge_t *dh_metrics_gauge(dh_metrics_t *m, const char *name, const char *help,
                             const char *labels)
{
    series_t *s = series_get(m, name, help, labels, M_GAUGE, NULL, 0);

    return s ? &s->u.g : NULL;
}

dh_histogram_t *dh_metrics_histogram(dh_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds)
{
    series_t *s = series_get(m, name, help, labels, M_HISTOGRAM, bounds, nbounds);

    return s ? &s->u.h : NULL;
}

/* Update functions accept NULL (a series that failed to be created) as a no-op. */

void dh_counter_add(dh_counter_t *c, uint64_t n)
{
    if (c) {
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
    }
}

uint64_t dh_counter_value(const dh_counter_t *c)
{
    return c ? atomic_load_explicit(&((dh_counter_t *)c)->v, memory_order_relaxed) : 0;
}

void dh_gauge_set(dh_gauge_t *g, double v)
{
    if (g) {
        atomic_store_explicit(&g->bits, d2u(v), memory_order_relaxed);
    }
}

static void atomic_double_add(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);

    /* On failure `old` is reloaded, so the loop retries with the current value. */
    while (!atomic_compare_exchange_weak_explicit(bits, &old, d2u(u2d(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void dh_gauge_add(dh_gauge_t *g, double delta)
{
    if (g) {
        atomic_double_add(&g->bits, delta);
    }
}

double dh_gauge_value(const dh_gauge_t *g)
{
    return g ? u2d(atomic_load_explicit(&((dh_gauge_t *)g)->bits, memory_order_relaxed)) : 0.0;
}

void dh_histogram_observe(dh_histogram_t *h, double v)
{
    size_t lo = 0;
    size_t hi;

    if (!h) {
        return;
    }
    /* First bound >= v (le is inclusive); NaN fails every comparison and lands in +Inf. */
    hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v <= h->bounds[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if (isnan(v)) {
        lo = h->nbounds;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_double_add(&h->sum_bits, v);
}

/* Shortest text that reads back as the same double; Prometheus spellings for specials. */
static void fmt_double(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v) {
            snprintf(buf, size, "%.17g", v);
        }
    }
}

/* "name{labels} value\n"; `extra` (e.g. le="0.5") is merged into the braces. */
static void put_sample(dh_buf_t *b, const char *name, const char *suffix, const char *labels,
                       const char *extra, const char *value)
{
    int has_labels = labels && *labels;
    int has_extra = extra && *extra;

    dh_buf_adds(b, name);
    dh_buf_adds(b, suffix);
    if (has_labels || has_extra) {
        dh_buf_adds(b, "{");
        dh_buf_adds(b, has_labels ? labels : "");
        dh_buf_adds(b, has_labels && has_extra ? "," : "");
        dh_buf_adds(b, has_extra ? extra : "");
        dh_buf_adds(b, "}");
    }
    dh_buf_adds(b, " ");
    dh_buf_adds(b, value);
    dh_buf_adds(b, "\n");
}

static void render_histogram(dh_buf_t *b, const family_t *f, series_t *s)
{
    dh_histogram_t *h = &s->u.h;
    uint64_t cum = 0;
    char le[64];
    char bound[40];
    char val[40];

    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds) {
            fmt_double(h->bounds[i], bound, sizeof(bound));
        } else {
            snprintf(bound, sizeof(bound), "+Inf");
        }
        snprintf(le, sizeof(le), "le=\"%s\"", bound);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)cum);
        put_sample(b, f->name, "_bucket", s->labels, le, val);
    }
    fmt_double(u2d(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)), val, sizeof(val));
    put_sample(b, f->name, "_sum", s->labels, NULL, val);
    /* _count is the +Inf bucket, so the two always agree even during concurrent updates. */
    snprintf(val, sizeof(val), "%llu", (unsigned long long)cum);
    put_sample(b, f->name, "_count", s->labels, NULL, val);
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static void put_help(dh_buf_t *b, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\') {
            dh_buf_adds(b, "\\\\");
        } else if (*p == '\n') {
            dh_buf_adds(b, "\\n");
        } else {
            dh_buf_add(b, p, 1);
        }
    }
}

static void render_family(dh_buf_t *b, const family_t *f)
{
    char val[40];

    dh_buf_adds(b, "# HELP ");
    dh_buf_adds(b, f->name);
    dh_buf_adds(b, " ");
    put_help(b, f->help);
    dh_buf_adds(b, "\n# TYPE ");
    dh_buf_adds(b, f->name);
    dh_buf_adds(b, " ");
    dh_buf_adds(b, type_names[f->type]);
    dh_buf_adds(b, "\n");
    for (series_t *s = f->series; s; s = s->next) {
        switch (f->type) {
        case M_COUNTER:
            snprintf(val, sizeof(val), "%llu", (unsigned long long)dh_counter_value(&s->u.c));
            put_sample(b, f->name, "", s->labels, NULL, val);
            break;
        case M_GAUGE:
            fmt_double(dh_gauge_value(&s->u.g), val, sizeof(val));
            put_sample(b, f->name, "", s->labels, NULL, val);
            break;
        case M_HISTOGRAM:
            render_histogram(b, f, s);
            break;
        }
    }
}

dh_err_t dh_metrics_render(dh_metrics_t *m, char **out, size_t *len)
{
    dh_buf_t b = DH_BUF_INIT;

    *out = NULL;
    if (len) {
        *len = 0;
    }
    if (!m) {
        return DH_ERR_INVALID;
    }
    dh_buf_adds(&b, ""); /* An empty registry still renders as "". */
    pthread_mutex_lock(&m->lock);
    for (const family_t *f = m->families; f; f = f->next) {
        render_family(&b, f);
    }
    pthread_mutex_unlock(&m->lock);
    if (len) {
        *len = b.oom ? 0 : b.len;
    }
    *out = dh_buf_take(&b); /* NULL when an append failed */
    return *out ? DH_OK : DH_ERR_NOMEM;
}

void dh_metrics_store_label(const char *domain, char *buf, size_t size)
{
    char esc[256];

    dh_metrics_escape(domain, esc, sizeof(esc));
    snprintf(buf, size, "store=\"%s\"", esc);
}

void dh_metrics_escape(const char *in, char *buf, size_t size)
{
    size_t o = 0;

    if (size == 0) {
        return;
    }
    for (const char *p = in ? in : ""; *p; p++) {
        char esc[2] = {*p, 0};
        size_t n = 1;

        if (*p == '\\' || *p == '"' || *p == '\n') {
            esc[0] = '\\';
            esc[1] = *p == '\n' ? 'n' : *p;
            n = 2;
        }
        /* Never split an escape sequence: a lone trailing backslash would break the label. */
        if (o + n >= size) {
            break;
        }
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o] = '\0';
}
