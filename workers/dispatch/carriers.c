/*
 * The courier name sent as trackingInfo.company (docs/dispatch.md, "Carriers"). Shopify
 * builds the tracking link, and for integrated carriers follows the shipment, only for the
 * names of its supported tracking-company list, written exactly as listed
 * (https://shopify.dev/docs/api/admin-graphql/latest/objects/FulfillmentTrackingInfo,
 * "Supported tracking companies"; FulfillmentTrackingInput: "capitalization matters").
 * The WMS spells couriers its own way ("BLUEDART", "Xpress Bees", "Delhivery Surface"):
 * each is compared with the names and their aliases below by letters and digits only,
 * ignoring case.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

typedef struct carrier {
    const char *shopify;    /* exactly as in Shopify's list */
    const char *aliases[6]; /* WMS spellings besides the name itself; NULL-terminated */
} carrier_t;

/* India's list first (shown to shops located in India), then the couriers of every
 * country's list that Indian and cross-border shipments use. */
static const carrier_t carriers[] = {
    {"Bluedart", {"Blue Dart", "Blue Dart Express", "Bluedart Surface", "Bluedart Air", NULL}},
    {"Delhivery", {"Delhivery Surface", "Delhivery Express", "Delhivery Air", NULL}},
    {"DTDC", {"DTDC Express", "DTDC Plus", NULL}},
    {"Ecom Express", {"Ecom", "EcomExpress", NULL}},
    {"Ekart", {"Ekart Logistics", "Flipkart Ekart", NULL}},
    {"Gati KWE", {"Gati", "Allcargo Gati", NULL}},
    {"India Post", {"Speed Post", "Speedpost", "IndiaPost", NULL}},
    {"Professional Couriers", {"Professional Courier", "The Professional Couriers", "TPC", NULL}},
    {"Shadowfax", {NULL}},
    {"XpressBees", {"Xpress Bees", "XBees", NULL}},
    {"DHL Express", {"DHL", "DHL International", NULL}},
    {"DHL eCommerce", {"DHL ecom", NULL}},
    {"FedEx", {"Fed Ex", "Federal Express", "FedEx International", NULL}},
    {"UPS", {"United Parcel Service", NULL}},
    {"USPS", {"US Postal Service", NULL}},
    {"Royal Mail", {NULL}},
    {"Singapore Post", {"SingPost", NULL}},
    {"SF Express", {NULL}},
    {"Australia Post", {NULL}},
    {"Canada Post", {NULL}},
    {"PostNL", {NULL}},
    {"TNT", {NULL}},
};

/* Lower-case letters and digits of \p in: "Blue-Dart  Express" -> "bluedartexpress". */
static void squash(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p && n + 1 < size; p++) {
        if (isalnum(*p)) {
            out[n++] = (char)tolower(*p);
        }
    }
    out[n] = '\0';
}

static int same(const char *squashed, const char *name)
{
    char b[128];

    squash(name, b, sizeof(b));
    return strcmp(squashed, b) == 0;
}

const char *dispatch_carrier_name(const char *wms_company, int *known)
{
    char a[128];

    *known = 0;
    if (!wms_company) {
        return NULL;
    }
    squash(wms_company, a, sizeof(a));
    for (size_t i = 0; a[0] && i < sizeof(carriers) / sizeof(carriers[0]); i++) {
        int hit = same(a, carriers[i].shopify);

        for (size_t k = 0; !hit && carriers[i].aliases[k]; k++) {
            hit = same(a, carriers[i].aliases[k]);
        }
        if (hit) {
            *known = 1;
            return carriers[i].shopify;
        }
    }
    return wms_company;
}

/* The next "<carrier>=<url>" item of *p (comma-separated): 1 with its parts, 0 at the end. */
static int next_template(const char **p, const char **name, size_t *nlen, const char **url,
                         size_t *ulen)
{
    const char *q = *p, *end, *eq;

    while (*q == ' ' || *q == ',') {
        q++;
    }
    if (!*q) {
        return 0;
    }
    end = strchr(q, ',');
    end = end ? end : q + strlen(q);
    *p = end;
    eq = memchr(q, '=', (size_t)(end - q));
    *name = q;
    *nlen = eq ? (size_t)(eq - q) : (size_t)(end - q);
    *url = eq ? eq + 1 : end;
    *ulen = eq ? (size_t)(end - eq - 1) : 0;
    return 1;
}

int dispatch_url_templates_check(const char *templates, char *err, size_t err_size)
{
    const char *p = templates ? templates : "", *name, *url;
    size_t nlen, ulen;

    while (next_template(&p, &name, &nlen, &url, &ulen)) {
        char u[512];

        snprintf(u, sizeof(u), "%.*s", (int)ulen, url);
        if (nlen == 0 || ulen == 0 || !strstr(u, "{number}") ||
            (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)) {
            snprintf(err, err_size, "\"%.*s\": want <carrier>=http(s)://...{number}...",
                     (int)(url + ulen - name), name);
            return -1;
        }
    }
    return 0;
}

int dispatch_tracking_url(const char *templates, const char *company, const char *number, char *out,
                          size_t size)
{
    const char *p = templates ? templates : "", *name, *url;
    size_t nlen, ulen;
    char a[128], b[128];

    squash(company ? company : "", a, sizeof(a));
    while (a[0] && number && next_template(&p, &name, &nlen, &url, &ulen)) {
        snprintf(b, sizeof(b), "%.*s", (int)nlen, name);
        if (!same(a, b)) {
            continue;
        }
        const char *hole = strstr(url, "{number}");

        if (!hole || hole >= url + ulen) {
            return 0;
        }
        snprintf(out, size, "%.*s%s%.*s", (int)(hole - url), url, number,
                 (int)(url + ulen - hole - 8), hole + 8);
        return 1;
    }
    return 0;
}
