/*
 * The exchange release policy (docs/returns.md, "Exchanges: when the replacement ships"):
 * pure parsing of DH_RETURNS_EXCHANGE_RELEASE and the moment tests. No I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "returns.h"

static const char *const policy_names[] = {"none", "on_approval", "on_pickup", "on_receipt",
                                           "on_qc_pass"};

const char *returns_release_name(returns_release_t p)
{
    return (unsigned)p <= RETURNS_RELEASE_QC_PASS ? policy_names[p] : "none";
}

static int policy_of(const char *w, size_t n, returns_release_t *out)
{
    for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
        if (strlen(policy_names[i]) == n && strncmp(w, policy_names[i], n) == 0) {
            *out = (returns_release_t)i;
            return 0;
        }
    }
    return -1;
}

/* One "policy" or "<store>=policy" item of \p n bytes. */
static int parse_item(const char *w, size_t n, returns_policy_t *out, char *err, size_t err_size)
{
    const char *eq = memchr(w, '=', n);
    size_t sn = eq ? (size_t)(eq - w) : 0;
    const char *pw = eq ? eq + 1 : w;
    returns_release_t p;

    if (policy_of(pw, n - (size_t)(pw - w), &p)) {
        snprintf(err, err_size,
                 "unknown policy \"%.*s\" (none, on_approval, on_pickup, "
                 "on_receipt, on_qc_pass)",
                 (int)(n - (size_t)(pw - w)), pw);
        return -1;
    }
    if (!eq) {
        out->dflt = p;
        return 0;
    }
    if (sn == 0 || sn >= sizeof(out->stores[0].name) ||
        out->n >= sizeof(out->stores) / sizeof(out->stores[0])) {
        snprintf(err, err_size, "bad store entry \"%.*s\"", (int)(n > 80 ? 80 : n), w);
        return -1;
    }
    snprintf(out->stores[out->n].name, sizeof(out->stores[0].name), "%.*s", (int)sn, w);
    out->stores[out->n++].policy = p;
    return 0;
}

int returns_release_parse(const char *spec, returns_policy_t *out, char *err, size_t err_size)
{
    const char *p = spec ? spec : "";

    memset(out, 0, sizeof(*out));
    while (*p) {
        size_t n;

        p += strspn(p, " ,");
        n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n > 0 && parse_item(p, n, out, err, err_size)) {
            return -1;
        }
        p += strcspn(p, ",");
    }
    return 0;
}

returns_release_t returns_release_for(const returns_policy_t *p, const char *domain)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->stores[i].name, domain) == 0) {
            return p->stores[i].policy;
        }
    }
    return p->dflt;
}

/* Case-insensitive "picked" anywhere in \p s. */
static int says_picked(const char *s)
{
    for (; s && *s; s++) {
        if (strncasecmp(s, "picked", 6) == 0) {
            return 1;
        }
    }
    return 0;
}

int returns_picked_up(const returns_request_t *r)
{
    json_t *l, *sh;
    size_t i, j;

    json_array_foreach(json_object_get(r->request, "line_items"), i, l)
    {
        json_array_foreach(json_object_get(l, "shipping"), j, sh)
        {
            if (says_picked(json_string_value(json_object_get(sh, "status")))) {
                return 1;
            }
        }
    }
    return 0;
}

int returns_release_now(returns_release_t policy, const returns_request_t *r)
{
    /* The moments a Return Prime webhook can carry; receipt and QC come from the WMS. */
    switch (policy) {
    case RETURNS_RELEASE_APPROVAL:
        return 1; /* any creating status: the approval has happened */
    case RETURNS_RELEASE_PICKUP:
        return returns_picked_up(r) || strcmp(r->status, "received") == 0 ||
               strcmp(r->status, "inspected") == 0;
    default:
        return 0;
    }
}

int returns_receipt_all_pass(const returns_receipt_t *r)
{
    json_t *l;
    size_t i;

    json_array_foreach(r->lines, i, l)
    {
        if (strcmp(json_string_value(json_object_get(l, "qc_status")), "PASS") != 0) {
            return 0;
        }
    }
    return 1;
}

int returns_exchange_order(const returns_request_t *r, char *out, size_t size)
{
    json_t *id =
        json_object_get(json_object_get(json_object_get(r->request, "exchange"), "order"), "id");

    out[0] = '\0';
    if (json_is_integer(id) && json_integer_value(id) > 0) {
        snprintf(out, size, "%lld", (long long)json_integer_value(id));
    } else if (json_is_string(id) && json_string_length(id) > 0 && json_string_length(id) < size &&
               strspn(json_string_value(id), "0123456789") == json_string_length(id)) {
        snprintf(out, size, "%s", json_string_value(id));
    }
    return out[0] ? 0 : -1;
}
