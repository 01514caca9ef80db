/*
 * What dh-ops and dh-console share besides Kafka and Redis: messages, the result sink,
 * the option parsers, and the configuration (the workers' own variables, read through
 * common/'s config so KAFKA_* security settings mean exactly what they mean to a worker).
 */
#include <stdarg.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "ops.h"

extern char **environ;

const char *const ops_workers[] = {"inventory", "orders", "dispatch", "returns", "catalog", NULL};

const dh_config_var_t ops_config_vars[] = {
    {"DH_OPS_TIMEOUT_MS", DH_CFG_INT, "10000", 100, 600000, NULL,
     "dh-ops: timeout of each Kafka request (metadata, offsets, admin calls)."},
    {"DH_OPS_LEDGER_TTL_S", DH_CFG_INT, "2592000", 3600, 31536000, NULL,
     "dh-ops: how long the redrive ledger remembers a redriven dead letter (default 30 "
     "days, longer than the dead-letter topics' retention)."},
    DH_CONFIG_END,
};

void ops_err(const ops_t *o, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    fprintf(stderr, "%s: ", o->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (ops_kafka_refused(why, sizeof(why))) {
        fprintf(stderr,
                "%s: the broker refused the connection: %s (check KAFKA_SASL_*, "
                "KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*)\n",
                o->prog, why);
    }
}

void ops_emit(const ops_t *o, json_t *obj)
{
    if (o->sink) {
        json_array_append_new(o->sink, obj);
        return;
    }
    ops_print_json(obj);
}

void ops_print_json(json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

    if (text) {
        puts(text);
    }
    free(text);
    json_decref(obj);
}

int ops_parse_long(const ops_t *o, const char *opt, const char *s, long long min, long long max,
                   long long *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < min || v > max) {
        ops_err(o, "%s: '%s' is not a whole number in [%lld, %lld]", opt, s ? s : "", min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* "YYYY-MM-DDTHH:MM[:SS]Z" -> epoch ms; -1 if it is not exactly that. */
static int64_t iso_ms(const char *s)
{
    int y, mo, d, h, mi, sec = 0, used = 0, used2 = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5) {
        return -1;
    }
    if (s[used] == ':' && sscanf(s + used, ":%2d%n", &sec, &used2) == 1) {
        used += used2;
    }
    if (strcmp(s + used, "Z") || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || y < 1970) {
        return -1;
    }
    return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL +
           sec * 1000LL;
}

int ops_parse_time(const ops_t *o, const char *opt, const char *s, int64_t *out_ms)
{
    long long ms;

    if (s && strchr(s, 'T')) {
        *out_ms = iso_ms(s);
        if (*out_ms < 0) {
            ops_err(o, "%s: '%s' is not a UTC time YYYY-MM-DDTHH:MM[:SS]Z", opt, s);
            return -1;
        }
        return 0;
    }
    if (ops_parse_long(o, opt, s, 0, 253402300799999LL, &ms)) {
        return -1;
    }
    *out_ms = ms;
    return 0;
}

void ops_time_text(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char day[32];

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(ms % 1000));
}

static int is_var(const dh_config_var_t *const *tables, const char *e, size_t len)
{
    for (size_t t = 0; tables[t]; t++) {
        for (const dh_config_var_t *v = tables[t]; v->name; v++) {
            size_t vl = strlen(v->name);

            if (!strncmp(e, v->name, vl) &&
                (len == vl || (len == vl + 5 && !strncmp(e + vl, "_FILE", 5)))) {
                return 1;
            }
        }
    }
    return 0;
}

/* Only the variables of our tables (and KAFKA_*, <own prefix>*) are read: the tool runs
 * with a worker's whole environment (kubectl exec), whose other DH_* are not typos here. */
static char **filtered_env(const dh_config_var_t *const *tables, const char *own)
{
    size_t n = 0, k = 0;
    char **out;

    while (environ[n]) {
        n++;
    }
    out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        const char *e = environ[i], *eq = strchr(e, '=');
        size_t len = eq ? (size_t)(eq - e) : strlen(e);

        if (!strncmp(e, "KAFKA_", 6) || !strncmp(e, own, strlen(own)) || is_var(tables, e, len)) {
            out[k++] = environ[i];
        }
    }
    return out;
}

int ops_load_config(ops_t *o, const dh_config_var_t *const *tables,
                    const dh_config_check_fn *checks, const char *own_prefix, dh_config_t **cfg)
{
    char **env = filtered_env(tables, own_prefix);
    char *problems = NULL;
    dh_log_level_t level;
    dh_err_t err;

    if (!env) {
        ops_err(o, "out of memory");
        return OPS_FAIL;
    }
    err = dh_config_load_checked(tables, checks, env, cfg, &problems);
    free(env);
    if (err) {
        ops_err(o, "bad configuration:\n%s", problems ? problems : dh_err_str(err));
        free(problems);
        return OPS_USAGE;
    }
    if (dh_log_level_parse(dh_config_get(*cfg, "DH_LOG_LEVEL"), &level) == DH_OK &&
        level > DH_LOG_WARN) {
        dh_log_init(o->prog, level); /* librdkafka's warnings stay visible by default */
    }
    o->timeout_ms = (int)dh_config_int(*cfg, "DH_OPS_TIMEOUT_MS");
    o->cfg = *cfg;
    return OPS_OK;
}

/* ops_run_bounded()'s job: freed by whichever side is last, the caller or the thread. */
struct bounded {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
};

static void bounded_free(struct bounded *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void *bounded_main(void *arg)
{
    struct bounded *b = arg;
    int abandoned;

    b->fn(b->arg);
    pthread_mutex_lock(&b->mu);
    b->done = 1;
    abandoned = b->abandoned;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (abandoned) {
        bounded_free(b);
    }
    return NULL;
}

int ops_run_bounded(void (*fn)(void *arg), void *arg, int timeout_ms)
{
    struct bounded *b = calloc(1, sizeof(*b));
    pthread_condattr_t ca;
    struct timespec until;
    pthread_t th;
    int finished, rc = 0;

    if (!b) {
        fn(arg);
        return 0;
    }
    b->fn = fn;
    b->arg = arg;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&th, NULL, bounded_main, b) != 0) {
        bounded_free(b);
        fn(arg);
        return 0;
    }
    pthread_detach(th);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    while (!b->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&b->cv, &b->mu, &until);
    }
    finished = b->done;
    b->abandoned = !finished;
    pthread_mutex_unlock(&b->mu);
    if (!finished) {
        return -1; /* b is the thread's now: it stays live on its stack (a leak checker
                    * sees it there) and is freed there if the call ever returns */
    }
    bounded_free(b);
    return 0;
}
