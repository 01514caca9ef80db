/*
 * The stores file (see dockhand/stores.h): parsed once with jansson, validated as a whole
 * (every problem is collected, so an operator fixes the file in one round), then frozen.
 * The public dh_store_t strings point into the parsed JSON document, which lives as long
 * as the dh_stores_t. Problem texts name stores and fields but never echo a secret value.
 */
#include "dockhand/stores.h"

#include <stdarg.h>

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_API_VERSION  "2026-10"
#define DEFAULT_BUCKET       2000.0 /* Shopify Standard plan: maximumAvailable */
#define DEFAULT_RESTORE_RATE 100.0  /* points per second */
#define FILE_MAX             (4 * 1024 * 1024)
#define TOKEN_FILE_MAX       (64 * 1024)
#define LOCATION_PREFIX      "gid://shopify/Location/"

const dh_config_var_t dh_stores_config_vars[] = {
    {"DH_STORES_FILE", DH_CFG_STRING, "", 0, 0, NULL,
     "JSON file describing the Shopify stores (domains, tenants, credentials, locations)."},
    DH_CONFIG_END,
};

typedef struct entry {
    dh_store_t pub;       /**< First member: a dh_store_t * is also an entry_t *. */
    json_t *tenants;      /**< Borrowed from the document: array of strings (may be NULL). */
    json_t *locations;    /**< Borrowed: object facility -> location GID (may be NULL). */
    char *token_buf;      /**< access_token_file contents (owned). */
    const char **secrets; /**< NULL-terminated webhook secrets (array owned, strings not). */
} entry_t;

struct dh_stores_s {
    json_t *doc; /**< The whole parsed file (owned); every string is borrowed from it. */
    entry_t *entries;
    size_t n;
};

/* Problem collector: "; "-separated, truncated silently once errstr is full. */
typedef struct problems {
    char *buf;
    size_t size;
    size_t len;
    int count;
} problems_t;

static void problem(problems_t *p, const char *fmt, ...) DH_PRINTF(2, 3);

static void problem(problems_t *p, const char *fmt, ...)
{
    va_list ap;
    int n;

    p->count++;
    if (p->buf == NULL || p->size == 0 || p->len + 1 >= p->size) {
        return;
    }
    if (p->len > 0) {
        n = snprintf(p->buf + p->len, p->size - p->len, "; ");
        p->len += (size_t)n < p->size - p->len ? (size_t)n : p->size - p->len - 1;
    }
    va_start(ap, fmt);
    n = vsnprintf(p->buf + p->len, p->size - p->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        p->len += (size_t)n < p->size - p->len ? (size_t)n : p->size - p->len - 1;
    }
}

/* A string member: NULL when absent; a problem when present but not a string. */
static const char *opt_str(json_t *obj, const char *key, const char *who, problems_t *p)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_string(v)) {
        problem(p, "%s: %s must be a string", who, key);
        return NULL;
    }
    return json_string_value(v);
}

static double opt_num(json_t *obj, const char *key, double def, const char *who, problems_t *p)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        return def;
    }
    if (!json_is_number(v) || json_number_value(v) <= 0) {
        problem(p, "%s: %s must be a positive number", who, key);
        return def;
    }
    return json_number_value(v);
}

static int valid_location_gid(const char *gid)
{
    size_t plen = strlen(LOCATION_PREFIX);
    const char *d;

    if (strncmp(gid, LOCATION_PREFIX, plen) != 0 || gid[plen] == '\0') {
        return 0;
    }
    for (d = gid + plen; *d != '\0'; d++) {
        if (!isdigit((unsigned char)*d)) {
            return 0;
        }
    }
    return 1;
}

/* "2026-10" or "unstable". */
static int valid_api_version(const char *v)
{
    if (strcmp(v, "unstable") == 0) {
        return 1;
    }
    return strlen(v) == 7 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) &&
           isdigit((unsigned char)v[2]) && isdigit((unsigned char)v[3]) && v[4] == '-' &&
           isdigit((unsigned char)v[5]) && isdigit((unsigned char)v[6]);
}

/* Reads a token file; the content is never put in a problem text. */
static char *read_token_file(const char *path, const char *who, problems_t *p)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (fp == NULL) {
        problem(p, "%s: access_token_file %s: %s", who, path, strerror(errno));
        return NULL;
    }
    buf = malloc(TOKEN_FILE_MAX + 1);
    if (buf == NULL) {
        problem(p, "%s: out of memory", who);
        goto out;
    }
    n = fread(buf, 1, TOKEN_FILE_MAX + 1, fp);
    if (ferror(fp) || n > TOKEN_FILE_MAX) {
        problem(p, "%s: access_token_file %s: unreadable or larger than %d bytes", who, path,
                TOKEN_FILE_MAX);
        free(buf);
        buf = NULL;
        goto out;
    }
    /* Trailing whitespace (the editor's newline) is not part of the token. */
    while (n > 0 && isspace((unsigned char)buf[n - 1])) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0) {
        problem(p, "%s: access_token_file %s is empty", who, path);
        free(buf);
        buf = NULL;
    }
out:
    fclose(fp);
    return buf;
}

static void check_credentials(entry_t *e, json_t *js, const char *who, problems_t *p)
{
    const char *tok = opt_str(js, "access_token", who, p);
    const char *file = opt_str(js, "access_token_file", who, p);
    const char *cid = opt_str(js, "client_id", who, p);
    const char *csec = opt_str(js, "client_secret", who, p);
    int has_cc = cid != NULL && cid[0] != '\0' && csec != NULL && csec[0] != '\0';

    if (tok != NULL && tok[0] != '\0' && file != NULL && file[0] != '\0') {
        problem(p, "%s: give access_token or access_token_file, not both", who);
    } else if (file != NULL && file[0] != '\0') {
        e->token_buf = read_token_file(file, who, p);
        tok = e->token_buf;
    }
    if ((cid != NULL && cid[0] != '\0') != (csec != NULL && csec[0] != '\0')) {
        problem(p, "%s: client_id and client_secret go together", who);
    }
    if ((tok == NULL || tok[0] == '\0') && !has_cc && (file == NULL || file[0] == '\0')) {
        problem(p, "%s: neither access_token(_file) nor client_id/client_secret given", who);
    }
    e->pub.access_token = tok != NULL ? tok : "";
    e->pub.client_id = cid != NULL ? cid : "";
    e->pub.client_secret = csec != NULL ? csec : "";
}

static void check_secrets(entry_t *e, json_t *js, const char *who, problems_t *p)
{
    json_t *arr = json_object_get(js, "webhook_secrets");
    size_t i, n = 0;
    json_t *v;

    if (arr != NULL && !json_is_array(arr)) {
        problem(p, "%s: webhook_secrets must be an array of strings", who);
        arr = NULL;
    }
    e->secrets = calloc(json_array_size(arr) + 1, sizeof(*e->secrets));
    if (e->secrets == NULL) {
        problem(p, "%s: out of memory", who);
        return;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            problem(p, "%s: webhook_secrets[%zu] must be a non-empty string", who, i);
            continue;
        }
        e->secrets[n++] = json_string_value(v);
    }
    e->pub.webhook_secrets = e->secrets;
}

/* Several facilities may map to one location: dh-inventory sums their stock there, and
 * the reverse lookup (dh_stores_facility) answers the first in file order. */
static void check_locations(entry_t *e, json_t *js, const char *who, problems_t *p)
{
    json_t *locs = json_object_get(js, "locations");
    const char *fac;
    json_t *v;

    if (locs == NULL) {
        return;
    }
    if (!json_is_object(locs)) {
        problem(p, "%s: locations must be an object {facility: location GID}", who);
        return;
    }
    e->locations = locs;
    json_object_foreach(locs, fac, v)
    {
        if (!json_is_string(v) || !valid_location_gid(json_string_value(v))) {
            problem(p, "%s: locations.%s: not a location GID (gid://shopify/Location/<id>)", who,
                    fac);
        }
    }
}

static const char *const known_keys[] = {
    "domain",       "tenants",           "admin_url",         "api_version",
    "access_token", "access_token_file", "client_id",         "client_secret",
    "bucket_size",  "restore_rate",      "webhook_secrets",   "returnprime_secret",
    "locations",    "timezone",          "returnprime_token", NULL,
};

static void check_unknown_keys(json_t *js, const char *who, problems_t *p)
{
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(js, key, v)
    {
        for (i = 0; known_keys[i] != NULL && strcmp(known_keys[i], key) != 0; i++) {
        }
        if (known_keys[i] == NULL) {
            problem(p, "%s: unknown field \"%s\"", who, key);
        }
    }
}

/* Normalises admin_url (default https://<domain>, no trailing slash) in the document. */
static const char *check_admin_url(json_t *js, const char *domain, const char *who, problems_t *p)
{
    const char *url = opt_str(js, "admin_url", who, p);
    char buf[512];
    size_t len;

    if (url == NULL || url[0] == '\0') {
        snprintf(buf, sizeof(buf), "https://%s", domain != NULL ? domain : "");
        json_object_set_new(js, "admin_url", json_string(buf));
        return json_string_value(json_object_get(js, "admin_url"));
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        problem(p, "%s: admin_url must start with http:// or https://", who);
        return url;
    }
    len = strlen(url);
    if (len > 0 && url[len - 1] == '/' && len < sizeof(buf)) {
        while (len > 0 && url[len - 1] == '/') {
            len--;
        }
        snprintf(buf, sizeof(buf), "%.*s", (int)len, url);
        json_object_set_new(js, "admin_url", json_string(buf));
        url = json_string_value(json_object_get(js, "admin_url"));
    }
    return url;
}

static void check_store(entry_t *e, json_t *js, size_t idx, problems_t *p)
{
    char who[300];
    const char *domain = opt_str(js, "domain", "store", p);
    const char *ver;

    if (domain != NULL && domain[0] != '\0') {
        snprintf(who, sizeof(who), "store %s", domain);
    } else {
        snprintf(who, sizeof(who), "stores[%zu]", idx);
        problem(p, "%s: domain is required", who);
        domain = "";
    }
    e->pub.domain = domain;
    check_unknown_keys(js, who, p);
    e->pub.admin_url = check_admin_url(js, domain, who, p);
    ver = opt_str(js, "api_version", who, p);
    if (ver == NULL || ver[0] == '\0') {
        ver = DEFAULT_API_VERSION;
    } else if (!valid_api_version(ver)) {
        problem(p, "%s: api_version must look like 2026-10", who);
    }
    e->pub.api_version = ver;
    check_credentials(e, js, who, p);
    e->pub.returnprime_secret = opt_str(js, "returnprime_secret", who, p);
    e->pub.returnprime_token = opt_str(js, "returnprime_token", who, p);
    if (e->pub.returnprime_token == NULL) {
        e->pub.returnprime_token = "";
    }
    e->pub.timezone = opt_str(js, "timezone", who, p);
    if (e->pub.returnprime_secret == NULL) {
        e->pub.returnprime_secret = "";
    }
    if (e->pub.timezone == NULL) {
        e->pub.timezone = "";
    }
    e->pub.bucket.capacity = opt_num(js, "bucket_size", DEFAULT_BUCKET, who, p);
    e->pub.bucket.restore_rate = opt_num(js, "restore_rate", DEFAULT_RESTORE_RATE, who, p);
    e->tenants = json_object_get(js, "tenants");
    if (e->tenants != NULL && !json_is_array(e->tenants)) {
        problem(p, "%s: tenants must be an array of strings", who);
        e->tenants = NULL;
    }
    check_secrets(e, js, who, p);
    check_locations(e, js, who, p);
}

/* Records \p name for store \p idx in \p seen; a name used by two stores is a problem. */
static void claim_name(json_t *seen, const char *name, size_t idx, problems_t *p)
{
    json_t *owner = json_object_get(seen, name);

    if (owner == NULL) {
        json_object_set_new(seen, name, json_integer((json_int_t)idx));
    } else if (json_integer_value(owner) != (json_int_t)idx) {
        problem(p, "duplicate domain or tenant \"%s\"", name);
    }
}

/* Names (domains and tenants) must be unique across the file: they select a store. */
static void check_names(const dh_stores_t *s, problems_t *p)
{
    json_t *seen = json_object();
    size_t k;
    json_t *t;

    if (seen == NULL) {
        problem(p, "stores: out of memory");
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->entries[i].pub.domain[0] != '\0') {
            claim_name(seen, s->entries[i].pub.domain, i, p);
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        json_array_foreach(s->entries[i].tenants, k, t)
        {
            if (!json_is_string(t) || json_string_length(t) == 0) {
                problem(p, "store %s: tenants[%zu] must be a non-empty string",
                        s->entries[i].pub.domain, k);
                continue;
            }
            claim_name(seen, json_string_value(t), i, p);
        }
    }
    json_decref(seen);
}

static dh_err_t build(dh_stores_t *s, problems_t *p)
{
    json_t *arr = json_object_get(s->doc, "stores");
    json_t *js;
    size_t i;

    if (!json_is_object(s->doc) || !json_is_array(arr) || json_array_size(arr) == 0) {
        problem(p, "expected {\"stores\": [ ...at least one store... ]}");
        return DH_ERR_CONFIG;
    }
    s->entries = calloc(json_array_size(arr), sizeof(*s->entries));
    if (s->entries == NULL) {
        return DH_ERR_NOMEM;
    }
    json_array_foreach(arr, i, js)
    {
        if (!json_is_object(js)) {
            problem(p, "stores[%zu] must be an object", i);
            continue;
        }
        check_store(&s->entries[s->n], js, i, p);
        s->n++;
    }
    check_names(s, p);
    return p->count > 0 ? DH_ERR_CONFIG : DH_OK;
}

dh_err_t dh_stores_parse(const char *json, size_t len, dh_stores_t **out, char *errstr,
                         size_t errstr_size)
{
    problems_t p = {errstr, errstr_size, 0, 0};
    json_error_t jerr;
    dh_stores_t *s = NULL;
    dh_err_t err;

    *out = NULL;
    if (errstr != NULL && errstr_size > 0) {
        errstr[0] = '\0';
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        err = DH_ERR_NOMEM;
        goto out;
    }
    s->doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (s->doc == NULL) {
        /* jansson's message quotes no input, so no secret can leak through it. */
        problem(&p, "stores: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        err = DH_ERR_CONFIG;
        goto out;
    }
    err = build(s, &p);
    if (err == DH_ERR_NOMEM) {
        problem(&p, "stores: out of memory");
    }
out:
    if (err != DH_OK) {
        dh_stores_destroy(s);
        return err;
    }
    *out = s;
    return DH_OK;
}

dh_err_t dh_stores_load(const char *path, dh_stores_t **out, char *errstr, size_t errstr_size)
{
    FILE *fp = NULL;
    char *buf = NULL;
    size_t n;
    dh_err_t err = DH_ERR_CONFIG;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        snprintf(errstr, errstr_size, "DH_STORES_FILE is not set");
        return DH_ERR_CONFIG;
    }
    fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(errstr, errstr_size, "stores file %s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(FILE_MAX + 1);
    if (buf == NULL) {
        snprintf(errstr, errstr_size, "stores file %s: out of memory", path);
        err = DH_ERR_NOMEM;
        goto out;
    }
    n = fread(buf, 1, FILE_MAX + 1, fp);
    if (ferror(fp) || n > FILE_MAX) {
        snprintf(errstr, errstr_size, "stores file %s: unreadable or over %d bytes", path,
                 FILE_MAX);
        goto out;
    }
    err = dh_stores_parse(buf, n, out, errstr, errstr_size);
out:
    if (fp != NULL) {
        fclose(fp);
    }
    free(buf);
    return err;
}

void dh_stores_config_check(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *path = dh_config_get(cfg, "DH_STORES_FILE");
    dh_stores_t *s = NULL;
    char errstr[2048] = "";

    if (path == NULL) {
        return;
    }
    if (dh_stores_load(path, &s, errstr, sizeof(errstr)) != DH_OK) {
        dh_config_report(report, "DH_STORES_FILE", "%s", errstr);
    }
    dh_stores_destroy(s);
}

void dh_stores_destroy(dh_stores_t *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        free(s->entries[i].token_buf);
        free(s->entries[i].secrets);
    }
    free(s->entries);
    json_decref(s->doc);
    free(s);
}

size_t dh_stores_count(const dh_stores_t *s)
{
    return s != NULL ? s->n : 0;
}

const dh_store_t *dh_stores_at(const dh_stores_t *s, size_t i)
{
    return s != NULL && i < s->n ? &s->entries[i].pub : NULL;
}

const dh_store_t *dh_stores_find(const dh_stores_t *s, const char *name)
{
    size_t k;
    json_t *t;

    if (s == NULL || name == NULL || name[0] == '\0') {
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->entries[i].pub.domain, name) == 0) {
            return &s->entries[i].pub;
        }
        json_array_foreach(s->entries[i].tenants, k, t)
        {
            if (json_is_string(t) && strcmp(json_string_value(t), name) == 0) {
                return &s->entries[i].pub;
            }
        }
    }
    return NULL;
}

/* The entry behind a public pointer, or NULL if it is not one of ours. */
static const entry_t *entry_of(const dh_stores_t *s, const dh_store_t *store)
{
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        if (&s->entries[i].pub == store) {
            return &s->entries[i];
        }
    }
    return NULL;
}

const char *dh_stores_location(const dh_stores_t *s, const dh_store_t *store, const char *facility)
{
    const entry_t *e = entry_of(s, store);

    if (e == NULL || facility == NULL) {
        return NULL;
    }
    return json_string_value(json_object_get(e->locations, facility));
}

size_t dh_stores_location_count(const dh_stores_t *s, const dh_store_t *store)
{
    const entry_t *e = entry_of(s, store);

    return e ? json_object_size(e->locations) : 0;
}

const char *dh_stores_facility(const dh_stores_t *s, const dh_store_t *store,
                               const char *location_gid)
{
    const entry_t *e = entry_of(s, store);
    const char *fac;
    json_t *v;

    if (e == NULL || location_gid == NULL) {
        return NULL;
    }
    json_object_foreach(e->locations, fac, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), location_gid) == 0) {
            return fac;
        }
    }
    return NULL;
}

size_t dh_stores_facilities(const dh_stores_t *s, const dh_store_t *store, const char *location_gid,
                            const char **out, size_t max)
{
    const entry_t *e = entry_of(s, store);
    const char *fac;
    size_t n = 0;
    json_t *v;

    if (e == NULL || location_gid == NULL) {
        return 0;
    }
    json_object_foreach(e->locations, fac, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), location_gid) == 0) {
            if (n < max) {
                out[n] = fac;
            }
            n++;
        }
    }
    return n;
}
