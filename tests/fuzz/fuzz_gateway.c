/*
 * libFuzzer harness: the gateway's request decisions (workers/gateway/webhook.c with
 * hmac.c, route.c and dedup.c): signature checks, routing and body checks, through
 * dh_gw_handle() itself. Nothing leaves the process: the producer is replaced by a fake
 * below (produce.c is not linked) and duplicate suppression is off.
 *
 * Input: optional header lines "<name>: <value>\n" ending at an empty line, then the raw
 * body (any bytes). An input starting with '{' is all body, so webhook examples are seeds.
 * Names: the X-Shopify-* and X-RP-* headers server.c reads, plus ":method" and ":path".
 * Each input is sent three times: as given (its own signatures), as a Shopify webhook
 * correctly signed by the harness, and as a correctly signed Return Prime webhook, so the
 * fuzzer gets past the signature to the routing and the body checks.
 */
#include <stddef.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_support.h"
#include "gateway.h"
#include "hmac.h"
#include "route.h"

#define SHOP   "acme.myshopify.com"
#define SECRET "fuzz-webhook-secret"
#define RP_KEY "fuzz-returnprime-secret"

static const char stores_json[] =
    "{\"stores\": [{\"domain\": \"" SHOP "\", \"tenants\": [\"acme\"], \"access_token\": \"x\","
    " \"webhook_secrets\": [\"old-secret\", \"" SECRET "\"], \"returnprime_secret\": \"" RP_KEY
    "\"}]}";

/* File scope: libFuzzer's callback takes no context. Set up once, then one input at a time. */
static dh_gw_t gw;
static const dh_gw_req_t *current; /* the request being handled, for the fake producer */
static int produced;               /* the fake producer was called for it */

/* The fake producer: what would go to Kafka must be well-formed. */
dh_err_t dh_gw_producer_send(dh_gw_producer_t *p, const char *topic, const char *key,
                             const void *value, size_t len, const dh_gw_header_t *headers,
                             size_t nheaders, char *errstr, size_t errstr_size)
{
    const char *bar = strchr(key, '|');

    (void)p;
    (void)errstr;
    (void)errstr_size;
    fz_check(topic && *topic, "a topic");
    fz_check(value == current->body && len == current->body_len, "the raw body, unchanged");
    fz_check(bar && (size_t)(bar - key) == strlen(SHOP) && !strncmp(key, SHOP, strlen(SHOP)),
             "key is <shop>|<id>");
    fz_check(bar[1] != '\0' && !strchr(bar + 1, '|') && strlen(bar + 1) < DH_GW_ID_MAX,
             "the id is non-empty, short and has no '|'");
    for (const char *c = bar + 1; *c; c++) {
        fz_check((unsigned char)*c >= 0x20 && *c != 0x7f, "no control character in the id");
    }
    for (size_t i = 0; i < nheaders; i++) {
        fz_check(headers[i].name != NULL, "header names");
    }
    produced = 1;
    return DH_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    dh_stores_t *stores = NULL;

    (void)argc;
    (void)argv;
    fz_quiet();
    fz_check(dh_stores_parse(stores_json, strlen(stores_json), &stores, err, sizeof(err)) == DH_OK,
             "the harness's stores file");
    gw.stores = stores; /* lives as long as the process */
    gw.registry = dh_metrics_new();
    gw.max_body = 1 << 20;
    gw.topic_orders = DH_GW_TOPIC_ORDERS;
    gw.topic_products = DH_GW_TOPIC_PRODUCTS;
    gw.topic_returnprime = DH_GW_TOPIC_RETURNPRIME;
    fz_check(gw.registry && dh_gw_metrics_init(&gw) == DH_OK, "metrics");
    return 0;
}

/* Header lines of the input into \p req (values point into \p text); returns the body. */
static char *parse_headers(char *text, char *end, dh_gw_req_t *req)
{
    static const struct {
        const char *name;
        size_t off;
    } names[] = {
        {":method", offsetof(dh_gw_req_t, method)},
        {":path", offsetof(dh_gw_req_t, path)},
        {"x-shopify-topic", offsetof(dh_gw_req_t, sh_topic)},
        {"x-shopify-hmac-sha256", offsetof(dh_gw_req_t, sh_hmac)},
        {"x-shopify-shop-domain", offsetof(dh_gw_req_t, sh_shop)},
        {"x-shopify-api-version", offsetof(dh_gw_req_t, sh_api_version)},
        {"x-shopify-webhook-id", offsetof(dh_gw_req_t, sh_webhook_id)},
        {"x-shopify-event-id", offsetof(dh_gw_req_t, sh_event_id)},
        {"x-shopify-triggered-at", offsetof(dh_gw_req_t, sh_triggered_at)},
        {"x-rp-topic", offsetof(dh_gw_req_t, rp_topic)},
        {"x-rp-signature", offsetof(dh_gw_req_t, rp_signature)},
        {"x-rp-timestamp", offsetof(dh_gw_req_t, rp_timestamp)},
        {"x-rp-webhook-id", offsetof(dh_gw_req_t, rp_webhook_id)},
    };
    char *p = text;

    if (p < end && *p == '{') {
        return p;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;

        if (!nl || nl == p) {
            return nl ? nl + 1 : end;
        }
        *nl = '\0';
        colon = strchr(*p == ':' ? p + 1 : p, ':'); /* ":path: /x" */
        if (colon) {
            *colon = '\0';
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (!strcasecmp(p, names[i].name)) {
                    const char *v = colon + 1 + (colon[1] == ' ');

                    /* server.c treats an empty header as absent. */
                    *(const char **)((char *)req + names[i].off) = *v ? v : NULL;
                }
            }
        }
        p = nl + 1;
    }
    return end;
}

static unsigned int handle(const dh_gw_req_t *req)
{
    dh_gw_reply_t reply = {0, ""};

    current = req;
    produced = 0;
    dh_gw_handle(&gw, req, &reply);
    fz_check(reply.status >= 200 && reply.status < 600 && reply.text[0], "a status and a text");
    /* Suppression is off, so every 200 of a routed webhook is a produce, and vice versa. */
    if (strcmp(req->path, "/webhooks/shopify") == 0 && reply.status == 200) {
        fz_check(produced == (dh_gw_route_shopify(req->sh_topic) != NULL), "200 <=> produced");
    } else {
        fz_check(produced == (reply.status == 200), "200 <=> produced");
    }
    return reply.status;
}

/* The input as a correctly signed Shopify webhook, then as a Return Prime one. */
static void signed_requests(const dh_gw_req_t *given)
{
    unsigned char mac[DH_GW_MAC_LEN];
    char b64[64], hex[2 * DH_GW_MAC_LEN + 1], *msg;
    const char *ts = given->rp_timestamp ? given->rp_timestamp : "1767225600";
    dh_gw_req_t r = *given;
    size_t tl = strlen(ts);
    unsigned int status;

    r.method = "POST";
    r.path = "/webhooks/shopify";
    r.sh_shop = SHOP;
    r.sh_topic = given->sh_topic ? given->sh_topic : "orders/create";
    r.sh_api_version = given->sh_api_version ? given->sh_api_version : "2026-10";
    r.sh_webhook_id = given->sh_webhook_id ? given->sh_webhook_id : "wh-1";
    fz_check(dh_gw_hmac_sha256(SECRET, strlen(SECRET), r.body, r.body_len, mac) == DH_OK, "hmac");
    dh_gw_base64_encode(mac, sizeof(mac), b64);
    r.sh_hmac = b64;
    status = handle(&r);
    fz_check(status == 200 || status == 400, "a signed, complete webhook: 200 or 400");

    r = *given;
    r.method = "POST";
    r.path = "/webhooks/returnprime/acme";
    r.rp_topic = given->rp_topic ? given->rp_topic : "request/created";
    r.rp_timestamp = ts;
    msg = malloc(tl + 1 + r.body_len + 1);
    fz_check(msg != NULL, "out of memory");
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    if (r.body_len) {
        memcpy(msg + tl + 1, r.body, r.body_len);
    }
    fz_check(dh_gw_hmac_sha256(RP_KEY, strlen(RP_KEY), msg, tl + 1 + r.body_len, mac) == DH_OK,
             "hmac");
    free(msg);
    for (size_t i = 0; i < sizeof(mac); i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    r.rp_signature = hex;
    status = handle(&r);
    fz_check(status == 200 || status == 400, "a signed Return Prime webhook: 200 or 400");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_text(data, size), *body;
    dh_gw_req_t req;
    unsigned char raw[64];
    char errbuf[1];
    size_t n;

    memset(&req, 0, sizeof(req));
    snprintf(req.received_at, sizeof(req.received_at), "2026-01-01T00:00:00Z");
    req.t0_us = dh_gw_now_us();
    body = parse_headers(text, text + size, &req);
    req.body = body;
    req.body_len = (size_t)(text + size - body);
    if (!req.method) {
        req.method = "POST";
    }
    if (!req.path) {
        req.path = "/webhooks/shopify";
    }
    handle(&req);
    signed_requests(&req);
    if (req.sh_hmac &&
        dh_gw_base64_decode(req.sh_hmac, strlen(req.sh_hmac), raw, sizeof(raw), &n) == DH_OK) {
        fz_check(n <= sizeof(raw) && n == strlen(req.sh_hmac) / 4 * 3 - (n % 3 ? 3 - n % 3 : 0),
                 "base64: 3 bytes per 4 characters, less the padding");
    }
    /* An out buffer shorter than DH_GW_ID_MAX, and no room for the reason. */
    if (dh_gw_extract_id(req.body, req.body_len, dh_gw_id_path(req.sh_topic), (char *)raw,
                         sizeof(raw), errbuf, 1) == DH_OK) {
        fz_check(strlen((char *)raw) < sizeof(raw), "the id fits its buffer");
    }
    free(text);
    return 0;
}
