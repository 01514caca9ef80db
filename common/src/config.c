/*
 * Configuration from the environment: the only module that reads it. dh_config_load()
 * walks the worker's tables once, validates every variable and collects every problem
 * (so an operator fixes a deployment in one round), runs the caller's checks (stores
 * file, rates, time zones, KAFKA_* properties) into the same report, then freezes the
 * result. KAFKA_* variables are carried as librdkafka properties; the worker runtime's
 * check applies them to a scratch librdkafka configuration. Printing (--help, Markdown,
 * --dump-config) is config_print.c.
 */
#include "dockhand/config.h"

#include "buf.h"
#include "config_internal.h"

extern char **environ;

#include <stdarg.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FILE_MAX     (64 * 1024) /* A secret file larger than this is a mistake. */
#define SHOW_MAX     64          /* Longest bad value echoed back in a problem line. */
#define ZONEINFO     "/usr/share/zoneinfo/"
#define BOOL_CHOICES "true|false|1|0|yes|no|on|off"
#define KAFKA_PREFIX "KAFKA_"
/* Set by the test harness (CTest ENVIRONMENT) and inherited by workers it starts. */
#define TEST_PREFIX "DH_TEST_"

struct dh_config_report_s {
    dh_config_t *cfg;
    dh_buf_t *probs;
};

/* Overwrite secrets before free() so they do not linger in freed heap memory. */
static void wipe_free(char *s)
{
    if (s) {
        volatile char *v = s;

        while (*v) {
            *v++ = 0;
        }
        free(s);
    }
}

/* Value of `name` in envp, or NULL if absent or empty (empty counts as unset). */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; envp && envp[i]; i++) {
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=') {
            return envp[i][n + 1] ? envp[i] + n + 1 : NULL;
        }
    }
    return NULL;
}

const dh_config_var_t *dh_cfg_find_var(const dh_config_var_t *const *tables, const char *name,
                                       size_t len)
{
    for (size_t t = 0; tables && tables[t]; t++) {
        for (const dh_config_var_t *v = tables[t]; v->name; v++) {
            if (strlen(v->name) == len && strncmp(v->name, name, len) == 0) {
                return v;
            }
        }
    }
    return NULL;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/*
 * Read a secret file into *out (trailing newlines stripped). On failure adds a problem
 * line naming `var` and returns -1; returns 0 on success.
 */
static int read_file(const char *var, const char *path, dh_buf_t *probs, char **out)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc = -1;

    *out = NULL;
    if (!fp) {
        dh_buf_addf(probs, "%s: cannot read %s: %s\n", var, path, strerror(errno));
        goto out;
    }
    buf = malloc(FILE_MAX + 1);
    if (!buf) {
        probs->oom = 1;
        goto out;
    }
    n = fread(buf, 1, FILE_MAX + 1, fp);
    if (ferror(fp)) {
        dh_buf_addf(probs, "%s: cannot read %s: %s\n", var, path, strerror(errno));
        goto out;
    }
    if (n > FILE_MAX) {
        dh_buf_addf(probs, "%s: %s is larger than %d bytes\n", var, path, FILE_MAX);
        goto out;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0 || strlen(buf) != n) {
        dh_buf_addf(probs, "%s: %s is empty or contains a NUL byte\n", var, path);
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    if (fp) {
        fclose(fp);
    }
    if (buf) {
        memset(buf, 0, FILE_MAX + 1);
        free(buf);
    }
    return rc;
}

/*
 * A secret may come from NAME or from the file named by NAME_FILE, never both.
 * Returns 1 with *from_file set, 0 if NAME_FILE is not used, -1 after reporting a problem.
 */
static int secret_source(const char *name, char *const *envp, dh_buf_t *probs, char **from_file)
{
    char fname[256];
    const char *path;

    *from_file = NULL;
    snprintf(fname, sizeof(fname), "%s%s", name, FILE_SUFFIX);
    path = env_get(envp, fname);
    if (!path) {
        return 0;
    }
    if (env_get(envp, name)) {
        dh_buf_addf(probs, "%s: both %s and %s are set; use one\n", name, name, fname);
        return -1;
    }
    return read_file(fname, path, probs, from_file) == 0 ? 1 : -1;
}

static int parse_int(const char *s, long long *out)
{
    char *end = NULL;
    const char *d = (*s == '+' || *s == '-') ? s + 1 : s;

    if (*d < '0' || *d > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno == 0 && *end == '\0') ? 0 : -1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    const char *p = choices ? choices : "";

    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);

        if (len == n && strncmp(p, s, n) == 0) {
            return 1;
        }
        if (!bar) {
            return 0;
        }
        p = bar + 1;
    }
}

void dh_cfg_schemes_text(const char *choices, char *buf, size_t size)
{
    const char *p = choices ? choices : "";
    size_t off = 0;

    buf[0] = '\0';
    while (*p && off < size) {
        size_t len = strcspn(p, "|");
        const char *more = p[len] ? strchr(p + len + 1, '|') : NULL;
        int n = snprintf(buf + off, size - off, "%s%.*s://",
                         off == 0 ? ""
                         : more   ? ", "
                                  : " or ",
                         (int)len, p);

        off += n > 0 ? (size_t)n : 0;
        p += len + (p[len] == '|');
    }
}

/* scheme://something with a scheme from `choices`. The value is never echoed: it may
 * carry a password. */
static int url_valid(const dh_config_var_t *v, const char *val, dh_buf_t *probs)
{
    const char *sep = strstr(val, "://");
    char scheme[32], want[256];

    dh_cfg_schemes_text(v->choices, want, sizeof(want));
    if (!sep || sep == val || (size_t)(sep - val) >= sizeof(scheme)) {
        dh_buf_addf(probs, "%s: must be a URL starting with %s\n", v->name, want);
        return -1;
    }
    snprintf(scheme, sizeof(scheme), "%.*s", (int)(sep - val), val);
    if (!in_choices(v->choices, scheme)) {
        dh_buf_addf(probs, "%s: must be a URL starting with %s, got a %.16s:// URL\n", v->name,
                    want, scheme);
        return -1;
    }
    if (sep[3] == '\0' || sep[3] == '/' || sep[3] == '@') {
        dh_buf_addf(probs, "%s: %s:// URL without a host\n", v->name, scheme);
        return -1;
    }
    return 0;
}

/* Type check of a set, non-empty value; adds one problem line if it is bad. */
static void validate(const dh_config_var_t *v, const char *val, dh_buf_t *probs)
{
    long long i;
    int b;

    switch (v->type) {
    case DH_CFG_INT:
        if (parse_int(val, &i) != 0 || i < v->min || i > v->max) {
            dh_buf_addf(probs, "%s: must be an integer in [%lld, %lld], got '%.*s'\n", v->name,
                        v->min, v->max, SHOW_MAX, val);
        }
        break;
    case DH_CFG_BOOL:
        if (parse_bool(val, &b) != 0) {
            dh_buf_addf(probs, "%s: must be one of %s, got '%.*s'\n", v->name, BOOL_CHOICES,
                        SHOW_MAX, val);
        }
        break;
    case DH_CFG_ENUM:
        if (!in_choices(v->choices, val)) {
            dh_buf_addf(probs, "%s: must be one of %s, got '%.*s'\n", v->name,
                        v->choices ? v->choices : "", SHOW_MAX, val);
        }
        break;
    case DH_CFG_URL:
        (void)url_valid(v, val, probs);
        break;
    case DH_CFG_STRING:
    case DH_CFG_SECRET:
        break;
    }
}

/* Resolve one table variable into *e (e->name set by the caller). */
static void load_var(const dh_config_var_t *v, char *const *envp, dh_buf_t *probs, entry_t *e)
{
    const char *val = env_get(envp, v->name);
    char *from_file = NULL;
    size_t before = probs->len;
    int src = 0;

    e->secret = v->type == DH_CFG_SECRET;
    if (e->secret) {
        src = secret_source(v->name, envp, probs, &from_file);
        if (src == 1) {
            val = from_file;
        }
    }
    if (!val && src == 0) {
        val = v->def;
        if (!val) {
            if (e->secret) {
                dh_buf_addf(probs, "%s: required, not set (set %s or %s%s)\n", v->name, v->name,
                            v->name, FILE_SUFFIX);
            } else {
                dh_buf_addf(probs, "%s: required, not set\n", v->name);
            }
        }
    }
    if (val && *val) {
        validate(v, val, probs);
    }
    e->value = strdup(val ? val : "");
    if (!e->value) {
        probs->oom = 1;
    }
    e->bad = probs->len > before;
    wipe_free(from_file);
}

static void load_vars(dh_config_t *cfg, const dh_config_var_t *const *tables, char *const *envp,
                      dh_buf_t *probs)
{
    size_t total = 0;

    for (size_t t = 0; tables && tables[t]; t++) {
        for (const dh_config_var_t *v = tables[t]; v->name; v++) {
            total++;
        }
    }
    cfg->vars = calloc(total ? total : 1, sizeof(*cfg->vars));
    if (!cfg->vars) {
        probs->oom = 1;
        return;
    }
    for (size_t t = 0; tables && tables[t] && !probs->oom; t++) {
        for (const dh_config_var_t *v = tables[t]; v->name && !probs->oom; v++) {
            entry_t *e = &cfg->vars[cfg->nvars];

            /* A variable listed by two tables (shared + worker) is one variable. */
            if (dh_config_get(cfg, v->name)) {
                continue;
            }
            e->name = strdup(v->name);
            if (!e->name) {
                probs->oom = 1;
                break;
            }
            cfg->nvars++;
            load_var(v, envp, probs, e);
        }
    }
}

/* DH_* variables that no table declares: almost always a typo (DH_LANE=4). */
static void check_unknown(const dh_config_var_t *const *tables, char *const *envp, dh_buf_t *probs)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        size_t len = eq ? (size_t)(eq - envp[i]) : strlen(envp[i]);
        size_t flen = strlen(FILE_SUFFIX);
        const dh_config_var_t *base;

        if (strncmp(envp[i], "DH_", 3) != 0 ||
            strncmp(envp[i], TEST_PREFIX, strlen(TEST_PREFIX)) == 0 || !eq || eq[1] == '\0' ||
            dh_cfg_find_var(tables, envp[i], len)) {
            continue;
        }
        base = ends_with(envp[i], len, FILE_SUFFIX) ? dh_cfg_find_var(tables, envp[i], len - flen)
                                                    : NULL;
        if (base && base->type == DH_CFG_SECRET) {
            continue;
        }
        dh_buf_addf(probs, "%.*s: unknown variable%s\n", (int)len, envp[i],
                    base ? " (only secrets can be read from a file)"
                         : " (not used by this worker; a typo?)");
    }
}

/* "KAFKA_SASL_PASSWORD" -> "sasl.password". */
static char *kafka_prop(const char *name, size_t len)
{
    size_t plen = strlen(KAFKA_PREFIX);
    char *p = malloc(len - plen + 1);

    if (!p) {
        return NULL;
    }
    for (size_t i = plen; i < len; i++) {
        char c = name[i];

        p[i - plen] = c == '_' ? '.' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    p[len - plen] = '\0';
    return p;
}

static int kafka_is_secret(const char *name, size_t len)
{
    static const char *const marks[] = {"PASSWORD", "SECRET", "KEY_PEM", "OAUTHBEARER_CONFIG"};
    char buf[256];

    snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        if (strstr(buf, marks[i])) {
            return 1;
        }
    }
    return 0;
}

/* Value of a KAFKA_ variable (name is envp[i] up to len), or NULL if it is skipped. */
static char *kafka_value(const char *entry, size_t len, char *const *envp, dh_buf_t *probs,
                         size_t *base_len)
{
    char base[256];
    char *v = NULL;

    *base_len = len;
    if (!ends_with(entry, len, FILE_SUFFIX)) {
        snprintf(base, sizeof(base), "%.*s%s", (int)len, entry, FILE_SUFFIX);
        if (env_get(envp, base)) {
            return NULL; /* Both set: the _FILE entry reports the conflict. */
        }
        v = strdup(entry + len + 1);
        if (!v) {
            probs->oom = 1;
        }
        return v;
    }
    *base_len = len - strlen(FILE_SUFFIX);
    snprintf(base, sizeof(base), "%.*s", (int)*base_len, entry);
    if (env_get(envp, base)) {
        dh_buf_addf(probs, "%s: both %s and %s%s are set; use one\n", base, base, base,
                    FILE_SUFFIX);
        return NULL;
    }
    snprintf(base, sizeof(base), "%.*s", (int)len, entry);
    read_file(base, entry + len + 1, probs, &v);
    return v;
}

static int kafka_cmp(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->prop, ((const entry_t *)b)->prop);
}

static void load_kafka(dh_config_t *cfg, char *const *envp, dh_buf_t *probs)
{
    size_t n = 0;
    size_t plen = strlen(KAFKA_PREFIX);

    for (size_t i = 0; envp && envp[i]; i++) {
        n += strncmp(envp[i], KAFKA_PREFIX, plen) == 0;
    }
    cfg->kafka = calloc(n ? n : 1, sizeof(*cfg->kafka));
    if (!cfg->kafka) {
        probs->oom = 1;
        return;
    }
    for (size_t i = 0; envp && envp[i] && !probs->oom; i++) {
        const char *eq = strchr(envp[i], '=');
        size_t len = eq ? (size_t)(eq - envp[i]) : 0;
        size_t base_len;
        entry_t *e = &cfg->kafka[cfg->nkafka];

        if (strncmp(envp[i], KAFKA_PREFIX, plen) != 0 || !eq || eq[1] == '\0') {
            continue;
        }
        if (len == plen ||
            (len == plen + strlen(FILE_SUFFIX) && ends_with(envp[i], len, FILE_SUFFIX))) {
            dh_buf_addf(probs, "%.*s: no librdkafka property in the name\n", (int)len, envp[i]);
            continue;
        }
        e->value = kafka_value(envp[i], len, envp, probs, &base_len);
        if (!e->value) {
            continue;
        }
        cfg->nkafka++;
        e->secret = kafka_is_secret(envp[i], base_len) || base_len != len;
        e->name = strndup(envp[i], base_len);
        e->prop = kafka_prop(envp[i], base_len);
        probs->oom |= !e->name || !e->prop;
    }
    if (!probs->oom && cfg->nkafka > 1) {
        qsort(cfg->kafka, cfg->nkafka, sizeof(*cfg->kafka), kafka_cmp);
    }
}

static entry_t *find_entry(dh_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nvars; i++) {
        if (strcmp(cfg->vars[i].name, name) == 0) {
            return &cfg->vars[i];
        }
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        if (strcmp(cfg->kafka[i].name, name) == 0) {
            return &cfg->kafka[i];
        }
    }
    return NULL;
}

void dh_config_report(dh_config_report_t *report, const char *name, const char *fmt, ...)
{
    entry_t *e = find_entry(report->cfg, name);
    va_list ap;

    if (e && e->bad) {
        return;
    }
    if (e) {
        e->bad = 1;
    }
    dh_buf_addf(report->probs, "%s: ", name);
    va_start(ap, fmt);
    dh_buf_vaddf(report->probs, fmt, ap);
    va_end(ap);
    dh_buf_addf(report->probs, "\n");
}

int dh_config_tz_valid(const char *tz)
{
    char path[512];

    if (!tz || !*tz) {
        return 0;
    }
    if (!strcmp(tz, "UTC") || !strcmp(tz, "GMT") || strpbrk(tz, "0123456789")) {
        return 1; /* UTC or a POSIX TZ string such as IST-5:30 */
    }
    if (tz[0] == ':') {
        tz++;
    }
    /* An IANA name is a relative path under the zoneinfo database: no "..", no "/x". */
    if (!*tz || tz[0] == '/' || strstr(tz, "..")) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s%s", ZONEINFO, tz);
    return access(path, R_OK) == 0;
}

dh_err_t dh_config_load(const dh_config_var_t *const *tables, char *const *envp, dh_config_t **out,
                        char **problems)
{
    return dh_config_load_checked(tables, NULL, envp, out, problems);
}

dh_err_t dh_config_load_checked(const dh_config_var_t *const *tables,
                                const dh_config_check_fn *checks, char *const *envp,
                                dh_config_t **out, char **problems)
{
    dh_config_t *cfg = NULL;
    dh_buf_t probs = DH_BUF_INIT;
    dh_err_t err = DH_ERR_NOMEM;

    *out = NULL;
    if (problems) {
        *problems = NULL;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        goto out;
    }
    load_vars(cfg, tables, envp, &probs);
    load_kafka(cfg, envp, &probs);
    check_unknown(tables, envp, &probs);
    for (size_t i = 0; checks && checks[i] && !probs.oom; i++) {
        dh_config_report_t report = {cfg, &probs};

        checks[i](cfg, &report);
    }
    if (probs.oom) {
        goto out;
    }
    if (probs.len > 0) {
        err = DH_ERR_CONFIG;
        if (problems) {
            *problems = dh_buf_take(&probs);
        }
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    err = DH_OK;
out:
    dh_buf_free(&probs);
    dh_config_destroy(cfg);
    return err;
}

static void free_entries(entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].prop);
        wipe_free(e[i].value);
    }
    free(e);
}

void dh_config_destroy(dh_config_t *cfg)
{
    if (!cfg) {
        return;
    }
    free_entries(cfg->vars, cfg->nvars);
    free_entries(cfg->kafka, cfg->nkafka);
    free(cfg);
}

const char *dh_config_get(const dh_config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nvars; i++) {
        if (strcmp(cfg->vars[i].name, name) == 0) {
            return cfg->vars[i].value;
        }
    }
    return NULL;
}

long long dh_config_int(const dh_config_t *cfg, const char *name)
{
    const char *v = dh_config_get(cfg, name);
    long long i = 0;

    /* Validated at load time, so a failure here means unset (""): 0. */
    if (!v || parse_int(v, &i) != 0) {
        return 0;
    }
    return i;
}

int dh_config_bool(const dh_config_t *cfg, const char *name)
{
    const char *v = dh_config_get(cfg, name);
    int b = 0;

    if (!v || parse_bool(v, &b) != 0) {
        return 0;
    }
    return b;
}

int dh_config_kafka_each(const dh_config_t *cfg,
                         int (*fn)(const char *prop, const char *value, void *ud), void *ud)
{
    for (size_t i = 0; cfg && i < cfg->nkafka; i++) {
        int rc = fn(cfg->kafka[i].prop, cfg->kafka[i].value, ud);

        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int dh_config_cli(int argc, char **argv, const char *prog, const dh_config_var_t *const *tables,
                  const dh_config_check_fn *checks, dh_config_t **out)
{
    const char *mode = argc > 1 ? argv[1] : "";
    char *problems = NULL;

    *out = NULL;
    if (!strcmp(mode, "--help") || !strcmp(mode, "-h")) {
        char usage[256];

        snprintf(usage, sizeof(usage),
                 "%s [--help | --check-config | --dump-config | "
                 "--config-markdown]",
                 prog);
        dh_config_print_help(stdout, usage, tables);
        return 0;
    }
    if (!strcmp(mode, "--config-markdown")) {
        dh_config_print_markdown(stdout, tables);
        return 0;
    }
    if (argc > 2 || (*mode && strcmp(mode, "--check-config") && strcmp(mode, "--dump-config"))) {
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", prog, mode);
        return 2;
    }
    if (dh_config_load_checked(tables, checks, environ, out, &problems)) {
        fprintf(stderr, "%s: invalid configuration:\n%s", prog, problems ? problems : "");
        free(problems);
        return 2;
    }
    if (!*mode) {
        return -1;
    }
    if (!strcmp(mode, "--dump-config")) {
        dh_config_dump(stdout, *out);
    } else {
        printf("%s: configuration OK\n", prog);
    }
    dh_config_destroy(*out);
    *out = NULL;
    return 0;
}
