/*
 * The configuration as text: --help, the Markdown tables of docs/configuration.md and
 * --dump-config. Secrets are never printed, nor passwords inside URLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "dockhand/config.h"

/* The doc line plus the constraint a reader needs: range, choices, file source. */
static void describe(const dh_config_var_t *v, char *buf, size_t size)
{
    switch (v->type) {
    case DH_CFG_INT:
        snprintf(buf, size, "%s [%lld..%lld]", v->doc ? v->doc : "", v->min, v->max);
        break;
    case DH_CFG_BOOL:
        snprintf(buf, size, "%s (true/false)", v->doc ? v->doc : "");
        break;
    case DH_CFG_ENUM:
        snprintf(buf, size, "%s (%s)", v->doc ? v->doc : "", v->choices ? v->choices : "");
        break;
    case DH_CFG_SECRET:
        snprintf(buf, size, "%s (secret; or %s%s)", v->doc ? v->doc : "", v->name, FILE_SUFFIX);
        break;
    case DH_CFG_URL: {
        char want[256];

        dh_cfg_schemes_text(v->choices, want, sizeof(want));
        snprintf(buf, size, "%s (%s URL)", v->doc ? v->doc : "", want);
        break;
    }
    case DH_CFG_STRING:
        snprintf(buf, size, "%s", v->doc ? v->doc : "");
        break;
    }
}

static const char *default_text(const dh_config_var_t *v)
{
    if (!v->def) {
        return "(required)";
    }
    return *v->def ? v->def : "(unset)";
}

/* Calls fn for each distinct variable of the tables, in table order. */
static void each_var(const dh_config_var_t *const *tables,
                     void (*fn)(const dh_config_var_t *v, void *ud), void *ud)
{
    for (size_t t = 0; tables && tables[t]; t++) {
        for (const dh_config_var_t *v = tables[t]; v->name; v++) {
            if (dh_cfg_find_var(tables, v->name, strlen(v->name)) == v) {
                fn(v, ud);
            }
        }
    }
}

typedef struct help_ctx {
    FILE *fp;
    int name_w;
    int def_w;
} help_ctx_t;

static void measure(const dh_config_var_t *v, void *ud)
{
    help_ctx_t *h = ud;
    int n = (int)strlen(v->name);
    int d = (int)strlen(default_text(v));

    h->name_w = n > h->name_w ? n : h->name_w;
    /* Long defaults (URLs) overflow their column rather than widen it for everyone. */
    h->def_w = (d > h->def_w && d <= 24) ? d : h->def_w;
}

static void help_row(const dh_config_var_t *v, void *ud)
{
    help_ctx_t *h = ud;
    char what[1024];

    describe(v, what, sizeof(what));
    fprintf(h->fp, "  %-*s  %-*s  %s\n", h->name_w, v->name, h->def_w, default_text(v), what);
}

void dh_config_print_help(FILE *fp, const char *program, const dh_config_var_t *const *tables)
{
    help_ctx_t h = {fp, (int)strlen("VARIABLE"), (int)strlen("DEFAULT")};

    each_var(tables, measure, &h);
    fprintf(fp, "Usage: %s\n\nConfigured from the environment only:\n\n", program ? program : "");
    fprintf(fp, "  %-*s  %-*s  %s\n", h.name_w, "VARIABLE", h.def_w, "DEFAULT", "MEANING");
    each_var(tables, help_row, &h);
    fprintf(fp,
            "\nAn empty value counts as unset. A secret NAME may instead be read from the file\n"
            "named by NAME_FILE (trailing newline stripped); setting both is an error.\n"
            "Unknown DH_* variables are rejected, to catch typos.\n\n"
            "librdkafka settings pass through: KAFKA_<PROPERTY> sets the librdkafka property\n"
            "<property>, lower-cased with '_' turned into '.' (KAFKA_BOOTSTRAP_SERVERS=host:9092\n"
            "sets bootstrap.servers, KAFKA_GROUP_INSTANCE_ID sets group.instance.id).\n"
            "KAFKA_<PROPERTY>_FILE reads the value from a file. Values of KAFKA_* variables whose\n"
            "name contains PASSWORD or SECRET, or that come from a file, are never printed.\n");
}

/* Markdown cell text: '|' would end the cell. */
static void md_cell(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') {
            fputc('\\', fp);
        }
        fputc(*s == '\n' ? ' ' : *s, fp);
    }
}

static void md_row(const dh_config_var_t *v, void *ud)
{
    FILE *fp = ud;
    char what[1024];

    describe(v, what, sizeof(what));
    fprintf(fp, "| `%s` | ", v->name);
    if (v->def && *v->def) {
        fputc('`', fp);
        md_cell(fp, v->def);
        fputc('`', fp);
    } else {
        md_cell(fp, default_text(v));
    }
    fputs(" | ", fp);
    md_cell(fp, what);
    fputs(" |\n", fp);
}

void dh_config_print_markdown(FILE *fp, const dh_config_var_t *const *tables)
{
    fputs("| Variable | Default | Meaning |\n|---|---|---|\n", fp);
    each_var(tables, md_row, fp);
}

static int dump_cmp(const void *a, const void *b)
{
    return strcmp((*(const entry_t *const *)a)->name, (*(const entry_t *const *)b)->name);
}

/* Print \p s with the password of every scheme://user:password@host in it replaced (the
 * whole userinfo when it has no ':', as Redis reads "redis://secret@host"). */
static void print_redacted(FILE *fp, const char *s)
{
    const char *p = s;
    const char *sep;

    while ((sep = strstr(p, "://")) != NULL) {
        const char *auth = sep + 3;
        size_t alen = strcspn(auth, "/?#, ");
        const char *at = NULL;
        const char *colon;

        for (size_t i = 0; i < alen; i++) {
            at = auth[i] == '@' ? auth + i : at; /* the last '@' ends the userinfo */
        }
        if (!at) {
            fwrite(p, 1, (size_t)(auth + alen - p), fp);
            p = auth + alen;
            continue;
        }
        colon = memchr(auth, ':', (size_t)(at - auth));
        fwrite(p, 1, (size_t)((colon ? colon + 1 : auth) - p), fp);
        fputs(URL_REDACTED, fp);
        p = at;
    }
    fputs(p, fp);
}

void dh_config_dump(FILE *fp, const dh_config_t *cfg)
{
    const entry_t **all;
    size_t n = 0;

    if (!cfg) {
        return;
    }
    all = calloc(cfg->nvars + cfg->nkafka + 1, sizeof(*all));
    if (!all) {
        fputs("(out of memory)\n", fp);
        return;
    }
    for (size_t i = 0; i < cfg->nvars; i++) {
        all[n++] = &cfg->vars[i];
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        all[n++] = &cfg->kafka[i];
    }
    qsort(all, n, sizeof(*all), dump_cmp);
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = all[i];

        fprintf(fp, "%s=", e->name);
        if (e->secret && *e->value) {
            fputs(REDACTED, fp);
        } else {
            print_redacted(fp, e->value);
        }
        fputc('\n', fp);
    }
    free(all);
}
