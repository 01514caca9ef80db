/*
 * dh-ops entry point: the configuration (the workers' own variables, read through
 * common/'s config so KAFKA_* security settings mean exactly what they mean to a worker),
 * the shared option parsers and the sub-command table. Invoked as dh-dlq it is
 * `dh-ops dlq` (the old tool's command line keeps working).
 */
#include <stdarg.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/worker.h"
#include "ops.h"

extern char **environ;

static const dh_config_var_t ops_vars[] = {
    {"DH_OPS_TIMEOUT_MS", DH_CFG_INT, "10000", 100, 600000, NULL,
     "dh-ops: timeout of each Kafka request (metadata, offsets, admin calls)."},
    {"DH_OPS_LEDGER_TTL_S", DH_CFG_INT, "2592000", 3600, 31536000, NULL,
     "dh-ops: how long the redrive ledger remembers a redriven dead letter (default 30 "
     "days, longer than the dead-letter topics' retention)."},
    DH_CONFIG_END,
};

static const dh_config_var_t *const tables[] = {dh_process_config_vars, dh_stores_config_vars,
                                                ops_vars, NULL};
static const dh_config_check_fn checks[] = {dh_process_check_config, NULL};

static const struct {
    const char *name;
    int (*fn)(const ops_t *o, int argc, char **argv);
    const char *usage;
} commands[] = {
    {"lag", ops_lag,
     "lag --group G [--topic T]...         committed offset, end and lag per "
     "partition"},
    {"dlq", ops_dlq, "dlq list|show|redrive <topic>.dlq [filters] [--execute]   dead letters"},
    {"validate", ops_publish,
     "validate --topic T [--key K] FILE...   the consuming worker's "
     "own checks"},
    {"publish", ops_publish, "publish --topic T [--key K] [--header N=V]... FILE [--execute]"},
    {"trace", ops_trace,
     "trace <event id|order id|SKU|...> [--dlq T]...   what the runtime "
     "recorded, dead letters"},
    {"sync", ops_sync,
     "sync --store DOMAIN [--execute]      request dh-inventory's full "
     "stock sync"},
    {"replay", ops_replay,
     "replay --group G --topic T --from TIME [--execute]   move a "
     "stopped group back"},
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

static int usage(FILE *fp, const char *prog)
{
    fprintf(fp, "usage: %s [--json] <command> ...\n", prog);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(fp, "  %s %s\n", prog, commands[i].usage);
    }
    fprintf(fp, "Writes nothing without --execute. Exit: 0 done, 1 failed, 2 bad arguments or "
                "configuration, 3 refused. docs/runbook.md has every procedure.\n");
    return fp == stdout ? OPS_OK : OPS_USAGE;
}

static int is_var(const char *e, size_t len)
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

/* Only the variables of our tables (and KAFKA_*, DH_OPS_*) are read: the tool runs with a
 * worker's whole environment (kubectl exec), whose other DH_* are not typos here. */
static char **filtered_env(void)
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

        if (!strncmp(e, "KAFKA_", 6) || !strncmp(e, "DH_OPS_", 7) || is_var(e, len)) {
            out[k++] = environ[i];
        }
    }
    return out;
}

static int load_config(ops_t *o, dh_config_t **cfg)
{
    char **env = filtered_env();
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

static int dispatch(ops_t *o, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[0], commands[i].name)) {
            return commands[i].fn(o, argc, argv);
        }
    }
    ops_err(o, "unknown command '%s'", argv[0]);
    return usage(stderr, o->prog);
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    ops_t o = {.prog = base ? base + 1 : argv[0]};
    dh_config_t *cfg = NULL;
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    int n = 0, rc = OPS_FAIL;

    if (!args) {
        goto out;
    }
    /* The old tool: `dh-dlq list|redrive <topic>.dlq ...` is `dh-ops dlq ...`. */
    if (!strcmp(o.prog, "dh-dlq")) {
        args[n++] = "dlq";
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o.json = 1; /* anywhere on the line */
        } else {
            args[n++] = argv[i];
        }
    }
    if (n && !strcmp(args[0], "--config-markdown")) {
        dh_config_print_markdown(stdout, tables);
        rc = OPS_OK;
        goto out;
    }
    if (n && (!strcmp(args[0], "--help") || !strcmp(args[0], "-h"))) {
        rc = usage(stdout, o.prog);
        dh_config_print_help(stdout, o.prog, tables);
        goto out;
    }
    if (!n || args[0][0] == '-') {
        rc = usage(stderr, o.prog);
        goto out;
    }
    dh_log_init(o.prog, DH_LOG_WARN);
    rc = load_config(&o, &cfg);
    if (rc == OPS_OK) {
        rc = dispatch(&o, n, args);
    }
out:
    dh_config_destroy(cfg);
    free(args);
    return rc;
}
