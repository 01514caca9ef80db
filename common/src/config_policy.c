/*
 * Per-store policies in one variable: "<default>[,<store>=<value>...]" with two allowed
 * values, e.g. DH_ORDERS_TEST_ORDERS=skip,dev.myshopify.com=send or
 * DH_DISPATCH_NOTIFY_CUSTOMER=true,b2b.myshopify.com=false. See dockhand/config.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dockhand/config.h"

long dh_config_list_next(const char **p, const char **s)
{
    const char *q = *p;

    if (!*q) {
        return -1;
    }
    while (*q == ' ' || *q == '\t') {
        q++;
    }
    const char *e = strchr(q, ',');
    const char *end = e ? e : q + strlen(q);

    *p = e ? e + 1 : end;
    while (end > q && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    *s = q;
    return (long)(end - q);
}

/* 0 / 1 for a value equal to v0 / v1 (n bytes at t), else -1. */
static int policy_value(const char *t, long n, const char *v0, const char *v1)
{
    if ((size_t)n == strlen(v0) && strncmp(t, v0, (size_t)n) == 0) {
        return 0;
    }
    return (size_t)n == strlen(v1) && strncmp(t, v1, (size_t)n) == 0 ? 1 : -1;
}

/* The reason for a bad item (n bytes at t), or for no default at all (n < 0). */
static int policy_fail(char *errstr, size_t errstr_size, long n, const char *t, const char *v0,
                       const char *v1)
{
    if (errstr && n < 0) {
        snprintf(errstr, errstr_size, "empty: want %s or %s", v0, v1);
    } else if (errstr) {
        snprintf(errstr, errstr_size, "\"%.*s\": want %s|%s first, then <store>=%s|%s items",
                 (int)n, t, v0, v1, v0, v1);
    }
    return -1;
}

int dh_config_policy(const char *spec, const char *store, const char *v0, const char *v1,
                     char *errstr, size_t errstr_size)
{
    const char *p = spec ? spec : "", *t = "";
    long n;
    int def = -1, mine = -1, first = 1;

    while ((n = dh_config_list_next(&p, &t)) >= 0) {
        const char *eq = memchr(t, '=', (size_t)n);
        int v =
            eq ? policy_value(eq + 1, n - (long)(eq + 1 - t), v0, v1) : policy_value(t, n, v0, v1);

        if (v < 0 || (eq && (first || eq == t)) || (!eq && !first)) {
            return policy_fail(errstr, errstr_size, n, t, v0, v1);
        }
        if (!eq) {
            def = v;
        } else if (store && strlen(store) == (size_t)(eq - t) &&
                   strncasecmp(store, t, (size_t)(eq - t)) == 0) {
            mine = v;
        }
        first = 0;
    }
    if (def < 0) {
        return policy_fail(errstr, errstr_size, -1, t, v0, v1);
    }
    return mine >= 0 ? mine : def;
}
