/*
 * dh-sandbox: a faithful local double of Shopify's Admin GraphQL API, the WMS API and
 * Return Prime's webhooks and API, with fault injection and a request journal.
 * Usage: dh-sandbox [--host 127.0.0.1] [--port 38080] [--seed FILE]
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "state.h"
#include "webhooks.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct opts {
    const char *host;
    unsigned port;
    const char *seed;
    size_t journal_capacity;
    dh_sb_webhooks_opts_t webhooks;
} opts_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dh-sandbox [--host ADDR] [--port N] [--seed FILE] [--journal-capacity N]\n"
            "                  [--webhook-retries N] [--webhook-retry-delay-ms N]\n"
            "Env: DH_SANDBOX_SEED (seed file), DH_SANDBOX_PORT, DH_SANDBOX_FAULTS (JSON rule(s)).\n"
            "Defaults: 127.0.0.1:38080, journal 200000 entries, 3 webhook retries after 200 ms.\n"
            "Shopify GraphQL: POST /shops/{shop}/admin/api/{version}/graphql.json\n"
            "WMS: /wms/v1/...   Return Prime API: /returnprime/return-exchange/v2/...\n"
            "Control: /_control/...   Journal: GET|DELETE /_journal\n"
            "See docs/sandbox.md.\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    const char *env_port = getenv("DH_SANDBOX_PORT");

    o->host = "127.0.0.1";
    o->port = env_port && *env_port ? (unsigned)strtoul(env_port, NULL, 10) : 38080;
    o->seed = getenv("DH_SANDBOX_SEED");
    o->journal_capacity = 200000;
    o->webhooks = (dh_sb_webhooks_opts_t){3, 200, 5000, 4096};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            usage(stderr);
            return -1;
        }
        if (strcmp(a, "--port") == 0) {
            o->port = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--host") == 0) {
            o->host = v;
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = v;
        } else if (strcmp(a, "--journal-capacity") == 0) {
            o->journal_capacity = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--webhook-retries") == 0) {
            o->webhooks.retries = atoi(v);
        } else if (strcmp(a, "--webhook-retry-delay-ms") == 0) {
            o->webhooks.retry_delay_ms = atol(v);
        } else {
            usage(stderr);
            return -1;
        }
        i++;
    }
    return 0;
}

static json_t *load_seed(const char *path)
{
    json_error_t err;
    json_t *seed;

    if (!path || !*path) {
        return json_object();
    }
    seed = json_load_file(path, 0, &err);
    if (!seed) {
        fprintf(stderr, "dh-sandbox: seed %s: %s (line %d)\n", path, err.text, err.line);
    }
    return seed;
}

static int apply_env_faults(dh_sb_state_t *st)
{
    const char *env = getenv("DH_SANDBOX_FAULTS");
    char err[256];

    if (!env || !*env) {
        return 0;
    }
    json_t *rules = json_loads(env, 0, NULL);
    int rc = rules && dh_sb_faults_set(st->faults, rules, err, sizeof err) == DH_SB_OK ? 0 : -1;

    if (rc < 0) {
        fprintf(stderr, "dh-sandbox: DH_SANDBOX_FAULTS: %s\n", rules ? err : "not JSON");
    }
    json_decref(rules);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o;
    dh_sb_state_t st;
    char err[256];
    json_t *seed = NULL;
    dh_sb_server_t *srv = NULL;
    int rc = 1;
    struct sigaction sa;

    memset(&st, 0, sizeof st);
    if (parse_args(argc, argv, &o) < 0) {
        return 2;
    }
    seed = load_seed(o.seed);
    if (!seed) {
        return 2;
    }
    if (dh_sb_state_init(&st, seed, err, sizeof err) != DH_SB_OK) {
        fprintf(stderr, "dh-sandbox: seed: %s\n", err);
        json_decref(seed);
        return 2;
    }
    json_decref(seed);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    st.journal = dh_sb_journal_new(o.journal_capacity);
    st.faults = dh_sb_faults_new();
    st.webhooks =
        st.journal && st.faults ? dh_sb_webhooks_start(st.journal, st.faults, &o.webhooks) : NULL;
    if (!st.webhooks || apply_env_faults(&st) < 0) {
        goto out;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    snprintf(st.base_url, sizeof st.base_url, "http://%s:%u", o.host, o.port);
    srv = dh_sb_server_start(&st, o.host, o.port, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "dh-sandbox: %s\n", err);
        goto out;
    }
    fprintf(stderr, "dh-sandbox: listening on http://%s:%u (%zu store(s))\n", o.host, o.port,
            st.n_shops);
    while (!stop_requested) {
        dh_sb_sleep_ms(100, NULL);
    }
    fprintf(stderr, "dh-sandbox: shutting down\n");
    st.stopping = 1;
    rc = 0;
out:
    st.stopping = 1;
    dh_sb_server_stop(srv);
    dh_sb_webhooks_stop(st.webhooks);
    dh_sb_faults_destroy(st.faults);
    dh_sb_journal_destroy(st.journal);
    dh_sb_state_fini(&st);
    curl_global_cleanup();
    return rc;
}
