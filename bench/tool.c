/*
 * dh-bench-tool: the parts of the bench scripts that bash cannot do well.
 *
 *   dh-bench-tool place-orders PORT STORE RATE SECS
 *       Places one-line orders in the sandbox store STORE (control API on 127.0.0.1:PORT)
 *       at RATE/s for SECS s, on one keep-alive connection (a curl process per request
 *       cannot keep 200/s). Prints "placed N orders in T s (R/s)" to stderr.
 *   dh-bench-tool journal-summary FILE T0 T1 RESTORE BUCKET EVENTS SKUS DONE
 *       Reads the sandbox journal of inventorySetQuantities calls (JSON lines in FILE) and
 *       prints the inventory bench's markdown table (bench/inventory/run.sh).
 *
 * Exit 1 on an I/O or HTTP transport error, 2 on bad usage.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/http.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts = {.tv_sec = (time_t)t};

    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static int parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

static int place_orders(int argc, char **argv)
{
    static const char body[] = "{\"line_items\": [{\"sku\": \"TEE-1\", \"quantity\": 1}]}";
    const char *const headers[] = {"Content-Type: application/json", NULL};
    dh_http_opts_t opts = {.connect_timeout_ms = 5000, .timeout_ms = 30000};
    char url[512], errstr[256];
    double rate, secs, t0, el;
    long n = 0, not_2xx = 0;
    dh_http_t *h;
    int rc = 0;

    if (argc != 4 || parse_double(argv[2], &rate) != 0 || rate <= 0 ||
        parse_double(argv[3], &secs) != 0) {
        fprintf(stderr, "usage: dh-bench-tool place-orders PORT STORE RATE SECS\n");
        return 2;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%s/_control/shops/%s/orders", argv[0], argv[1]);
    if (dh_http_global_init() != DH_OK) {
        fprintf(stderr, "dh-bench-tool: curl_global_init failed\n");
        return 1;
    }
    if (!(h = dh_http_new(&opts, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dh-bench-tool: %s\n", errstr);
        return 1;
    }
    t0 = now_s();
    /* Order n is due at t0 + n / RATE: a slow answer is caught up on, not lost. */
    while (now_s() - t0 < secs) {
        dh_http_resp_t resp;

        sleep_until(t0 + (double)n / rate);
        if (dh_http_request(h, "POST", url, headers, body, sizeof(body) - 1, &resp) != DH_OK) {
            fprintf(stderr, "dh-bench-tool: %s\n", dh_http_errstr(h));
            rc = 1;
            break;
        }
        not_2xx += resp.status / 100 != 2;
        dh_http_resp_clear(&resp);
        n++;
    }
    el = now_s() - t0;
    fprintf(stderr, "placed %ld orders in %.1f s (%.0f/s)\n", n, el, (double)n / el);
    if (not_2xx) {
        fprintf(stderr, "dh-bench-tool: %ld of them were not answered 2xx\n", not_2xx);
    }
    dh_http_destroy(h);
    dh_http_global_cleanup();
    return rc;
}

/* The JSON document held in the string field KEY of J ("{}" when absent or empty). */
static json_t *embedded(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return json_loads(s && *s ? s : "{}", JSON_DECODE_ANY, NULL);
}

/* Adds one answered call's actualQueryCost (null counts 0) and number of quantities set. A
 * call without a cost counts neither; one without quantities in its body counts its cost. */
static void add_call(const json_t *j, double *points, long *qty)
{
    json_t *r = embedded(j, "response"), *b = NULL;
    json_t *cost = json_object_get(json_object_get(json_object_get(r, "extensions"), "cost"),
                                   "actualQueryCost");
    json_t *q;

    if (!json_is_number(cost) && !json_is_null(cost)) {
        goto out;
    }
    *points += json_number_value(cost);
    b = embedded(j, "body");
    q = json_object_get(json_object_get(json_object_get(b, "variables"), "input"), "quantities");
    *qty += (long)json_array_size(q);
out:
    json_decref(b);
    json_decref(r);
}

static int journal_summary(int argc, char **argv)
{
    const char *events, *skus, *done;
    double t0, t1, rate, bucket, points = 0, el, per_call, ev;
    long calls = 0, throttled = 0, qty = 0;
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (argc != 8 || parse_double(argv[1], &t0) != 0 || parse_double(argv[2], &t1) != 0 ||
        parse_double(argv[3], &rate) != 0 || parse_double(argv[4], &bucket) != 0 ||
        parse_double(argv[5], &ev) != 0) {
        fprintf(stderr, "usage: dh-bench-tool journal-summary FILE T0 T1 RESTORE BUCKET EVENTS "
                        "SKUS DONE\n");
        return 2;
    }
    events = argv[5], skus = argv[6], done = argv[7];
    if (!(f = fopen(argv[0], "r"))) {
        fprintf(stderr, "dh-bench-tool: %s: %s\n", argv[0], strerror(errno));
        return 1;
    }
    while (getline(&line, &cap, f) != -1) {
        json_t *j = json_loads(line, 0, NULL);

        if (!json_is_object(j)) { /* not a journal entry */
        } else if (json_is_true(json_object_get(j, "throttled"))) {
            throttled++;
        } else {
            calls++;
            add_call(j, &points, &qty);
        }
        json_decref(j);
    }
    free(line);
    fclose(f);

    el = t1 - t0;
    per_call = calls ? points / (double)calls : 0;
    printf("| metric | value |\n|---|---|\n");
    printf("| events / SKUs | %s / %s (SKUs done %s) |\n", events, skus, done);
    printf("| elapsed | %.1f s |\n", el);
    printf("| inventorySetQuantities calls | %ld (THROTTLED %ld) |\n", calls, throttled);
    printf("| quantities set | %ld |\n", qty);
    printf("| cost points spent | %.0f (%.1f/call) |\n", points, per_call);
    printf("| share of restore rate used | %.1f %%  (budget incl. initial bucket: %.1f %%) |\n",
           100 * points / (el * rate), 100 * points / (el * rate + bucket));
    printf("| SKU updates per point | %.2f |\n", points ? (double)qty / points : 0);
    printf("| one call per event would cost | %.0f points = %.0f min at %.0f/s |\n", ev * per_call,
           ev * per_call / rate / 60, rate);
    printf("| events per point vs one call per event | %.1f vs %.3f |\n", points ? ev / points : 0,
           per_call ? 1 / per_call : 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "place-orders") == 0) {
        return place_orders(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "journal-summary") == 0) {
        return journal_summary(argc - 2, argv + 2);
    }
    fprintf(stderr, "usage: dh-bench-tool place-orders PORT STORE RATE SECS\n"
                    "       dh-bench-tool journal-summary FILE T0 T1 RESTORE BUCKET EVENTS SKUS "
                    "DONE\n");
    return 2;
}
